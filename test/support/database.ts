import crypto from 'node:crypto';
import pg from 'pg';
import type { DatabaseTarget } from '../../src/db/orm.ts';

/**
 * A database of its own for one test file: with DATABASE_URL, a fresh database created on that server
 * (dropped afterwards), so test files and parallel runs never see each other's rows; without it, a
 * throwaway in-memory embedded database.
 */
export interface TestDatabase {
  target: DatabaseTarget;
  /** The URL of the dedicated database (postgres only). */
  url: string | undefined;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env['DATABASE_URL'];
  if (!serverUrl) {
    return { target: { kind: 'embedded', dataDir: 'memory://' }, url: undefined, drop: async () => {} };
  }
  const name = `trackql_test_${crypto.randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    target: { kind: 'postgres', url: url.toString(), poolMax: 10, statementTimeoutMs: 30_000 },
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
