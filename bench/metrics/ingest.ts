/**
 * Batched ingestion (issues 16 and 17), side by side in one run against a real trackql process and a real
 * PostgreSQL (DATABASE_URL, default the local server; a fresh database is created and dropped):
 *
 *   1. `increment` with 1,000 events per request, no ids;
 *   2. the same with an id on every event (fresh ids on every request, so each one is new and goes through the
 *      key table: the de-duplication's full cost); target with ids >= 0.8 x without;
 *   3. reference: PostgreSQL inserting the same rows into the same inbox table in 1,000-row statements through
 *      `pg`, autocommit (same durability), on 8 connections, as named prepared statements in two forms (6,000
 *      parameters, or 6 array columns through `unnest`); the faster form of each round is PostgreSQL's rate;
 *      target for (1) >= 0.5 x this (issue 16 goal 2).
 *
 * Rounds alternate 1, 2, 3 (both forms), BENCH_ROUNDS times; medians. Every request of (1) and (2) builds its body the
 * same way (a template with a per-request prefix), so the load generator's work is the same for both.
 *
 *   node --experimental-strip-types bench/metrics/ingest.ts      (writes bench/results/metrics.md)
 *   BENCH_BEFORE_ROOT=<checkout> ...   also runs that checkout of trackql (e.g. a worktree at an older commit) as a
 *                                      second server on the same database, alternated with the others (without
 *                                      and, unless BENCH_IDS=off, with ids): before and after side by side in one run
 *   BENCH_IDS=off ...                  skips the phase with ids
 *   BENCH_PROFILE=dir ...              --cpu-prof of the server(s) in dir (dir/before for BENCH_BEFORE_ROOT's)
 */
import pg from 'pg';
import autocannon from 'autocannon';
import { createTestDatabase } from '../../test/support/database.ts';
import { post, signTestToken, startInstance } from '../../test/support/instances.ts';
import { median, processCpuSeconds } from '../machine.ts';
import { writeSection, type BenchRow } from './report.ts';

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 16);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const PG_CONNECTIONS = Number(process.env['BENCH_PG_CONNECTIONS'] ?? 8);
const BATCH = 1000;
const BEFORE_ROOT = process.env['BENCH_BEFORE_ROOT'];
const WITH_IDS = process.env['BENCH_IDS'] !== 'off';
const PROFILE_DIR = process.env['BENCH_PROFILE'];

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

/**
 * CPU seconds used by the PostgreSQL backends of the bench's database (all of them but `admin`'s own), per
 * backend: PostgreSQL runs on this machine, so /proc has them. A phase's PostgreSQL CPU is the growth of these
 * between two snapshots.
 */
async function backendCpu(admin: pg.Client): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
  );
  return new Map(rows.map(({ pid }) => [pid, processCpuSeconds(pid)]));
}

function cpuGrowth(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, cpu] of after) if (Number.isFinite(cpu)) total += cpu - (before.get(pid) ?? 0);
  return total;
}

/** A phase's rows/s and the CPU it cost per 1,000 rows (ms), split into trackql's server and PostgreSQL. */
interface Phase {
  rate: number;
  serverMsPerK: number;
  pgMsPerK: number;
}

/** The two statement forms of the PostgreSQL reference. */
type ReferenceForm = 'values' | 'unnest';

const INBOX_COLUMNS = 'metric_inbox (metric_id, object_type, object_id, category, dom_id, amount, occurred_at)';

/**
 * PostgreSQL's own rate for the rows trackql stores: 1,000-row INSERT statements into metric_inbox, autocommit
 * (the same durability: one commit per statement, synchronous_commit as the server has it), PG_CONNECTIONS clients
 * in this process. Tuned the way a client inserting in bulk would be: each form is a named prepared statement
 * (parsed and planned once per connection, not once per statement), in one of two forms:
 *
 *   values  `INSERT ... VALUES ($1, ..., $6), ...` with 6,000 parameters;
 *   unnest  `INSERT ... SELECT ... FROM unnest($1::int[], ..., $6::text[])`: whole columns as 6 array parameters
 *           (the form trackql's group commit uses), which spares PostgreSQL 6,000 parameters per statement.
 *
 * An unnamed 6,000-parameter statement (this bench's reference before 2026-11-30) is parsed and planned again for
 * every statement and reached about half of `values` (0.4–0.6 ×) on the same machine: a reference too slow to compare with.
 */
async function pgInsertRate(databaseUrl: string, admin: pg.Client, metricId: number, form: ReferenceForm): Promise<Phase> {
  const objectIds = Array.from({ length: BATCH }, (_, i) => `p${i % 50}`);
  const statement: pg.QueryConfig<unknown[]> =
    form === 'values'
      ? {
          name: 'reference_values',
          text: `insert into ${INBOX_COLUMNS} values ${Array.from({ length: BATCH }, (_, i) => {
            const p = i * 6;
            return `($${p + 1}::int, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}, $${p + 6}::int, now())`;
          }).join(',')}`,
          values: objectIds.flatMap((objectId) => [metricId, 'Page', objectId, 'web', '', 1]),
        }
      : {
          name: 'reference_unnest',
          text: `insert into ${INBOX_COLUMNS} select m, ot, oi, c, d, a, now()
                 from unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[]) as u(m, ot, oi, c, d, a)`,
          values: [
            objectIds.map(() => metricId),
            objectIds.map(() => 'Page'),
            objectIds,
            objectIds.map(() => 'web'),
            objectIds.map(() => ''),
            objectIds.map(() => 1),
          ],
        };
  const clients = await Promise.all(
    Array.from({ length: PG_CONNECTIONS }, async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(statement); // prepared on every connection before the clock starts
      return client;
    }),
  );
  try {
    let rows = 0;
    const cpuBefore = await backendCpu(admin);
    const started = performance.now();
    const until = started + SECONDS * 1000;
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() < until) {
          await client.query(statement);
          rows += BATCH;
        }
      }),
    );
    const rate = rows / ((performance.now() - started) / 1000);
    const pgCpu = cpuGrowth(cpuBefore, await backendCpu(admin));
    return { rate, serverMsPerK: 0, pgMsPerK: (pgCpu / rows) * 1e6 };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

/** A load of `increment` requests, with the CPU trackql's server process and its PostgreSQL backends spent. */
async function ingestPhase(url: string, token: string, template: string, serverPid: number | undefined, admin: pg.Client) {
  const pgBefore = await backendCpu(admin);
  const serverBefore = processCpuSeconds(serverPid);
  const load = await ingestLoad(url, token, template);
  const serverCpu = processCpuSeconds(serverPid) - serverBefore;
  const pgCpu = cpuGrowth(pgBefore, await backendCpu(admin));
  const rows = load.ok * BATCH;
  const phase: Phase = { rate: load.rate, serverMsPerK: (serverCpu / rows) * 1e6, pgMsPerK: (pgCpu / rows) * 1e6 };
  return { ...phase, p50: load.p50 };
}

export async function run(): Promise<{ rows: BenchRow[]; notes: string[] }> {
  process.env['DATABASE_URL'] ??= 'postgres://postgres@127.0.0.1:5432/postgres';
  const database = await createTestDatabase();
  const env = (profileDir: string | undefined) => ({
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    METRICS_MAX_BATCH: String(BATCH),
    ...(profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } : {}),
  });
  const instance = await startInstance({ databaseUrl: database.url, env: env(PROFILE_DIR) });
  const before = BEFORE_ROOT
    ? await startInstance({ databaseUrl: database.url, root: BEFORE_ROOT, env: env(PROFILE_DIR && `${PROFILE_DIR}/before`) })
    : null;
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
    const serverPid = instance.server.child.pid;

    const plain = bodyTemplate(false);
    const keyed = bodyTemplate(true);
    // Warm-up (JIT, pools, catalog cache).
    await ingestLoad(instance.url, token, plain);
    if (WITH_IDS) await ingestLoad(instance.url, token, keyed);
    if (before) await ingestLoad(before.url, token, plain);
    if (before && WITH_IDS) await ingestLoad(before.url, token, keyed);

    const without: number[] = [];
    const withIds: number[] = [];
    const reference: number[] = [];
    const byForm: Record<ReferenceForm, number[]> = { values: [], unnest: [] };
    const p50 = { without: [] as number[], withIds: [] as number[] };
    // CPU per 1,000 rows (ms): trackql's server and its PostgreSQL backends (no ids), and the reference's backends.
    const cpu = { server: [] as number[], serverPg: [] as number[], reference: [] as number[], idsServer: [] as number[], idsPg: [] as number[] };
    // BENCH_BEFORE_ROOT's server, no ids: its rate and CPU per 1,000 rows.
    const previous = { rate: [] as number[], server: [] as number[], serverPg: [] as number[], withIds: [] as number[], idsServer: [] as number[], idsPg: [] as number[] };
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const a = await ingestPhase(instance.url, token, plain, serverPid, admin);
        without.push(a.rate);
        p50.without.push(a.p50);
        cpu.server.push(a.serverMsPerK);
        cpu.serverPg.push(a.pgMsPerK);
        if (before) {
          const o = await ingestPhase(before.url, token, plain, before.server.child.pid, admin);
          previous.rate.push(o.rate);
          previous.server.push(o.serverMsPerK);
          previous.serverPg.push(o.pgMsPerK);
        }
        if (WITH_IDS) {
          const b = await ingestPhase(instance.url, token, keyed, serverPid, admin);
          withIds.push(b.rate);
          p50.withIds.push(b.p50);
          cpu.idsServer.push(b.serverMsPerK);
          cpu.idsPg.push(b.pgMsPerK);
          if (before) {
            const o = await ingestPhase(before.url, token, keyed, before.server.child.pid, admin);
            previous.withIds.push(o.rate);
            previous.idsServer.push(o.serverMsPerK);
            previous.idsPg.push(o.pgMsPerK);
          }
        }
        const values = await pgInsertRate(database.url!, admin, metricId, 'values');
        const unnest = await pgInsertRate(database.url!, admin, metricId, 'unnest');
        byForm.values.push(values.rate);
        byForm.unnest.push(unnest.rate);
        // PostgreSQL's rate in this round: the faster of the two forms (and that form's CPU).
        const faster = values.rate >= unnest.rate ? values : unnest;
        reference.push(faster.rate);
        cpu.reference.push(faster.pgMsPerK);
      }
    } finally {
      await admin.end();
    }
    const m = { without: median(without), withIds: WITH_IDS ? median(withIds) : NaN, reference: median(reference) };
    const idRatio = m.withIds / m.without;
    const pgRatio = m.without / m.reference;
    const c = { server: median(cpu.server), serverPg: median(cpu.serverPg), reference: median(cpu.reference) };
    // Rows per CPU-second, trackql (server + its PostgreSQL work) against PostgreSQL alone.
    const cpuRatio = c.reference / (c.server + c.serverPg);
    const rows: BenchRow[] = [
      { benchmark: `PostgreSQL reference: 1,000-row INSERT into metric_inbox via pg, autocommit, ${PG_CONNECTIONS} connections, named prepared statement, the faster of VALUES (6,000 parameters) and unnest (6 arrays) per round`, value: `${m.reference.toFixed(0)} rows/s (VALUES ${median(byForm.values).toFixed(0)}, unnest ${median(byForm.unnest).toFixed(0)})`, target: '–', met: null },
      { benchmark: `increment, ${BATCH} events per request, no ids (${CONNECTIONS} connections)`, value: `${m.without.toFixed(0)} increments/s (p50 ${median(p50.without)} ms)`, target: '–', met: null },
      { benchmark: `increment, ${BATCH} events per request, a fresh id on every event (de-duplicated in the group commit)`, value: `${m.withIds.toFixed(0)} increments/s (p50 ${(WITH_IDS ? median(p50.withIds) : NaN)} ms)`, target: '–', met: null },
      { benchmark: 'ratio with ids / without (issue 17)', value: `**${idRatio.toFixed(2)} ×**`, target: '>= 0.80 ×', met: idRatio >= 0.8 },
      { benchmark: 'ratio batched increments / PostgreSQL 1,000-row INSERT (issue 16 goal 2)', value: `**${pgRatio.toFixed(2)} ×**`, target: '>= 0.50 ×', met: pgRatio >= 0.5 },
      { benchmark: 'CPU per 1,000 rows: PostgreSQL reference (its backends) / batched increments (trackql server + its backends), as a rate ratio', value: `${c.reference.toFixed(1)} ms / ${(c.server + c.serverPg).toFixed(1)} ms (server ${c.server.toFixed(1)} + PostgreSQL ${c.serverPg.toFixed(1)}): **${cpuRatio.toFixed(2)} ×**`, target: '>= 0.50 ×', met: cpuRatio >= 0.5 },
    ];
    if (!WITH_IDS) rows.splice(2, 2); // the rows with ids
    if (before) {
      const b = { rate: median(previous.rate), server: median(previous.server), serverPg: median(previous.serverPg) };
      rows.push(
        { benchmark: `before (${BEFORE_ROOT}): increment, ${BATCH} events per request, no ids; ratio to PostgreSQL`, value: `${b.rate.toFixed(0)} increments/s: **${(b.rate / m.reference).toFixed(2)} ×**`, target: '–', met: null },
        { benchmark: 'before: CPU per 1,000 rows (server + PostgreSQL), ratio reference / before', value: `${(b.server + b.serverPg).toFixed(1)} ms (server ${b.server.toFixed(1)} + PostgreSQL ${b.serverPg.toFixed(1)}): **${(c.reference / (b.server + b.serverPg)).toFixed(2)} ×**`, target: '–', met: null },
        { benchmark: 'server CPU per event: after / before', value: `${(c.server).toFixed(1)} / ${b.server.toFixed(1)} µs = **${(c.server / b.server).toFixed(2)}**`, target: '–', met: null },
      );
      if (WITH_IDS) {
        const bIds = median(previous.withIds);
        rows.push({ benchmark: `before: increment with a fresh id on every event; ratio with ids / without of the before server (same rounds)`, value: `${bIds.toFixed(0)} increments/s: **${(bIds / b.rate).toFixed(2)} ×** (per round ${previous.withIds.map((v, i) => (v / previous.rate[i]!).toFixed(2)).join(', ')}); after, per round ${withIds.map((v, i) => (v / without[i]!).toFixed(2)).join(', ')}`, target: '–', met: null });
      }
    }
    const notes = [
      `Rounds of ${SECONDS} s alternated without ids / with ids / pg VALUES / pg unnest, ${ROUNDS} times; medians. Per round: without ${without.map((v) => v.toFixed(0)).join(', ')}; with ids ${withIds.map((v) => v.toFixed(0)).join(', ')}; pg VALUES ${byForm.values.map((v) => v.toFixed(0)).join(', ')}; pg unnest ${byForm.unnest.map((v) => v.toFixed(0)).join(', ')} rows/s.`,
      ...(before ? [`Before (${BEFORE_ROOT}) per round: ${previous.rate.map((v) => v.toFixed(0)).join(', ')} rows/s; server CPU per 1,000 rows ${previous.server.map((v) => v.toFixed(1)).join(', ')} ms; its PostgreSQL backends ${previous.serverPg.map((v) => v.toFixed(1)).join(', ')} ms${WITH_IDS ? `; with ids ${previous.withIds.map((v) => v.toFixed(0)).join(', ')} rows/s, server ${previous.idsServer.map((v) => v.toFixed(1)).join(', ')} ms, PostgreSQL ${previous.idsPg.map((v) => v.toFixed(1)).join(', ')} ms per 1,000 rows` : ''}.`] : []),
      `CPU per 1,000 rows (ms, from /proc) per round: trackql server ${cpu.server.map((v) => v.toFixed(1)).join(', ')}; its PostgreSQL backends ${cpu.serverPg.map((v) => v.toFixed(1)).join(', ')}; the reference's backends ${cpu.reference.map((v) => v.toFixed(1)).join(', ')}${WITH_IDS ? `; with ids: trackql server ${cpu.idsServer.map((v) => v.toFixed(1)).join(', ')}, its PostgreSQL backends ${cpu.idsPg.map((v) => v.toFixed(1)).join(', ')} (medians without ids ${c.server.toFixed(1)} + ${c.serverPg.toFixed(1)} ms, with ids ${median(cpu.idsServer).toFixed(1)} + ${median(cpu.idsPg).toFixed(1)} ms)` : ''}. On a machine shared with other work the rates also depend on how much CPU each process gets (the reference runs as ${PG_CONNECTIONS} backend processes, trackql's server as one); the CPU per row does not.`,
      'autocannon and the pg reference run in the benchmark process on the same 2 cores as the server and PostgreSQL; the machine was also loaded by other engineers\' parallel work, so absolute figures vary between runs and only the ratios of one run mean much.',
    ];
    return { rows, notes };
  } finally {
    // SIGTERM when profiling: --cpu-prof writes its file on a clean exit.
    if (PROFILE_DIR) await Promise.all([instance.stop(), before?.stop()]);
    await Promise.all([instance.kill(), before?.kill()]);
    await database.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows, notes } = await run();
  console.table(rows);
  for (const note of notes) console.log(`- ${note}`);
  writeSection('ingest', 'Batched ingestion with and without ids, against PostgreSQL (bench/metrics/ingest.ts)', rows, notes);
}
