import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { foldAndTotal, post, registerCounter, signTestToken, startInstance, type Instance } from '../support/instances.ts';
import { runRetryingIncrementLoad } from '../support/load.ts';
import { startTcpProxy, throughProxy, type TcpProxy } from '../support/tcp-proxy.ts';

/**
 * Issue 17: "acknowledged = counted once" end to end for a client that retries every call, unchanged, until it
 * gets an answer. The server is killed (SIGKILL) at random points under such load, or its PostgreSQL
 * connection breaks after COMMIT but before the answer; every id accepted must count exactly once.
 */
const ROUNDS = Number(process.env['CRASH_ROUNDS'] ?? 2);
const databaseUrl = process.env['DATABASE_URL'];

const INCREMENT = `mutation Increment($events: [IncrementInput!]!) { increment(events: $events) { accepted duplicates } }`;
const LOG_ACTION = `mutation LogAction($input: LogActionInput!) { logAction(input: $input) { id } }`;

describe('retries with ids after SIGKILL', () => {
  let database: TestDatabase;
  let dataDir: string;
  let instance: Instance | undefined;
  let service: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-retry-'));
    service = await signTestToken('retry-service', ['service']);
  });
  afterAll(async () => {
    await instance?.kill();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const start = () => startInstance({ databaseUrl: database.url, dataDir, readyTimeoutMs: 150_000 });

  it(`counts every accepted id exactly once across ${ROUNDS} SIGKILLs under load`, async () => {
    instance = await start();
    const domain = uniqueId('retry');
    await registerCounter(instance.url, service, domain, 'hits');
    let url = instance.url;
    let accepted = new Set<string>();
    let retries = 0;
    let duplicates = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const controller = new AbortController();
      const load = runRetryingIncrementLoad({
        url: () => url,
        token: service,
        domain,
        metric: 'hits',
        concurrency: 8,
        eventsPerRequest: 5,
        signal: controller.signal,
        timeoutMs: 5_000,
      });
      await new Promise((r) => setTimeout(r, 400 + Math.random() * 800));
      await instance.kill();
      instance = await start();
      url = instance.url;
      await new Promise((r) => setTimeout(r, 300));
      controller.abort();
      const result = await load;
      expect(result.calls).toBeGreaterThan(0);
      expect(result.retries).toBeGreaterThan(0);
      accepted = new Set([...accepted, ...result.acceptedIds]);
      retries += result.retries;
      duplicates += result.duplicates;
    }
    // Every call was answered, so every id sent was accepted; each must count once, none twice.
    const counted = await foldAndTotal(instance.url, service, domain, 'hits');
    expect({ counted, retries: retries > 0 }).toEqual({ counted: accepted.size, retries: true });
    expect(duplicates).toBeGreaterThanOrEqual(0);
  }, 600_000);

  it('logAction retried with the same key after a kill: one action, one feed entry per user, exact unread counts', async () => {
    instance ??= await start();
    const doc = { type: 'Doc', id: uniqueId('doc') };
    const users = [uniqueId('u'), uniqueId('u')];
    for (const owner of users) {
      const tracked = await post(instance.url, 'mutation Track($input: TrackInput!) { track(input: $input) { id } }', { input: { owner, object: doc, actorOnly: false } }, service);
      expect(tracked.body.errors).toBeUndefined();
    }
    const keys = Array.from({ length: 20 }, () => uniqueId('key'));
    const send = (key: string) =>
      post<{ logAction: { id: string } }>(instance!.url, LOG_ACTION, { input: { actor: { type: 'Bot', id: 'b' }, verb: 'edited', targets: [doc], groupingDelay: -1, idempotencyKey: key } }, service).then(
        (r) => r.body.data?.logAction.id,
        () => undefined,
      );
    // Fire every call, kill the server while they run, then retry each until answered.
    const first = keys.map((key) => send(key));
    await new Promise((r) => setTimeout(r, 30 + Math.random() * 100));
    await instance.kill();
    await Promise.all(first);
    instance = await start();
    const ids: string[] = [];
    for (const key of keys) {
      let id: string | undefined;
      for (let attempt = 0; attempt < 50 && !id; attempt++) id = await send(key);
      expect(id).toBeDefined();
      ids.push(id!);
      expect(await send(key)).toBe(id);
    }
    expect(new Set(ids).size).toBe(keys.length);
    for (const user of users) {
      const feed = await post<{ feed: { edges: Array<{ node: { id: string } }> }; unreadCount: number }>(
        instance.url,
        'query Feed($u: ID) { feed(user: $u, first: 100) { edges { node { id } } } unreadCount(user: $u) }',
        { u: user },
        service,
      );
      const feedIds = feed.body.data!.feed.edges.map((e) => e.node.id);
      expect(feedIds.sort()).toEqual([...ids].sort());
      expect(feed.body.data!.unreadCount).toBe(keys.length);
    }
  }, 400_000);
});

describe.skipIf(!databaseUrl)('retries with ids across instances and a connection cut during COMMIT', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let viaProxy: Instance;
  let direct: Instance;
  let service: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const target = new URL(database.url!);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    direct = await startInstance({ databaseUrl: database.url });
    // No background job on the instance behind the proxy: a job's own COMMIT (a webhook or fan-out queue poll, the
    // retention cron) would spring the trap meant for the request's.
    viaProxy = await startInstance({
      databaseUrl: throughProxy(database.url!, proxy),
      env: { DB_CONNECT_TIMEOUT_MS: '2000', WEBHOOK_POLL_MS: '0', ACTIVITY_FANOUT_POLL_MS: '0', RETENTION_CRON: 'off' },
    });
    service = await signTestToken('cut-service', ['service']);
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled([viaProxy?.kill(), direct?.kill()]);
    await proxy?.close();
    await database?.drop();
  });

  it('the same ids sent to two instances at once count once', async () => {
    const domain = uniqueId('two');
    await registerCounter(direct.url, service, domain, 'n');
    const events = Array.from({ length: 50 }, (_, i) => ({ domain, metric: 'n', id: `e${i}`, by: 1 }));
    const answers = await Promise.all(
      [direct.url, viaProxy.url, direct.url, viaProxy.url].map((url) => post<{ increment: { accepted: number; duplicates: number[] } }>(url, INCREMENT, { events }, service)),
    );
    for (const answer of answers) expect(answer.body.data?.increment.accepted).toBe(50);
    // Each event is new in exactly one of the four answers.
    const duplicates = answers.reduce((sum, a) => sum + a.body.data!.increment.duplicates.length, 0);
    expect(duplicates).toBe(150);
    expect(await foldAndTotal(direct.url, service, domain, 'n')).toBe(50);
  });

  it('an increment whose COMMIT succeeded but whose answer was lost counts once when retried with its ids', async () => {
    const domain = uniqueId('cut');
    await registerCounter(direct.url, service, domain, 'n');
    const events = [
      { domain, metric: 'n', id: uniqueId('a'), by: 2 },
      { domain, metric: 'n', id: uniqueId('b'), by: 3 },
    ];
    const cut = proxy.cutAfterReply('metric_increment_key');
    const lost = await post(viaProxy.url, INCREMENT, { events }, service);
    await cut;
    expect(lost.body.errors?.[0]?.extensions?.['code']).toBe('UNAVAILABLE');
    // The rows were committed: the server answered UNAVAILABLE for increments that are stored.
    let retried: { accepted: number; duplicates: number[] } | undefined;
    for (let attempt = 0; attempt < 40 && !retried; attempt++) {
      retried = (await post<{ increment: { accepted: number; duplicates: number[] } }>(viaProxy.url, INCREMENT, { events }, service)).body.data?.increment;
      if (!retried) await new Promise((r) => setTimeout(r, 100));
    }
    expect(retried).toEqual({ accepted: 2, duplicates: [0, 1] });
    expect(await foldAndTotal(direct.url, service, domain, 'n')).toBe(5);
  });

  it('a logAction whose COMMIT succeeded but whose answer was lost returns the same action when retried with its key', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await post(direct.url, 'mutation Track($input: TrackInput!) { track(input: $input) { id } }', { input: { owner: user, object: doc, actorOnly: false } }, service);
    const input = { actor: { type: 'Bot', id: 'cut' }, verb: 'edited', targets: [doc], groupingDelay: -1, idempotencyKey: uniqueId('key') };
    // The simple-query message of the transaction's COMMIT: the statement text and its NUL terminator.
    const cut = proxy.cutAfterReply('commit\u0000');
    const lost = await post(viaProxy.url, LOG_ACTION, { input }, service);
    await cut;
    expect(lost.body.errors?.[0]?.extensions?.['code']).toMatch(/UNAVAILABLE|INTERNAL_SERVER_ERROR/);
    const feedQuery = 'query Feed($u: ID) { feed(user: $u) { edges { node { id } } } unreadCount(user: $u) }';
    // The action was committed although the call failed: it is in the feed already.
    const committed = await post<{ feed: { edges: Array<{ node: { id: string } }> } }>(direct.url, feedQuery, { u: user }, service);
    expect(committed.body.data!.feed.edges).toHaveLength(1);
    let id: string | undefined;
    for (let attempt = 0; attempt < 40 && !id; attempt++) {
      id = (await post<{ logAction: { id: string } }>(viaProxy.url, LOG_ACTION, { input }, service)).body.data?.logAction.id;
      if (!id) await new Promise((r) => setTimeout(r, 100));
    }
    expect(id).toBe(committed.body.data!.feed.edges[0]!.node.id);
    const feed = await post<{ feed: { edges: Array<{ node: { id: string } }> }; unreadCount: number }>(direct.url, feedQuery, { u: user }, service);
    expect(feed.body.data!.feed.edges.map((e) => e.node.id)).toEqual([id]);
    expect(feed.body.data!.unreadCount).toBe(1);
  });
});
