import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.ts';
import { buildApp, type App } from '../../src/server/app.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export const TEST_JWT_SECRET = 'trackql-test-secret-0123456789abcdef0123456789';

export interface GraphQLResponse<TData = Record<string, any>> {
  data?: TData | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, any> }>;
}

export interface RequestOptions {
  token?: string | undefined;
  headers?: Record<string, string>;
}

export interface TestApp {
  app: App;
  url: string;
  port: number;
  database: TestDatabase;
  /** A GraphQL request over HTTP through Yoga's fetch (no socket). */
  gql<TData = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: RequestOptions,
  ): Promise<GraphQLResponse<TData>>;
  /** Like gql, but fails the test when the response has errors. */
  ok<TData = Record<string, any>>(query: string, variables?: Record<string, unknown>, options?: RequestOptions): Promise<TData>;
  serviceToken: string;
  userToken(userId: string): Promise<string>;
  /** A graphql-ws client over a real websocket to the listening server. */
  wsClient(token?: string): Client;
  stop(): Promise<void>;
}

/** Unique ids per test file so parallel files sharing one Redis never see each other's events. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

export interface StartTestAppOptions {
  /**
   * Use the database of another running TestApp (a second instance of the same deployment). Only a real
   * Postgres (DATABASE_URL) can be shared; the embedded in-memory one cannot, so it gets its own. The owner
   * drops it: stop this app first.
   */
  shareDatabaseOf?: TestApp;
}

export async function startTestApp(env: Record<string, string> = {}, options: StartTestAppOptions = {}): Promise<TestApp> {
  const shared = options.shareDatabaseOf?.database.url ? options.shareDatabaseOf.database : undefined;
  const database: TestDatabase = shared ? { ...shared, drop: async () => {} } : await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-test-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    JWT_SECRET: TEST_JWT_SECRET,
    DATA_DIR: dataDir,
    FOLD_CRON: 'off',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: database.url ?? '',
    REDIS_URL: process.env['REDIS_URL'] ?? '',
    // The whole suite runs with either executor: GRAPHQL_JIT=true|false npx vitest run.
    GRAPHQL_JIT: process.env['GRAPHQL_JIT'] ?? '',
    ...env,
  });
  const app = await buildApp(config, { database: database.target });
  const { port, url } = await app.start(0);
  const serviceToken = await app.tokens.sign({ sub: 'test-service', roles: ['service'] });
  const clients: Client[] = [];

  const gql: TestApp['gql'] = async (query, variables, options = {}) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (options.token) headers['authorization'] = `Bearer ${options.token}`;
    const response = await app.yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GraphQLResponse<any>;
  };

  return {
    app,
    url,
    port,
    database,
    gql,
    async ok(query, variables, options) {
      const result = await gql(query, variables, options);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data as any;
    },
    serviceToken,
    userToken: (userId) => app.tokens.sign({ sub: userId }),
    wsClient(token) {
      const client = createClient({
        url: `ws://127.0.0.1:${port}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: token ? { authorization: `Bearer ${token}` } : {},
        retryAttempts: 0,
        lazy: true,
      });
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.allSettled(clients.map((c) => c.dispose()));
      await app.stop();
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
