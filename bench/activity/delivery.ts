/**
 * Websocket delivery measured with the subscribers in child processes (bench/activity/ws-clients.ts), for
 * trackql's `feed` subscription and, side by side, for bare graphql-yoga (bench/activity/bare-yoga.ts).
 * Latency = arrival at each subscriber minus the moment the triggering mutation was sent (wall clock, same machine).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const now = () => performance.timeOrigin + performance.now();

/** At most this many sockets per client process (each process's open-file limit is 20,000 here). */
const SOCKETS_PER_PROCESS = 10_000;

export interface Subscribers {
  /** Seconds until every socket was acknowledged and subscribed. */
  connectSeconds: number;
  /** Arrival times (wall clock, ms) of event `id` at every subscriber. */
  arrived(id: string, timeoutMs?: number): Promise<number[]>;
  close(): Promise<void>;
}

export async function openSubscribers(wsUrl: string, users: string[], tokens: boolean, query: string): Promise<Subscribers> {
  const children: ChildProcess[] = [];
  const parts: string[][] = [];
  for (let i = 0; i < users.length; i += SOCKETS_PER_PROCESS) parts.push(users.slice(i, i + SOCKETS_PER_PROCESS));
  const partial = new Map<string, number[][]>();
  const waiters = new Map<string, (at: number[]) => void>();
  const done = new Map<string, number[]>();
  const t0 = performance.now();
  await Promise.all(
    parts.map(
      (part) =>
        new Promise<void>((resolve, reject) => {
          const child = fork(path.join(here, 'ws-clients.ts'), [], {
            execArgv: ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', '--max-old-space-size=2048'],
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          children.push(child);
          child.once('exit', (code) => reject(new Error(`ws client process exited (${code})`)));
          child.on('message', (raw) => {
            const message = raw as { type: 'ready' } | { type: 'arrived'; id: string; at: number[] };
            if (message.type === 'ready') return resolve();
            const got = partial.get(message.id) ?? [];
            got.push(message.at);
            partial.set(message.id, got);
            if (got.length === parts.length) {
              partial.delete(message.id);
              const all = got.flat();
              const waiter = waiters.get(message.id);
              if (waiter) waiter(all);
              else done.set(message.id, all);
            }
          });
          child.send({ type: 'open', url: wsUrl, users: part, tokens, query });
        }),
    ),
  );
  return {
    connectSeconds: (performance.now() - t0) / 1000,
    arrived(id, timeoutMs = 60_000) {
      const ready = done.get(id);
      if (ready) {
        done.delete(id);
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`event ${id} did not reach every subscriber in ${timeoutMs} ms`)), timeoutMs);
        waiters.set(id, (at) => {
          clearTimeout(timer);
          waiters.delete(id);
          resolve(at);
        });
      });
    },
    async close() {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              child.removeAllListeners('exit');
              child.once('exit', () => resolve());
              child.send({ type: 'close' });
            }),
        ),
      );
    },
  };
}

export function rssKiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}

export interface DeliveryResult {
  subscribers: number;
  connectSeconds: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  perSubscriberKiB: number;
  /** Time until the mutation's answer, per round. */
  mutation: number[];
  /** Arrival minus the moment the mutation's answer arrived (negative clamped to 0), every delivery of every round. */
  latencies: number[];
  /** Arrival minus the moment the mutation was sent, every delivery of every round. */
  sinceSent: number[];
  /** Per round: arrival of the last subscriber minus the moment the mutation was sent. */
  lastArrival: number[];
  rounds: number;
}

export interface DeliveryRun {
  pid: number;
  wsUrl: string;
  users: string[];
  tokens: boolean;
  query: string;
  /** Sends the mutation that produces one event for every subscriber; resolves with the event's id once answered. */
  trigger(round: number): Promise<string>;
  rounds: number;
  warmup?: number;
  log(line: string): void;
}

export async function measureDelivery(run: DeliveryRun): Promise<DeliveryResult> {
  await new Promise((r) => setTimeout(r, 500));
  const rssBefore = rssKiB(run.pid);
  const subscribers = await openSubscribers(run.wsUrl, run.users, run.tokens, run.query);
  run.log(`  ${run.users.length} websocket subscribers (child processes) connected in ${subscribers.connectSeconds.toFixed(1)} s`);
  const mutation: number[] = [];
  const sinceSent: number[] = [];
  const latencies: number[] = [];
  const lastArrival: number[] = [];
  try {
    // Warm-up: every subscription is live once an event reached all of them (graphql-ws does not acknowledge subscribe).
    for (let i = 0; i < (run.warmup ?? 3); i++) {
      const id = await run.trigger(-1 - i);
      await subscribers.arrived(id);
    }
    await new Promise((r) => setTimeout(r, 1500));
    const rssAfter = rssKiB(run.pid);
    run.log(`  server RSS ${(rssBefore / 1024).toFixed(0)} MiB before, ${(rssAfter / 1024).toFixed(0)} MiB with ${run.users.length} idle subscribers`);
    for (let r = 0; r < run.rounds; r++) {
      const sent = now();
      const id = await run.trigger(r);
      const answered = now();
      mutation.push(answered - sent);
      const at = await subscribers.arrived(id);
      let last = 0;
      for (const t of at) {
        sinceSent.push(t - sent);
        latencies.push(Math.max(0, t - answered));
        last = Math.max(last, t - sent);
      }
      lastArrival.push(last);
      await new Promise((res) => setTimeout(res, 300));
    }
    return {
      subscribers: run.users.length,
      connectSeconds: subscribers.connectSeconds,
      rssBeforeKiB: rssBefore,
      rssAfterKiB: rssAfter,
      perSubscriberKiB: (rssAfter - rssBefore) / run.users.length,
      mutation,
      latencies,
      sinceSent,
      lastArrival,
      rounds: run.rounds,
    };
  } finally {
    await subscribers.close();
  }
}

/** Starts bare-yoga.ts in a child process (extra `env` on top of this one's) and resolves with its URL once it listens. */
/** `script`: another server printing `listening <url>` (bench/activity/ws-floor.ts). */
export async function startBareYoga(env: Record<string, string> = {}, script = path.join(here, 'bare-yoga.ts')): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening (\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`bare-yoga exited (${code})`)));
  });
  return { child, url };
}

/** The same delivery through bare graphql-yoga + graphql-ws (no trackql plugins, no database). */
export async function bareYogaDelivery(subscriberCount: number, rounds: number, query: string, log: (line: string) => void): Promise<DeliveryResult> {
  const { child, url } = await startBareYoga();
  try {
    let next = 0;
    return await measureDelivery({
      pid: child.pid!,
      wsUrl: url.replace(/^http/, 'ws'),
      users: Array.from({ length: subscriberCount }, (_, i) => `ws${i}`),
      tokens: false,
      query,
      rounds,
      log,
      async trigger() {
        const id = `bare-${next++}`;
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: 'mutation($id: ID!) { publish(id: $id) }', variables: { id } }),
        });
        const body = (await response.json()) as { data?: { publish: boolean } };
        if (!body.data?.publish) throw new Error(`bare-yoga publish failed: ${JSON.stringify(body)}`);
        return id;
      },
    });
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
}
