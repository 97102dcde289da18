import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { post, signTestToken, startInstance, type Instance } from '../support/instances.ts';
import { FAST_WEBHOOKS, REGISTER, webhookHelpers } from './helpers.ts';
import { startReceiver, type Receiver } from './receiver.ts';

/** At-least-once across a SIGKILL (same webhook-id after restart); two instances never deliver a row twice concurrently. */

const LOG = `mutation Log($input: LogActionInput!) { logAction(input: $input) { id } }`;

async function logMany(send: (input: Record<string, unknown>) => Promise<void>, type: string, count: number, concurrency = 8): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        await send({ actor: { type: 'User', id: `a${i}` }, verb: 'v', targets: [{ type, id: String(i) }], groupingDelay: -1 });
      }
    }),
  );
}

/** Logs `count` actions on objects of `type` through logActions, 100 per call. */
async function logBatches(url: string, token: string, type: string, count: number, concurrency = 4): Promise<void> {
  const LOG_ACTIONS = 'mutation LogActions($inputs: [LogActionInput!]!) { logActions(inputs: $inputs) { id } }';
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const from = next;
        next = Math.min(count, next + 100);
        const inputs = Array.from({ length: next - from }, (_, k) => ({ actor: { type: 'User', id: `a${from + k}` }, verb: 'v', targets: [{ type, id: String(from + k) }], groupingDelay: -1 }));
        const result = await post(url, LOG_ACTIONS, { inputs }, token);
        expect(result.body.errors).toBeUndefined();
      }
    }),
  );
}

describe('webhook crash durability', () => {
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let instance: Instance | undefined;
  let receiver: Receiver | undefined;
  afterAll(async () => {
    await instance?.kill();
    await receiver?.close();
    await database?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers every event after a SIGKILL mid-delivery, the interrupted requests again under the same webhook-id', async () => {
    const COUNT = 5000;
    database = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-webhooks-crash-'));
    const env = { ...FAST_WEBHOOKS, WEBHOOK_BATCH_SIZE: '20', WEBHOOK_CONCURRENCY: '4', WEBHOOK_RESPONSE_TIMEOUT_MS: '4000', WEBHOOK_MAX_ATTEMPTS: '50' };
    const start = () => startInstance({ databaseUrl: database!.url, dataDir: dataDir!, env });
    const service = await signTestToken('crash-service', ['service']);
    receiver = await startReceiver();
    let slow = true;
    // No answer while the first instance runs (its requests time out and are retried, or are in flight when it
    // is killed): nothing is acknowledged before the kill, so every request seen then must come again.
    receiver.respond = () => (slow ? { status: 200, delayMs: 120_000 } : { status: 200 });
    const r = receiver;

    instance = await start();
    const type = uniqueId('Doc');
    const registered = await post(instance.url, REGISTER, { url: r.url, events: ['ACTION_LOGGED'], filter: { objectTypes: [type] } }, service);
    r.setSecret(registered.body.data.registerWebhook.secret);
    // 5,000 deliveries due while the receiver does not answer.
    await logBatches(instance.url, service, type, COUNT);

    await r.waitFor(() => r.requests.some((q) => !q.answered), 120_000);
    const inFlight = new Map(r.requests.filter((q) => !q.answered).map((q) => [q.webhookId, q.events.map((e) => e.id).join(',')]));
    expect(inFlight.size).toBeGreaterThan(0);
    await instance.kill();
    slow = false;
    const beforeRestart = r.requests.length;
    instance = await start();

    await r.waitFor(() => new Set(r.acknowledged().map((e) => e.id)).size >= COUNT, 150_000);
    const ids = new Set(r.acknowledged().map((e) => e.id));
    expect(ids.size).toBe(COUNT);
    expect(r.requests.every((q) => q.verified)).toBe(true);
    // The requests interrupted by the kill came again, after the restart, with the same id and the same events.
    const after = r.requests.slice(beforeRestart);
    for (const [webhookId, events] of inFlight) {
      const again = after.find((q) => q.webhookId === webhookId);
      expect(again, `request ${webhookId} sent again`).toBeDefined();
      expect(again!.events.map((e) => e.id).join(',')).toBe(events);
    }
  }, 420_000);
});

const shared = Boolean(process.env['DATABASE_URL']);

describe.skipIf(!shared)('two instances delivering at once', () => {
  let one: TestApp | undefined;
  let two: TestApp | undefined;
  let receiver: Receiver | undefined;
  afterAll(async () => {
    await two?.stop();
    await one?.stop();
    await receiver?.close();
  });

  it('never deliver the same row twice', async () => {
    const COUNT = 400;
    const env = { ...FAST_WEBHOOKS, WEBHOOK_BATCH_SIZE: '5', WEBHOOK_CONCURRENCY: '4', WEBHOOK_POLL_MS: '20' };
    one = await startTestApp(env);
    two = await startTestApp(env, { shareDatabaseOf: one });
    receiver = await startReceiver();
    const r = receiver;
    r.respond = () => ({ status: 200, delayMs: 20 });
    const type = uniqueId('Doc');
    const w = webhookHelpers(one);
    const hook = await w.register(r, ['ACTION_LOGGED'], { objectTypes: [type] });
    const apps = [one, two];
    let turn = 0;
    await logMany(async (input) => {
      await apps[turn++ % 2]!.ok(LOG, { input }, { token: one!.serviceToken });
    }, type, COUNT);
    await r.waitFor(() => r.events().length >= COUNT, 60_000);
    await new Promise((res) => setTimeout(res, 1_000));
    const ids = r.events().map((e) => e.id);
    expect(ids).toHaveLength(COUNT);
    expect(new Set(ids).size).toBe(COUNT);
    expect(new Set(r.requests.map((q) => q.webhookId)).size).toBe(r.requests.length);
    // Both instances took part, and between them sent each event once.
    const [a, b] = [one.app.services.webhooks.worker.stats(), two.app.services.webhooks.worker.stats()];
    expect(a.events).toBeGreaterThan(0);
    expect(b.events).toBeGreaterThan(0);
    expect(a.events + b.events).toBe(COUNT);
    await w.waitUntil(async () => (await w.deliveries(hook.id, 'PENDING')).length === 0);
    await w.cleanup();
  }, 120_000);
});
