/**
 * Webhooks bench (`BENCH_ONLY=webhooks npm run bench`, or `node --experimental-strip-types bench/webhooks.ts`):
 *
 * 1. The outbox's cost on logAction: the same logAction (fanning out to FANOUT trackers) without any webhook
 *    and with one webhook subscribed to ACTION_LOGGED and FEED_ENTRY_ADDED (1 + FANOUT outbox rows written
 *    in the same transaction), alternated in rounds in one run, one in-process server (no sockets), medians
 *    and p95 of the rounds.
 * 2. Delivery throughput to a local receiver: DELIVERIES events due at once, delivered by one instance's
 *    worker, with WEBHOOK_BATCH_SIZE 50 and 1 (events/s, requests/s).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config.ts';
import { buildApp, type App } from '../src/server/app.ts';
import { createTestDatabase } from '../test/support/database.ts';
import { describeMachine, median, percentile, type BenchRow } from './machine.ts';

process.env['DATABASE_URL'] ??= 'postgres://postgres@127.0.0.1:5432/postgres';
const FANOUT = Number(process.env['WEBHOOK_BENCH_FANOUT'] ?? 100);
const CALLS = Number(process.env['WEBHOOK_BENCH_CALLS'] ?? 100);
const ROUNDS = Number(process.env['WEBHOOK_BENCH_ROUNDS'] ?? 3);
const DELIVERIES = Number(process.env['WEBHOOK_BENCH_DELIVERIES'] ?? 5000);

async function start(env: Record<string, string>): Promise<{ app: App; token: string; gql: (q: string, v?: object) => Promise<any>; stop: () => Promise<void> }> {
  const database = await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    JWT_SECRET: 'trackql-bench-secret-0123456789abcdef0123456789',
    DATA_DIR: '/tmp/trackql-bench-webhooks',
    FOLD_CRON: 'off',
    RETENTION_CRON: 'off',
    RATE_LIMIT_SERVICES: 'false',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...env,
  });
  const app = await buildApp(config, { database: database.target });
  await app.start(0);
  const token = await app.tokens.sign({ sub: 'bench', roles: ['service'] });
  const gql = async (query: string, variables: object = {}) => {
    const response = await app.yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };
  return {
    app,
    token,
    gql,
    async stop() {
      await app.stop();
      await database.drop();
    },
  };
}

async function receiver(): Promise<{ url: string; requests: () => number; events: () => number; close: () => Promise<void> }> {
  let requests = 0;
  let events = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      events += (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { events: unknown[] } }).data.events.length;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    requests: () => requests,
    events: () => events,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const REGISTER = `mutation BenchRegister($url: String!, $events: [WebhookEvent!]!) { registerWebhook(url: $url, events: $events) { webhook { id } } }`;
const DELETE = `mutation BenchDelete($id: ID!) { deleteWebhook(id: $id) }`;
const LOG = `mutation BenchLog($input: LogActionInput!) { logAction(input: $input) { id } }`;

async function outboxOverhead(): Promise<BenchRow[]> {
  const s = await start({ WEBHOOK_POLL_MS: '0' });
  const r = await receiver();
  try {
    for (let i = 0; i < FANOUT; i++) {
      await s.gql(`mutation BenchTrack($input: TrackInput!) { track(input: $input) { id } }`, {
        input: { objectType: 'Doc', owner: `user-${i}`, actorOnly: false },
      });
    }
    // Calls alternate between "no active webhook" and "one active webhook" (toggled between calls, not
    // timed), so the load of the shared machine weighs on both sides alike.
    const hook = await s.gql(REGISTER, { url: r.url, events: ['ACTION_LOGGED', 'FEED_ENTRY_ADDED'] });
    const em = s.app.orm.em.fork();
    const perRound = { without: [] as number[][], with: [] as number[][] };
    let n = 0;
    const call = async (active: boolean): Promise<number> => {
      await em.execute(`update webhook set active = ?`, [active]);
      const started = performance.now();
      await s.gql(LOG, { input: { actor: { type: 'User', id: `a${n}` }, verb: 'edited', targets: [{ type: 'Doc', id: String(n++) }], groupingDelay: -1 } });
      return performance.now() - started;
    };
    for (let i = 0; i < 20; i++) await call(i % 2 === 0); // warm-up
    for (let k = 0; k < ROUNDS; k++) {
      const a: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < CALLS; i++) {
        a.push(await call(false));
        b.push(await call(true));
      }
      perRound.without.push(a);
      perRound.with.push(b);
    }
    await s.gql(DELETE, { id: hook.registerWebhook.webhook.id });
    const samples = { without: perRound.without.flat(), with: perRound.with.flat() };
    const p50 = (x: number[]) => median(x);
    const p95 = (x: number[]) => percentile(x, 95);
    const ratio = (f: (x: number[]) => number) => median(perRound.with.map((b, k) => f(b) / f(perRound.without[k]!)));
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    return [
      { benchmark: `logAction fanning out to ${FANOUT} trackers, no active webhook: p50 / p95`, value: `${ms(p50(samples.without))} / ${ms(p95(samples.without))}`, target: '–', met: null },
      {
        benchmark: `same, one webhook on ACTION_LOGGED + FEED_ENTRY_ADDED (${FANOUT + 1} outbox rows per call): p50 / p95`,
        value: `${ms(p50(samples.with))} / ${ms(p95(samples.with))}`,
        target: '–',
        met: null,
      },
      {
        benchmark: 'outbox cost on logAction: with / without, median of per-round ratios, p50 and p95',
        value: `${ratio(p50).toFixed(2)} × / ${ratio(p95).toFixed(2)} ×`,
        target: '–',
        met: null,
      },
    ];
  } finally {
    await r.close();
    await s.stop();
  }
}

async function throughput(batchSize: number): Promise<BenchRow> {
  const s = await start({ WEBHOOK_POLL_MS: '0', WEBHOOK_BATCH_SIZE: String(batchSize), WEBHOOK_CONCURRENCY: '8' });
  const r = await receiver();
  try {
    const hook = await s.gql(REGISTER, { url: r.url, events: ['ACTION_LOGGED'] });
    const id = Number(Buffer.from(hook.registerWebhook.webhook.id, 'base64').toString('utf8').split(':')[1]);
    // DELIVERIES events due at once (as a burst of logActions would leave them).
    await s.app.orm.em.fork().execute(
      `insert into webhook_delivery (webhook_id, event, payload)
       select ?, 'ACTION_LOGGED', jsonb_build_object('action', jsonb_build_object('id', g, 'verb', 'edited', 'data', repeat('x', 200)))
         from generate_series(1, ?) g`,
      [id, DELIVERIES],
    );
    const started = performance.now();
    while (r.events() < DELIVERIES) await s.app.services.webhooks.worker.tick();
    const seconds = (performance.now() - started) / 1000;
    return {
      benchmark: `delivery of ${DELIVERIES} due events to a local receiver, WEBHOOK_BATCH_SIZE ${batchSize}, concurrency 8`,
      value: `${Math.round(DELIVERIES / seconds)} events/s, ${Math.round(r.requests() / seconds)} requests/s (${r.requests()} requests, ${seconds.toFixed(1)} s)`,
      target: '–',
      met: null,
    };
  } finally {
    await r.close();
    await s.stop();
  }
}

export async function run(): Promise<BenchRow[]> {
  const rows = await outboxOverhead();
  rows.push(await throughput(50));
  rows.push(await throughput(1));
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(describeMachine());
  console.table(await run());
  process.exit(0);
}
