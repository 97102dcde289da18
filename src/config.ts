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

const envSchema = z.object({
  NODE_ENV: z.preprocess(emptyToUndefined, z.enum(['development', 'production', 'test']).default('development')),
  PORT: intFrom(0, 65535, 4000),
  HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
  DATABASE_URL: urlWithProtocols(['postgres:', 'postgresql:']),
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./.data')),
  DB_POOL_MAX: intFrom(1, 200, 10),
  REDIS_URL: urlWithProtocols(['redis:', 'rediss:']),
  JWT_SECRET: z.preprocess(emptyToUndefined, z.string().min(32, 'must be at least 32 characters').optional()),
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
  GRAPHIQL: booleanFrom(true),
  SHUTDOWN_TIMEOUT_MS: intFrom(0, 600_000, 10_000),
  DB_STATEMENT_TIMEOUT_MS: intFrom(0, 600_000, 15_000),
  /** Activity: level of actions logged without one. */
  ACTIVITY_DEFAULT_LEVEL: z.preprocess(emptyToUndefined, z.enum(['NULL', 'DEBUG', 'HIDDEN', 'INFO', 'WARNING', 'ERROR']).default('INFO')),
  /** Activity: actions below this level are never unread. */
  ACTIVITY_READABLE_LEVEL: z.preprocess(emptyToUndefined, z.enum(['NULL', 'DEBUG', 'HIDDEN', 'INFO', 'WARNING', 'ERROR']).default('INFO')),
  /** Activity: default grouping delay in seconds (negative disables grouping). */
  ACTIVITY_GROUPING_DELAY: intFrom(-1, 31_536_000, 0),
  /** Activity: maximum size of an action's JSON `data`, in bytes. */
  ACTIVITY_DATA_MAX_BYTES: intFrom(0, 10_000_000, 16_384),
});

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
  foldCron: string;
  logLevel: ParsedEnv['LOG_LEVEL'];
  userType: string;
  graphiql: boolean;
  shutdownTimeoutMs: number;
  dbStatementTimeoutMs: number;
  /** Activity: default level of new actions (ACTIVITY_DEFAULT_LEVEL). */
  activityDefaultLevel: ActivityLevelName;
  /** Activity: actions below this level are never unread (ACTIVITY_READABLE_LEVEL). */
  activityReadableLevel: ActivityLevelName;
  /** Activity: default grouping delay in seconds; negative disables grouping (ACTIVITY_GROUPING_DELAY). */
  activityGroupingDelay: number;
  /** Activity: maximum size of an action's JSON data in bytes (ACTIVITY_DATA_MAX_BYTES). */
  activityDataMaxBytes: number;
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
  if (e.NODE_ENV === 'production' && !e.JWT_SECRET) {
    throw new ConfigError(['JWT_SECRET: is required when NODE_ENV=production']);
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
    foldCron: e.FOLD_CRON,
    logLevel: e.LOG_LEVEL,
    userType: e.USER_TYPE,
    graphiql: e.GRAPHIQL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    dbStatementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    activityDefaultLevel: e.ACTIVITY_DEFAULT_LEVEL,
    activityReadableLevel: e.ACTIVITY_READABLE_LEVEL,
    activityGroupingDelay: e.ACTIVITY_GROUPING_DELAY,
    activityDataMaxBytes: e.ACTIVITY_DATA_MAX_BYTES,
  };
}
