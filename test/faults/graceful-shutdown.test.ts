import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { subscribeFeed } from '../support/feed-subscriber.ts';
import { foldAndTotal, registerCounter, signTestToken, startInstance, type Instance } from '../support/instances.ts';
import { runIncrementLoad } from '../support/load.ts';

let database: TestDatabase;
let dataDir: string;
let instance: Instance | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-term-'));
});
afterAll(async () => {
  await instance?.kill();
  await database.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('graceful shutdown under load', () => {
  it('finishes or cleanly fails in-flight work, closes subscribers with 1001, exits 0 and loses nothing accepted', async () => {
    instance = await startInstance({ databaseUrl: database.url, dataDir });
    const service = await signTestToken('term-service', ['service']);
    const domain = uniqueId('term');
    await registerCounter(instance.url, service, domain, 'n');
    const user = uniqueId('term-user');
    const subscriber = await subscribeFeed(instance.url, await signTestToken(user));

    const controller = new AbortController();
    const load = runIncrementLoad({
      urls: [instance.url],
      token: service,
      domain,
      metric: 'n',
      concurrency: 8,
      eventsPerRequest: 5,
      signal: controller.signal,
    });
    await new Promise((r) => setTimeout(r, 700));
    const exitCode = await instance.stop();
    controller.abort();
    const result = await load;
    expect(exitCode).toBe(0);
    expect((await subscriber.closed).code).toBe(1001);
    expect(result.acked).toBeGreaterThan(0);

    instance = await startInstance({ databaseUrl: database.url, dataDir });
    const counted = await foldAndTotal(instance.url, service, domain, 'n');
    expect(counted).toBeGreaterThanOrEqual(result.acked);
    expect(counted).toBeLessThanOrEqual(result.acked + result.unacked);
  }, 90_000);
});
