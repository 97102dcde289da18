import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator } from '@mikro-orm/migrations';
import { PgliteDriver } from '@mikro-orm/pglite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { MikroORM, type Options, type SqlEntityManager, type AbstractSqlDriver } from '@mikro-orm/sql';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { entities } from './entities.ts';
import { CallbackQueryClient } from './pg-client.ts';

export type Orm = MikroORM<AbstractSqlDriver, SqlEntityManager>;
export type Em = SqlEntityManager;

export const migrationsPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export type DatabaseTarget =
  | { kind: 'postgres'; url: string; poolMax: number; statementTimeoutMs: number; connectTimeoutMs?: number }
  /** `dataDir` is a directory for a persistent cluster, or `memory://` for a throwaway one. */
  | { kind: 'embedded'; dataDir: string };

/** `DATABASE_URL` when set, otherwise the embedded database under `DATA_DIR/pg`. */
export function databaseTargetFromConfig(config: Config): DatabaseTarget {
  if (config.databaseUrl) {
    return {
      kind: 'postgres',
      url: config.databaseUrl,
      poolMax: config.dbPoolMax,
      statementTimeoutMs: config.dbStatementTimeoutMs,
      connectTimeoutMs: config.dbConnectTimeoutMs,
    };
  }
  return { kind: 'embedded', dataDir: path.join(config.dataDir, 'pg') };
}

export function describeTarget(target: DatabaseTarget): string {
  if (target.kind === 'embedded') return `embedded PostgreSQL (PGlite) at ${target.dataDir}`;
  const url = new URL(target.url);
  url.password = url.password ? '***' : '';
  return `PostgreSQL at ${url.toString()}`;
}

function ormOptions(target: DatabaseTarget, logger?: Logger): Options {
  const common: Options = {
    entities,
    extensions: [Migrator],
    migrations: {
      path: migrationsPath,
      pathTs: migrationsPath,
      glob: '!(*.d).{js,ts}',
      snapshot: false,
      emit: 'ts',
      silent: true,
      transactional: true,
      allOrNothing: true,
    },
    debug: false,
    allowGlobalContext: false,
    discovery: { checkDuplicateTableNames: true },
    ...(logger
      ? {
          loggerFactory: () => ({
            log: (namespace: string, message: string) => logger.debug({ namespace }, message),
            error: (namespace: string, message: string) => logger.error({ namespace }, message),
            warn: (namespace: string, message: string) => logger.warn({ namespace }, message),
            logQuery: () => {},
            setDebugMode: () => {},
            isEnabled: () => false,
          }),
        }
      : {}),
  };
  if (target.kind === 'postgres') {
    return {
      ...common,
      driver: PostgreSqlDriver,
      clientUrl: target.url,
      pool: { min: 0, max: target.poolMax, idleTimeoutMillis: 30_000 },
      driverOptions: {
        statement_timeout: target.statementTimeoutMs || undefined,
        // TCP keep-alive: an idle connection to a database host that went away is noticed and dropped. (A client-side
        // query timeout would bound queries on a stalled database, but pg's keeps each query reachable from a timer
        // until it answers, which promotes every query's objects: test/hardening/young-garbage.test.ts.)
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        connectionTimeoutMillis: target.connectTimeoutMs ?? 5_000,
        application_name: 'trackql',
        Client: CallbackQueryClient,
      },
    };
  }
  return {
    ...common,
    driver: PgliteDriver,
    dbName: target.dataDir,
  };
}

export async function createOrm(target: DatabaseTarget, logger?: Logger): Promise<Orm> {
  return (await MikroORM.init(ormOptions(target, logger))) as unknown as Orm;
}

/** Key of the session advisory lock that serialises migrations (any instance, `npm run migrate`). */
const MIGRATION_LOCK_KEY = 727_001_001;

/**
 * Applies every committed migration that has not run yet; returns the names it applied. On PostgreSQL, several
 * instances starting at once on one database (README "Several instances") migrate one after the other: each
 * holds a session advisory lock on a connection of its own while the migrator runs, so the later ones find
 * nothing pending (without it, two migrators raced on creating the same tables and one instance failed to
 * start). The embedded database has a single process by construction (its data directory is locked).
 */
export async function applyMigrations(orm: Orm): Promise<string[]> {
  const url = orm.config.get('driver') === PostgreSqlDriver ? orm.config.get('clientUrl') : undefined;
  if (!url) return (await orm.migrator.up()).map((m) => m.name);
  const lock = new pg.Client({ connectionString: url, application_name: 'trackql migrations', connectionTimeoutMillis: 10_000 });
  lock.on('error', () => undefined); // a connection lost while migrating fails the migration, not the process
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    return (await orm.migrator.up()).map((m) => m.name);
  } finally {
    // Ending the session releases the lock, also when the query above failed half-way.
    await lock.end().catch(() => undefined);
  }
}

export async function pendingMigrations(orm: Orm): Promise<string[]> {
  return (await orm.migrator.getPending()).map((m) => m.name);
}
