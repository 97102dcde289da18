import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { activityHelpers, useActivityApp, type ActivityHelpers } from './helpers.ts';

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

const FEED_SUBSCRIPTION = `subscription { feed { kind unreadCount action { id verb unread groupedCount level text timestamp
  actor { type id label } targets { type id label } related { type id } data } } }`;

interface Received {
  kind: string;
  unreadCount: number;
  action: null | Record<string, any>;
}

interface Listener {
  events: Received[];
  errors: unknown[];
  /** Resolves once `n` events (in total) have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  dispose(): void;
}

function listen(client: Client, query = FEED_SUBSCRIPTION, variables: Record<string, unknown> = {}): Listener {
  const events: Received[] = [];
  const errors: unknown[] = [];
  const waiters: Array<() => void> = [];
  const dispose = client.subscribe<{ feed: Received }>(
    { query, variables },
    {
      next: (value) => {
        if (value.errors) errors.push(value.errors);
        if (value.data?.feed) events.push(value.data.feed);
        for (const w of waiters.splice(0)) w();
      },
      error: (error) => {
        errors.push(error);
        for (const w of waiters.splice(0)) w();
      },
      complete: () => {},
    },
  );
  return {
    events,
    errors,
    dispose,
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (errors.length) throw new Error(`subscription error: ${JSON.stringify(errors)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${n} events, got ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 100));
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return events;
    },
  };
}

/**
 * graphql-ws does not acknowledge a subscription, so a DEBUG action (never unread: counts unchanged) on an
 * object the user tracks is logged until it arrives; then the listener is known to be live and is cleared.
 */
async function live(app: TestApp, user: string, ...listeners: Listener[]): Promise<void> {
  const helpers = activityHelpers(app);
  const probe = { type: 'Probe', id: uniqueId('probe') };
  await helpers.track({ owner: user, object: probe });
  for (let i = 0; i < 50 && listeners.some((l) => l.events.length === 0); i++) {
    await helpers.logAction({ actor: probe, verb: 'probe', level: 'DEBUG', groupingDelay: -1 });
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const listener of listeners) await listener.waitFor(1);
  // Let probes still in flight (through Redis) arrive before clearing.
  await new Promise((r) => setTimeout(r, 200));
  for (const listener of listeners) {
    listener.events.splice(0);
  }
}

describe('subscription { feed }', () => {
  it('delivers ADDED, UPDATED, READ and UNREAD with exact unread counts, only to the feed owner', async () => {
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const verb = `shared-${uniqueId('v')}`;
    await t.ok(`mutation($v: String!) { registerVerb(verb: $v, template: "{actor} shared {targets}") { verb } }`, { v: verb }, h.service);
    const actor = { type: 'Person', id: uniqueId('p'), label: 'Carol' };
    await h.track({ owner: alice, object: actor });
    const bobObj = { type: 'Person', id: uniqueId('other') };
    await h.track({ owner: bob, object: bobObj });

    const aliceToken = await t.userToken(alice);
    const bobToken = await t.userToken(bob);
    const aliceTab1 = listen(t.wsClient(aliceToken));
    const aliceTab2 = listen(t.wsClient(aliceToken));
    const bobTab = listen(t.wsClient(bobToken));
    await live(t, alice, aliceTab1, aliceTab2);
    await live(t, bob, bobTab);

    const photo = { type: 'Photo', id: uniqueId('ph'), label: 'Sunset' };
    const album = { type: 'Album', id: uniqueId('al') };
    const added = await h.logAction({ actor, verb, targets: [photo], related: [album], data: { n: 1 }, groupingDelay: 600 });
    const [addedEvent] = await aliceTab1.waitFor(1);
    expect(addedEvent).toEqual({
      kind: 'ADDED',
      unreadCount: 1,
      action: {
        id: added.id,
        verb,
        unread: true,
        groupedCount: 1,
        level: 'INFO',
        text: 'Carol shared Sunset',
        timestamp: added.timestamp,
        actor: { type: 'Person', id: actor.id, label: 'Carol' },
        targets: [{ type: 'Photo', id: photo.id, label: 'Sunset' }],
        related: [{ type: 'Album', id: album.id }],
        data: { n: 1 },
      },
    });

    // Read from another tab (over HTTP as the user): both tabs hear it.
    expect((await t.ok(`mutation($ids: [ID!]!) { markRead(actionIds: $ids) }`, { ids: [added.id] }, { token: aliceToken })).markRead).toBe(1);
    await aliceTab1.waitFor(2);
    expect(aliceTab1.events[1]).toMatchObject({ kind: 'READ', unreadCount: 0, action: { id: added.id, unread: false } });
    await aliceTab2.waitFor(2);
    expect(aliceTab2.events.map((e) => e.kind)).toEqual(['ADDED', 'READ']);

    // Grouping amends the action: UPDATED, unread again.
    const photo2 = { type: 'Photo', id: uniqueId('ph'), label: 'Moon' };
    await h.logAction({ actor, verb, targets: [photo2], related: [album], groupingDelay: 600 });
    await aliceTab1.waitFor(3);
    expect(aliceTab1.events[2]).toMatchObject({
      kind: 'UPDATED',
      unreadCount: 1,
      action: { id: added.id, groupedCount: 2, unread: true, text: 'Carol shared Sunset and Moon' },
    });

    await t.ok(`mutation($ids: [ID!]!) { markUnread(actionIds: $ids) }`, { ids: [added.id] }, { token: aliceToken });
    // Already unread: nothing changed, no event. Then markAllRead: one READ without action.
    await t.ok(`mutation { markAllRead }`, {}, { token: aliceToken });
    await aliceTab1.waitFor(4);
    expect(aliceTab1.events[3]).toEqual({ kind: 'READ', unreadCount: 0, action: null });
    await t.ok(`mutation($ids: [ID!]!) { markUnread(actionIds: $ids) }`, { ids: [added.id] }, { token: aliceToken });
    await aliceTab1.waitFor(5);
    expect(aliceTab1.events[4]).toMatchObject({ kind: 'UNREAD', unreadCount: 1, action: { id: added.id, unread: true } });

    // Bob saw none of it; his own action reaches him (and only him).
    const bobAction = await h.logAction({ actor: bobObj, verb: 'noop', groupingDelay: -1 });
    await bobTab.waitFor(1);
    expect(bobTab.events.map((e) => e.action?.id)).toEqual([bobAction.id]);
    await new Promise((r) => setTimeout(r, 100));
    expect(aliceTab1.events).toHaveLength(5);
    for (const l of [aliceTab1, aliceTab2, bobTab]) l.dispose();
  });

  it('shows forgotten objects of a feed event as tombstones', async () => {
    const user = uniqueId('tomb');
    const token = await t.userToken(user);
    const doc = { type: 'Doc', id: uniqueId('doc'), label: 'Plan' };
    await h.track({ owner: user, object: doc, actorOnly: false });
    const listener = listen(
      t.wsClient(token),
      `subscription { feed { kind action { id targets { id label deleted description } } } }`,
    );
    await live(t, user, listener);
    const logged = await h.logAction({ actor: { type: 'Bot', id: 'b' }, verb: 'archived', targets: [doc], groupingDelay: -1 });
    const [added] = await listener.waitFor(1);
    expect(added?.action?.['targets']).toEqual([{ id: doc.id, label: 'Plan', deleted: false, description: null }]);

    await t.ok(
      `mutation($o: ObjectRefInput!) { forgetObject(object: $o, description: "Plan (deleted)") { deleted } }`,
      { o: { type: doc.type, id: doc.id } },
      { token: t.serviceToken },
    );
    await t.ok(`mutation($ids: [ID!]!) { markRead(actionIds: $ids) }`, { ids: [logged.id] }, { token });
    const [, read] = await listener.waitFor(2);
    expect(read).toMatchObject({
      kind: 'READ',
      action: { id: logged.id, targets: [{ id: doc.id, label: null, deleted: true, description: 'Plan (deleted)' }] },
    });
    listener.dispose();
  });

  it('untrack sends REMOVED with the new unread count when entries leave the feed', async () => {
    const user = uniqueId('rm');
    const token = await t.userToken(user);
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await h.track({ owner: user, object: doc });
    const listener = listen(t.wsClient(token), `subscription { feed { kind unreadCount action { id } } }`);
    await live(t, user, listener);
    await h.logAction({ actor: doc, verb: 'edited', groupingDelay: -1 });
    await h.logAction({ actor: doc, verb: 'edited', groupingDelay: -1 });
    await listener.waitFor(2);
    expect(await h.unreadCount(user)).toBe(2);
    await t.ok(`mutation($i: UntrackInput!) { untrack(input: $i) { id } }`, { i: { object: doc } }, { token });
    const events = await listener.waitFor(3);
    expect(events[2]).toEqual({ kind: 'REMOVED', unreadCount: 0, action: null });
    listener.dispose();
  });

  it('a service may subscribe to a named user; anonymous and other users may not', async () => {
    const user = uniqueId('u');
    const serviceListener = listen(t.wsClient(t.serviceToken), `subscription($u: ID) { feed(user: $u) { kind unreadCount } }`, { u: user });
    await live(t, user, serviceListener);
    const obj = { type: 'Doc', id: uniqueId('d') };
    await h.track({ owner: user, object: obj });
    await h.logAction({ actor: obj, verb: 'edited', groupingDelay: -1 });
    expect((await serviceListener.waitFor(1))[0]).toEqual({ kind: 'ADDED', unreadCount: 1 });
    serviceListener.dispose();

    const anonymous = listen(t.wsClient(), `subscription { feed { kind } }`);
    await expect(anonymous.waitFor(1, 2000)).rejects.toThrow(/UNAUTHENTICATED|Authentication/);
    const other = listen(t.wsClient(await t.userToken(uniqueId('x'))), `subscription($u: ID) { feed(user: $u) { kind } }`, { u: user });
    await expect(other.waitFor(1, 2000)).rejects.toThrow(/FORBIDDEN|own feed/);
  });
});

/** The same subscription over Server-Sent Events (Yoga's HTTP transport), as a Listener. */
function listenSse(url: string, token: string, query = FEED_SUBSCRIPTION): Listener {
  const events: Received[] = [];
  const errors: unknown[] = [];
  const abort = new AbortController();
  void (async () => {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query }),
        signal: abort.signal,
      });
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trim())
            .join('');
          if (!data) continue;
          const payload = JSON.parse(data) as { data?: { feed: Received }; errors?: unknown };
          if (payload.errors) errors.push(payload.errors);
          if (payload.data?.feed) events.push(payload.data.feed);
        }
      }
    } catch (error) {
      if (!abort.signal.aborted) errors.push(String(error));
    }
  })();
  return {
    events,
    errors,
    dispose: () => abort.abort(),
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (errors.length) throw new Error(`subscription error: ${JSON.stringify(errors)}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} events, got ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return events;
    },
  };
}

describe('subscription { feed } over SSE', () => {
  it('delivers the same events over Server-Sent Events', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Doc', id: uniqueId('d'), label: 'Notes' };
    await h.track({ owner: user, object: obj });
    const token = await t.userToken(user);
    const listener = listenSse(t.url, token);
    await live(t, user, listener);
    const action = await h.logAction({ actor: obj, verb: 'edited', groupingDelay: -1 });
    const [event] = await listener.waitFor(1);
    expect(event).toMatchObject({ kind: 'ADDED', unreadCount: 1, action: { id: action.id, actor: { label: 'Notes' } } });
    listener.dispose();
  });
});

describe.skipIf(!process.env['REDIS_URL'])('with Redis: several instances', () => {
  let second: TestApp;
  beforeAll(async () => {
    second = await startTestApp({}, { shareDatabaseOf: t });
  });
  afterAll(async () => {
    await second?.stop();
  });

  it('an action logged through one instance reaches a subscriber connected to another', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Doc', id: uniqueId('d'), label: 'Spec' };
    // With a shared Postgres both instances see this tracker; with embedded databases the logging instance needs it.
    await activityHelpers(second).track({ owner: user, object: obj });
    const listener = listen(t.wsClient(await t.userToken(user)));
    await live(second, user, listener);
    const action = await activityHelpers(second).logAction({ actor: obj, verb: 'published', groupingDelay: -1 });
    const [event] = await listener.waitFor(1);
    expect(event).toMatchObject({ kind: 'ADDED', unreadCount: 1, action: { id: action.id, verb: 'published', actor: { label: 'Spec' } } });
    listener.dispose();
  });
});
