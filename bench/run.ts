/**
 * `npm run bench`: every benchmark of the metrics and activity modules plus the crash-durability runs,
 * one after the other against a real PostgreSQL (DATABASE_URL, default the local server), then one table
 * printed and written to bench/results.md with the machine, the date and whether each target was met.
 * BENCH_ONLY=overhead,metrics,activity,memory,webhooks,faults limits what runs. BENCH_SCALE=10 adds the activity benchmark at
 * 10× the data set (bench/activity/scale.ts: 10M actions, minutes to generate; off by default so the default
 * run stays short); BENCH_ONLY=scale runs it alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, type BenchRow } from './machine.ts';

type Row = BenchRow;

process.env['DATABASE_URL'] ??= 'postgres://postgres@127.0.0.1:5432/postgres';
const only = new Set((process.env['BENCH_ONLY'] ?? 'overhead,metrics,activity,memory,webhooks,faults').split(',').map((s) => s.trim()));
if (process.env['BENCH_SCALE']) only.add('scale');

const suites: Array<{ name: string; title: string; run: () => Promise<Row[]> }> = [
  {
    name: 'overhead',
    title: 'Per-request overhead against bare graphql-yoga (bench/overhead/overhead.ts)',
    run: async () => (await (await import('./overhead/overhead.ts')).run()).rows,
  },
  {
    name: 'metrics',
    title: 'Metrics: increments (bench/metrics/increment.ts)',
    run: async () => (await (await import('./metrics/increment.ts')).run()).rows,
  },
  {
    name: 'metrics',
    title: 'Metrics: batched ingestion with and without ids, against PostgreSQL (bench/metrics/ingest.ts)',
    run: async () => (await (await import('./metrics/ingest.ts')).run()).rows,
  },
  {
    name: 'metrics',
    title: 'Metrics: fold (bench/metrics/fold.ts)',
    run: async () => (await (await import('./metrics/fold.ts')).run()).rows,
  },
  {
    name: 'activity',
    title: 'Activity: feeds, logAction, unread counts, websocket fan-out (bench/activity/activity.ts)',
    run: async () => (await import('./activity/activity.ts')).run(),
  },
  {
    name: 'memory',
    title: 'Memory per idle websocket subscriber, 19,900 subscribers (bench/activity/idle-memory.ts)',
    run: async () => (await import('./activity/idle-memory.ts')).run(),
  },
  {
    name: 'scale',
    title: `Activity at ${process.env['BENCH_SCALE'] ?? 10}× the data set (bench/activity/scale.ts, details in bench/results/activity-scale.md)`,
    run: async () => (await import('./activity/scale.ts')).run(),
  },
  {
    name: 'webhooks',
    title: 'Webhooks: outbox cost on logAction, delivery throughput (bench/webhooks.ts)',
    run: async () => (await import('./webhooks.ts')).run(),
  },
  {
    name: 'faults',
    title: 'Faults: crash durability (bench/faults.ts)',
    run: async () => (await import('./faults.ts')).run(),
  },
];

const sections: string[] = [];
const all: Row[] = [];
for (const suite of suites.filter((s) => only.has(s.name))) {
  console.log(`\n== ${suite.title}`);
  const started = Date.now();
  try {
    const rows = await suite.run();
    all.push(...rows);
    sections.push(`### ${suite.title}\n\n${table(rows)}\n\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`   failed: ${message}`);
    const row = { benchmark: suite.title, value: `failed: ${message.split('\n')[0]}`, target: '–', met: false };
    all.push(row);
    sections.push(`### ${suite.title}\n\n${table([row])}`);
  }
}

function table(rows: Row[]): string {
  return [
    '| benchmark | measured | target | met |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.benchmark} | ${r.value} | ${r.target} | ${r.met === null ? '–' : r.met ? 'yes' : '**no**'} |`),
  ].join('\n');
}

console.log('');
console.table(all.map((r) => ({ ...r, met: r.met === null ? '–' : r.met ? 'yes' : 'NO' })));
const met = all.filter((r) => r.met === true).length;
const missed = all.filter((r) => r.met === false).length;
const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results.md');
fs.writeFileSync(
  file,
  [
    '# trackql benchmark results',
    '',
    `Run ${new Date().toISOString()} by \`npm run bench\` on ${describeMachine()}, against PostgreSQL at ${new URL(process.env['DATABASE_URL']!).host}.`,
    'Load generators, server and PostgreSQL share the same machine; numbers are medians unless a row says otherwise.',
    '',
    `Targets met: ${met}; missed: ${missed}.`,
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n'),
);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
