/**
 * GRAPHQL_JIT=false (Yoga's executor) vs GRAPHQL_JIT=true (graphql-jit), side by side in one run: two real
 * trackql processes on the same fresh PostgreSQL database, measured alternately (round 1 baseline, round 1
 * JIT, round 2 baseline, ...), so both see the same machine state.
 *
 *   1. `increment` with 100 IncrementInput events per request (autocannon, 32 connections): increments/s;
 *      plus the single-event increment and `mutation { __typename }` (req/s);
 *   2. 5,000 websocket subscribers (graphql-ws) receiving one logged action: delivery latency after the
 *      mutation returned (the activity benchmark's websocket part, `bench/activity/activity.ts`).
 *
 *   node --experimental-strip-types bench/graphql-jit.ts         (writes bench/results/graphql-jit.md)
 *
 * Env: DATABASE_URL, BENCH_ROUNDS (default 3), BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 32),
 * WS_SUBSCRIBERS (default 5000), WS_EVENTS per round (default 10), JIT_BENCH_ONLY=increment|ws (appends
 * that part as a further run instead of replacing the file).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { perSecond, postLoad, UNLIMITED_SERVER_ENV } from './load.ts';
import { post, signTestToken, startInstance, type Instance } from '../test/support/instances.ts';
import { websocketBenchmark } from './activity/activity.ts';
import { createDatabase, dropDatabase, generate } from './activity/dataset.ts';
import { describeMachine, median, percentile } from './machine.ts';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const SUBSCRIBERS = Number(process.env['WS_SUBSCRIBERS'] ?? 5000);
const WS_EVENTS = Number(process.env['WS_EVENTS'] ?? 10);
const ONLY = process.env['JIT_BENCH_ONLY'];
const BATCH = 100;
const SERVER = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const VARIANTS = [
  { name: 'baseline (GRAPHQL_JIT=false)', jit: 'false' },
  { name: 'graphql-jit (GRAPHQL_JIT=true)', jit: 'true' },
] as const;

const cannon = (url: string, token: string, body: string, seconds: number) =>
  postLoad(url, token, body, seconds, CONNECTIONS);
const fmt = (v: number, d = 0) => v.toFixed(d);

interface Section {
  title: string;
  table: string[][];
  notes: string[];
}

async function incrementBench(log: (l: string) => void): Promise<Section> {
  const db = 'trackql_bench_jit_increment';
  const databaseUrl = await createDatabase(SERVER, db);
  const instances: Instance[] = [];
  try {
    for (const v of VARIANTS) {
      instances.push(
        await startInstance({ databaseUrl, env: { LOG_LEVEL: 'info', NODE_ENV: 'production', FOLD_CRON: 'off', GRAPHQL_JIT: v.jit } }),
      );
    }
    const token = await signTestToken('bench-jit', ['service']);
    const setup = await post(
      instances[0]!.url,
      `mutation { registerDomain(ref: "bench", name: "Bench") { ref }
                  a: registerMetric(domain: "bench", ref: "batch-false", name: "Batch baseline") { ref }
                  b: registerMetric(domain: "bench", ref: "batch-true", name: "Batch JIT") { ref } }`,
      {},
      token,
    );
    if (setup.body.errors) throw new Error(JSON.stringify(setup.body.errors));
    const increment = 'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }';
    const event = (metric: string, i: number) => ({ domain: 'bench', metric, object: { type: 'Page', id: `p${i % 50}` }, category: 'web' });
    const bodies = VARIANTS.map((v) => ({
      trivial: JSON.stringify({ query: 'mutation { __typename }' }),
      single: JSON.stringify({ query: increment, variables: { e: [event(`batch-${v.jit}`, 0)] } }),
      batch: JSON.stringify({ query: increment, variables: { e: Array.from({ length: BATCH }, (_, i) => event(`batch-${v.jit}`, i)) } }),
    }));
    // Warm-up of both (V8 JIT, graphql-jit compilation, pool, catalog cache).
    for (let i = 0; i < VARIANTS.length; i++) {
      await cannon(instances[i]!.url, token, bodies[i]!.trivial, 2);
      await cannon(instances[i]!.url, token, bodies[i]!.single, 2);
      await cannon(instances[i]!.url, token, bodies[i]!.batch, 2);
    }
    const acked = [0, 0];
    const results = VARIANTS.map(() => ({ trivial: [] as number[], single: [] as number[], batch: [] as number[], batchP50: [] as number[] }));
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < VARIANTS.length; i++) {
        const url = instances[i]!.url;
        const r = results[i]!;
        r.trivial.push(perSecond(await cannon(url, token, bodies[i]!.trivial, SECONDS)));
        const s = await cannon(url, token, bodies[i]!.single, SECONDS);
        r.single.push(perSecond(s));
        acked[i]! += s['2xx'];
        const b = await cannon(url, token, bodies[i]!.batch, SECONDS);
        r.batch.push(perSecond(b) * BATCH);
        r.batchP50.push(b.latency.p50);
        acked[i]! += b['2xx'] * BATCH;
        log(`  round ${round + 1} ${VARIANTS[i]!.name}: trivial ${fmt(r.trivial.at(-1)!)} req/s, single ${fmt(r.single.at(-1)!)} req/s, batch ${fmt(r.batch.at(-1)!)} increments/s`);
      }
    }
    const totals = await post<{ domain: { a: { total: number }; b: { total: number } } }>(
      instances[0]!.url,
      `{ domain(ref: "bench") { a: metric(ref: "batch-false") { total } b: metric(ref: "batch-true") { total } } }`,
      {},
      token,
    );
    const counted = [totals.body.data!.domain.a.total, totals.body.data!.domain.b.total];
    const m = results.map((r) => ({ trivial: median(r.trivial), single: median(r.single), batch: median(r.batch), p50: median(r.batchP50) }));
    const table = [
      ['benchmark', VARIANTS[0].name, VARIANTS[1].name, 'ratio JIT / baseline'],
      ['`increment` with 100 events per request, increments/s (median)', fmt(m[0]!.batch), fmt(m[1]!.batch), fmt(m[1]!.batch / m[0]!.batch, 2)],
      ['  same, p50 latency (ms, median)', fmt(m[0]!.p50), fmt(m[1]!.p50), fmt(m[1]!.p50 / m[0]!.p50, 2)],
      ['single-event `increment`, req/s (median)', fmt(m[0]!.single), fmt(m[1]!.single), fmt(m[1]!.single / m[0]!.single, 2)],
      ['`mutation { __typename }`, req/s (median)', fmt(m[0]!.trivial), fmt(m[1]!.trivial), fmt(m[1]!.trivial / m[0]!.trivial, 2)],
    ];
    const notes = [
      `${ROUNDS} rounds of ${SECONDS} s per benchmark, alternated baseline / JIT; ${CONNECTIONS} connections (autocannon in the benchmark process, same 2 cores as both servers and PostgreSQL); NODE_ENV=production; service token (no rate limit).`,
      ...VARIANTS.map((v, i) => `${v.name} per round: batch ${results[i]!.batch.map((x) => fmt(x)).join(', ')} increments/s; single ${results[i]!.single.map((x) => fmt(x)).join(', ')} req/s; trivial ${results[i]!.trivial.map((x) => fmt(x)).join(', ')} req/s.`),
      `Check: acknowledged (measured rounds) ${acked[0]} baseline and ${acked[1]} JIT increments; totals incl. warm-ups ${counted[0]} and ${counted[1]}: ${counted[0]! >= acked[0]! && counted[1]! >= acked[1]! ? 'nothing acknowledged is missing' : 'SOME ACKNOWLEDGED INCREMENTS ARE MISSING'}.`,
    ];
    return { title: 'Increments (100-event `increment`)', table, notes };
  } finally {
    for (const instance of instances) await instance.kill();
    await dropDatabase(SERVER, db);
  }
}

async function websocketBench(log: (l: string) => void): Promise<Section> {
  const db = 'trackql_bench_jit_ws';
  const databaseUrl = await createDatabase(SERVER, db);
  const instances: Instance[] = [];
  try {
    // The activity benchmark's server settings (the first start applies the migrations).
    for (const v of VARIANTS) {
      instances.push(
        await startInstance({
          databaseUrl,
          env: {
            ...UNLIMITED_SERVER_ENV,
            LOG_LEVEL: 'info',
            FOLD_CRON: 'off',
            GRAPHQL_JIT: v.jit,
          },
        }),
      );
    }
    await generate(databaseUrl, SUBSCRIBERS, log, true);
    const p99s = VARIANTS.map(() => [] as number[]);
    const p50s = VARIANTS.map(() => [] as number[]);
    const all = VARIANTS.map(() => [] as number[]);
    const sent = VARIANTS.map(() => [] as number[]);
    const mutation = VARIANTS.map(() => [] as number[]);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < VARIANTS.length; i++) {
        const ws = await websocketBenchmark(instances[i]!, SUBSCRIBERS, WS_EVENTS, () => {});
        p99s[i]!.push(percentile(ws.latencies, 99));
        p50s[i]!.push(percentile(ws.latencies, 50));
        all[i]!.push(...ws.latencies);
        sent[i]!.push(...ws.sinceSent);
        mutation[i]!.push(...ws.mutation);
        log(`  round ${round + 1} ${VARIANTS[i]!.name}: delivery p50 ${fmt(p50s[i]!.at(-1)!, 1)} ms, p99 ${fmt(p99s[i]!.at(-1)!, 1)} ms (n=${ws.latencies.length})`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    const m = VARIANTS.map((_, i) => ({
      p99: median(p99s[i]!),
      p50: median(p50s[i]!),
      pooledP99: percentile(all[i]!, 99),
      sentP99: percentile(sent[i]!, 99),
      sentP50: percentile(sent[i]!, 50),
      mutationP50: median(mutation[i]!),
      mutationMax: Math.max(...mutation[i]!),
    }));
    const row = (label: string, key: keyof (typeof m)[0]) => [label, fmt(m[0]![key], 1), fmt(m[1]![key], 1), fmt(m[1]![key] / m[0]![key], 2)];
    const table = [
      ['benchmark', VARIANTS[0].name, VARIANTS[1].name, 'ratio JIT / baseline'],
      row(`${SUBSCRIBERS} websocket subscribers: delivery p99 after the mutation returned, ms (median of the rounds' p99)`, 'p99'),
      row('  same, p99 of all deliveries pooled, ms', 'pooledP99'),
      row('  same, p50, ms (median of the rounds)', 'p50'),
      row('  since the logAction request was sent: p50 of all deliveries, ms', 'sentP50'),
      row('  since the logAction request was sent: p99 of all deliveries, ms', 'sentP99'),
      row('  the logAction request itself (sent to response), median, ms', 'mutationP50'),
      row('  the logAction request itself, max, ms', 'mutationMax'),
    ];
    const notes = [
      `${ROUNDS} rounds alternated baseline / JIT; each round connects ${SUBSCRIBERS} graphql-ws clients to that server (one user each, all tracking one item), logs ${WS_EVENTS} actions one after the other (after 3 warm-up actions) and disconnects. Clients run in the benchmark process on the same 2 cores as the servers and PostgreSQL.`,
      'Delivery "after the mutation returned" is clamped at 0 for deliveries that arrive before the logAction response (in-process pub/sub: subscribers run as soon as the action is published after commit, before the response is written); when most deliveries finish first, that number says little and the "since sent" rows are the comparison.',
      ...VARIANTS.map((v, i) => `${v.name} per round: p99 ${p99s[i]!.map((x) => fmt(x, 1)).join(', ')} ms; p50 ${p50s[i]!.map((x) => fmt(x, 1)).join(', ')} ms.`),
    ];
    return { title: `Websocket delivery (${SUBSCRIBERS} subscribers)`, table, notes };
  } finally {
    for (const instance of instances) await instance.kill();
    await dropDatabase(SERVER, db);
  }
}

const sections: Section[] = [];
const log = (l: string) => console.log(l);
const loadBefore = os.loadavg();
if (ONLY !== 'ws') {
  log('increment benchmark');
  sections.push(await incrementBench(log));
}
if (ONLY !== 'increment') {
  log('websocket benchmark');
  sections.push(await websocketBench(log));
}
const loadAfter = os.loadavg();
const md = [
  '# graphql-jit vs Yoga executor (bench/graphql-jit.ts)',
  '',
  `Run ${new Date().toISOString()} on ${describeMachine()}; load average (1 min) ${fmt(loadBefore[0]!, 1)} before, ${fmt(loadAfter[0]!, 1)} after (other engineers' test runs share these cores).`,
  '',
  ...sections.flatMap((s) => [
    `## ${s.title}`,
    '',
    `| ${s.table[0]!.join(' | ')} |`,
    `|${s.table[0]!.map(() => '---').join('|')}|`,
    ...s.table.slice(1).map((r) => `| ${r.join(' | ')} |`),
    '',
    ...s.notes.map((n) => `- ${n}`),
    '',
  ]),
].join('\n');
console.log(md);
const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'results/graphql-jit.md');
// A full run replaces the file; a partial run (JIT_BENCH_ONLY) is appended to it as a further run.
if (!ONLY) fs.writeFileSync(out, md);
else fs.appendFileSync(out, `\n${md.replace(/^# .*$/m, `# Further run: ${ONLY} only`)}`);
