import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEST_JWT_SECRET } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startServerProcess, type ServerProcess } from '../support/process.ts';

/**
 * A real server process with a small old space (`heapLimitMb`: a leak of a test's size would crash it), on a
 * database and a data directory of its own, for the memory tests. The young generation is set apart: V8 sizes it
 * from the heap limit, and at 128 MB its default is so small that scavenges triple a run's time without bounding
 * anything these tests are about.
 */
export interface SmallHeapServer {
  server: ServerProcess;
  /** The GraphQL endpoint. */
  url: string;
  /** V8's heap in use, from the server's /metrics. */
  heapUsedMb(): Promise<number>;
  stop(): Promise<void>;
}

export async function startSmallHeapServer(heapLimitMb: number, env: Record<string, string> = {}): Promise<SmallHeapServer> {
  const database: TestDatabase = await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-memory-'));
  const server = startServerProcess(
    {
      NODE_ENV: 'production',
      NODE_OPTIONS: `--max-old-space-size=${heapLimitMb} --max-semi-space-size=16`,
      PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: TEST_JWT_SECRET,
      FOLD_CRON: 'off',
      RETENTION_CRON: 'off',
      DATA_DIR: dataDir,
      DATABASE_URL: database.url ?? '',
      ...(process.env['REDIS_URL'] ? { REDIS_URL: process.env['REDIS_URL'] } : {}),
      ...env,
    },
    110_000,
  );
  const url = await server.ready;
  return {
    server,
    url,
    async heapUsedMb() {
      const text = await (await fetch(url.replace(/\/graphql$/, '/metrics'))).text();
      const line = text.split('\n').find((l) => l.startsWith('nodejs_heap_size_used_bytes '));
      return Number(line?.split(' ')[1]) / 2 ** 20;
    },
    async stop() {
      if (server.child.exitCode === null) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
