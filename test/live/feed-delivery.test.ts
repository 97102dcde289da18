import { Redis } from 'ioredis';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { activityHelpers } from '../activity/helpers.ts';

/**
 * Delivery at scale (issue 12 item 4): a write's feed events travel as one pub/sub message (one Redis message on
 * one channel, whatever the number of receiving users), routed on each instance to that instance's subscribers,
 * each of whom gets its own event (its kind, unread count and cursor).
 */
const redisUrl = process.env['REDIS_URL'];

interface Event {
  kind: string;
  unreadCount: number;
  cursor: string;
  action: { id: string; unread: boolean } | null;
}

describe('feed delivery: one message per write, routed per subscriber', () => {
  let t: TestApp;
  let redis: Redis | undefined;
  const published: Array<{ channel: string; message: string }> = [];
  const clients: Client[] = [];

  beforeAll(async () => {
    t = await startTestApp(redisUrl ? { REDIS_URL: redisUrl } : {});
    if (redisUrl) {
      redis = new Redis(redisUrl);
      await redis.psubscribe('feed*');
      redis.on('pmessage', (_pattern, channel, message) => published.push({ channel, message }));
    }
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.dispose()));
    redis?.disconnect();
    await t?.stop();
  });

  const subscribe = async (user: string) => {
    const client = t.wsClient(await t.userToken(user));
    clients.push(client);
    const events: Event[] = [];
    const stop = client.subscribe<{ feed: Event }>(
      { query: 'subscription Live { feed { kind unreadCount cursor action { id unread } } }' },
      { next: (v) => v.data && events.push(v.data.feed), error: () => {}, complete: () => {} },
    );
    return { events, stop };
  };

  it('gives each receiving user its own event from one published message; a user with two subscriptions gets it on both; one that stopped gets nothing', async () => {
    const h = activityHelpers(t);
    const doc = { type: 'Doc', id: uniqueId('doc') };
    const users = [uniqueId('alice'), uniqueId('bob'), uniqueId('carol')];
    for (const owner of users) await h.track({ owner, object: doc });
    // bob has one unread entry already: his count differs from the others'.
    const other = { type: 'Doc', id: uniqueId('other') };
    await h.track({ owner: users[1], object: other });
    await h.logAction({ actor: other, verb: 'warmed', groupingDelay: -1 });

    const subs = await Promise.all(users.map(subscribe));
    const second = await subscribe(users[0]!); // alice twice
    const stopped = await subscribe(users[2]!); // carol twice, one stopped below
    const all = [...subs, second, stopped];
    // Live once a probe reached every subscription (graphql-ws does not acknowledge subscribe).
    await expect
      .poll(async () => {
        if (all.some((s) => s.events.length === 0)) await h.logAction({ actor: doc, verb: 'probe', groupingDelay: -1 });
        return all.every((s) => s.events.length > 0);
      }, { timeout: 20_000, interval: 300 })
      .toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    stopped.stop();
    await new Promise((r) => setTimeout(r, 300));
    const seen = all.map((s) => s.events.length);
    published.length = 0;

    const action = await h.logAction({ actor: doc, verb: 'announced', groupingDelay: -1 });
    await expect.poll(() => [...subs, second].every((s, i) => s.events.length > seen[i]!), { timeout: 10_000 }).toBe(true);
    await new Promise((r) => setTimeout(r, 300));

    for (const [i, user] of users.entries()) {
      const event = subs[i]!.events.at(-1)!;
      expect(event.kind).toBe('ADDED');
      expect(event.action).toEqual({ id: action.id, unread: true });
      expect(event.unreadCount).toBe(await h.unreadCount(user));
    }
    expect(subs[1]!.events.at(-1)!.unreadCount).toBe(subs[0]!.events.at(-1)!.unreadCount + 1);
    expect(second.events.at(-1)).toEqual(subs[0]!.events.at(-1));
    expect(stopped.events).toHaveLength(seen[4]!);

    if (redis) {
      // One Redis message for the three users, on one channel (not one per user on per-user channels). Other
      // processes may share this Redis: only messages naming these users count.
      const ours = published.filter((p) => users.some((u) => p.message.includes(u)));
      expect(ours.map((p) => p.channel)).toEqual(['feed']);
      const envelope = JSON.parse(ours[0]!.message) as { d: { actions: unknown[]; events: Array<[string, unknown]> } };
      expect(envelope.d.actions).toHaveLength(1);
      expect(envelope.d.events.map(([user]) => user).sort()).toEqual([...users].sort());
    }
  }, 90_000);
});
