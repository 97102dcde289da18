import v8 from 'node:v8';
import vm from 'node:vm';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { activityHelpers } from '../activity/helpers.ts';

/**
 * Memory per idle subscriber (issue 12 item 4): an established `feed` subscription over a websocket does not keep
 * its operation's Yoga context nor its envelope (server/ws-feed.ts); it still delivers, masks nothing it should
 * not, counts in the subscription gauge and lets go of its stream when it ends. Other subscriptions keep
 * theirs (the envelope path is unchanged for them).
 */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

interface Event {
  kind: string;
  unreadCount: number;
  cursor: string;
  action: { id: string; verb: string } | null;
}

describe('websocket feed held without its operation context', () => {
  let t: TestApp;
  const clients: Client[] = [];
  /** The per-operation contexts Yoga built for websocket operations, by the operation's query. */
  const contexts: Array<{ query: string; context: WeakRef<object> }> = [];

  beforeAll(async () => {
    t = await startTestApp();
    const yoga = t.app.yoga as unknown as { getEnveloped: (initial: Record<string, unknown>) => Record<string, unknown> };
    const original = yoga.getEnveloped.bind(yoga);
    yoga.getEnveloped = (initial) => {
      const enveloped = original(initial);
      const factory = enveloped['contextFactory'] as () => Promise<object>;
      const query = String((initial['params'] as { query?: string } | undefined)?.query ?? '');
      return {
        ...enveloped,
        contextFactory: async () => {
          const context = await factory();
          contexts.push({ query, context: new WeakRef(context) });
          return context;
        },
      };
    };
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.dispose()));
    await t?.stop();
  });

  const gauge = async () => {
    const text = await (await fetch(`http://127.0.0.1:${t.port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('trackql_subscriptions{transport="ws"} '));
    return Number(line?.split(' ')[1]);
  };

  it('keeps one small object per feed subscription: the context is collected, events still arrive, the gauge counts it', async () => {
    const h = activityHelpers(t);
    const user = uniqueId('lean');
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await h.track({ owner: user, object: doc });
    const client = t.wsClient(await t.userToken(user));
    clients.push(client);
    const events: Event[] = [];
    const errors: unknown[] = [];
    const feedQuery = 'subscription Lean($after: String) { feed(after: $after) { kind unreadCount cursor action { id verb } } }';
    const stop = client.subscribe<{ feed: Event }>(
      { query: feedQuery, variables: { after: null } },
      { next: (v) => (v.data ? events.push(v.data.feed) : errors.push(v.errors)), error: (e) => errors.push(e), complete: () => {} },
    );
    // A second kind of subscription on the same socket keeps the envelope path (and its context).
    const domain = uniqueId('lean-domain');
    await t.ok(`mutation($d: ID!) { registerDomain(ref: $d, name: "Lean") { ref } registerMetric(domain: $d, ref: "hits", name: "Hits", public: true) { ref } }`, { d: domain }, { token: t.serviceToken });
    const other = client.subscribe(
      { query: 'subscription($d: ID!) { metric(domain: $d, metric: "hits") }', variables: { d: domain } },
      { next: (v) => (v.errors ? errors.push(v.errors) : undefined), error: (e) => errors.push(e), complete: () => {} },
    );

    await expect
      .poll(async () => {
        if (events.length === 0) await h.logAction({ actor: doc, verb: 'probe', groupingDelay: -1 });
        return events.length > 0;
      }, { timeout: 20_000, interval: 300 })
      .toBe(true);
    await expect.poll(gauge, { timeout: 5_000 }).toBe(2);

    const feedContexts = contexts.filter((c) => c.query === feedQuery);
    const otherContexts = contexts.filter((c) => c.query.includes('metric('));
    expect(feedContexts).toHaveLength(1);
    expect(otherContexts).toHaveLength(1);
    // deref() keeps its target alive until the end of the current job: collect first, look once.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      gc();
    }
    expect(feedContexts[0]!.context.deref()).toBeUndefined();
    expect(otherContexts[0]!.context.deref()).toBeDefined();

    // Still live, mapped as before: the selection, the counts and the cursor of each event.
    const before = events.length;
    const action = await h.logAction({ actor: doc, verb: 'announced', groupingDelay: -1 });
    await expect.poll(() => events.length, { timeout: 10_000 }).toBeGreaterThan(before);
    const event = events.at(-1)!;
    expect(event).toMatchObject({ kind: 'ADDED', action: { id: action.id, verb: 'announced' } });
    expect(event.unreadCount).toBe(await h.unreadCount(user));
    expect(typeof event.cursor).toBe('string');
    expect(errors).toEqual([]);

    stop();
    await expect.poll(gauge, { timeout: 5_000 }).toBe(1);
    other();
    await expect.poll(gauge, { timeout: 5_000 }).toBe(0);
    // The stream left the router: events of this user are no longer routed anywhere.
    const after = events.length;
    await h.logAction({ actor: doc, verb: 'after-stop', groupingDelay: -1 });
    await new Promise((r) => setTimeout(r, 500));
    expect(events.length).toBe(after);
  }, 90_000);

  it('closing the socket ends its running subscriptions in the gauge', async () => {
    const user = uniqueId('lean-close');
    const client = t.wsClient(await t.userToken(user));
    client.subscribe({ query: 'subscription { feed { kind } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    client.subscribe({ query: 'subscription { feed { unreadCount } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    await expect.poll(gauge, { timeout: 10_000 }).toBe(2);
    await client.dispose();
    await expect.poll(gauge, { timeout: 10_000 }).toBe(0);
  }, 60_000);
});
