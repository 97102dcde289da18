import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { freePort, post, signTestToken, startInstance, type Instance } from './instances.ts';

/** A real trackql process that a test stops and starts again: same database, data directory and port each time. */
export interface RestartableServer {
  /** The running process (the last one started). */
  readonly instance: Instance;
  /** Starts the server again (after `instance.stop()` or `kill()`). */
  start(): Promise<Instance>;
  /** A GraphQL request as a service (or with `token`); fails on errors. */
  gql<T>(query: string, variables: Record<string, unknown>, token?: string): Promise<T>;
}

/** Registers the file's beforeAll/afterAll around one restartable server (`name` names its data directory). */
export function useRestartableServer(name: string): RestartableServer {
  let database: TestDatabase;
  let dataDir: string;
  let port: number;
  let service: string;
  let instance: Instance | undefined;
  const server: RestartableServer = {
    get instance() {
      if (!instance) throw new Error('the server has not started');
      return instance;
    },
    async start() {
      instance = await startInstance({ databaseUrl: database.url, dataDir, env: { PORT: String(port) } });
      return instance;
    },
    async gql<T>(query: string, variables: Record<string, unknown>, token = service): Promise<T> {
      const result = await post<T>(server.instance.url, query, variables, token);
      if (result.body.errors) throw new Error(JSON.stringify(result.body.errors));
      return result.body.data as T;
    },
  };
  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `trackql-${name}-`));
    port = await freePort();
    service = await signTestToken(`${name}-service`, ['service']);
    await server.start();
  }, 120_000);
  afterAll(async () => {
    await instance?.kill();
    await database?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return server;
}
