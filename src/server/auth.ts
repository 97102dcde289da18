import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import {
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { apiError, unauthenticated } from './errors.ts';
import { textProblem } from './input-guard.ts';

/** Who is calling. `service` is the client application's backend; `user` is one of its end users. */
export type Viewer =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: string }
  | { kind: 'service'; id: string };

export const anonymous: Viewer = { kind: 'anonymous' };

/**
 * Websocket close code for a token that expired (at connect time or during the connection), distinct from
 * graphql-ws's 4403 (forbidden: a token that is not valid at all): a client answers it by getting a new token,
 * never by retrying the old one.
 */
export const TOKEN_EXPIRED_CLOSE_CODE = 4419;
export const TOKEN_EXPIRED_MESSAGE = 'Token expired';

/** Whether an authentication error says the token expired (the client should get a new one). */
export function isTokenExpired(error: unknown): boolean {
  return error instanceof Error && error.message === TOKEN_EXPIRED_MESSAGE;
}

export interface TokenClaims {
  sub: string;
  roles?: string[];
}

/** A verified caller and when its token stops being valid (null for anonymous callers). */
export interface Authentication {
  viewer: Viewer;
  /** Expiry of the token including the tolerated clock skew; websockets are closed at this instant. */
  validUntil: Date | null;
}

export interface TokenOptions {
  /** HS256 secret: signs tokens (`sign`) and, unless a JWKS URL or PEM key is given, verifies them. */
  secret?: string | undefined;
  /** Verify with the keys of this JWKS document (RS/ES/PS/EdDSA) instead of HS256. */
  jwksUrl?: string | undefined;
  /** Verify with this PEM public key instead of HS256. */
  publicKey?: string | undefined;
  /** Accepted algorithms in JWKS/PEM mode. */
  algorithms?: string[];
  issuer?: string | undefined;
  audience?: string | undefined;
  clockSkewSeconds?: number;
}

const MAX_TOKEN_LENGTH = 8192;
const MAX_SUBJECT_LENGTH = 256;
/** Verified tokens remembered (each until it expires): clients send the same token with every request. */
const VERIFIED_TOKENS_MAX = 10_000;

/**
 * Verifies bearer tokens and signs development/test tokens.
 *
 * - HS256 mode (default): tokens signed with `JWT_SECRET`; only HS256 is accepted.
 * - Asymmetric mode (`JWT_JWKS_URL` or `JWT_PUBLIC_KEY`): only the configured asymmetric algorithms are
 *   accepted, so an HS256 token (even one "signed" with the public key) is refused. `sign` still uses
 *   `JWT_SECRET` when one is set (the development banner and tests use it), but such tokens do not verify.
 * - Always: `alg: none` is refused, `exp` and `sub` are required, `exp`/`nbf` are checked with a bounded
 *   clock skew, and `iss`/`aud` are required to match when configured.
 */
export class TokenService {
  readonly #signingKey: Uint8Array | undefined;
  readonly #verificationKey: Uint8Array | crypto.KeyObject | Promise<CryptoKey> | JWTVerifyGetKey;
  /**
   * Tokens that verified, with what they stand for, until they expire: verifying an HS256 token (WebCrypto,
   * ~40% of a trivial request's CPU) is done once per token, not once per request. Bounded (LRU), so
   * ever-new tokens cannot grow memory; exact string match, so nothing but the very same signed token hits.
   * (A token signed by a JWKS key that is later withdrawn stays valid here until its `exp`, as it does for
   * any client holding it.)
   */
  readonly #verified = new LRUCache<string, Authentication & { validUntil: Date }>({ max: VERIFIED_TOKENS_MAX });
  readonly #verifyOptions: JWTVerifyOptions;
  readonly #issuer: string | undefined;
  readonly #audience: string | undefined;
  readonly #clockSkewSeconds: number;
  /** 'HS256', 'JWKS' or 'PEM': how tokens are verified. */
  readonly mode: 'HS256' | 'JWKS' | 'PEM';

  constructor(options: TokenOptions | string) {
    const o: TokenOptions = typeof options === 'string' ? { secret: options } : options;
    this.#signingKey = o.secret ? new TextEncoder().encode(o.secret) : undefined;
    this.#issuer = o.issuer;
    this.#audience = o.audience;
    this.#clockSkewSeconds = o.clockSkewSeconds ?? 30;
    let algorithms: string[];
    if (o.jwksUrl) {
      this.mode = 'JWKS';
      const jwks = createRemoteJWKSet(new URL(o.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
      this.#verificationKey = async (header, token) => {
        try {
          return await jwks(header, token);
        } catch (error) {
          if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
            throw error;
          }
          // The key set could not be fetched or parsed: not the caller's fault.
          throw apiError('UNAVAILABLE', 'Token keys are unavailable; try again later');
        }
      };
      algorithms = o.algorithms ?? ['RS256', 'ES256'];
    } else if (o.publicKey) {
      this.mode = 'PEM';
      this.#verificationKey = crypto.createPublicKey(o.publicKey);
      algorithms = o.algorithms ?? ['RS256', 'ES256'];
    } else {
      if (!this.#signingKey) throw new Error('TokenService needs a secret, a JWKS URL or a public key');
      this.mode = 'HS256';
      // A CryptoKey imported once (jose would import the raw secret again for every verification).
      this.#verificationKey = globalThis.crypto.subtle.importKey('raw', new Uint8Array(this.#signingKey), { name: 'HMAC', hash: 'SHA-256' }, false, [
        'verify',
      ]);
      algorithms = ['HS256'];
    }
    this.#verifyOptions = {
      algorithms,
      clockTolerance: this.#clockSkewSeconds,
      requiredClaims: ['sub', 'exp'],
      ...(o.issuer ? { issuer: o.issuer } : {}),
      ...(o.audience ? { audience: o.audience } : {}),
    };
  }

  /** Signs an HS256 token (development banner, tests); carries `iss`/`aud` when those are configured. */
  async sign(claims: TokenClaims, expiresIn: string | number = '30d'): Promise<string> {
    if (!this.#signingKey) throw new Error('No JWT_SECRET: this server verifies tokens but does not sign them');
    let jwt = new SignJWT({ roles: claims.roles ?? [] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuedAt()
      .setExpirationTime(expiresIn);
    if (this.#issuer) jwt = jwt.setIssuer(this.#issuer);
    if (this.#audience) jwt = jwt.setAudience(this.#audience);
    return jwt.sign(this.#signingKey);
  }

  /** The viewer a token stands for; a missing token is anonymous, a bad one is an UNAUTHENTICATED error. */
  async viewerFromAuthorization(header: string | null | undefined): Promise<Viewer> {
    return (await this.authenticate(header)).viewer;
  }

  /** Like `viewerFromAuthorization`, also telling until when the token is valid. */
  async authenticate(header: string | null | undefined): Promise<Authentication> {
    if (header === undefined || header === null || header.trim() === '') return { viewer: anonymous, validUntil: null };
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    if (!match?.[1]) throw unauthenticated('Authorization must be "Bearer <token>"');
    return this.authenticateToken(match[1]);
  }

  async viewerFromToken(token: string): Promise<Viewer> {
    return (await this.authenticateToken(token)).viewer;
  }

  async authenticateToken(token: string): Promise<Authentication> {
    if (token.length > MAX_TOKEN_LENGTH) throw unauthenticated('Invalid token: too long');
    const known = this.#verified.get(token);
    if (known) {
      if (known.validUntil.getTime() > Date.now()) return known;
      this.#verified.delete(token);
    }
    const authentication = await this.#verify(token);
    this.#verified.set(token, authentication);
    return authentication;
  }

  async #verify(token: string): Promise<Authentication & { validUntil: Date }> {
    let payload: JWTPayload;
    try {
      const key = this.#verificationKey;
      const verified =
        typeof key === 'function'
          ? await jwtVerify(token, key, this.#verifyOptions)
          : await jwtVerify(token, key instanceof Promise ? await key : key, this.#verifyOptions);
      payload = verified.payload;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw unauthenticated(TOKEN_EXPIRED_MESSAGE);
      if (error instanceof joseErrors.JOSEAlgNotAllowed) {
        throw unauthenticated(`Invalid token: algorithm not allowed (accepted: ${this.#verifyOptions.algorithms?.join(', ')})`);
      }
      if (error instanceof joseErrors.JWTClaimValidationFailed) {
        throw unauthenticated(`Invalid token: "${error.claim}" claim check failed (${error.reason})`);
      }
      if (error instanceof joseErrors.JOSEError) throw unauthenticated(`Invalid token: ${error.message}`);
      throw error;
    }
    const sub: unknown = payload.sub;
    // The subject becomes a user id stored in SQL: a string (a signed token may carry any JSON there), under the
    // same text rules as every input (input-guard.ts).
    if (typeof sub !== 'string' || !sub || sub.length > MAX_SUBJECT_LENGTH || textProblem(sub)) {
      throw unauthenticated('Invalid token: bad "sub" claim');
    }
    const roles = Array.isArray(payload['roles']) ? payload['roles'] : [];
    const viewer: Viewer = roles.includes('service') ? { kind: 'service', id: sub } : { kind: 'user', id: sub };
    const validUntil = new Date(((payload.exp as number) + this.#clockSkewSeconds) * 1000);
    return { viewer, validUntil };
  }
}
