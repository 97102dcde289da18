/**
 * Server memory per idle websocket subscriber, trackql and bare graphql-yoga + graphql-ws side by side:
 * a fresh server, a warm-up (a few hundred subscribers connect and leave), then N `feed` subscribers connect from
 * child processes (bench/activity/ws-clients.ts) and stay idle. Measured in the server after a full garbage
 * collection (bench/activity/memory-probe.ts, loaded with --import; SIGUSR2): RSS, V8 heap used, and external +
 * array buffers, before and with the N subscribers. RSS also counts GC slack and malloc'd memory not returned to
 * the system; the heap figure is what the subscribers keep alive.
 *
 *   node bench/activity/idle-memory.ts   IDLE_SUBSCRIBERS (default 19,900); IDLE_SNAPSHOT=1: heap snapshots too (they
 *                                        inflate the RSS figures: take them in a separate run) in IDLE_PROBE_DIR
 *                                        (default a temporary directory); IDLE_ONLY=trackql|bare|previous|floor
 *                                        (comma-separated); IDLE_BEFORE_ROOT=<checkout>: the previous version first;
 *                                        IDLE_ROOT=<checkout>: trackql from that checkout (default this one);
 *                                        IDLE_SETTLE_SECONDS (default 30): how long the idle server is left alone
 *                                        before and with the subscribers for the "settled" RSS (no forced GC).
 *
 * `floor` is a bare `ws` server with no GraphQL at all (ws-floor.ts): what an idle socket costs in Node + ws.
 *
 * 20,000 sockets cannot be held by one server process here: its open-file limit is 20,000 (`ulimit -Hn`, not
 * raisable in this container) and the server needs a few descriptors for Postgres, its listener and its files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openSubscribers, rssKiB, startBareYoga } from './delivery.ts';
import { createDatabase, dropDatabase } from './dataset.ts';
import { startInstance } from '../../test/support/instances.ts';
import { UNLIMITED_SERVER_ENV } from '../load.ts';
import type { BenchRow } from '../machine.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const QUERY = `subscription { feed { kind unreadCount cursor action { id verb timestamp actor { type id label } targets { type id label } } } }`;
const WARMUP = 300;

export interface MemoryUsage {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** After a memory-reducing GC (memory-probe.ts), which also shrinks the young generation. */
  reduced?: { rss: number; heapUsed: number };
}

export interface IdleMemory {
  subscribers: number;
  /** KiB per subscriber, after a full GC in the server. */
  rssKiB: number;
  heapKiB: number;
  externalKiB: number;
  /** RSS read from /proc without a GC (what the delivery benchmark reports). */
  rawRssKiB: number;
  /** RSS after a memory-reducing GC (young generation shrunk): what the subscribers keep, without GC sizing. */
  reducedRssKiB: number;
  /**
   * RSS read from /proc with no forced GC, the idle server before and with the subscribers both left alone for
   * IDLE_SETTLE_SECONDS: what an idle server holds, as V8's own heuristics (its memory reducer) leave it.
   */
  settledRssKiB: number;
  before: MemoryUsage;
  after: MemoryUsage;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const invokedDirectly = Boolean(process.argv[1]) && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]!);
// 30 s when run alone (quick comparisons); 120 s in `npm run bench`, which judges the target on it: V8 shrinks its
// young generation by itself within about two minutes of idleness (bench/results.md, issue 12).
const SETTLE_MS = Number(process.env['IDLE_SETTLE_SECONDS'] ?? (invokedDirectly ? 30 : 120)) * 1000;

async function probe(pid: number, dir: string): Promise<MemoryUsage> {
  const before = new Set(fs.readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 1200; i++) {
    await sleep(100);
    const file = fs.readdirSync(dir).find((f) => f.startsWith('memory-') && !before.has(f));
    if (file) {
      await sleep(100);
      return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as MemoryUsage;
    }
  }
  throw new Error('memory probe did not answer');
}

export function probeEnv(dir: string, snapshot: boolean): Record<string, string> {
  return {
    NODE_OPTIONS: `--expose-gc --import ${pathToFileURL(path.join(here, 'memory-probe.ts')).href}`,
    MEMORY_PROBE_DIR: dir,
    ...(snapshot ? { MEMORY_PROBE_SNAPSHOT: '1' } : {}),
  };
}

export async function measureIdle(pid: number, wsUrl: string, users: (prefix: string, n: number) => string[], tokens: boolean, n: number, dir: string, log: (l: string) => void): Promise<IdleMemory> {
  const warm = await openSubscribers(wsUrl, users('warm', WARMUP), tokens, QUERY);
  await warm.close();
  await sleep(Math.max(2000, SETTLE_MS));
  const settledBefore = rssKiB(pid);
  const before = await probe(pid, dir);
  const rawBefore = rssKiB(pid);
  const subscribers = await openSubscribers(wsUrl, users('idle', n), tokens, QUERY);
  log(`  ${n} subscribers connected in ${subscribers.connectSeconds.toFixed(1)} s`);
  try {
    await sleep(3000);
    const rawAfter = rssKiB(pid);
    await sleep(SETTLE_MS);
    const settledAfter = rssKiB(pid);
    const after = await probe(pid, dir);
    const per = (a: number, b: number) => (a - b) / 1024 / n;
    return {
      subscribers: n,
      rssKiB: per(after.rss, before.rss),
      heapKiB: per(after.heapUsed, before.heapUsed),
      externalKiB: per(after.external, before.external),
      rawRssKiB: (rawAfter - rawBefore) / n,
      settledRssKiB: (settledAfter - settledBefore) / n,
      reducedRssKiB: per(after.reduced?.rss ?? after.rss, before.reduced?.rss ?? before.rss),
      before,
      after,
    };
  } finally {
    await subscribers.close();
  }
}

/** `root`: another checkout of trackql (the previous version, measured the same way). */
export async function trackqlIdleMemory(n: number, dir: string, snapshot: boolean, log: (l: string) => void, root?: string): Promise<IdleMemory> {
  const serverUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `trackql_bench_idle_${process.pid}`; // per run: two runs at once must not share (or drop) each other's database
  fs.mkdirSync(dir, { recursive: true });
  const databaseUrl = await createDatabase(serverUrl, name);
  const instance = await startInstance({ databaseUrl, env: { ...UNLIMITED_SERVER_ENV, ...probeEnv(dir, snapshot) }, ...(root ? { root } : {}) });
  try {
    return await measureIdle(
      instance.server.child.pid!,
      instance.url.replace(/^http/, 'ws'),
      (prefix, count) => Array.from({ length: count }, (_, i) => `${prefix}${i}`),
      true,
      n,
      dir,
      log,
    );
  } finally {
    await instance.stop();
    await dropDatabase(serverUrl, name);
  }
}

/** A server started by startBareYoga (delivery.ts: bare-yoga.ts by default, or `script`), measured idle, then stopped. */
async function spawnedIdleMemory(n: number, dir: string, snapshot: boolean, log: (l: string) => void, script?: string): Promise<IdleMemory> {
  fs.mkdirSync(dir, { recursive: true });
  const { child, url } = await startBareYoga(probeEnv(dir, snapshot), script);
  try {
    return await measureIdle(child.pid!, url.replace(/^http/, 'ws'), (prefix, count) => Array.from({ length: count }, (_, i) => `${prefix}${i}`), false, n, dir, log);
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

export function bareYogaIdleMemory(n: number, dir: string, snapshot: boolean, log: (l: string) => void): Promise<IdleMemory> {
  return spawnedIdleMemory(n, dir, snapshot, log);
}

/** The floor: a bare `ws` server speaking just enough graphql-transport-ws (ws-floor.ts), one small object per socket. */
export function wsFloorIdleMemory(n: number, dir: string, snapshot: boolean, log: (l: string) => void): Promise<IdleMemory> {
  return spawnedIdleMemory(n, dir, snapshot, log, path.join(here, 'ws-floor.ts'));
}

export function describeIdle(label: string, m: IdleMemory): string {
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  return (
    `${label}: ${m.subscribers} idle subscribers: RSS ${m.reducedRssKiB.toFixed(1)} KiB each after a memory-reducing GC, ${m.rssKiB.toFixed(1)} KiB after a full GC (${mib(m.before.rss)} -> ${mib(m.after.rss)}; ` +
    `${m.rawRssKiB.toFixed(1)} KiB without forcing GC, ${m.settledRssKiB.toFixed(1)} KiB without forcing GC after ${SETTLE_MS / 1000} s idle), V8 heap ${m.heapKiB.toFixed(1)} KiB each (${mib(m.before.heapUsed)} -> ${mib(m.after.heapUsed)}), ` +
    `external ${m.externalKiB.toFixed(2)} KiB each`
  );
}

/**
 * The `memory` suite of `npm run bench` (issue 12 item 4: 20,000 idle subscribers at <= 10 KiB each): trackql and
 * bare graphql-yoga + graphql-ws, each with IDLE_SUBSCRIBERS idle `feed` subscribers (default 19,900: the open-file
 * limit, see above), one after the other. The target is judged on the settled RSS (no forced GC; the idle server
 * left alone IDLE_SETTLE_SECONDS, default 120 here, before and with its subscribers): what an idle server holds.
 */
export async function run(): Promise<BenchRow[]> {
  const n = Number(process.env['IDLE_SUBSCRIBERS'] ?? 19_900);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-idle-'));
  const log = (l: string) => console.log(l);
  const mine = await trackqlIdleMemory(n, path.join(dir, 'trackql'), false, log);
  log(describeIdle('trackql', mine));
  const bare = await bareYogaIdleMemory(n, path.join(dir, 'bare'), false, log);
  log(describeIdle('bare Yoga', bare));
  fs.rmSync(dir, { recursive: true, force: true });
  const kib = (m: IdleMemory) =>
    `${m.settledRssKiB.toFixed(1)} KiB settled (${m.reducedRssKiB.toFixed(1)} after a memory-reducing GC, ${m.rssKiB.toFixed(1)} after a full GC, ` +
    `${m.rawRssKiB.toFixed(1)} read 3 s after connecting; V8 heap ${m.heapKiB.toFixed(1)})`;
  return [
    {
      benchmark: `server RSS per idle \`feed\` subscriber, ${n} subscribers from child processes, settled ${SETTLE_MS / 1000} s with no forced GC`,
      value: kib(mine),
      target: '<= 10 KiB',
      met: mine.settledRssKiB <= 10,
    },
    { benchmark: `same through bare graphql-yoga + graphql-ws (no database), same measurement`, value: kib(bare), target: 'report', met: null },
  ];
}

if (invokedDirectly) {
  const n = Number(process.env['IDLE_SUBSCRIBERS'] ?? 19_900);
  const snapshot = process.env['IDLE_SNAPSHOT'] === '1';
  const dir = process.env['IDLE_PROBE_DIR'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-idle-'));
  fs.mkdirSync(dir, { recursive: true });
  const only = process.env['IDLE_ONLY']?.split(',');
  const root = process.env['IDLE_ROOT'];
  const log = (l: string) => console.log(l);
  // IDLE_BEFORE_ROOT: a checkout of the previous version (`git archive main | tar -x -C dir`, node_modules linked).
  const beforeRoot = process.env['IDLE_BEFORE_ROOT'];
  if (beforeRoot && (!only || only.includes('previous'))) log(describeIdle('previous', await trackqlIdleMemory(n, path.join(dir, 'previous'), snapshot, log, beforeRoot)));
  if (!only || only.includes('trackql')) log(describeIdle('trackql', await trackqlIdleMemory(n, path.join(dir, 'trackql'), snapshot, log, root)));
  if (!only || only.includes('bare')) log(describeIdle('bare Yoga', await bareYogaIdleMemory(n, path.join(dir, 'bare'), snapshot, log)));
  if (!only || only.includes('floor')) log(describeIdle('ws floor', await wsFloorIdleMemory(n, path.join(dir, 'floor'), snapshot, log)));
  log(`probe files in ${dir}`);
}
