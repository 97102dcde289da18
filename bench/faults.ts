/**
 * Crash-durability runs for `npm run bench`: kill -9 a real instance at a random moment under increment
 * load, restart it, and after all rounds fold and compare the total with what was acknowledged.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase } from '../test/support/database.ts';
import { foldAndTotal, registerCounter, signTestToken, startInstance, type Instance } from '../test/support/instances.ts';
import { runIncrementLoad, runRetryingIncrementLoad } from '../test/support/load.ts';
import type { BenchRow } from './machine.ts';


export async function run(rounds = Number(process.env['CRASH_ROUNDS'] ?? 10)): Promise<BenchRow[]> {
  const database = await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-bench-crash-'));
  const service = await signTestToken('bench-crash', ['service']);
  const domain = `crash-${Date.now()}`;
  let instance: Instance = await startInstance({ databaseUrl: database.url, dataDir });
  try {
    await registerCounter(instance.url, service, domain, 'n');
    let acked = 0;
    let unacked = 0;
    for (let round = 0; round < rounds; round++) {
      const controller = new AbortController();
      const load = runIncrementLoad({
        urls: [instance.url],
        token: service,
        domain,
        metric: 'n',
        concurrency: 16,
        eventsPerRequest: 10,
        signal: controller.signal,
        timeoutMs: 5_000,
      });
      await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
      await instance.kill();
      controller.abort();
      const result = await load;
      acked += result.acked;
      unacked += result.unacked;
      instance = await startInstance({ databaseUrl: database.url, dataDir });
    }
    const counted = await foldAndTotal(instance.url, service, domain, 'n');
    const lost = Math.max(0, acked - counted);
    const overCounted = Math.max(0, counted - acked - unacked);
    return [
      {
        benchmark: `crash durability: ${rounds} SIGKILLs under load (acked ${acked}, unacknowledged ${unacked}, counted ${counted})`,
        value: `${lost} lost, ${overCounted} over-counted`,
        target: '0 lost, 0 over-counted',
        met: lost === 0 && overCounted === 0,
      },
      await retryingRounds(rounds),
    ];
  } finally {
    await instance.kill();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Issue 17: clients that give every event an id and retry each call until answered; SIGKILL at random points
 * under that load. Every id accepted must count exactly once: total = distinct ids accepted.
 */
export async function retryingRounds(rounds: number): Promise<BenchRow> {
  const database = await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-bench-retry-'));
  const service = await signTestToken('bench-retry', ['service']);
  const domain = `retry-${Date.now()}`;
  let instance: Instance = await startInstance({ databaseUrl: database.url, dataDir });
  try {
    await registerCounter(instance.url, service, domain, 'n');
    let url = instance.url;
    const accepted = new Set<string>();
    let retries = 0;
    let duplicates = 0;
    for (let round = 0; round < rounds; round++) {
      const controller = new AbortController();
      const load = runRetryingIncrementLoad({
        url: () => url,
        token: service,
        domain,
        metric: 'n',
        concurrency: 16,
        eventsPerRequest: 10,
        signal: controller.signal,
        timeoutMs: 5_000,
      });
      await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
      await instance.kill();
      instance = await startInstance({ databaseUrl: database.url, dataDir });
      url = instance.url;
      controller.abort();
      const result = await load;
      for (const id of result.acceptedIds) accepted.add(id);
      retries += result.retries;
      duplicates += result.duplicates;
    }
    const counted = await foldAndTotal(instance.url, service, domain, 'n');
    return {
      benchmark: `retries with ids: ${rounds} SIGKILLs under load, every call retried until answered (${accepted.size} ids accepted, ${retries} retries, ${duplicates} answered as duplicates)`,
      value: `counted ${counted} = ${accepted.size} ids: ${counted - accepted.size} difference`,
      target: 'counted = distinct ids accepted',
      met: counted === accepted.size,
    };
  } finally {
    await instance.kill();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await run());
}
