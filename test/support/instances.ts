import fs from 'node:fs';
import net from 'node:net';
import { startServerProcess, type ServerProcess } from './process.ts';
import { TEST_JWT_SECRET } from './app.ts';

/** A real trackql process on a free loopback port (used by the fault tests and by bench/). */
export interface Instance {
  url: string;
  baseUrl: string;
  server: ServerProcess;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

export interface InstanceOptions {
  databaseUrl?: string | undefined;
  redisUrl?: string | undefined;
  dataDir?: string;
  env?: Record<string, string>;
  /** How long the process may take to listen (default 60 s; an embedded database recovering after SIGKILL on a busy machine takes longer). */
  readyTimeoutMs?: number;
  /** Another checkout of trackql to run (bench: the previous version, side by side). */
  root?: string;
  /** Options for Node itself, before the script (V8 flags such as --trace-gc-nvp). */
  nodeArgs?: string[];
}

export async function startInstance(options: InstanceOptions): Promise<Instance> {
  const server = startServerProcess({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn',
    FOLD_CRON: 'off',
    ...(process.env['GRAPHQL_JIT'] ? { GRAPHQL_JIT: process.env['GRAPHQL_JIT'] } : {}),
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...(options.dataDir ? { DATA_DIR: options.dataDir } : {}),
    ...options.env,
  }, options.readyTimeoutMs, options.root, options.nodeArgs);
  let url: string;
  try {
    url = await server.ready;
  } catch (error) {
    // Never leave a half-started process behind (it would hold DATA_DIR's lock for the next start).
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    await server.exited;
    throw error;
  }
  const baseUrl = url.replace(/\/graphql$/, '');
  for (let i = 0; i < 100; i++) {
    const ready = await fetch(`${baseUrl}/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    baseUrl,
    server,
    async stop() {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
      return server.exited;
    },
    async kill() {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
      await server.exited;
    },
  };
}

/** POSTs a GraphQL operation to an instance. */
export async function post<T = any>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  signal?: AbortSignal,
): Promise<{ status: number; body: { data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers['authorization'] = `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }), ...(signal ? { signal } : {}) });
  return { status: response.status, body: (await response.json()) as any };
}

/** Tokens for real instances, signed with the test secret they are started with. */
export async function signTestToken(sub: string, roles: string[] = []): Promise<string> {
  const { TokenService } = await import('../../src/server/auth.ts');
  return new TokenService(TEST_JWT_SECRET).sign({ sub, roles });
}

/** Registers a domain with one counter metric on an instance (as a service). */
export async function registerCounter(url: string, token: string, domain: string, metric: string): Promise<void> {
  const result = await post(
    url,
    `mutation($d: ID!, $m: ID!) { registerDomain(ref: $d, name: "Test domain") { ref } registerMetric(domain: $d, ref: $m, name: "Test metric") { ref } }`,
    { d: domain, m: metric },
    token,
  );
  if (result.body.errors) throw new Error(`registering ${domain}/${metric} failed: ${JSON.stringify(result.body.errors)}`);
}

/** Folds the inbox on an instance, then reads the metric's total (optionally for one object). */
export async function foldAndTotal(
  url: string,
  token: string,
  domain: string,
  metric: string,
  object?: { type: string; id: string },
): Promise<number> {
  const fold = await post(url, 'mutation { foldCounters { folded } }', {}, token);
  if (fold.body.errors) throw new Error(`fold failed: ${JSON.stringify(fold.body.errors)}`);
  const total = await post<{ domain: { metric: { total: number } } }>(
    url,
    `query($d: ID!, $m: ID!, $o: ObjectRefInput) { domain(ref: $d) { metric(ref: $m) { total(object: $o) } } }`,
    { d: domain, m: metric, o: object ?? null },
    token,
  );
  const value = total.body.data?.domain.metric.total;
  if (typeof value !== 'number') throw new Error(`reading the total failed: ${JSON.stringify(total.body)}`);
  return value;
}

/** A loopback port free now, for an instance that must come back on the same port after a restart. */
/** The first port of the system's ephemeral range (Linux; 32768 elsewhere, the lowest common default). */
function ephemeralPortsFrom(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

export async function freePort(): Promise<number> {
  // Below the ephemeral range: a port the system hands out (a `listen(0)`, any outgoing connection) could be taken
  // by another process between this check and the server's start, which happened with the tests running beside
  // each other (EADDRINUSE). Only an explicit bind takes one of these.
  const ephemeralLow = ephemeralPortsFrom();
  const low = Math.max(10_000, ephemeralLow - 12_000);
  for (;;) {
    const port = low + Math.floor(Math.random() * (ephemeralLow - low));
    const server = net.createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }
}
