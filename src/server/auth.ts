import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { unauthenticated } from './errors.ts';

/** Who is calling. `service` is the client application's backend; `user` is one of its end users. */
export type Viewer =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: string }
  | { kind: 'service'; id: string };

export const anonymous: Viewer = { kind: 'anonymous' };

const CLOCK_TOLERANCE_SECONDS = 30;

export interface TokenClaims {
  sub: string;
  roles?: string[];
}

/** Signs and verifies the bearer tokens (HS256 with `JWT_SECRET`). */
export class TokenService {
  readonly #key: Uint8Array;

  constructor(secret: string) {
    this.#key = new TextEncoder().encode(secret);
  }

  async sign(claims: TokenClaims, expiresIn: string | number = '30d'): Promise<string> {
    return new SignJWT({ roles: claims.roles ?? [] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuedAt()
      .setExpirationTime(expiresIn)
      .sign(this.#key);
  }

  /** The viewer a token stands for; a missing token is anonymous, a bad one is an UNAUTHENTICATED error. */
  async viewerFromAuthorization(header: string | null | undefined): Promise<Viewer> {
    if (header === undefined || header === null || header.trim() === '') return anonymous;
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    if (!match?.[1]) throw unauthenticated('Authorization must be "Bearer <token>"');
    return this.viewerFromToken(match[1]);
  }

  async viewerFromToken(token: string): Promise<Viewer> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['sub', 'exp'],
      });
      const sub = payload.sub;
      if (!sub || sub.length > 256) throw unauthenticated('Invalid token: bad "sub" claim');
      const roles = Array.isArray(payload['roles']) ? payload['roles'] : [];
      return roles.includes('service') ? { kind: 'service', id: sub } : { kind: 'user', id: sub };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw unauthenticated('Token expired');
      if (error instanceof joseErrors.JOSEError) throw unauthenticated(`Invalid token: ${error.message}`);
      throw error;
    }
  }
}
