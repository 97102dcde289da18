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
import { bareYogaDelivery, measureDelivery, type DeliveryResult } from './delivery.ts';
import { post, signTestToken, startInstance, type Instance } from '../../test/support/instances.ts';
import { describeMachine, median, percentile } from '../machine.ts';
import { createDatabase, dropDatabase, generate, HOT_ITEM, MEASURED_USER, WS_IDLE_ITEM, WS_ITEM, type DatasetReport } from './dataset.ts';
import type { BenchRow } from '../machine.ts';
import { UNLIMITED_SERVER_ENV } from '../load.ts';
import { subscribeReceiver } from './receiver.ts';


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
    await timed('logAction fanning out to 1,000 trackers (1,000 feeds), back to back (each sent when the previous answered)', iterations, 20, async (i) => {
      const data = await gql(instance.url, `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`, { input: hotItemAction(i) }, service);
      if (!data.logAction.id) throw new Error('no id');
      fanout++;
    }),
  );
  const feedOfHotUser = (await gql(instance.url, `{ unreadCount(user: "u0") }`, {}, service)).unreadCount as number;
  log(`  logAction calls: ${fanout}; unreadCount of u0 (one of the 1,000 hot-item trackers) is now ${feedOfHotUser}`);

  // The same calls one at a time: each sent once the previous one is in the 1,000 feeds (the receiver u999, one of
  // them, got its ADDED event: the fan-out writes every feed in one transaction). This is the condition of the
  // figure issue 10 compares with: every fan-out was inline then, so each call had written its feeds before the
  // next was sent. Back to back (above), large fan-outs are logged faster than they can be written: the queue
  // fills to ACTIVITY_FANOUT_QUEUE_MAX and the rest fan out inline, so that figure is the write throughput's.
  // The first calls wait for the back-to-back backlog to drain (warm-up, not measured).
  const receiver = await subscribeReceiver(instance, 'u999');
  try {
    const answered: number[] = [];
    const inFeeds: number[] = [];
    const warmup = 10;
    for (let i = 0; i < iterations + warmup; i++) {
      const t0 = performance.now();
      const data = await gql(instance.url, `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`, { input: hotItemAction(i) }, service);
      const t1 = performance.now();
      const arrived = await receiver.arrival(String(data.logAction.id), 120_000);
      if (i >= warmup) {
        answered.push(t1 - t0);
        inFeeds.push(arrived - t0);
      }
    }
    results.push({ name: `${PACED}: answered`, samples: answered }, { name: `${PACED}: the 1,000 feeds hold it (receiver's ADDED event)`, samples: inFeeds });
  } finally {
    await receiver.client.dispose();
  }
  return results;
}

/** The name of the one-at-a-time logAction measurements (latencyBenchmarks). */
const PACED = 'paced logAction to 1,000 feeds, one at a time (each sent once the previous one is in the feeds)';

/** A new action on the hot item (1,000 trackers) by one of 5,000 actors. */
function hotItemAction(i: number) {
  return {
    actor: { type: 'User', id: `u${5000 + (i % 5000)}`, label: 'Someone' },
    verb: 'mentioned',
    targets: [{ ...HOT_ITEM, label: 'The hot item' }],
    data: { i },
  };
}

export type WsResult = DeliveryResult;

/** The bench's subscription document (the same selection for trackql and the bare-Yoga reference). */
const WS_QUERY = `subscription { feed { kind unreadCount cursor action { id verb timestamp actor { type id label } targets { type id label } } } }`;

/**
 * `subscribers` graphql-ws clients in child processes (one user each, all tracking WS_ITEM); each round logs one
 * action that enters every one of their feeds.
 */
export async function websocketBenchmark(
  instance: Instance,
  subscribers: number,
  rounds: number,
  log: (l: string) => void,
  who: { prefix: string; item: { type: string; id: string } } = { prefix: 'ws', item: WS_ITEM },
): Promise<WsResult> {
  const service = await signTestToken('bench-service', ['service']);
  return measureDelivery({
    pid: instance.server.child.pid!,
    wsUrl: instance.url.replace(/^http/, 'ws'),
    users: Array.from({ length: subscribers }, (_, i) => `${who.prefix}${i}`),
    tokens: true,
    query: WS_QUERY,
    rounds,
    log,
    async trigger(round) {
      const data = await gql(
        instance.url,
        `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
        {
          input: {
            actor: { type: 'User', id: `u${round}`, label: 'Broadcaster' },
            verb: 'announced',
            targets: [{ ...who.item, label: 'Everyone' }],
            groupingDelay: -1,
          },
        },
        service,
      );
      return data.logAction.id as string;
    },
  });
}

/** logAction reaching every websocket user's feed while none of them is connected: the database part alone. */
async function fanOutWithoutSubscribers(instance: Instance, calls: number): Promise<number[]> {
  const service = await signTestToken('bench-service', ['service']);
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await gql(
      instance.url,
      `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
      { input: { actor: { type: 'User', id: `quiet${i}` }, verb: 'announced', targets: [{ ...WS_ITEM }], groupingDelay: -1 } },
      service,
    );
    times.push(performance.now() - t0);
  }
  return times;
}

function logDelivery(label: string, ws: WsResult, log: (l: string) => void) {
  const e2e = summary(ws.sinceSent);
  const mutation = summary(ws.mutation);
  const last = summary(ws.lastArrival);
  log(
    `  ${label}: delivery since the mutation was sent p50 ${ms(e2e.p50)}, p99 ${ms(e2e.p99)}, max ${ms(e2e.max)} (n=${e2e.n}); ` +
      `last subscriber p50 ${ms(last.p50)}; mutation p50 ${ms(mutation.p50)}; ${ws.perSubscriberKiB.toFixed(1)} KiB per idle subscriber`,
  );
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
  const serverEnv = {
    ...UNLIMITED_SERVER_ENV,
    LOG_LEVEL: 'info',
    ...(process.env['ACTIVITY_BENCH_SERVER_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['ACTIVITY_BENCH_SERVER_NODE_OPTIONS'] } : {}),
  };
  const instance = await startInstance({ databaseUrl, env: serverEnv });
  // ACTIVITY_BENCH_BEFORE_ROOT: a checkout of the previous version (e.g. `git archive main | tar -x -C dir`,
  // node_modules linked), measured in the same run.
  const beforeRoot = process.env['ACTIVITY_BENCH_BEFORE_ROOT'];
  let before: WsResult | undefined;
  let fanOutAlone: number[] = [];
  let dataset: DatasetReport;
  let latency: Timings[] = [];
  let ws: WsResult;
  let idle: WsResult | undefined;
  const idleSubscribers = Number(process.env['WS_IDLE_SUBSCRIBERS'] ?? 0);
  let plan = '';
  try {
    log('generating the data set');
    dataset = await generate(databaseUrl, subscribers, log, onlyWebsocket, { idleUsers: idleSubscribers });
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
    if (beforeRoot) {
      // The previous version first (its own process, the same database and subscribers), then this one.
      log(`websocket benchmark: previous version from ${beforeRoot}`);
      const previous = await startInstance({ databaseUrl, root: beforeRoot, env: serverEnv });
      try {
        before = await websocketBenchmark(previous, subscribers, 10, log);
        logDelivery('before', before, log);
      } finally {
        await previous.stop();
      }
    }
    log('websocket benchmark');
    ws = await websocketBenchmark(instance, subscribers, 10, log);
    logDelivery('trackql', ws, log);
    // After the rounds (the subscribers are gone), so that the server's memory before them is that of a fresh one.
    fanOutAlone = await fanOutWithoutSubscribers(instance, 5);
    log(`  logAction reaching ${subscribers} feeds with no subscriber connected: p50 ${ms(median(fanOutAlone))} (n=${fanOutAlone.length})`);
    if (before) {
      log(`  after / before: p99 ${(summary(ws.sinceSent).p99 / summary(before.sinceSent).p99).toFixed(2)} x, p50 ${(summary(ws.sinceSent).p50 / summary(before.sinceSent).p50).toFixed(2)} x`);
    }
    if (idleSubscribers > 0) {
      log(`idle websocket subscribers: ${idleSubscribers}`);
      idle = await websocketBenchmark(instance, idleSubscribers, 0, log, { prefix: 'idle', item: WS_IDLE_ITEM });
      log(`  trackql: ${idle.perSubscriberKiB.toFixed(1)} KiB per idle subscriber with ${idleSubscribers}`);
    }
  } finally {
    await instance.stop();
    if (!process.env['KEEP_DB']) await dropDatabase(serverUrl, DB_NAME);
  }
  // The reference, in the same run: the same delivery through bare graphql-yoga + graphql-ws.
  log('websocket benchmark: bare graphql-yoga reference');
  const bare = await bareYogaDelivery(subscribers, 10, WS_QUERY, log);
  logDelivery('bare Yoga', bare, log);
  const ratio = summary(ws.sinceSent).p99 / summary(bare.sinceSent).p99;
  log(`  trackql / bare Yoga: p99 ${ratio.toFixed(2)} x, p50 ${(summary(ws.sinceSent).p50 / summary(bare.sinceSent).p50).toFixed(2)} x, memory per subscriber ${(ws.perSubscriberKiB / bare.perSubscriberKiB).toFixed(2)} x`);
  if (onlyWebsocket) return [];

  const byName = (prefix: string) => summary(latency.find((t) => t.name.startsWith(prefix))!.samples);
  const feedFirst = byName('feed: first');
  const feedNext = byName('feed: next');
  const feedUnread = byName('feed: unreadOnly');
  const log1000 = byName('logAction');
  const pacedAnswered = byName(`${PACED}: answered`);
  const pacedInFeeds = byName(`${PACED}: the 1,000`);
  const unread = byName('unreadCount');
  const delivery = summary(ws.sinceSent);
  const rows: BenchRow[] = [
    { benchmark: 'activity: feed page of 50 with unread flags, p95 (first page)', value: ms(feedFirst.p95), target: '< 15 ms', met: feedFirst.p95 < 15 },
    { benchmark: 'activity: feed page of 50, p95 (walking back with cursors)', value: ms(feedNext.p95), target: '< 15 ms', met: feedNext.p95 < 15 },
    { benchmark: 'activity: feed page of 50 unreadOnly, p95', value: ms(feedUnread.p95), target: '< 15 ms', met: feedUnread.p95 < 15 },
    {
      benchmark: 'activity: logAction matching 1,000 trackers, back to back (each sent when the previous answered), p95',
      value: ms(log1000.p95),
      target: '< 20 ms',
      met: log1000.p95 < 20,
    },
    {
      benchmark: 'activity: logAction matching 1,000 trackers, one at a time (each sent once the previous one is in the feeds): answered, p95',
      value: `${ms(pacedAnswered.p95)} (p50 ${ms(pacedAnswered.p50)})`,
      target: '<= 46.6 ms (issue 10: the p95 when it was filed, every fan-out inline then)',
      met: pacedAnswered.p95 <= 46.6,
    },
    {
      benchmark: 'activity: same calls: the 1,000 feeds hold it (a receiver\'s ADDED event, from the request), p95',
      value: `${ms(pacedInFeeds.p95)} (p50 ${ms(pacedInFeeds.p50)})`,
      target: 'report',
      met: null,
    },
    { benchmark: 'activity: unreadCount with 100,000 unread, p95', value: ms(unread.p95), target: '< 5 ms', met: unread.p95 < 5 },
    {
      benchmark: `activity: ${ws.subscribers} websocket subscribers (clients in child processes), delivery p99 since logAction was sent`,
      value: ms(delivery.p99),
      target: '< 100 ms',
      met: delivery.p99 < 100,
    },
    {
      benchmark: `activity: same delivery through bare graphql-yoga + graphql-ws (no database), p99; trackql / bare`,
      value: `${ms(summary(bare.sinceSent).p99)}; ${ratio.toFixed(1)} x`,
      target: 'report',
      met: null,
    },
    {
      // Read 3 s after the subscribers connected, with no GC: it counts V8's young generation, sized by the burst.
      // The target is judged by the memory suite (bench/activity/idle-memory.ts) on a settled idle server.
      benchmark: 'activity: server RSS growth per subscriber right after they connected (no GC; the idle-memory suite judges the target)',
      value: idle ? `${idle.perSubscriberKiB.toFixed(1)} KiB (${idle.subscribers} idle)` : `${ws.perSubscriberKiB.toFixed(1)} KiB (${ws.subscribers} idle)`,
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
moment the logAction request was sent (wall clock; the clients run in child processes, bench/activity/ws-clients.ts, on
the same 2 cores as the server and Postgres). ${ws.rounds} rounds, ${delivery.n} deliveries: p50 ${ms(delivery.p50)},
p99 ${ms(delivery.p99)}, max ${ms(delivery.max)}. The same delivery through bare graphql-yoga + graphql-ws (no database,
no plugins, bench/activity/bare-yoga.ts), same clients, same run: p50 ${ms(summary(bare.sinceSent).p50)}, p99
${ms(summary(bare.sinceSent).p99)}; trackql / bare = ${ratio.toFixed(1)} x at p99.

Server RSS: ${(ws.rssBeforeKiB / 1024).toFixed(0)} MiB before connecting, ${(ws.rssAfterKiB / 1024).toFixed(0)} MiB with
${ws.subscribers} idle subscribers: ${ws.perSubscriberKiB.toFixed(1)} KiB per subscriber${idle ? ` (${idle.perSubscriberKiB.toFixed(1)} KiB each with ${idle.subscribers})` : ''}; bare Yoga
${bare.perSubscriberKiB.toFixed(1)} KiB.

## Analysis

- Feed pages and unreadCount are index range scans / one-row reads; they stay flat with the size of the log and
  the number of trackers (the deep-page walk reads the same number of rows as the first page).
- logAction to 1,000 feeds: above \`ACTIVITY_FANOUT_INLINE_MAX\` (250) receivers the fan-out is queued
  (src/activity/fan-out-queue.ts): logAction commits the action and its job and answers; a worker writes the feeds
  in its own transaction. Per receiving user the fan-out writes a feed entry (heap, primary key, time index, partial
  unread index, action index), its counter row (unread and unseen counts, change-stream position; HOT), its counter
  cell (the per-shape counts of feedCounts; HOT) and a change row (the replay of \`feed(after:)\`: heap, primary key,
  BRIN). One call at a time, the answer waits for none of it; back to back, calls come faster than the feeds can be
  written, the queue fills to \`ACTIVITY_FANOUT_QUEUE_MAX\` (100) and the rest fan out inline (backpressure: an
  unbounded queue would answer fast while the feeds fell behind without limit), so the back-to-back p95 is the
  cost of an inline fan-out while the workers write the backlog.
- Websocket delivery: every subscriber's event is a full GraphQL execution of its subscription document through
  Yoga's envelop pipeline (the request-id and metrics hooks run per event) plus one websocket
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
