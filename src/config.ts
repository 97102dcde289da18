import path from 'node:path';
import cron from 'node-cron';
import { z } from 'zod';

/** Environment variables are parsed and validated once, here; the rest of the code reads `Config`. */

const emptyToUndefined = (value: unknown) => (value === '' ? undefined : value);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const intFrom = (min: number, max: number, fallback: number) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).max(max).default(fallback));
const booleanFrom = (fallback: boolean) =>
  z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );

const urlWithProtocols = (protocols: string[]) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine((value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`)
      .optional(),
  );

const optionalBoolean = z.preprocess(
  emptyToUndefined,
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .optional(),
);

/** Token algorithms accepted with a JWKS URL or PEM key (HS* needs JWT_SECRET; "none" is never accepted). */
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

const envSchema = z.object({
  NODE_ENV: z.preprocess(emptyToUndefined, z.enum(['development', 'production', 'test']).default('development')),
  PORT: intFrom(0, 65535, 4000),
  HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
  DATABASE_URL: urlWithProtocols(['postgres:', 'postgresql:']),
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./.data')),
  DB_POOL_MAX: intFrom(1, 200, 10),
  REDIS_URL: urlWithProtocols(['redis:', 'rediss:']),
  JWT_SECRET: z.preprocess(emptyToUndefined, z.string().min(32, 'must be at least 32 characters').optional()),
  /** Hardening: verify RS/ES/PS/EdDSA tokens with the keys published at this JWKS URL (replaces HS256). */
  JWT_JWKS_URL: urlWithProtocols(['https:', 'http:']),
  /** Hardening: verify tokens with this PEM public key (SPIKI; "\n" escapes allowed) instead of HS256. */
  JWT_PUBLIC_KEY: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .transform((v) => v.replace(/\\n/g, '\n'))
      .refine((v) => v.includes('-----BEGIN PUBLIC KEY-----'), 'must be a PEM "BEGIN PUBLIC KEY" block')
      .optional(),
  ),
  /** Hardening: accepted algorithms with JWT_JWKS_URL/JWT_PUBLIC_KEY (comma list; never "none" or HS*). */
  JWT_ALGORITHMS: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default('RS256,ES256')
      .transform((v) => v.split(',').map((a) => a.trim()).filter(Boolean))
      .refine(
        (list) => list.length > 0 && list.every((a) => ASYMMETRIC_ALGORITHMS.includes(a)),
        `must be a comma list of ${ASYMMETRIC_ALGORITHMS.join(', ')}`,
      ),
  ),
  /** Hardening: required "iss" claim, when set. */
  JWT_ISSUER: optionalString,
  /** Hardening: required "aud" claim, when set. */
  JWT_AUDIENCE: optionalString,
  /** Hardening: clock skew tolerated on exp/nbf, in seconds. */
  JWT_CLOCK_SKEW_SECONDS: intFrom(0, 300, 30),
  /** Hardening: serve schema introspection (default: on outside production). */
  INTROSPECTION: optionalBoolean,
  /** Hardening: query limits (graphql-armor): selection depth, cost, aliases, tokens, directives. */
  MAX_DEPTH: intFrom(1, 100, 10),
  MAX_COST: intFrom(1, 1_000_000, 5000),
  MAX_ALIASES: intFrom(0, 1000, 15),
  MAX_TOKENS: intFrom(1, 1_000_000, 2000),
  MAX_DIRECTIVES: intFrom(0, 1000, 20),
  /** Performance: execute operations with graphql-jit (compiled queries, variable coercion and per-event subscription execution); false: Yoga's executor. */
  GRAPHQL_JIT: booleanFrom(true),
  /** Hardening: hide "Did you mean …" suggestions in validation errors. */
  BLOCK_FIELD_SUGGESTIONS: booleanFrom(true),
  /** Hardening: largest request body (HTTP) and websocket message, in bytes. */
  MAX_BODY_BYTES: intFrom(1024, 100 * 1024 * 1024, 256 * 1024),
  /** Hardening: allowed browser origins, comma separated; "*" allows any (tokens are bearer headers, not cookies). */
  CORS_ORIGINS: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default('*')
      .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
      // Each one as a browser sends it (scheme://host[:port], no path, no trailing slash), or "*": a browser
      // compares the Origin header with the answer exactly, so "https://app.example/" would fail every call.
      .refine((list) => list.every(isOrigin), 'must be "*" or a comma list of origins exactly as browsers send them, such as https://app.example.com (lowercase, no default port, no path or trailing slash)'),
  ),
  /** Hardening: take the client address from X-Forwarded-For (only behind a trusted proxy). */
  TRUST_PROXY: booleanFrom(false),
  /** Hardening: rate-limit window in seconds; the RATE_LIMIT_* budgets below are per client per window (0 = unlimited). */
  RATE_LIMIT_WINDOW_SECONDS: intFrom(1, 86_400, 60),
  RATE_LIMIT_REQUESTS: intFrom(0, 100_000_000, 1200),
  RATE_LIMIT_INCREMENTS: intFrom(0, 100_000_000, 6000),
  RATE_LIMIT_LABELS: intFrom(0, 100_000_000, 1200),
  RATE_LIMIT_ACTIONS: intFrom(0, 100_000_000, 300),
  /** Hardening: also rate-limit service tokens (the app's own backend); off by default. */
  RATE_LIMIT_SERVICES: booleanFrom(false),
  /** Hardening: websocket limits per client (user id, or IP for anonymous) and per connection. */
  WS_MAX_CONNECTIONS_PER_CLIENT: intFrom(1, 100_000, 20),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: intFrom(1, 100_000, 20),
  WS_MAX_SUBSCRIPTIONS_PER_CLIENT: intFrom(1, 1_000_000, 50),
  /** Websocket keep-alive: a ping this often; a socket that has not answered the previous one is cut (0: off). */
  WS_KEEP_ALIVE_MS: intFrom(0, 3_600_000, 12_000),
  FOLD_CRON: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default('* * * * *')
      .refine((v) => v === 'off' || cron.validate(v), 'must be a cron expression (e.g. "* * * * *") or "off"'),
  ),
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  USER_TYPE: z.preprocess(emptyToUndefined, z.string().min(1).max(64).default('User')),
  GRAPHIQL: optionalBoolean,
  SHUTDOWN_TIMEOUT_MS: intFrom(0, 600_000, 10_000),
  /** How long an idle HTTP keep-alive connection stays open: longer than clients' pools (Node and undici: 4–5 s). */
  HTTP_KEEPALIVE_TIMEOUT_MS: intFrom(1_000, 600_000, 65_000),
  DB_STATEMENT_TIMEOUT_MS: intFrom(0, 600_000, 15_000),
  DB_CONNECT_TIMEOUT_MS: intFrom(100, 120_000, 5_000),
  /** Activity: level of actions logged without one. */
  ACTIVITY_DEFAULT_LEVEL: z.preprocess(emptyToUndefined, z.enum(['NULL', 'DEBUG', 'HIDDEN', 'INFO', 'WARNING', 'ERROR']).default('INFO')),
  /** Activity: actions below this level are never unread. */
  ACTIVITY_READABLE_LEVEL: z.preprocess(emptyToUndefined, z.enum(['NULL', 'DEBUG', 'HIDDEN', 'INFO', 'WARNING', 'ERROR']).default('INFO')),
  ACTIVITY_UNMUTABLE_LEVEL: z.preprocess(emptyToUndefined, z.enum(['NULL', 'DEBUG', 'HIDDEN', 'INFO', 'WARNING', 'ERROR']).default('ERROR')),
  /** Activity: default grouping delay in seconds (negative disables grouping). */
  ACTIVITY_GROUPING_DELAY: intFrom(-31_536_000, 31_536_000, 0),
  /** Activity: how long a logAction idempotencyKey is remembered, in hours. */
  ACTIVITY_DEDUPE_HOURS: intFrom(1, 24 * 366, 24),
  ACTIVITY_TRACK_BACKFILL: intFrom(0, 100_000, 1000),
  /**
   * Activity: logAction fans out inside its own transaction to at most this many users; an action that reaches
   * more is stored with a fan-out job and fanned out right after the commit by a worker (fan-out-queue.ts).
   */
  ACTIVITY_FANOUT_INLINE_MAX: intFrom(0, 100_000_000, 250),
  /** Activity: how often (ms) an instance looks for queued fan-outs left by others; 0 = this instance runs none. */
  ACTIVITY_FANOUT_POLL_MS: intFrom(0, 3_600_000, 1000),
  /** Activity: queued fan-outs an instance runs at once. */
  ACTIVITY_FANOUT_WORKERS: intFrom(1, 64, 2),
  /**
   * Activity: with this many fan-outs queued, logAction fans out in its own transaction again (backpressure: the
   * feeds never lag behind by more than this many fan-outs).
   */
  ACTIVITY_FANOUT_QUEUE_MAX: intFrom(1, 1_000_000, 100),
  /** Activity: maximum size of an action's JSON `data`, in bytes. */
  ACTIVITY_DATA_MAX_BYTES: intFrom(0, 10_000_000, 16_384),
  /** Live feed: most changes replayed to `feed(after:)`; a cursor further behind gets a RESET event (refetch). */
  FEED_REPLAY_MAX: intFrom(1, 100_000, 1000),
  /** Live feed: hours a feed change is kept for replay (pruned by the retention job). */
  FEED_CHANGE_RETENTION_HOURS: intFrom(1, 87_600, 72),
  /** Metrics: how long an increment id (IncrementInput.id, incrementObjects/trackLabels/beacon `id`) is remembered, in hours. */
  METRICS_DEDUPE_HOURS: intFrom(1, 24 * 366, 24),
  /** Metrics: most events in one `increment` (and labels in one `trackLabels`); larger batches are rejected whole. */
  METRICS_MAX_BATCH: intFrom(1, 100_000, 1000),
  /** Metrics: largest accepted |by| of one increment event. */
  METRICS_MAX_BY: intFrom(1, 2_000_000_000, 1_000_000),
  /** Metrics: oldest accepted increment `at`, in hours before now. */
  METRICS_MAX_AGE_HOURS: intFrom(0, 24 * 366 * 10, 168),
  /** Metrics: how far in the future an increment `at` may be (clock skew), in seconds. */
  METRICS_MAX_SKEW_SECONDS: intFrom(0, 86_400, 300),
  /** Metrics: roles whose increments from bot User-Agents (isbot) are rejected: comma list of anonymous,user,service, or "off". */
  METRICS_BOT_FILTER: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default('anonymous,user')
      .transform((v) => (v.trim() === 'off' ? [] : v.split(',').map((r) => r.trim()).filter(Boolean)))
      .refine((list) => list.every((r) => ['anonymous', 'user', 'service'].includes(r)), 'must be "off" or a comma list of anonymous, user, service'),
  ),
  /** Metrics: group commit window in ms (increments arriving within it share one INSERT and one commit). */
  METRICS_FLUSH_DELAY_MS: intFrom(0, 1000, 2),
  /** Metrics: most inbox rows in one group-commit INSERT. */
  METRICS_FLUSH_MAX_ROWS: intFrom(1, 1_000_000, 20_000),
  /** Metrics: group-commit INSERTs allowed in flight at once. */
  METRICS_FLUSH_CONCURRENCY: intFrom(1, 64, 2),
  /** Metrics: inbox rows folded per fold transaction. */
  METRICS_FOLD_BATCH: intFrom(1, 10_000_000, 1_000_000),
  /** Live metrics: least milliseconds between two values of one `metric`/`labelStats` subscription (coalescing). */
  LIVE_METRICS_INTERVAL_MS: intFrom(10, 3_600_000, 250),
  /** Metrics: most points one `series` may return. */
  METRICS_MAX_SERIES_POINTS: intFrom(1, 1_000_000, 10_000),
  /** Metrics: how long domain/metric definitions are cached in process, in ms (other instances' changes show up after it). */
  METRICS_CATALOG_TTL_MS: intFrom(0, 3_600_000, 5_000),
  /** Metrics: most metrics an open domain creates on first use. */
  METRICS_OPEN_DOMAIN_MAX_METRICS: intFrom(0, 10_000_000, 10_000),
  /** Metrics: most domain (and, separately, metric) definitions cached in process (LRU: callers choose the refs). */
  METRICS_CATALOG_CACHE_MAX: intFrom(1, 10_000_000, 10_000),
  /**
   * Metrics: extra bot User-Agent patterns on top of isbot's list (django-trackable's own spider list): comma list of
   * case-insensitive regular expressions (use `|` inside one, not commas).
   */
  METRICS_BOT_PATTERNS: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default('')
      .transform((v) => v.split(',').map((p) => p.trim()).filter(Boolean))
      .refine((list) => list.every(isRegExp), 'must be a comma list of regular expressions (e.g. "curl/,python-requests,my-monitor")'),
  ),
  /** Web: serve the demo page at / with its assets (its tokens endpoint exists only with a generated secret, never in production). */
  DEMO_PAGE: booleanFrom(true),
  /** Web: user id (token subject) of the demo page's user. */
  DEMO_USER: z.preprocess(emptyToUndefined, z.string().min(1).max(256).default('demo-user')),
  /** Web: give /demo/tokens only to loopback callers. */
  DEMO_TOKENS_LOCAL_ONLY: booleanFrom(true),
  /** Ops: serve Prometheus metrics at /metrics. */
  PROMETHEUS_ENABLED: booleanFrom(true),
  /** Ops: when set, /metrics requires "Authorization: Bearer <PROMETHEUS_TOKEN>". */
  PROMETHEUS_TOKEN: z.preprocess(emptyToUndefined, z.string().min(16, 'must be at least 16 characters').optional()),
  /** Ops: cron expression of the retention job, or "off". */
  RETENTION_CRON: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default('17 3 * * *')
      .refine((v) => v === 'off' || cron.validate(v), 'must be a cron expression (e.g. "17 3 * * *") or "off"'),
  ),
  /** Ops: days to keep sub-day statistic buckets (what HOUR series read); 0 = forever. */
  RETENTION_HOUR_DAYS: intFrom(0, 100_000, 30),
  /** Ops: days to keep DAY statistics; 0 = forever. */
  RETENTION_DAY_DAYS: intFrom(0, 100_000, 730),
  /** Ops: days to keep WEEK statistics; 0 = forever. */
  RETENTION_WEEK_DAYS: intFrom(0, 100_000, 0),
  /** Ops: days to keep MONTH statistics; 0 = forever. */
  RETENTION_MONTH_DAYS: intFrom(0, 100_000, 0),
  /** Ops: days to keep YEAR statistics; 0 = forever (LIFETIME is always kept). */
  RETENTION_YEAR_DAYS: intFrom(0, 100_000, 0),
  /** Ops: days to keep fold dead letters; 0 = forever. */
  RETENTION_DEAD_LETTER_DAYS: intFrom(0, 100_000, 14),
  /** Ops: days to keep actions (and their feed entries); 0 = forever (the default). */
  RETENTION_ACTION_DAYS: intFrom(0, 100_000, 0),
  /** Ops: days to keep delivered webhook deliveries (failed ones are kept for inspection); 0 = forever. */
  RETENTION_WEBHOOK_DAYS: intFrom(0, 100_000, 7),
  /** Webhooks: accept private, loopback and link-local receivers, and plain http (tests, local development). */
  WEBHOOK_ALLOW_PRIVATE: booleanFrom(false),
  /** Webhooks: events per request per webhook when several are due. */
  WEBHOOK_BATCH_SIZE: intFrom(1, 1000, 50),
  /** Webhooks: attempts of a delivery before it is marked FAILED. */
  WEBHOOK_MAX_ATTEMPTS: intFrom(1, 100, 12),
  /** Webhooks: first retry delay in milliseconds (doubled per attempt, with jitter). */
  WEBHOOK_BACKOFF_BASE_MS: intFrom(10, 3_600_000, 5_000),
  /** Webhooks: longest retry delay in milliseconds. */
  WEBHOOK_BACKOFF_MAX_MS: intFrom(10, 86_400_000, 3_600_000),
  /** Webhooks: time allowed to connect to a receiver. */
  WEBHOOK_CONNECT_TIMEOUT_MS: intFrom(100, 60_000, 5_000),
  /** Webhooks: time allowed for a receiver's response (from the request start). */
  WEBHOOK_RESPONSE_TIMEOUT_MS: intFrom(100, 300_000, 10_000),
  /** Webhooks: how often each instance looks for due deliveries and reminders (milliseconds; 0 = never). */
  WEBHOOK_POLL_MS: intFrom(0, 3_600_000, 1_000),
  /** Webhooks: requests in flight per instance. */
  WEBHOOK_CONCURRENCY: intFrom(1, 256, 8),
  /** Ops: time zones whose DAY, WEEK, MONTH and YEAR series compaction keeps exact (comma list of IANA names; UTC always). */
  RETENTION_TIMEZONES: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default('UTC')
      .transform((v) => v.split(',').map((p) => p.trim()).filter(Boolean))
      .refine((list) => list.every(isTimeZone), 'must be a comma list of IANA time zones (e.g. "UTC,Europe/Paris,America/New_York")')
      .transform((list) => [...new Set(['UTC', ...list.map(canonicalTimeZone)])]),
  ),
});

function isRegExp(pattern: string): boolean {
  try {
    new RegExp(pattern, 'i');
    return true;
  } catch {
    return false;
  }
}

function canonicalTimeZone(name: string): string {
  return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
}

function isTimeZone(name: string): boolean {
  try {
    canonicalTimeZone(name);
    return true;
  } catch {
    return false;
  }
}

export type Env = z.input<typeof envSchema>;
export type ActivityLevelName = 'NULL' | 'DEBUG' | 'HIDDEN' | 'INFO' | 'WARNING' | 'ERROR';
type ParsedEnv = z.output<typeof envSchema>;

export interface Config {
  env: ParsedEnv['NODE_ENV'];
  port: number;
  host: string;
  databaseUrl: string | undefined;
  /** Absolute path of the data directory (embedded database, generated secret, lock file). */
  dataDir: string;
  dbPoolMax: number;
  redisUrl: string | undefined;
  jwtSecret: string | undefined;
  /** Token verification (JWT_*): HS256 with the secret unless a JWKS URL or PEM key is set. */
  jwt: {
    jwksUrl: string | undefined;
    publicKey: string | undefined;
    algorithms: string[];
    issuer: string | undefined;
    audience: string | undefined;
    clockSkewSeconds: number;
  };
  /** Query limits (MAX_*), introspection, field suggestions, body size. */
  limits: {
    introspection: boolean;
    maxDepth: number;
    maxCost: number;
    maxAliases: number;
    maxTokens: number;
    maxDirectives: number;
    blockFieldSuggestions: boolean;
    maxBodyBytes: number;
  };
  /** GRAPHQL_JIT: execute operations with graphql-jit instead of graphql-js. */
  graphqlJit: boolean;
  /** CORS_ORIGINS: allowed origins ("*" = any). */
  corsOrigins: string[];
  /** TRUST_PROXY: read the client IP from X-Forwarded-For. */
  trustProxy: boolean;
  /** Rate limits (RATE_LIMIT_*): budgets per client per window; 0 = unlimited. */
  rateLimit: {
    windowSeconds: number;
    requests: number;
    increments: number;
    labels: number;
    actions: number;
    services: boolean;
  };
  /** Websocket limits (WS_MAX_*). */
  ws: {
    maxConnectionsPerClient: number;
    maxSubscriptionsPerConnection: number;
    maxSubscriptionsPerClient: number;
    /** Keep-alive ping interval (ms); a socket that misses a pong for that long is terminated. 0: off. */
    keepAliveMs: number;
  };
  foldCron: string;
  logLevel: ParsedEnv['LOG_LEVEL'];
  userType: string;
  graphiql: boolean;
  shutdownTimeoutMs: number;
  httpKeepAliveTimeoutMs: number;
  dbStatementTimeoutMs: number;
  /** How long to wait for a new PostgreSQL connection before failing the request. */
  dbConnectTimeoutMs: number;
  /** Activity: default level of new actions (ACTIVITY_DEFAULT_LEVEL). */
  activityDefaultLevel: ActivityLevelName;
  /** Activity: actions below this level are never unread (ACTIVITY_READABLE_LEVEL). */
  activityReadableLevel: ActivityLevelName;
  /** Activity: actions at or above this level enter feeds whatever the user's mutes (ACTIVITY_UNMUTABLE_LEVEL). */
  activityUnmutableLevel: ActivityLevelName;
  /** Activity: default grouping delay in seconds; negative disables grouping (ACTIVITY_GROUPING_DELAY). */
  activityGroupingDelay: number;
  /**
   * Activity: at most this many past matching actions enter a feed (as read) when a tracker is created or
   * widened; 0 = none (ACTIVITY_TRACK_BACKFILL).
   */
  activityTrackBackfill: number;
  /** Activity: maximum size of an action's JSON data in bytes (ACTIVITY_DATA_MAX_BYTES). */
  activityDataMaxBytes: number;
  /**
   * Activity: fan-out inline to at most `inlineMax` users, larger audiences by the queued fan-out's worker, which
   * polls every `pollMs` (0: this instance runs no queued fan-out) and runs `workers` at once; with `queueMax` queued,
   * logAction fans out inline again (ACTIVITY_FANOUT_INLINE_MAX, _POLL_MS, _WORKERS, _QUEUE_MAX).
   */
  activityFanOut: { inlineMax: number; pollMs: number; workers: number; queueMax: number };
  /** Live feed replay (FEED_REPLAY_MAX; FEED_CHANGE_RETENTION_HOURS is in `retention`). */
  feedReplay: { max: number };
  /** Activity: hours a logAction idempotencyKey is remembered (ACTIVITY_DEDUPE_HOURS). */
  activityDedupeHours: number;
  /** Demo page settings (DEMO_*). */
  web: { demoPage: boolean; demoUser: string; demoTokensLocalOnly: boolean };
  /** Prometheus endpoint (PROMETHEUS_*). */
  prometheus: { enabled: boolean; token: string | undefined };
  /** Retention job (RETENTION_*): days to keep each kind of row, 0 = forever. */
  retention: RetentionConfig;
  /** Metrics settings (METRICS_*). */
  metrics: MetricsConfig;
  /** Outbound webhooks (WEBHOOK_*, RETENTION_WEBHOOK_DAYS). */
  webhooks: WebhookConfig;
}

/** Webhook settings (WEBHOOK_* variables, documented in the env schema above). */
export interface WebhookConfig {
  allowPrivate: boolean;
  batchSize: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  pollMs: number;
  concurrency: number;
  retentionDays: number;
}

/** Metrics settings (METRICS_* variables, documented in the env schema above). */
export interface MetricsConfig {
  /** Hours an increment id is remembered (METRICS_DEDUPE_HOURS). */
  dedupeHours: number;
  maxBatch: number;
  maxBy: number;
  maxAgeHours: number;
  maxSkewSeconds: number;
  botFilter: Array<'anonymous' | 'user' | 'service'>;
  flushDelayMs: number;
  flushMaxRows: number;
  flushConcurrency: number;
  foldBatch: number;
  /** Least milliseconds between two values of one live metric subscription (LIVE_METRICS_INTERVAL_MS). */
  liveIntervalMs: number;
  maxSeriesPoints: number;
  catalogTtlMs: number;
  openDomainMaxMetrics: number;
  catalogCacheMax: number;
  /** Extra bot User-Agent patterns (regular expression sources), added to isbot's. */
  botPatterns: string[];
}

/** Retention settings (RETENTION_* variables, documented in the env schema above). */
export interface RetentionConfig {
  cron: string;
  hourDays: number;
  dayDays: number;
  weekDays: number;
  monthDays: number;
  yearDays: number;
  deadLetterDays: number;
  actionDays: number;
  /** Hours to keep feed changes for replay (FEED_CHANGE_RETENTION_HOURS). */
  feedChangeHours: number;
  /** Hours idempotency keys count (METRICS_DEDUPE_HOURS, ACTIVITY_DEDUPE_HOURS); older ones are deleted. */
  incrementKeyHours: number;
  actionKeyHours: number;
  /** Zones whose DAY..YEAR series compaction keeps exact (canonical names, UTC first). */
  timezones: string[];
}

/**
 * Whether `value` is "*" or an origin exactly as a browser's Origin header spells it: `null` (sandboxed and file
 * pages), scheme://host[:port] for http(s) as the URL standard serializes it (lowercase, no default port), and
 * scheme://host for other schemes webviews and extensions send (`capacitor://localhost`, `chrome-extension://id`).
 */
function isOrigin(value: string): boolean {
  if (value === '*' || value === 'null') return true;
  if (!/^https?:/i.test(value)) return /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s@]+$/.test(value);
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  if (e.NODE_ENV === 'production' && !e.JWT_SECRET && !e.JWT_JWKS_URL && !e.JWT_PUBLIC_KEY) {
    throw new ConfigError(['JWT_SECRET: is required when NODE_ENV=production (unless JWT_JWKS_URL or JWT_PUBLIC_KEY is set)']);
  }
  if (e.JWT_JWKS_URL && e.JWT_PUBLIC_KEY) {
    throw new ConfigError(['JWT_PUBLIC_KEY: set either JWT_JWKS_URL or JWT_PUBLIC_KEY, not both']);
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR),
    dbPoolMax: e.DB_POOL_MAX,
    redisUrl: e.REDIS_URL,
    jwtSecret: e.JWT_SECRET,
    jwt: {
      jwksUrl: e.JWT_JWKS_URL,
      publicKey: e.JWT_PUBLIC_KEY,
      algorithms: e.JWT_ALGORITHMS,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      clockSkewSeconds: e.JWT_CLOCK_SKEW_SECONDS,
    },
    limits: {
      introspection: e.INTROSPECTION ?? e.NODE_ENV !== 'production',
      maxDepth: e.MAX_DEPTH,
      maxCost: e.MAX_COST,
      maxAliases: e.MAX_ALIASES,
      maxTokens: e.MAX_TOKENS,
      maxDirectives: e.MAX_DIRECTIVES,
      blockFieldSuggestions: e.BLOCK_FIELD_SUGGESTIONS,
      maxBodyBytes: e.MAX_BODY_BYTES,
    },
    graphqlJit: e.GRAPHQL_JIT,
    corsOrigins: e.CORS_ORIGINS,
    trustProxy: e.TRUST_PROXY,
    rateLimit: {
      windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
      requests: e.RATE_LIMIT_REQUESTS,
      increments: e.RATE_LIMIT_INCREMENTS,
      labels: e.RATE_LIMIT_LABELS,
      actions: e.RATE_LIMIT_ACTIONS,
      services: e.RATE_LIMIT_SERVICES,
    },
    ws: {
      maxConnectionsPerClient: e.WS_MAX_CONNECTIONS_PER_CLIENT,
      maxSubscriptionsPerConnection: e.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxSubscriptionsPerClient: e.WS_MAX_SUBSCRIPTIONS_PER_CLIENT,
      keepAliveMs: e.WS_KEEP_ALIVE_MS,
    },
    foldCron: e.FOLD_CRON,
    logLevel: e.LOG_LEVEL,
    userType: e.USER_TYPE,
    graphiql: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    httpKeepAliveTimeoutMs: e.HTTP_KEEPALIVE_TIMEOUT_MS,
    dbStatementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    dbConnectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
    activityDefaultLevel: e.ACTIVITY_DEFAULT_LEVEL,
    activityReadableLevel: e.ACTIVITY_READABLE_LEVEL,
    activityUnmutableLevel: e.ACTIVITY_UNMUTABLE_LEVEL,
    activityGroupingDelay: e.ACTIVITY_GROUPING_DELAY,
    activityTrackBackfill: e.ACTIVITY_TRACK_BACKFILL,
    activityDataMaxBytes: e.ACTIVITY_DATA_MAX_BYTES,
    activityFanOut: {
      inlineMax: e.ACTIVITY_FANOUT_INLINE_MAX,
      pollMs: e.ACTIVITY_FANOUT_POLL_MS,
      workers: e.ACTIVITY_FANOUT_WORKERS,
      queueMax: e.ACTIVITY_FANOUT_QUEUE_MAX,
    },
    feedReplay: { max: e.FEED_REPLAY_MAX },
    activityDedupeHours: e.ACTIVITY_DEDUPE_HOURS,
    web: { demoPage: e.DEMO_PAGE, demoUser: e.DEMO_USER, demoTokensLocalOnly: e.DEMO_TOKENS_LOCAL_ONLY },
    prometheus: { enabled: e.PROMETHEUS_ENABLED, token: e.PROMETHEUS_TOKEN },
    retention: {
      cron: e.RETENTION_CRON,
      hourDays: e.RETENTION_HOUR_DAYS,
      dayDays: e.RETENTION_DAY_DAYS,
      weekDays: e.RETENTION_WEEK_DAYS,
      monthDays: e.RETENTION_MONTH_DAYS,
      yearDays: e.RETENTION_YEAR_DAYS,
      deadLetterDays: e.RETENTION_DEAD_LETTER_DAYS,
      actionDays: e.RETENTION_ACTION_DAYS,
      feedChangeHours: e.FEED_CHANGE_RETENTION_HOURS,
      incrementKeyHours: e.METRICS_DEDUPE_HOURS,
      actionKeyHours: e.ACTIVITY_DEDUPE_HOURS,
      timezones: e.RETENTION_TIMEZONES,
    },
    metrics: {
      dedupeHours: e.METRICS_DEDUPE_HOURS,
      maxBatch: e.METRICS_MAX_BATCH,
      maxBy: e.METRICS_MAX_BY,
      maxAgeHours: e.METRICS_MAX_AGE_HOURS,
      maxSkewSeconds: e.METRICS_MAX_SKEW_SECONDS,
      botFilter: e.METRICS_BOT_FILTER as MetricsConfig['botFilter'],
      flushDelayMs: e.METRICS_FLUSH_DELAY_MS,
      flushMaxRows: e.METRICS_FLUSH_MAX_ROWS,
      flushConcurrency: e.METRICS_FLUSH_CONCURRENCY,
      foldBatch: e.METRICS_FOLD_BATCH,
      liveIntervalMs: e.LIVE_METRICS_INTERVAL_MS,
      maxSeriesPoints: e.METRICS_MAX_SERIES_POINTS,
      catalogTtlMs: e.METRICS_CATALOG_TTL_MS,
      openDomainMaxMetrics: e.METRICS_OPEN_DOMAIN_MAX_METRICS,
      catalogCacheMax: e.METRICS_CATALOG_CACHE_MAX,
      botPatterns: e.METRICS_BOT_PATTERNS,
    },
    webhooks: {
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
      batchSize: e.WEBHOOK_BATCH_SIZE,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      backoffBaseMs: e.WEBHOOK_BACKOFF_BASE_MS,
      backoffMaxMs: e.WEBHOOK_BACKOFF_MAX_MS,
      connectTimeoutMs: e.WEBHOOK_CONNECT_TIMEOUT_MS,
      responseTimeoutMs: e.WEBHOOK_RESPONSE_TIMEOUT_MS,
      pollMs: e.WEBHOOK_POLL_MS,
      concurrency: e.WEBHOOK_CONCURRENCY,
      retentionDays: e.RETENTION_WEBHOOK_DAYS,
    },
  };
}

/** For entry points: the config, or exit 1 with the message naming the bad variables. */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}
