import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Viewer } from './auth.ts';
import { badInput, isContractError, rateLimited } from './errors.ts';

/**
 * Per-client rate limits: fixed windows of `RATE_LIMIT_WINDOW_SECONDS`, one budget per bucket.
 *
 * The client is the token subject (`user:<id>`, `service:<id>`), or the IP address for anonymous callers
 * (`ip:<addr>`, see TRUST_PROXY). Counters live in memory, or in Redis when REDIS_URL is set so that all
 * instances share them (one atomic Lua script per check). A request that would exceed the budget consumes
 * nothing and gets a RATE_LIMITED error (HTTP 429, `Retry-After`, `extensions.retryAfterSeconds`).
 *
 * Service tokens are exempt unless RATE_LIMIT_SERVICES=true. Calls without a client address (in-process
 * calls such as `yoga.fetch`) are not IP-limited: every request from the network has one.
 * If Redis fails, requests are let through (logged): rate limiting must not take the API down.
 */

/** Budgets a resolver can consume. `request` is charged once per GraphQL operation by the server itself. */
export type RateLimitBucket = 'request' | 'increment' | 'labels' | 'logAction';

/** The part of the resolver context the limiter needs. */
export interface RateLimitSubject {
  viewer: Viewer;
  clientIp: string | null;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** Budget of the bucket per window (0 = unlimited). */
  limit: number;
  /** Left in the current window after this call. */
  remaining: number;
  /** When the current window ends (seconds from now, at least 1). */
  retryAfterSeconds: number;
}

interface WindowCount {
  allowed: boolean;
  used: number;
  resetInMs: number;
}

interface RateLimitStore {
  /** Adds `cost` to the counter of `key` unless that would exceed `limit`. */
  hit(key: string, cost: number, limit: number, windowMs: number): Promise<WindowCount>;
  close(): Promise<void>;
}

/**
 * Clients tracked in memory at most (least recently seen dropped first). Anonymous clients are keyed by
 * address, so a flood of ever-new addresses (or X-Forwarded-For values behind TRUST_PROXY) must not grow
 * memory without bound; a client dropped from here only starts a fresh window.
 */
const MEMORY_STORE_MAX_CLIENTS = 100_000;

class MemoryStore implements RateLimitStore {
  readonly #windows = new LRUCache<string, { used: number; resetAt: number }>({ max: MEMORY_STORE_MAX_CLIENTS });

  async hit(key: string, cost: number, limit: number, windowMs: number): Promise<WindowCount> {
    const now = Date.now();
    let window = this.#windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { used: 0, resetAt: now + windowMs };
      this.#windows.set(key, window);
    }
    const allowed = window.used + cost <= limit;
    if (allowed) window.used += cost;
    return { allowed, used: window.used, resetInMs: window.resetAt - now };
  }

  async close() {
    this.#windows.clear();
  }
}

/** KEYS[1] counter; ARGV cost, limit, window ms. Returns {allowed 0/1, used, ms until reset}. */
const HIT_SCRIPT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if used + cost > limit then
  if ttl < 0 then ttl = window end
  return {0, used, ttl}
end
used = redis.call('INCRBY', KEYS[1], cost)
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], window)
  ttl = window
end
return {1, used, ttl}
`;

type RedisWithHit = Redis & {
  trackqlRateLimitHit(key: string, cost: number, limit: number, windowMs: number): Promise<[number, number, number]>;
};

class RedisStore implements RateLimitStore {
  readonly #redis: RedisWithHit;

  constructor(url: string, logger: Logger) {
    const redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 1000, enableAutoPipelining: true });
    redis.on('error', (error: Error) => logger.warn({ err: error.message, role: 'rate-limit' }, 'redis connection error'));
    redis.defineCommand('trackqlRateLimitHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
    this.#redis = redis as RedisWithHit;
  }

  async hit(key: string, cost: number, limit: number, windowMs: number): Promise<WindowCount> {
    const [allowed, used, ttl] = await this.#redis.trackqlRateLimitHit(`trackql:rl:${key}`, cost, limit, windowMs);
    return { allowed: allowed === 1, used, resetInMs: ttl };
  }

  async close() {
    await this.#redis.quit().catch(() => undefined);
    this.#redis.disconnect();
  }
}

const bucketLabels: Record<RateLimitBucket, string> = {
  request: 'requests',
  increment: 'metric increments',
  labels: 'label events',
  logAction: 'logged actions',
};

/** The key a caller is limited under, or null when it cannot be attributed (no token, no address). */
export function clientKey(subject: RateLimitSubject): string | null {
  const { viewer } = subject;
  if (viewer.kind === 'user') return `user:${viewer.id}`;
  if (viewer.kind === 'service') return `service:${viewer.id}`;
  return subject.clientIp ? `ip:${subject.clientIp}` : null;
}

export class RateLimiter {
  readonly #store: RateLimitStore;
  readonly #logger: Logger;
  readonly #limits: Record<RateLimitBucket, number>;
  readonly #windowMs: number;
  readonly #limitServices: boolean;
  /** 'memory' or 'redis'. */
  readonly storeKind: 'memory' | 'redis';

  constructor(config: Config, logger: Logger) {
    this.#logger = logger;
    const r = config.rateLimit;
    this.#limits = { request: r.requests, increment: r.increments, labels: r.labels, logAction: r.actions };
    this.#windowMs = r.windowSeconds * 1000;
    this.#limitServices = r.services;
    this.storeKind = config.redisUrl ? 'redis' : 'memory';
    this.#store = config.redisUrl ? new RedisStore(config.redisUrl, logger) : new MemoryStore();
  }

  /** Budget of a bucket per window (0 = unlimited). */
  limitOf(bucket: RateLimitBucket): number {
    return this.#limits[bucket];
  }

  /**
   * Charges `cost` units of `bucket` to the caller. Returns the decision without throwing; nothing is
   * charged when the decision is "not allowed".
   */
  async check(subject: RateLimitSubject, bucket: RateLimitBucket, cost = 1): Promise<RateLimitDecision> {
    const limit = this.#limits[bucket];
    const key = clientKey(subject);
    const unlimited: RateLimitDecision = { allowed: true, limit, remaining: Number.POSITIVE_INFINITY, retryAfterSeconds: 0 };
    if (limit === 0 || key === null || cost <= 0) return unlimited;
    if (subject.viewer.kind === 'service' && !this.#limitServices) return unlimited;
    let count: WindowCount;
    try {
      count = await this.#store.hit(`${bucket}:${key}`, cost, limit, this.#windowMs);
    } catch (error) {
      this.#logger.warn({ err: (error as Error).message, bucket }, 'rate-limit store unavailable; request let through');
      return unlimited;
    }
    return {
      allowed: count.allowed,
      limit,
      remaining: Math.max(0, limit - count.used),
      retryAfterSeconds: Math.max(1, Math.ceil(count.resetInMs / 1000)),
    };
  }

  /**
   * Charges `cost` units of `bucket` to the caller, or throws RATE_LIMITED (with `retryAfterSeconds`) when
   * the budget of the current window would be exceeded. A cost larger than the whole budget is BAD_USER_INPUT.
   * Use from resolvers: `await ctx.services.rateLimiter.consume(ctx, 'increment', events.length)`.
   */
  async consume(subject: RateLimitSubject, bucket: RateLimitBucket, cost = 1): Promise<RateLimitDecision> {
    const limit = this.#limits[bucket];
    if (limit > 0 && cost > limit && clientKey(subject) !== null && (subject.viewer.kind !== 'service' || this.#limitServices)) {
      throw badInput(`Too many ${bucketLabels[bucket]} in one request: ${cost}, at most ${limit} per ${this.#windowMs / 1000}s`);
    }
    const decision = await this.check(subject, bucket, cost);
    if (!decision.allowed) {
      throw rateLimited(
        `Rate limit exceeded: at most ${limit} ${bucketLabels[bucket]} per ${this.#windowMs / 1000}s; retry in ${decision.retryAfterSeconds}s`,
        decision.retryAfterSeconds,
        { bucket, limit },
      );
    }
    return decision;
  }

  async close(): Promise<void> {
    await this.#store.close();
  }
}

/** Envelop/Yoga plugin: charges one `request` per GraphQL operation (HTTP and websocket). */
export function useRequestRateLimit(limiter: RateLimiter): Plugin<RateLimitSubject> {
  const charge = async (context: RateLimitSubject, stop: (result: { errors: Error[] }) => void) => {
    try {
      await limiter.consume(context, 'request', 1);
    } catch (error) {
      // RATE_LIMITED (or BAD_USER_INPUT) becomes the operation's result; anything else is unexpected and
      // propagates to the server's masking.
      if (!isContractError(error)) throw error;
      stop({ errors: [error] });
    }
  };
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      await charge(args.contextValue as RateLimitSubject, (r) => setResultAndStopExecution(r as never));
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      await charge(args.contextValue as RateLimitSubject, (r) => setResultAndStopExecution(r as never));
    },
  };
}
