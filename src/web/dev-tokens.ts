import type { Config } from '../config.ts';
import type { TokenService } from '../server/auth.ts';

/**
 * Development tokens: a service token and a demo user token, handed to the demo page (`/demo/tokens`), the
 * console's "development sign-in" and GraphiQL's pre-filled header. Only when the HS256 secret was generated
 * by trackql (a development start without `JWT_SECRET`, never in production) and, unless
 * `DEMO_TOKENS_LOCAL_ONLY=false`, only to callers on the loopback interface.
 */
export interface DevTokenSet {
  service: string;
  user: string;
  userId: string;
  userType: string;
}

export const DEV_TOKEN_TTL = '12h';
/** Tokens are re-signed after this long (well within their 12 h lifetime). */
const REUSE_MS = 10 * 60_000;

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** The peer address of a node:http request carried in Yoga's server context. */
export function remoteAddressOf(serverContext: unknown): string | undefined {
  const req = (serverContext as { req?: { socket?: { remoteAddress?: string } } } | undefined)?.req;
  return req?.socket?.remoteAddress;
}

export class DevTokens {
  readonly #config: Config;
  readonly #tokens: TokenService;
  /** True when this server hands out development tokens at all (to some callers). */
  readonly available: boolean;
  #cached: { set: Promise<DevTokenSet>; until: number } | undefined;

  constructor(options: { config: Config; tokens: TokenService; generatedSecret: boolean }) {
    this.#config = options.config;
    this.#tokens = options.tokens;
    this.available = options.generatedSecret && options.config.env !== 'production';
  }

  /** Whether the caller of this request may have them. */
  allowedFor(serverContext: unknown): boolean {
    if (!this.available) return false;
    if (!this.#config.web.demoTokensLocalOnly) return true;
    const address = remoteAddressOf(serverContext);
    return address !== undefined && LOOPBACK.has(address);
  }

  /** Why a caller gets none (for the 404 body of /demo/tokens). */
  refusal(): string {
    return this.available
      ? 'Development tokens are only given to local callers (DEMO_TOKENS_LOCAL_ONLY=true).'
      : 'No development tokens: JWT_SECRET is set (or NODE_ENV=production). Paste a token instead.';
  }

  issue(): Promise<DevTokenSet> {
    const now = Date.now();
    if (!this.#cached || this.#cached.until <= now) {
      const set = Promise.all([
        this.#tokens.sign({ sub: 'demo-service', roles: ['service'] }, DEV_TOKEN_TTL),
        this.#tokens.sign({ sub: this.#config.web.demoUser }, DEV_TOKEN_TTL),
      ]).then(([service, user]) => ({ service, user, userId: this.#config.web.demoUser, userType: this.#config.userType }));
      set.catch(() => {
        this.#cached = undefined;
      });
      this.#cached = { set, until: now + REUSE_MS };
    }
    return this.#cached.set;
  }
}
