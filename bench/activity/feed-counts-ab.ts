/**
 * feedCounts and the filtered unreadCount/unseenCount through GraphQL, this tree side by side with another one
 * (issue 13 item 3: "p95 < 10 ms for five keys" on the 1M-action data set, the measured user with 100,000 unread).
 * Two trackql processes, this tree's and `COUNTS_AB_OTHER`'s (a worktree of the previous version), each on its own
 * database (copies of one kept inbox data set: `KEEP_DB=1 … bench/activity/inbox.ts`, then `createdb -T`), are
 * asked the same requests in turn, request by request, alternating which server goes first; the one-row
 * `unreadCount` is the reference of the same run. Requests go in blocks of `COUNTS_AB_BLOCK` of one kind to one server,
 * the blocks alternating between the servers (which one goes first alternates too), so that besides the latency of
 * each request the CPU of each block is measured: the server process and the PostgreSQL backends of its
 * database (from /proc), steadier than latency on a shared machine. Read-only unless `COUNTS_AB_WRITES=1`, which
 * adds logAction fanning out to the 1,000 users tracking the hot item, each call with a new verb (so every
 * receiving user gets a new counter cell: the worst case of an index on the cells) and the same calls on both
 * databases.
 *
 *   COUNTS_AB_OTHER=/work/wt/counts-ref COUNTS_AB_DB=counts_bench COUNTS_AB_OTHER_DB=counts_bench_main \
 *     node --experimental-strip-types bench/activity/feed-counts-ab.ts
 *
 * Env: COUNTS_AB_ITERATIONS (requests of each kind per server, default 200), COUNTS_AB_BLOCK (default 20),
 * DATABASE_URL (the server, default the local PostgreSQL).
 */
import os from 'node:os';
import { encodeGlobalID } from '@pothos/plugin-relay';
import pg from 'pg';
import { post, signTestToken, startInstance, type Instance } from '../../test/support/instances.ts';
import { UNLIMITED_SERVER_ENV } from '../load.ts';
import { describeMachine, median, percentile, processCpuSeconds } from '../machine.ts';
import { HOT_ITEM, MEASURED_USER } from './dataset.ts';

const other = process.env['COUNTS_AB_OTHER'];
if (!other) throw new Error('COUNTS_AB_OTHER: the path of the other worktree');
const serverUrl = new URL(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const dbUrl = (name: string) => Object.assign(new URL(serverUrl), { pathname: `/${name}` }).toString();
const ours = dbUrl(process.env['COUNTS_AB_DB'] ?? 'counts_bench');
const theirs = dbUrl(process.env['COUNTS_AB_OTHER_DB'] ?? 'counts_bench_main');
const iterations = Number(process.env['COUNTS_AB_ITERATIONS'] ?? 200);
const block = Number(process.env['COUNTS_AB_BLOCK'] ?? 20);

async function gql(instance: Instance, query: string, token: string): Promise<unknown> {
  const { status, body } = await post(instance.url, query, {}, token);
  if (status !== 200 || body.errors?.length) throw new Error(`GraphQL failed (${status}): ${JSON.stringify(body.errors)}`);
  return body.data;
}

const client = new pg.Client({ connectionString: ours });
await client.connect();
const { rows } = await client.query(`select min(tracker_ids[1]) as id from activity_feed_cell where user_id = $1 and level >= 30`, [MEASURED_USER]);
const dbName = (url: string) => new URL(url).pathname.slice(1);
/** CPU seconds used so far by a server process and by the PostgreSQL backends connected to its database. */
async function cpuOf(instance: Instance, url: string): Promise<[server: number, postgres: number]> {
  const backends = await client.query(`select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`, [dbName(url)]);
  return [processCpuSeconds(instance.server.child.pid), backends.rows.reduce((sum, r) => sum + processCpuSeconds(r.pid as number), 0)];
}
const tracker = encodeGlobalID('Tracker', String(rows[0].id));

const writes = process.env['COUNTS_AB_WRITES'] === '1';
const requests: Array<[string, string]> = [
  ['unreadCount (reference: one counter row)', `{ unreadCount }`],
  ['feedCounts, 5 keys', `{ feedCounts(by: [VERB, OBJECT_TYPE, TRACKER, LEVEL, ACTOR_TYPE]) { by key unread unseen total } }`],
  ['feedCounts, 4 keys (no ACTOR_TYPE)', `{ feedCounts(by: [VERB, OBJECT_TYPE, TRACKER, LEVEL]) { by key unread unseen total } }`],
  ['feedCounts, 3 keys (no TRACKER, no ACTOR_TYPE)', `{ feedCounts(by: [VERB, OBJECT_TYPE, LEVEL]) { by key unread unseen total } }`],
  ['unreadCount(verbs: ["posted"])', `{ unreadCount(verbs: ["posted"]) }`],
  ['unseenCount(tracker:) (one tracker)', `{ unseenCount(tracker: "${tracker}") }`],
];

const env = { ...UNLIMITED_SERVER_ENV, LOG_LEVEL: 'warn' };
const [mine, ref] = await Promise.all([startInstance({ databaseUrl: ours, env }), startInstance({ databaseUrl: theirs, env, root: other })]);
const me = await signTestToken(MEASURED_USER);
const service = await signTestToken('bench-service', ['service']);
const logAction = 'logAction fanning out to 1,000 feeds, a new verb each call (new cells)';
if (writes) requests.push([logAction, '']);
let verbs = 0;
/** The request of `name` (logAction: the n-th new verb, the same on both servers). */
function call(name: string, query: string, instance: Instance, n: number): Promise<unknown> {
  if (name !== logAction) return gql(instance, query, me);
  return post(
    instance.url,
    `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
    { input: { actor: { type: 'User', id: 'u5000', label: 'Someone' }, verb: `cells-ab-${process.pid}-${n}`, targets: [{ ...HOT_ITEM, label: 'The hot item' }] } },
    service,
  ).then(({ status, body }) => {
    if (status !== 200 || body.errors?.length) throw new Error(`logAction failed: ${JSON.stringify(body.errors)}`);
  });
}
type Side = { latency: number[]; cpu: number[]; server: number[]; postgres: number[] };
const samples = new Map<string, { mine: Side; ref: Side }>(requests.map(([name]) => [name, { mine: { latency: [], cpu: [], server: [], postgres: [] }, ref: { latency: [], cpu: [], server: [], postgres: [] } }]));
const loads: number[] = [];
const started = new Date();
try {
  // Both answer the same (the other tree is the reference of correctness too).
  for (const [name, query] of requests) {
    if (name === logAction) continue;
    const [a, b] = [await gql(mine, query, me), await gql(ref, query, me)];
    const norm = (d: unknown) => JSON.stringify(d, (_k, v: unknown) => (Array.isArray(v) ? [...v].map((x) => JSON.stringify(x)).sort() : v));
    if (norm(a) !== norm(b)) throw new Error(`${name}: the two trees answer differently`);
  }
  // Warm-up: every request a few times on both.
  for (const [name, query] of requests) for (let i = 0; i < 5; i++) await Promise.all([call(name, query, mine, verbs), call(name, query, ref, verbs++)]);
  for (let round = 0; round * block < iterations; round++) {
    loads.push(os.loadavg()[0]!);
    for (const [name, query] of requests) {
      const order: Array<['mine' | 'ref', Instance, string]> = round % 2 ? [['mine', mine, ours], ['ref', ref, theirs]] : [['ref', ref, theirs], ['mine', mine, ours]];
      for (const [side, instance, url] of order) {
        const into = samples.get(name)![side];
        const cpu0 = await cpuOf(instance, url);
        const first = verbs;
        for (let i = 0; i < block; i++) {
          const t0 = performance.now();
          await call(name, query, instance, first + i);
          into.latency.push(performance.now() - t0);
        }
        const cpu1 = await cpuOf(instance, url);
        into.server.push((cpu1[0] - cpu0[0]) / block);
        into.postgres.push((cpu1[1] - cpu0[1]) / block);
        into.cpu.push((cpu1[0] + cpu1[1] - cpu0[0] - cpu0[1]) / block);
      }
      if (name === logAction) verbs += block;
    }
  }
} finally {
  await Promise.all([mine.stop(), ref.stop()]);
  await client.end();
}
const f = (v: number) => v.toFixed(2);
console.log(`\n${started.toISOString()} – ${new Date().toISOString()}; ${describeMachine()}; load average (1 min) ${loads.map((l) => l.toFixed(1)).join(' / ')}`);
console.log(`this tree vs ${other}, ${iterations} requests each, alternated\n`);
console.log('| request | other p50 / p95 | this tree p50 / p95 | ratio p50 / p95 | CPU per request (server + PostgreSQL), other / this tree, median of blocks | of which server / PostgreSQL, other; this tree |\n| --- | --- | --- | --- | --- | --- |');
for (const [name, { mine: a, ref: b }] of samples) {
  const [la, lb] = [a.latency, b.latency];
  const [ca, cb] = [median(a.cpu) * 1000, median(b.cpu) * 1000];
  console.log(
    `| ${name} | ${f(median(lb))} / ${f(percentile(lb, 95))} ms | ${f(median(la))} / ${f(percentile(la, 95))} ms | ${(median(la) / median(lb)).toFixed(2)} / ${(percentile(la, 95) / percentile(lb, 95)).toFixed(2)} × | ${f(cb)} / ${f(ca)} ms (${(ca / cb).toFixed(2)} ×) | ${f(median(b.server) * 1000)} / ${f(median(b.postgres) * 1000)}; ${f(median(a.server) * 1000)} / ${f(median(a.postgres) * 1000)} ms |`,
  );
}
