/**
 * logAction fanning out to 1,000 feeds, this checkout against a previous one (e.g. main), side by side in one
 * run (issue 10/13/16: the fan-out's cost). Both versions run as real trackql processes on their own copy of the
 * same generated data set (bench/activity/dataset.ts, scale 1: 1M actions, 1,000 users tracking the hot item);
 * rounds alternate between them (before/after, then after/before), so that the load of a shared machine weighs
 * on both alike. Reports p50/p95 per version, their ratios, and the median of the per-round ratios.
 *
 *   FANOUT_BEFORE_ROOT=/path/to/main-checkout node --experimental-strip-types bench/activity/fanout.ts
 *
 * Without FANOUT_BEFORE_ROOT both sides run this checkout, with FANOUT_BEFORE_ENV / FANOUT_AFTER_ENV (JSON objects
 * of environment variables) telling them apart, e.g. the fan-out inline against the queued fan-out:
 *
 *   FANOUT_BEFORE_ENV='{"ACTIVITY_FANOUT_INLINE_MAX":"1000000"}' node --experimental-strip-types bench/activity/fanout.ts
 *
 * Besides logAction's answer, each call measures when the feeds hold the action: the moment a websocket subscriber
 * among the 1,000 receivers (`u999`, subscribed to its feed on that instance) gets the ADDED event, which the server
 * publishes after the fan-out commits (inline: before logAction answers; queued: after).
 *
 * The previous checkout needs its node_modules (a symlink to this one's works). Env: DATABASE_URL (server),
 * FANOUT_ROUNDS (default 8), FANOUT_CALLS (per round and version, default 40), FANOUT_BASE_DB (an already
 * generated and migrated-by-the-previous-version database to copy instead of generating one; kept),
 * KEEP_DB=1 keeps the two copies. Writes bench/results/fanout.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { post, signTestToken, startInstance, type Instance } from '../../test/support/instances.ts';
import { describeMachine, median, percentile } from '../machine.ts';
import { UNLIMITED_SERVER_ENV } from '../load.ts';
import { createDatabase, dropDatabase, generate, HOT_ITEM } from './dataset.ts';
import { subscribeReceiver, type Receiver } from './receiver.ts';

const serverUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const beforeRoot = process.env['FANOUT_BEFORE_ROOT'];
const envOf = (name: string): Record<string, string> => JSON.parse(process.env[name] ?? '{}') as Record<string, string>;
const rounds = Number(process.env['FANOUT_ROUNDS'] ?? 8);
const calls = Number(process.env['FANOUT_CALLS'] ?? 40);
const log = (line: string) => console.log(line);
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function urlOf(name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function copyDatabase(from: string, to: string): Promise<string> {
  await admin(async (c) => {
    await c.query(`drop database if exists "${to}" with (force)`);
    await c.query(`create database "${to}" template "${from}"`);
  });
  return urlOf(to);
}

/**
 * One logAction that enters the 1,000 feeds of the hot item's trackers (a new action each time): its answer's
 * time, and the time until the receiver's live event says the feeds hold it (both from the request's start).
 */
async function logToHotItem(instance: Instance, receiver: Receiver, token: string, i: number): Promise<{ answered: number; inFeeds: number }> {
  const t0 = performance.now();
  const { status, body } = await post(
    instance.url,
    `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
    { input: { actor: { type: 'User', id: `u${5000 + (i % 5000)}`, label: 'Someone' }, verb: 'mentioned', targets: [{ ...HOT_ITEM, label: 'The hot item' }], data: { i } } },
    token,
  );
  const answered = performance.now() - t0;
  if (status !== 200 || body.errors?.length) throw new Error(`logAction failed (${status}): ${JSON.stringify(body.errors)}`);
  const inFeeds = (await receiver.arrival(String(body.data.logAction.id))) - t0;
  return { answered, inFeeds };
}

async function main(): Promise<void> {
  const serverEnv = { ...UNLIMITED_SERVER_ENV, LOG_LEVEL: 'warn' };
  let base = process.env['FANOUT_BASE_DB'];
  if (!base) {
    base = 'trackql_bench_fanout_base';
    const url = await createDatabase(serverUrl, base);
    // Migrated by the previous version, so that this version's start migrates existing data.
    await (await startInstance({ databaseUrl: url, env: serverEnv, ...(beforeRoot ? { root: beforeRoot } : {}) })).stop();
    log('generating the data set');
    const report = await generate(url, 200, log);
    log(`  done in ${report.seconds.toFixed(0)} s`);
  }
  const sides = [
    { name: 'before', root: beforeRoot, db: 'trackql_bench_fanout_before', env: envOf('FANOUT_BEFORE_ENV') },
    { name: 'after', root: undefined, db: 'trackql_bench_fanout_after', env: envOf('FANOUT_AFTER_ENV') },
  ] as const;
  const instances: Instance[] = [];
  const receivers: Receiver[] = [];
  const samples: Record<string, number[]> = { before: [], after: [] };
  const inFeeds: Record<string, number[]> = { before: [], after: [] };
  const perRound: Array<Record<string, number[]>> = [];
  try {
    for (const side of sides) {
      const url = await copyDatabase(base, side.db);
      const instance = await startInstance({ databaseUrl: url, env: { ...serverEnv, ...side.env }, ...(side.root ? { root: side.root } : {}) });
      instances.push(instance);
      receivers.push(await subscribeReceiver(instance, 'u999'));
    }
    await admin((c) => c.query('checkpoint'));
    const token = await signTestToken('bench-service', ['service']);
    let i = 0;
    for (const [n, instance] of instances.entries()) for (let w = 0; w < 20; w++) await logToHotItem(instance, receivers[n]!, token, i++);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      const round: Record<string, number[]> = { before: [], after: [] };
      for (const s of order) {
        const name = sides[s]!.name;
        for (let k = 0; k < calls; k++) {
          const call = await logToHotItem(instances[s]!, receivers[s]!, token, i++);
          round[name]!.push(call.answered);
          inFeeds[name]!.push(call.inFeeds);
        }
      }
      perRound.push(round);
      samples['before']!.push(...round['before']!);
      samples['after']!.push(...round['after']!);
      log(`  round ${r + 1}: before p50 ${ms(median(round['before']!))}, after p50 ${ms(median(round['after']!))}; load ${os.loadavg()[0]!.toFixed(1)}`);
    }
  } finally {
    for (const receiver of receivers) await receiver.client.dispose();
    for (const instance of instances) await instance.stop();
    if (!process.env['KEEP_DB']) for (const side of sides) await dropDatabase(serverUrl, side.db);
  }
  const b = samples['before']!;
  const a = samples['after']!;
  const roundRatios = perRound.map((r) => median(r['after']!) / median(r['before']!));
  const roundP95Ratios = perRound.map((r) => percentile(r['after']!, 95) / percentile(r['before']!, 95));
  const label = (side: (typeof sides)[number]) =>
    `${side.root ? 'previous checkout' : 'this checkout'}${Object.keys(side.env).length ? ` with ${Object.entries(side.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`;
  const rows = [
    [`before (${label(sides[0])}): logAction answered`, b],
    [`after (${label(sides[1])}): logAction answered`, a],
    ['before: the 1,000 feeds hold it (receiver\'s ADDED event)', inFeeds['before']!],
    ['after: the 1,000 feeds hold it (receiver\'s ADDED event)', inFeeds['after']!],
  ] as const;
  const md = `# logAction fanning out to 1,000 feeds: previous version and this one, side by side

Machine: ${describeMachine()}; load average at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min; other
engineers' work shares these 2 cores, so absolute figures are noisy: read the ratios).
Both versions run as real trackql processes (\`src/main.ts\`), each on its own copy of one generated data set
(bench/activity/dataset.ts: 1M actions, the hot item tracked by 1,000 users), against the same PostgreSQL.
${rounds} rounds of ${calls} sequential logAction calls per version, alternating which version goes first; 20 warm-up
calls each before. Times are end to end as the client sees them (HTTP + GraphQL + SQL + commit), from the moment the
request is sent: until logAction's answer, and until a receiver subscribed over a websocket (u999) gets the ADDED event.

| version | n | p50 | p95 | p99 | max |
|---|---|---|---|---|---|
${rows.map(([name, s]) => `| ${name} | ${s.length} | ${ms(median(s))} | ${ms(percentile(s, 95))} | ${ms(percentile(s, 99))} | ${ms(Math.max(...s))} |`).join('\n')}

after / before, answered: p50 ${(median(a) / median(b)).toFixed(2)} ×, p95 ${(percentile(a, 95) / percentile(b, 95)).toFixed(2)} ×; median of the per-round
ratios: p50 ${median(roundRatios).toFixed(2)} × (rounds: ${roundRatios.map((x) => x.toFixed(2)).join(', ')}), p95 ${median(roundP95Ratios).toFixed(2)} ×.
after / before, in the feeds: p50 ${(median(inFeeds['after']!) / median(inFeeds['before']!)).toFixed(2)} ×, p95 ${(percentile(inFeeds['after']!, 95) / percentile(inFeeds['before']!, 95)).toFixed(2)} ×.
`;
  log(md);
  const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results/fanout.md');
  fs.writeFileSync(out, md);
  log(`wrote ${path.relative(process.cwd(), out)}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
