import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { foldAndTotal, registerCounter, signTestToken, startInstance, type Instance } from '../support/instances.ts';
import { runIncrementLoad } from '../support/load.ts';

/**
 * Kill -9 an instance while load generators send increments, restart it, fold, and check that every
 * acknowledged increment is counted exactly once and no unacknowledged one more than once.
 * Runs on the embedded database (DATA_DIR survives the kill) or on DATABASE_URL.
 */
const ROUNDS = Number(process.env['CRASH_ROUNDS'] ?? 2);

let database: TestDatabase;
let dataDir: string;
let instance: Instance | undefined;
let service: string;
const domain = uniqueId('crash');

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-crash-'));
  service = await signTestToken('crash-service', ['service']);
});
afterAll(async () => {
  await instance?.kill();
  await database.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const start = () => startInstance({ databaseUrl: database.url, dataDir });

describe('crash durability', () => {
  it(`loses no acknowledged increment across ${ROUNDS} SIGKILLs under load`, async () => {
    instance = await start();
    await registerCounter(instance.url, service, domain, 'hits');

    let acked = 0;
    let unacked = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const controller = new AbortController();
      const progress = { acked: 0, unacked: 0, requests: 0 };
      const load = runIncrementLoad({
        progress,
        urls: [instance.url],
        token: service,
        domain,
        metric: 'hits',
        object: { type: 'Page', id: 'home' },
        concurrency: 8,
        eventsPerRequest: 5,
        signal: controller.signal,
        timeoutMs: 5_000,
      });
      // Kill at a random moment once the load is flowing (a just-started server on a busy machine may take a
      // while to acknowledge its first increment).
      for (const until = Date.now() + 30_000; progress.acked === 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 800));
      await instance.kill();
      controller.abort();
      const result = await load;
      expect(result.acked).toBeGreaterThan(0);
      acked += result.acked;
      unacked += result.unacked;
      instance = await start();
    }

    const counted = await foldAndTotal(instance.url, service, domain, 'hits', { type: 'Page', id: 'home' });
    expect(counted).toBeGreaterThanOrEqual(acked);
    expect(counted).toBeLessThanOrEqual(acked + unacked);
  }, 180_000);
});
