/**
 * Increment throughput against a real trackql process on a real PostgreSQL (DATABASE_URL, default the
 * local server; a fresh database is created and dropped), measured with autocannon from this process:
 *
 *   1. single-event `increment` vs the trivial `mutation { __typename }` on the same server, same
 *      connections, rounds alternated side by side; ratio of the median requests/s;
 *   2. `increment` with 100 events per request: increments/s (median of the rounds);
 *   3. `incrementObjects` with 100 object ids per request (the compact form of the same increments).
 *
 * Every acknowledged increment is durable (group commit); at the end the totals are checked against the
 * number of 2xx answers, so a run where increments were rejected or lost does not count.
 *
 *   node --experimental-strip-types bench/metrics/increment.ts      (writes bench/results/metrics.md)
 *
 * Env: DATABASE_URL, BENCH_CONNECTIONS (default 32), BENCH_SECONDS per round (default 5), BENCH_ROUNDS (default 3).
 */
import { perSecond, postLoad } from '../load.ts';
import { createTestDatabase } from '../../test/support/database.ts';
import { post, signTestToken, startInstance } from '../../test/support/instances.ts';
import { median } from '../machine.ts';
import { writeSection, type BenchRow } from './report.ts';

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const BATCH = 100;

const INCREMENT = 'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }';
const INCREMENT_OBJECTS =
  'mutation($ids: [ID!]!) { incrementObjects(domain: "bench", metric: "objects", objectType: "Page", objectIds: $ids, category: "web") { accepted } }';

const cannon = (url: string, token: string, body: string, seconds: number) =>
  postLoad(url, token, body, seconds, CONNECTIONS);

export async function run(): Promise<{ rows: BenchRow[]; notes: string[] }> {
  process.env['DATABASE_URL'] ??= 'postgres://postgres@127.0.0.1:5432/postgres';
  const database = await createTestDatabase();
  // NODE_ENV=production as deployed (graphql-js skips its development-mode checks); LOG_LEVEL=info is what
  // the harness needs to see the listening line. Rate limits do not apply to service tokens.
  const instance = await startInstance({ databaseUrl: database.url, env: { LOG_LEVEL: 'info', NODE_ENV: 'production' } });
  try {
    const token = await signTestToken('bench-increment', ['service']);
    const setup = await post(
      instance.url,
      `mutation { registerDomain(ref: "bench", name: "Bench") { ref }
                  single: registerMetric(domain: "bench", ref: "single", name: "Single") { ref }
                  batch: registerMetric(domain: "bench", ref: "batch", name: "Batch") { ref }
                  objects: registerMetric(domain: "bench", ref: "objects", name: "Objects") { ref } }`,
      {},
      token,
    );
    if (setup.body.errors) throw new Error(JSON.stringify(setup.body.errors));

    const trivialBody = JSON.stringify({ query: 'mutation { __typename }' });
    const event = (metric: string, i: number) => ({ domain: 'bench', metric, object: { type: 'Page', id: `p${i % 50}` }, category: 'web' });
    const singleBody = JSON.stringify({ query: INCREMENT, variables: { e: [event('single', 0)] } });
    const batchBody = JSON.stringify({ query: INCREMENT, variables: { e: Array.from({ length: BATCH }, (_, i) => event('batch', i)) } });
    const objectsBody = JSON.stringify({
      query: INCREMENT_OBJECTS,
      variables: { ids: Array.from({ length: BATCH }, (_, i) => `p${i % 50}`) },
    });

    // Warm-up (JIT, connection pool, catalog cache).
    await cannon(instance.url, token, trivialBody, 2);
    await cannon(instance.url, token, singleBody, 2);
    await cannon(instance.url, token, batchBody, 2);
    await cannon(instance.url, token, objectsBody, 2);

    const trivial: number[] = [];
    const single: number[] = [];
    const batch: number[] = [];
    const objects: number[] = [];
    let objectsAcked = 0;
    let singleAcked = 0;
    let batchAcked = 0;
    const latency = { trivial: [] as number[], single: [] as number[], batch: [] as number[], objects: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const t = await cannon(instance.url, token, trivialBody, SECONDS);
      trivial.push(perSecond(t));
      latency.trivial.push(t.latency.p50);
      const s = await cannon(instance.url, token, singleBody, SECONDS);
      single.push(perSecond(s));
      latency.single.push(s.latency.p50);
      singleAcked += s['2xx'];
      const b = await cannon(instance.url, token, batchBody, SECONDS);
      batch.push(perSecond(b) * BATCH);
      latency.batch.push(b.latency.p50);
      batchAcked += b['2xx'] * BATCH;
      const o = await cannon(instance.url, token, objectsBody, SECONDS);
      objects.push(perSecond(o) * BATCH);
      latency.objects.push(o.latency.p50);
      objectsAcked += o['2xx'] * BATCH;
    }

    // Everything answered 2xx must be counted (warm-up included: read the totals before the rounds? no — subtract).
    const totals = await post<{ domain: { single: { total: number }; batch: { total: number }; objects: { total: number } } }>(
      instance.url,
      `{ domain(ref: "bench") { single: metric(ref: "single") { total } batch: metric(ref: "batch") { total } objects: metric(ref: "objects") { total } } }`,
      {},
      token,
    );
    const counted = totals.body.data!.domain;

    const trivialMedian = median(trivial);
    const singleMedian = median(single);
    const batchMedian = median(batch);
    const objectsMedian = median(objects);
    const ratio = singleMedian / trivialMedian;
    const rows: BenchRow[] = [
      { benchmark: `trivial mutation { __typename } (${CONNECTIONS} connections), median of ${ROUNDS}`, value: `${trivialMedian.toFixed(0)} req/s (p50 ${median(latency.trivial)} ms)`, target: '–', met: null },
      { benchmark: 'single-event increment, same server and connections', value: `${singleMedian.toFixed(0)} req/s (p50 ${median(latency.single)} ms)`, target: '–', met: null },
      { benchmark: 'ratio single-event increment / trivial mutation (medians)', value: ratio.toFixed(2), target: '>= 0.80', met: ratio >= 0.8 },
      { benchmark: `increment with ${BATCH} events (IncrementInput objects) per request`, value: `${batchMedian.toFixed(0)} increments/s (${(batchMedian / BATCH).toFixed(0)} req/s, p50 ${median(latency.batch)} ms)`, target: '>= 100,000 increments/s', met: batchMedian >= 100_000 },
      { benchmark: `incrementObjects with ${BATCH} object ids per request (same checks and group commit)`, value: `${objectsMedian.toFixed(0)} increments/s (${(objectsMedian / BATCH).toFixed(0)} req/s, p50 ${median(latency.objects)} ms)`, target: '>= 100,000 increments/s', met: objectsMedian >= 100_000 },
    ];
    const notes = [
      `Rounds of ${SECONDS} s alternated trivial / single / batch, ${ROUNDS} times; requests/s counts 2xx answers only. Per round: trivial ${trivial.map((v) => v.toFixed(0)).join(', ')}; single ${single.map((v) => v.toFixed(0)).join(', ')}; batch ${batch.map((v) => v.toFixed(0)).join(', ')} increments/s; objects ${objects.map((v) => v.toFixed(0)).join(', ')} increments/s.`,
      `Check: the measured rounds acknowledged ${singleAcked} single, ${batchAcked} batched and ${objectsAcked} incrementObjects increments; the totals (which include the 2 s warm-ups) are ${counted.single.total}, ${counted.batch.total} and ${counted.objects.total}: ${counted.single.total >= singleAcked && counted.batch.total >= batchAcked && counted.objects.total >= objectsAcked ? 'nothing acknowledged is missing' : 'SOME ACKNOWLEDGED INCREMENTS ARE MISSING'}.`,
      'autocannon runs in the benchmark process on the same 2 cores as the server and PostgreSQL; every acknowledged increment was committed (synchronous_commit on) by the group commit before the answer.',
    ];
    return { rows, notes };
  } finally {
    await instance.kill();
    await database.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows, notes } = await run();
  console.table(rows);
  for (const note of notes) console.log(`- ${note}`);
  writeSection('increment', 'Increments (bench/metrics/increment.ts)', rows, notes);
}
