/**
 * Activity benchmarks against a real PostgreSQL (DATABASE_URL, default the local server) and a real trackql
 * process: feed page of 50, logAction fanning out to 1,000 trackers, unreadCount with 100,000 unread, and
 * 5,000 concurrent websocket subscribers receiving a logged action. Run directly:
 *
 *   node --experimental-strip-types bench/activity/activity.ts
 *
 * writes bench/results/activity.md. `run()` returns the rows for a combined report.
 * Env: DATABASE_URL, WS_SUBSCRIBERS (default 5000), ACTIVITY_BENCH_ITERATIONS (default 300), KEEP_DB=1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { post, signTestToken, startInstance, type Instance } from '../../test/support/instances.ts';
import { describeMachine, median, percentile } from '../machine.ts';
import { createDatabase, dropDatabase, generate, HOT_ITEM, MEASURED_USER, WS_ITEM, type DatasetReport } from './dataset.ts';
import type { BenchRow } from '../machine.ts';
import { UNLIMITED_SERVER_ENV } from '../load.ts';


const DB_NAME = 'trackql_bench_activity';

interface Timings {
  name: string;
  samples: number[];
}

function summary(samples: number[]) {
  return {
    p50: median(samples),
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
    n: samples.length,
  };
}

const ms = (v: number) => `${v.toFixed(2)} ms`;

async function timed(
  name: string,
  iterations: number,
  warmup: number,
  fn: (i: number) => Promise<void>,
): Promise<Timings> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn(warmup + i);
    samples.push(performance.now() - t0);
  }
  return { name, samples };
}

async function gql(url: string, query: string, variables: Record<string, unknown>, token: string): Promise<any> {
  const { status, body } = await post(url, query, variables, token);
  if (status !== 200 || body.errors?.length) throw new Error(`GraphQL failed (${status}): ${JSON.stringify(body.errors)}`);
  return body.data;
}

function rssKiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}

const FEED_PAGE = `query($after: String, $unreadOnly: Boolean) {
  feed(first: 50, after: $after, unreadOnly: $unreadOnly) {
    edges { cursor node { id verb unread level timestamp groupedCount data
      actor { type id label } targets { type id label } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

async function latencyBenchmarks(instance: Instance, iterations: number, log: (l: string) => void) {
  const me = await signTestToken(MEASURED_USER);
  const service = await signTestToken('bench-service', ['service']);
  const results: Timings[] = [];

  results.push(
    await timed('baseline: { viewer { id } } (HTTP + GraphQL, no database)', iterations, 30, async () => {
      await gql(instance.url, `{ viewer { id } }`, {}, me);
    }),
  );

  const count = (await gql(instance.url, `{ unreadCount }`, {}, me)).unreadCount as number;
  log(`  unreadCount of ${MEASURED_USER}: ${count}`);
  results.push(
    await timed('unreadCount (100,000 unread)', iterations, 30, async () => {
      const data = await gql(instance.url, `{ unreadCount }`, {}, me);
      if (data.unreadCount !== count) throw new Error('unreadCount changed');
    }),
  );

  results.push(
    await timed('feed: first page of 50 with unread flags', iterations, 30, async () => {
      const data = await gql(instance.url, FEED_PAGE, {}, me);
      if (data.feed.edges.length !== 50) throw new Error('short page');
    }),
  );

  let cursor: string | null = null;
  results.push(
    await timed('feed: next pages of 50 (keyset cursor, walking back)', iterations, 10, async () => {
      const data = await gql(instance.url, FEED_PAGE, { after: cursor }, me);
      cursor = data.feed.pageInfo.hasNextPage ? data.feed.pageInfo.endCursor : null;
    }),
  );

  results.push(
    await timed('feed: unreadOnly page of 50', iterations, 10, async () => {
      const data = await gql(instance.url, FEED_PAGE, { unreadOnly: true }, me);
      if (!data.feed.edges.every((e: { node: { unread: boolean } }) => e.node.unread)) throw new Error('read entry in unreadOnly');
    }),
  );

  let fanout = 0;
  results.push(
    await timed('logAction fanning out to 1,000 trackers (1,000 feeds)', iterations, 20, async (i) => {
      const data = await gql(
        instance.url,
        `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
        {
          input: {
            actor: { type: 'User', id: `u${5000 + (i % 5000)}`, label: 'Someone' },
            verb: 'mentioned',
            targets: [{ ...HOT_ITEM, label: 'The hot item' }],
            data: { i },
          },
        },
        service,
      );
      if (!data.logAction.id) throw new Error('no id');
      fanout++;
    }),
  );
  const feedOfHotUser = (await gql(instance.url, `{ unreadCount(user: "u0") }`, {}, service)).unreadCount as number;
  log(`  logAction calls: ${fanout}; unreadCount of u0 (one of the 1,000 hot-item trackers) is now ${feedOfHotUser}`);
  return results;
}

export interface WsResult {
  subscribers: number;
  connectSeconds: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  perSubscriberKiB: number;
  mutation: number[];
  latencies: number[];
  /** Arrival minus the moment the logAction request was sent. */
  sinceSent: number[];
  rounds: number;
}

export async function websocketBenchmark(instance: Instance, subscribers: number, rounds: number, log: (l: string) => void): Promise<WsResult> {
  const pid = instance.server.child.pid!;
  const service = await signTestToken('bench-service', ['service']);
  const wsUrl = instance.url.replace(/^http/, 'ws');
  const arrivals = new Map<string, number[]>();
  const clients: Client[] = [];
  const disposers: Array<() => void> = [];
  const query = `subscription { feed { kind unreadCount action { id verb timestamp actor { type id label } targets { type id label } } } }`;

  await new Promise((r) => setTimeout(r, 500));
  const rssBefore = rssKiB(pid);
  const t0 = performance.now();
  const batch = 250;
  for (let start = 0; start < subscribers; start += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, subscribers - start) }, async (_, k) => {
        const token = await signTestToken(`ws${start + k}`);
        const client = createClient({
          url: wsUrl,
          webSocketImpl: WebSocket,
          connectionParams: { authorization: `Bearer ${token}` },
          retryAttempts: 0,
          lazy: false,
        });
        await new Promise<void>((resolve, reject) => {
          client.on('connected', () => resolve());
          client.on('error', reject);
        });
        clients.push(client);
        disposers.push(
          client.subscribe<{ feed: { action: { id: string } | null } }>(
            { query },
            {
              next: (value) => {
                const id = value.data?.feed.action?.id;
                if (!id) return;
                const now = performance.now();
                const list = arrivals.get(id);
                if (list) list.push(now);
                else arrivals.set(id, [now]);
              },
              error: (error) => log(`  subscription error: ${JSON.stringify(error).slice(0, 200)}`),
              complete: () => {},
            },
          ),
        );
      }),
    );
  }
  const connectSeconds = (performance.now() - t0) / 1000;
  log(`  ${subscribers} websocket subscribers connected in ${connectSeconds.toFixed(1)} s`);

  const logOne = async (round: number) => {
    const started = performance.now();
    const data = await gql(
      instance.url,
      `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
      {
        input: {
          actor: { type: 'User', id: `u${round}`, label: 'Broadcaster' },
          verb: 'announced',
          targets: [{ ...WS_ITEM, label: 'Everyone' }],
          groupingDelay: -1,
        },
      },
      service,
    );
    const returned = performance.now();
    return { id: data.logAction.id as string, started, returned };
  };
  const waitAll = async (id: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while ((arrivals.get(id)?.length ?? 0) < subscribers) {
      if (Date.now() > deadline) throw new Error(`only ${arrivals.get(id)?.length ?? 0}/${subscribers} received ${id}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  // Warm-up: every subscription must be live (graphql-ws does not acknowledge subscribe).
  for (let i = 0; i < 3; i++) {
    const { id } = await logOne(-1 - i);
    await waitAll(id);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const rssAfter = rssKiB(pid);
  log(`  server RSS ${(rssBefore / 1024).toFixed(0)} MiB before, ${(rssAfter / 1024).toFixed(0)} MiB with ${subscribers} idle subscribers`);

  const latencies: number[] = [];
  const sinceSent: number[] = [];
  const mutation: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const { id, started, returned } = await logOne(r);
    await waitAll(id);
    mutation.push(returned - started);
    for (const at of arrivals.get(id)!) {
      latencies.push(Math.max(0, at - returned));
      sinceSent.push(at - started);
    }
    await new Promise((res) => setTimeout(res, 300));
  }

  for (const dispose of disposers) dispose();
  await Promise.allSettled(clients.map((c) => c.dispose()));
  return {
    subscribers,
    connectSeconds,
    rssBeforeKiB: rssBefore,
    rssAfterKiB: rssAfter,
    perSubscriberKiB: (rssAfter - rssBefore) / subscribers,
    mutation,
    latencies,
    sinceSent,
    rounds,
  };
}

async function explainFeed(databaseUrl: string): Promise<string> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `explain (analyze, buffers, costs off)
       select a.id, a.verb, a.level, a."timestamp", f.unread, f.tracker_ids
         from activity_feed_entry f join activity_action a on a.id = f.action_id
        where f.user_id = $1 order by f.action_id desc limit 51`,
      [MEASURED_USER],
    );
    return rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
  } finally {
    await client.end();
  }
}

export async function run(log: (line: string) => void = console.log): Promise<BenchRow[]> {
  const serverUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const subscribers = Number(process.env['WS_SUBSCRIBERS'] ?? 5000);
  const iterations = Number(process.env['ACTIVITY_BENCH_ITERATIONS'] ?? 300);
  // ACTIVITY_BENCH_ONLY=ws: only the websocket part (for profiling); writes no results file.
  const onlyWebsocket = process.env['ACTIVITY_BENCH_ONLY'] === 'ws';
  const databaseUrl = await createDatabase(serverUrl, DB_NAME);
  const instance = await startInstance({
    databaseUrl,
    env: {
      ...UNLIMITED_SERVER_ENV,
      LOG_LEVEL: 'info',
      ...(process.env['ACTIVITY_BENCH_SERVER_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['ACTIVITY_BENCH_SERVER_NODE_OPTIONS'] } : {}),
    },
  });
  let dataset: DatasetReport;
  let latency: Timings[] = [];
  let ws: WsResult;
  let plan = '';
  try {
    log('generating the data set');
    dataset = await generate(databaseUrl, subscribers, log, onlyWebsocket);
    log(`  done in ${dataset.seconds.toFixed(0)} s: ${JSON.stringify(dataset)}`);
    if (!onlyWebsocket) {
      plan = await explainFeed(databaseUrl);
      log('latency benchmarks');
      latency = await latencyBenchmarks(instance, iterations, log);
      for (const t of latency) {
        const s = summary(t.samples);
        log(`  ${t.name}: p50 ${ms(s.p50)}, p95 ${ms(s.p95)}, p99 ${ms(s.p99)} (n=${s.n})`);
      }
    }
    log('websocket benchmark');
    ws = await websocketBenchmark(instance, subscribers, 10, log);
    const s = summary(ws.latencies);
    log(`  delivery after the mutation returned: p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, max ${ms(s.max)} (n=${s.n})`);
    const e2e = summary(ws.sinceSent);
    const mutation = summary(ws.mutation);
    log(`  delivery since logAction was sent: p50 ${ms(e2e.p50)}, p99 ${ms(e2e.p99)}, max ${ms(e2e.max)}; logAction p50 ${ms(mutation.p50)}, p99 ${ms(mutation.p99)}; ${ws.perSubscriberKiB.toFixed(1)} KiB per idle subscriber`);
    if (onlyWebsocket) return [];
  } finally {
    await instance.stop();
    if (!process.env['KEEP_DB']) await dropDatabase(serverUrl, DB_NAME);
  }

  const byName = (prefix: string) => summary(latency.find((t) => t.name.startsWith(prefix))!.samples);
  const feedFirst = byName('feed: first');
  const feedNext = byName('feed: next');
  const feedUnread = byName('feed: unreadOnly');
  const log1000 = byName('logAction');
  const unread = byName('unreadCount');
  const delivery = summary(ws.latencies);
  const rows: BenchRow[] = [
    { benchmark: 'activity: feed page of 50 with unread flags, p95 (first page)', value: ms(feedFirst.p95), target: '< 15 ms', met: feedFirst.p95 < 15 },
    { benchmark: 'activity: feed page of 50, p95 (walking back with cursors)', value: ms(feedNext.p95), target: '< 15 ms', met: feedNext.p95 < 15 },
    { benchmark: 'activity: feed page of 50 unreadOnly, p95', value: ms(feedUnread.p95), target: '< 15 ms', met: feedUnread.p95 < 15 },
    { benchmark: 'activity: logAction matching 1,000 trackers, p95', value: ms(log1000.p95), target: '< 20 ms', met: log1000.p95 < 20 },
    { benchmark: 'activity: unreadCount with 100,000 unread, p95', value: ms(unread.p95), target: '< 5 ms', met: unread.p95 < 5 },
    {
      benchmark: `activity: ${ws.subscribers} websocket subscribers, delivery p99 after the mutation returned`,
      value: ms(delivery.p99),
      target: '< 100 ms',
      met: delivery.p99 < 100,
    },
    {
      // The row above is met as worded only because every delivery is written before the logAction response
      // leaves (publishing follows the commit synchronously); this row is what a subscriber experiences.
      benchmark: `activity: ${ws.subscribers} websocket subscribers, delivery p99 since the logAction request was sent (end to end)`,
      value: ms(summary(ws.sinceSent).p99),
      target: 'report (the < 100 ms target is not met end to end)',
      met: null,
    },
    {
      benchmark: 'activity: server memory per idle subscriber (RSS delta)',
      value: `${ws.perSubscriberKiB.toFixed(1)} KiB`,
      target: 'report',
      met: null,
    },
  ];

  const table = (t: Timings) => {
    const s = summary(t.samples);
    return `| ${t.name} | ${s.n} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.p99)} | ${ms(s.max)} |`;
  };
  const wsMutation = summary(ws.mutation);
  const md = `# Activity benchmarks

Machine: ${describeMachine()}; load average at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min; other
engineers' test runs share these 2 cores, so tails are noisy).
Database: PostgreSQL (local server, fresh database \`${DB_NAME}\`), server: one real trackql process (\`src/main.ts\`),
client: the benchmark process, over HTTP (fetch, keep-alive) and real websockets (graphql-ws). Times are end to end
as the client sees them (HTTP + GraphQL + SQL), sequential requests.

Data set (set-based SQL, ${dataset.seconds.toFixed(0)} s to generate): ${dataset.actions.toLocaleString('en')} actions,
10,000 actor users, ${dataset.trackers.toLocaleString('en')} trackers (1,000 for the measured user \`${MEASURED_USER}\`),
${dataset.feedEntries.toLocaleString('en')} feed entries; the measured feed holds ${dataset.measuredFeed.toLocaleString('en')} entries,
${dataset.measuredUnread.toLocaleString('en')} unread.

## Results

| Benchmark | Value | Target | Met |
|---|---|---|---|
${rows.map((r) => `| ${r.benchmark} | ${r.value} | ${r.target} | ${r.met === null ? '-' : r.met ? 'yes' : 'NO'} |`).join('\n')}

## Latency distributions

| Operation | n | p50 (median) | p95 | p99 | max |
|---|---|---|---|---|---|
${latency.map(table).join('\n')}
| logAction fanning out to ${ws.subscribers} subscribed users (websocket rounds) | ${wsMutation.n} | ${ms(wsMutation.p50)} | ${ms(wsMutation.p95)} | ${ms(wsMutation.p99)} | ${ms(wsMutation.max)} |

Ratios: logAction to 1,000 feeds / feed page = ${(log1000.p50 / feedFirst.p50).toFixed(1)}x (medians);
feed page / unreadCount = ${(feedFirst.p50 / unread.p50).toFixed(1)}x (medians); unreadCount / no-database baseline =
${(unread.p50 / byName('baseline').p50).toFixed(1)}x (medians).

## Websocket fan-out

${ws.subscribers} graphql-ws connections (one user each, all tracking one item), connected in ${ws.connectSeconds.toFixed(1)} s.
Each round logs one action that enters all ${ws.subscribers} feeds; delivery latency = arrival at each client minus the
moment the logAction response arrived (negative clamped to 0; clients and their JSON parsing run in one process on
the same 2 cores as the server and Postgres). ${ws.rounds} rounds, ${delivery.n} deliveries:
p50 ${ms(delivery.p50)}, p99 ${ms(delivery.p99)}, max ${ms(delivery.max)}. Measured from the moment the logAction request
was sent (fan-out of ${ws.subscribers} feed rows and counters, commit, ${ws.subscribers} publishes, then delivery):
p50 ${ms(summary(ws.sinceSent).p50)}, p99 ${ms(summary(ws.sinceSent).p99)}. Part of the delivery work runs before the mutation's
response is written (publishing is synchronous after commit and the subscribers' executions start right away),
which is why the logAction round above is slow and "after the mutation returned" is the smaller number.

Server RSS: ${(ws.rssBeforeKiB / 1024).toFixed(0)} MiB before connecting, ${(ws.rssAfterKiB / 1024).toFixed(0)} MiB with
${ws.subscribers} idle subscribers: ${ws.perSubscriberKiB.toFixed(1)} KiB per subscriber (socket, graphql-ws state, Yoga
context and the pub/sub listener).

## Analysis

- Feed pages and unreadCount are index range scans / one-row reads; they stay flat with the size of the log and
  the number of trackers (the deep-page walk reads the same number of rows as the first page).
- logAction to 1,000 feeds is dominated by writing 1,000 feed rows (heap + primary key + partial unread index +
  action-id index) and 1,000 counter updates in one statement: measured alone with EXPLAIN ANALYZE on this machine
  it takes 20 ms when the machine is quiet (feed insert ~14 ms, counters ~4 ms, tracker matching ~1 ms) and 40-75 ms
  while other test runs create databases (each CREATE DATABASE forces a checkpoint, so the next writes pay
  full-page images). The remaining ~10 ms are the other statements of the transaction, the commit, 1,000 publishes
  and HTTP/GraphQL. The 20 ms target would need the fan-out off the request path (commit the action, fan out from
  an outbox job, feeds consistent a few ms later), fewer indexes on the feed table, or faster hardware.
- Websocket delivery: every subscriber's event is a full GraphQL execution of its subscription document through
  Yoga's envelop pipeline (including the Prometheus and request-id plugins, which run per event) plus one websocket
  frame write; a CPU profile of the server shows GC, ws writes, graphql-ws and the executor as the main costs, about
  30-70 microseconds per delivery on this shared 2-core VM, with the 5,000 clients running on the same cores.
  No database query is made per subscriber. What would reach p99 < 100 ms: spread subscribers over instances or
  cluster workers (events already cross instances through Redis), a JIT executor for subscription documents, and
  no per-event plugin work.

## Feed query plan (measured user, first page)

\`\`\`
${plan}
\`\`\`
`;
  const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results/activity.md');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, md);
  log(`wrote ${path.relative(process.cwd(), out)}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
