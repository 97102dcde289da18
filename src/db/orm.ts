import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator } from '@mikro-orm/migrations';
import { PgliteDriver } from '@mikro-orm/pglite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { MikroORM, type Options, type SqlEntityManager, type AbstractSqlDriver } from '@mikro-orm/sql';
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

/** Applies every committed migration that has not run yet; returns the names it applied. */
export async function applyMigrations(orm: Orm): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((m) => m.name);
}

export async function pendingMigrations(orm: Orm): Promise<string[]> {
  return (await orm.migrator.getPending()).map((m) => m.name);
}
