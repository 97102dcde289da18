import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { startTcpProxy, throughProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { activityHelpers } from '../activity/helpers.ts';

/** Two instances on one Postgres and one Redis; B reaches Redis through a proxy the test cuts. */
const redisUrl = process.env['REDIS_URL'];
const shared = Boolean(process.env['DATABASE_URL'] && redisUrl);

describe.skipIf(!shared)('live feed across instances with Redis cut', () => {
  let a: TestApp;
  let b: TestApp;
  let proxy: TcpProxy;
  let client: Client;

  beforeAll(async () => {
    a = await startTestApp();
    const redis = new URL(redisUrl!);
    proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    b = await startTestApp({ REDIS_URL: throughProxy(redisUrl!, proxy) }, { shareDatabaseOf: a });
  }, 120_000);
  afterAll(async () => {
    await client?.dispose();
    await b?.stop();
    await a?.stop();
    await proxy?.close();
  });

  it('a subscriber on B gets what A logged while Redis was cut, once, in order, as soon as Redis is back', async () => {
    const h = activityHelpers(a);
    const user = uniqueId('cut');
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await h.track({ owner: user, object: doc });
    const log = async (verb: string) => (await h.logAction({ actor: doc, verb, groupingDelay: -1 })).id as string;

    client = createClient({ url: `ws://127.0.0.1:${b.port}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${await b.userToken(user)}` } });
    const events: Array<{ kind: string; unreadCount: number; cursor: string; action: { id: string } | null }> = [];
    client.subscribe<{ feed: (typeof events)[number] }>(
      { query: 'subscription Live { feed { kind unreadCount cursor action { id } } }' },
      { next: (v) => v.data && events.push(v.data.feed), error: () => {}, complete: () => {} },
    );
    await expect
      .poll(async () => {
        if (events.length === 0) await log('probe');
        return events.length;
      }, { timeout: 20_000, interval: 300 })
      .toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    const seen = events.length;

    proxy.cut();
    const lost = [await log('lost-1'), await log('lost-2'), await log('lost-3')];
    await new Promise((r) => setTimeout(r, 3_000));
    expect(events).toHaveLength(seen); // really cut
    proxy.restore();
    // Nothing else is logged: Redis coming back is enough for B to catch its subscriber up.
    await expect.poll(() => events.length, { timeout: 20_000 }).toBe(seen + 3);
    expect(events.slice(seen).map((e) => [e.kind, e.action?.id])).toEqual(lost.map((id) => ['ADDED', id]));
    expect(events.at(-1)!.unreadCount).toBe(await h.unreadCount(user));

    // A message lost on its own (Redis cut just for it) is caught up too (by B's reconnect or by the gap the next
    // message shows, whichever comes first), and neither gives it twice.
    proxy.cut();
    const alone = await log('lost-alone');
    proxy.restore();
    const next = await log('next');
    await expect.poll(() => events.at(-1)?.action?.id, { timeout: 20_000 }).toBe(next);
    const tail = events.slice(seen + 3).map((e) => e.action?.id);
    expect(tail).toEqual([alone, next]);
    const cursors = events.map((e) => e.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
  }, 90_000);
});
