/**
 * Request tail: the p95/p99 of read requests, previous version and this one side by side on the same data and
 * in the same run, and what the server's young-generation collections cost in each.
 *
 * On the activity data set (dataset.ts: 1M actions, the measured user with 200,000 feed entries, 100,000 unread),
 * one request at a time with a user token: `unreadCount` (one counter row), `feedCounts` with five keys, and a feed
 * page of 50. Each server takes WARM_UP requests of each kind first (a served process is warm; the JIT's first
 * thousand requests are not what users see), then ROUNDS rounds alternate the two servers, REQUESTS requests of
 * each kind per round. Then a shorter traced run of each server (--trace-gc-nvp): scavenges, their pause
 * (median / max) and the bytes they promoted per request.
 *
 *   ACTIVITY_BENCH_BEFORE_ROOT=<checkout of the previous version, node_modules linked> \
 *     node --experimental-strip-types bench/activity/request-tail.ts
 *
 * Env: DATABASE_URL (server), REUSE_DB=1 (keep trackql_bench_inbox as the inbox bench left it with KEEP_DB=1),
 * TAIL_REQUESTS (500), TAIL_ROUNDS (3), TAIL_WARM_UP (1000).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { scavengesIn } from '../../test/support/gc-trace.ts';
import { post, signTestToken, startInstance, type Instance } from '../../test/support/instances.ts';
import { UNLIMITED_SERVER_ENV } from '../load.ts';
import { describeMachine, median, percentile } from '../machine.ts';
import { createDatabase, generate, MEASURED_USER } from './dataset.ts';

const DB_NAME = 'trackql_bench_inbox';
const REQUESTS = Number(process.env['TAIL_REQUESTS'] ?? 500);
const ROUNDS = Number(process.env['TAIL_ROUNDS'] ?? 3);
const WARM_UP = Number(process.env['TAIL_WARM_UP'] ?? 1000);
const QUERIES: Record<string, string> = {
  unreadCount: `query Badge { unreadCount }`,
  'feedCounts (5 keys)': `query Tabs { feedCounts(by: [VERB, OBJECT_TYPE, TRACKER, LEVEL, ACTOR_TYPE]) { by key unread unseen total } }`,
  'feed page of 50': `query Page { feed(first: 50) { edges { node { id unread seen } } } }`,
};

async function databaseUrl(serverUrl: string): Promise<string> {
  const url = new URL(serverUrl);
  url.pathname = `/${DB_NAME}`;
  if (process.env['REUSE_DB']) {
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      const { rows } = await client.query(`select count(*)::int as n from activity_feed_entry where user_id = $1`, [MEASURED_USER]);
      if (rows[0].n > 0) return url.toString();
    } finally {
      await client.end();
    }
  }
  const created = await createDatabase(serverUrl, DB_NAME);
  await generate(created, 0, console.log);
  return created;
}

async function timed(instance: Instance, query: string, token: string, n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const { status, body } = await post(instance.url, query, {}, token);
    samples.push(performance.now() - t0);
    if (status !== 200 || body.errors?.length) throw new Error(`request failed (${status}): ${JSON.stringify(body.errors)}`);
  }
  return samples;
}

interface Gc {
  scavenges: number;
  pauseP50: number;
  pauseMax: number;
  promotedPerRequest: number;
}

/** Scavenges logged by --trace-gc-nvp in `output`: count, pause median and max, bytes promoted per request. */
function scavengeStats(output: string, requests: number): Gc {
  const scavenges = scavengesIn(output);
  const pauses = scavenges.map((s) => s.pauseMs);
  const promoted = scavenges.reduce((sum, s) => sum + s.promotedBytes, 0);
  return { scavenges: scavenges.length, pauseP50: median(pauses), pauseMax: Math.max(0, ...pauses), promotedPerRequest: promoted / requests };
}

async function main() {
  const beforeRoot = process.env['ACTIVITY_BENCH_BEFORE_ROOT'];
  if (!beforeRoot) throw new Error('ACTIVITY_BENCH_BEFORE_ROOT: a checkout of the previous version to compare with');
  const serverUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const url = await databaseUrl(serverUrl);
  const token = await signTestToken(MEASURED_USER);
  const env = { ...UNLIMITED_SERVER_ENV, NODE_ENV: 'production', LOG_LEVEL: 'warn', ACTIVITY_FANOUT_POLL_MS: '0', WEBHOOK_POLL_MS: '0' };
  const versions = [
    { name: 'previous', root: beforeRoot },
    { name: 'this', root: undefined },
  ] as const;
  const samples = new Map<string, number[]>();
  const instances: Instance[] = [];
  try {
    for (const v of versions) instances.push(await startInstance({ databaseUrl: url, env, ...(v.root ? { root: v.root } : {}) }));
    for (const instance of instances) for (const query of Object.values(QUERIES)) await timed(instance, query, token, WARM_UP);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, v] of versions.entries()) {
        for (const [name, query] of Object.entries(QUERIES)) {
          const key = `${v.name}|${name}`;
          samples.set(key, [...(samples.get(key) ?? []), ...(await timed(instances[i]!, query, token, REQUESTS))]);
        }
      }
    }
  } finally {
    await Promise.all(instances.map((i) => i.stop()));
  }
  // The traced run: each version alone, WARM_UP of each kind, then REQUESTS of each kind traced.
  const gc = new Map<string, Gc>();
  for (const v of versions) {
    const instance = await startInstance({ databaseUrl: url, env, nodeArgs: ['--trace-gc-nvp'], ...(v.root ? { root: v.root } : {}) });
    try {
      for (const query of Object.values(QUERIES)) await timed(instance, query, token, WARM_UP);
      const from = instance.server.output().length;
      for (const query of Object.values(QUERIES)) await timed(instance, query, token, REQUESTS);
      gc.set(v.name, scavengeStats(instance.server.output().slice(from), REQUESTS * Object.keys(QUERIES).length));
    } finally {
      await instance.stop();
    }
  }

  const rows: string[] = [];
  for (const name of Object.keys(QUERIES)) {
    const before = samples.get(`previous|${name}`)!;
    const after = samples.get(`this|${name}`)!;
    const cell = (s: number[], p: number) => (p === 50 ? median(s) : percentile(s, p)).toFixed(2);
    rows.push(
      `| ${name} | ${cell(before, 50)} / ${cell(before, 95)} / ${cell(before, 99)} ms | ${cell(after, 50)} / ${cell(after, 95)} / ${cell(after, 99)} ms | ` +
        `${(percentile(after, 95) / percentile(before, 95)).toFixed(2)} × / ${(percentile(after, 99) / percentile(before, 99)).toFixed(2)} × |`,
    );
  }
  const gcRow = (name: string) => {
    const g = gc.get(name)!;
    return `${g.scavenges} scavenges, pause ${g.pauseP50.toFixed(1)} ms median / ${g.pauseMax.toFixed(1)} ms max, ${(g.promotedPerRequest / 1024).toFixed(1)} KiB promoted per request`;
  };
  const report = [
    `Machine: ${describeMachine()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')}.`,
    `${ROUNDS} alternating rounds × ${REQUESTS} requests of each kind per server, one at a time, after ${WARM_UP} warm-up requests of each kind.`,
    '',
    '| request (one at a time) | previous p50 / p95 / p99 | this p50 / p95 / p99 | this / previous at p95 / p99 |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    `Young-generation collections, ${REQUESTS} requests of each kind traced after the warm-up:`,
    `- previous: ${gcRow('previous')}`,
    `- this: ${gcRow('this')}`,
  ].join('\n');
  console.log(report);
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '../results/request-tail.md');
  fs.writeFileSync(out, `# Request tail (bench/activity/request-tail.ts)\n\n${report}\n`);
}

await main();
