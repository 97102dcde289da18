import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { activityHelpers } from '../activity/helpers.ts';

let t: TestApp;
let h: ReturnType<typeof activityHelpers>;
const REPLAY_MAX = 20;

beforeAll(async () => {
  t = await startTestApp({ FEED_REPLAY_MAX: String(REPLAY_MAX) });
  h = activityHelpers(t);
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

interface Event {
  kind: string;
  unreadCount: number;
  cursor: string;
  action: { id: string; unread: boolean } | null;
}

const LIVE = 'subscription Live($after: String) { feed(after: $after) { kind unreadCount cursor action { id unread } } }';

function wsClient(token: string): Client {
  return createClient({ url: `ws://127.0.0.1:${t.port}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
}

function listen(client: Client, after: string | null) {
  const events: Event[] = [];
  const errors: unknown[] = [];
  const dispose = client.subscribe<{ feed: Event }>(
    { query: LIVE, variables: { after } },
    { next: (v) => (v.errors ? errors.push(v.errors) : v.data && events.push(v.data.feed)), error: (e) => errors.push(e), complete: () => {} },
  );
  return {
    events,
    errors,
    dispose,
    async waitFor(n: number, timeout = 10_000) {
      await expect.poll(() => (errors.length ? -1 : events.length), { timeout, interval: 20 }).toBeGreaterThanOrEqual(n);
      expect(errors).toEqual([]);
      return events;
    },
  };
}

async function syncCursor(token: string): Promise<string> {
  const data = await t.ok<{ feed: { syncCursor: string } }>('query Sync { feed(first: 1) { syncCursor } }', {}, { token });
  return data.feed.syncCursor;
}

async function setup() {
  const user = uniqueId('replay');
  const token = await t.userToken(user);
  const doc = { type: 'Doc', id: uniqueId('doc') };
  await h.track({ owner: user, object: doc });
  const log = async () => (await h.logAction({ actor: doc, verb: 'edited', groupingDelay: -1 })).id as string;
  return { user, token, log };
}

describe('subscription { feed(after:) }: replay from a cursor', () => {
  it('replays what happened while away, in order, once, with current state and counts, then continues live', async () => {
    const { token, log } = await setup();
    const start = await syncCursor(token);
    const a1 = await log();
    const a2 = await log();
    await t.ok('mutation R($ids: [ID!]!) { markRead(actionIds: $ids) }', { ids: [a1] }, { token });
    const a3 = await log();

    const client = wsClient(token);
    const sub = listen(client, start);
    const replayed = await sub.waitFor(4);
    expect(replayed.map((e) => [e.kind, e.action?.id])).toEqual([
      ['ADDED', a1],
      ['ADDED', a2],
      ['READ', a1],
      ['ADDED', a3],
    ]);
    // Current state: a1 is read now, every replayed event carries today's count.
    expect(replayed.map((e) => e.action?.unread)).toEqual([false, true, false, true]);
    expect(replayed.map((e) => e.unreadCount)).toEqual([2, 2, 2, 2]);
    expect(new Set(replayed.map((e) => e.cursor)).size).toBe(4);

    const a4 = await log();
    await sub.waitFor(5);
    expect(sub.events[4]).toMatchObject({ kind: 'ADDED', unreadCount: 3, action: { id: a4, unread: true } });

    // Resuming from any event's cursor gives exactly what followed it.
    const again = listen(client, replayed[1]!.cursor);
    await again.waitFor(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(again.events.map((e) => [e.kind, e.action?.id])).toEqual([
      ['READ', a1],
      ['ADDED', a3],
      ['ADDED', a4],
    ]);
    expect(again.events.map((e) => e.cursor)).toEqual(sub.events.slice(2).map((e) => e.cursor));
    // Resuming from the last cursor: nothing to replay.
    const none = listen(client, sub.events[4]!.cursor);
    await new Promise((r) => setTimeout(r, 500));
    expect(none.events).toEqual([]);
    await client.dispose();
  });

  it('untrack(log: true): the REMOVED of the untrack comes before the ADDED of its "stopped tracking" action', async () => {
    // The fan-out records its own changes in the statement that writes them; the untrack's earlier change must
    // still get the earlier position.
    const user = uniqueId('replay');
    const token = await t.userToken(user);
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await h.track({ owner: user, object: doc });
    await h.track({ owner: user, object: { type: 'User', id: user } }); // follows its own actions
    const a1 = (await h.logAction({ actor: doc, verb: 'edited', groupingDelay: -1 })).id as string;
    const start = await syncCursor(token);
    await t.ok('mutation U($i: UntrackInput!) { untrack(input: $i) { id } }', { i: { owner: user, object: doc, log: true } }, h.service);
    const stopped = (await h.feed(user)).edges.map((e) => e.node);
    expect(stopped.map((a: { id: string }) => a.id)).not.toContain(a1);
    expect(stopped).toHaveLength(1);
    const client = wsClient(token);
    const sub = listen(client, start);
    await sub.waitFor(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(sub.events.map((e) => [e.kind, e.action?.id ?? null])).toEqual([
      ['REMOVED', null],
      ['ADDED', stopped[0].id],
    ]);
    await client.dispose();
  });

  it('no gap and no duplicate when changes are logged during the catch-up', async () => {
    const { token, log } = await setup();
    const start = await syncCursor(token);
    const before = [];
    for (let i = 0; i < 10; i++) before.push(await log());
    const client = wsClient(token);
    const during: Array<Promise<string>> = [];
    const sub = listen(client, start);
    for (let i = 0; i < 10; i++) during.push(log());
    const ids = [...before, ...(await Promise.all(during))];
    await sub.waitFor(20);
    await new Promise((r) => setTimeout(r, 500));
    expect(sub.events).toHaveLength(20);
    expect(sub.events.every((e) => e.kind === 'ADDED')).toBe(true);
    expect(new Set(sub.events.map((e) => e.action!.id))).toEqual(new Set(ids));
    // In the order of the change stream: the unread count only grows along it for live events.
    expect(new Set(sub.events.map((e) => e.cursor)).size).toBe(20);
    expect(sub.events.at(-1)!.unreadCount).toBe(20);
    await client.dispose();
  });

  it('a cursor older than what can be replayed starts with RESET (then live); a foreign cursor is BAD_USER_INPUT', async () => {
    const { token, log } = await setup();
    const start = await syncCursor(token);
    for (let i = 0; i < REPLAY_MAX + 1; i++) await log();
    const client = wsClient(token);
    const sub = listen(client, start);
    await sub.waitFor(1);
    expect(sub.events[0]).toMatchObject({ kind: 'RESET', action: null, unreadCount: REPLAY_MAX + 1 });
    expect(sub.events[0]!.cursor).toBe(await syncCursor(token));
    const next = await log();
    await sub.waitFor(2);
    expect(sub.events[1]).toMatchObject({ kind: 'ADDED', unreadCount: REPLAY_MAX + 2, action: { id: next } });

    const bad = listen(client, 'not-a-cursor');
    await expect.poll(() => bad.errors.length).toBe(1);
    expect(JSON.stringify(bad.errors)).toMatch(/BAD_USER_INPUT/);
    await client.dispose();
  });
});
