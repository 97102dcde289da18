/**
 * Batched ingestion (issues 16 and 17), side by side in one run against a real trackql process and a real
 * PostgreSQL (DATABASE_URL, default the local server; a fresh database is created and dropped):
 *
 *   1. `increment` with 1,000 events per request, no ids;
 *   2. the same with an id on every event (fresh ids on every request, so each one is new and goes through the
 *      key table: the de-duplication's full cost); target with ids >= 0.8 x without;
 *   3. reference: PostgreSQL inserting the same rows into the same inbox table with plain 1,000-row
 *      `INSERT ... VALUES` statements through `pg`, autocommit (same durability), on 4 connections; target for
 *      (1) >= 0.5 x this (issue 16 goal 2).
 *
 * Rounds alternate 1, 2, 3, BENCH_ROUNDS times; medians. Every request of (1) and (2) builds its body the
 * same way (a template with a per-request prefix), so the load generator's work is the same for both.
 *
 *   node --experimental-strip-types bench/metrics/ingest.ts      (writes bench/results/metrics.md)
 */
import pg from 'pg';
import autocannon from 'autocannon';
import { createTestDatabase } from '../../test/support/database.ts';
import { post, signTestToken, startInstance } from '../../test/support/instances.ts';
import { median } from '../machine.ts';
import { writeSection, type BenchRow } from './report.ts';

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 16);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const PG_CONNECTIONS = 4;
const BATCH = 1000;

const INCREMENT = 'mutation Ingest($e: [IncrementInput!]!) { increment(events: $e) { accepted } }';

/** A request body per call: `@@` in the template is replaced by a fresh prefix (the ids' unique part). */
function bodyTemplate(withIds: boolean): string {
  const events = Array.from({ length: BATCH }, (_, i) => ({
    domain: 'bench',
    metric: 'ingest',
    object: { type: 'Page', id: `p${i % 50}` },
    category: 'web',
    ...(withIds ? { id: `@@-${i}` } : { domId: '' }),
  }));
  return JSON.stringify({ query: INCREMENT, variables: { e: events } });
}

/** Autocannon with a freshly made body per request; resolves with increments/s acknowledged (2xx × BATCH). */
function ingestLoad(url: string, token: string, template: string): Promise<{ rate: number; ok: number; p50: number }> {
  let n = 0;
  const run = `${process.pid}-${Date.now()}`;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'POST',
        connections: CONNECTIONS,
        duration: SECONDS,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        requests: [
          {
            setupRequest: (request) => {
              request.body = template.replaceAll('@@', `${run}-${n++}`);
              return request;
            },
          },
        ],
      },
      (error, result) =>
        error ? reject(error) : resolve({ rate: (result['2xx'] * BATCH) / result.duration, ok: result['2xx'], p50: result.latency.p50 }),
    );
  });
}

/** PostgreSQL's own rate: 1,000-row INSERT ... VALUES statements into metric_inbox, autocommit, PG_CONNECTIONS clients. */
async function pgInsertRate(databaseUrl: string, metricId: number): Promise<number> {
  const values = Array.from({ length: BATCH }, (_, i) => {
    const p = i * 6;
    return `($${p + 1}::int, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}, $${p + 6}::int, now())`;
  }).join(',');
  const text = `insert into metric_inbox (metric_id, object_type, object_id, category, dom_id, amount, occurred_at) values ${values}`;
  const params = Array.from({ length: BATCH }, (_, i) => [metricId, 'Page', `p${i % 50}`, 'web', '', 1]).flat();
  const clients = await Promise.all(
    Array.from({ length: PG_CONNECTIONS }, async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    }),
  );
  try {
    let rows = 0;
    const started = performance.now();
    const until = started + SECONDS * 1000;
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() < until) {
          await client.query(text, params);
          rows += BATCH;
        }
      }),
    );
    return rows / ((performance.now() - started) / 1000);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

export async function run(): Promise<{ rows: BenchRow[]; notes: string[] }> {
  process.env['DATABASE_URL'] ??= 'postgres://postgres@127.0.0.1:5432/postgres';
  const database = await createTestDatabase();
  const instance = await startInstance({ databaseUrl: database.url, env: { LOG_LEVEL: 'info', NODE_ENV: 'production', METRICS_MAX_BATCH: String(BATCH) } });
  try {
    const token = await signTestToken('bench-ingest', ['service']);
    const setup = await post(
      instance.url,
      'mutation { registerDomain(ref: "bench", name: "Bench") { ref } registerMetric(domain: "bench", ref: "ingest", name: "Ingest") { ref } }',
      {},
      token,
    );
    if (setup.body.errors) throw new Error(JSON.stringify(setup.body.errors));
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const metricId = Number((await admin.query("select id from metric where ref = 'ingest'")).rows[0].id);
    await admin.end();

    const plain = bodyTemplate(false);
    const keyed = bodyTemplate(true);
    // Warm-up (JIT, pools, catalog cache).
    await ingestLoad(instance.url, token, plain);
    await ingestLoad(instance.url, token, keyed);

    const without: number[] = [];
    const withIds: number[] = [];
    const reference: number[] = [];
    const p50 = { without: [] as number[], withIds: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const a = await ingestLoad(instance.url, token, plain);
      without.push(a.rate);
      p50.without.push(a.p50);
      const b = await ingestLoad(instance.url, token, keyed);
      withIds.push(b.rate);
      p50.withIds.push(b.p50);
      reference.push(await pgInsertRate(database.url!, metricId));
    }
    const m = { without: median(without), withIds: median(withIds), reference: median(reference) };
    const idRatio = m.withIds / m.without;
    const pgRatio = m.without / m.reference;
    const rows: BenchRow[] = [
      { benchmark: `PostgreSQL reference: 1,000-row INSERT ... VALUES into metric_inbox via pg, autocommit, ${PG_CONNECTIONS} connections`, value: `${m.reference.toFixed(0)} rows/s`, target: '–', met: null },
      { benchmark: `increment, ${BATCH} events per request, no ids (${CONNECTIONS} connections)`, value: `${m.without.toFixed(0)} increments/s (p50 ${median(p50.without)} ms)`, target: '–', met: null },
      { benchmark: `increment, ${BATCH} events per request, a fresh id on every event (de-duplicated in the group commit)`, value: `${m.withIds.toFixed(0)} increments/s (p50 ${median(p50.withIds)} ms)`, target: '–', met: null },
      { benchmark: 'ratio with ids / without (issue 17)', value: `**${idRatio.toFixed(2)} ×**`, target: '>= 0.80 ×', met: idRatio >= 0.8 },
      { benchmark: 'ratio batched increments / PostgreSQL 1,000-row INSERT (issue 16 goal 2)', value: `**${pgRatio.toFixed(2)} ×**`, target: '>= 0.50 ×', met: pgRatio >= 0.5 },
    ];
    const notes = [
      `Rounds of ${SECONDS} s alternated without ids / with ids / pg reference, ${ROUNDS} times; medians. Per round: without ${without.map((v) => v.toFixed(0)).join(', ')}; with ids ${withIds.map((v) => v.toFixed(0)).join(', ')}; pg ${reference.map((v) => v.toFixed(0)).join(', ')} rows/s.`,
      'autocannon and the pg reference run in the benchmark process on the same 2 cores as the server and PostgreSQL; the machine was also loaded by other engineers\' parallel work, so absolute figures vary between runs and only the ratios of one run mean much.',
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
  writeSection('ingest', 'Batched ingestion with and without ids, against PostgreSQL (bench/metrics/ingest.ts)', rows, notes);
}
