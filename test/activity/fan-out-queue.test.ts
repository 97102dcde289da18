import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { subscribeFeed } from '../support/feed-subscriber.ts';
import { activityHelpers, holdRows } from './helpers.ts';

/**
 * The queued fan-out (src/activity/fan-out-queue.ts): an action reaching more than ACTIVITY_FANOUT_INLINE_MAX users
 * is stored with a fan-out job and fanned out right after the commit by a worker; up to the limit, logAction's own
 * transaction writes the feeds. Checked through GraphQL and a websocket: what a small audience sees at once, what a
 * large one receives (entries, exact counts, live events), and that a job outlives the instance that queued it.
 */

const USERS = 5;

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('queued fan-out beyond ACTIVITY_FANOUT_INLINE_MAX', () => {
  let t: TestApp;
  let h: ReturnType<typeof activityHelpers>;
  beforeAll(async () => {
    t = await startTestApp({ ACTIVITY_FANOUT_INLINE_MAX: '2' });
    h = activityHelpers(t);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a small audience has the action when logAction answers; a large one gets it from the worker, with live events and exact counts', async () => {
    const run = uniqueId('q');
    const item = { type: 'Doc', id: `${run}-big` };
    const small = { type: 'Doc', id: `${run}-small` };
    const users = Array.from({ length: USERS }, (_, i) => `${run}-u${i}`);
    for (const user of users) await h.track({ owner: user, object: item, actorOnly: false });
    for (const user of users.slice(0, 2)) await h.track({ owner: user, object: small, actorOnly: false });

    // Two receivers (the limit): written by logAction's transaction, visible to the next read.
    const inlineAction = await h.logAction({ actor: { type: 'User', id: `${run}-actor` }, verb: 'edited', targets: [small] });
    for (const user of users.slice(0, 2)) expect(await h.feedIds(user)).toEqual([inlineAction.id]);

    const subscriber = await subscribeFeed(t.url, await t.userToken(users[4]!));
    try {
      const action = await h.logAction({ actor: { type: 'User', id: `${run}-actor` }, verb: 'commented', targets: [item] });
      const event = await subscriber.waitFor((e) => e.kind === 'ADDED' && e.action?.id === action.id);
      expect(event.unreadCount).toBe(1);
      for (const user of users) {
        const ids = await until(
          () => h.feedIds(user),
          (v) => v.includes(action.id),
        );
        expect(ids[0], user).toBe(action.id);
      }
      expect(await h.unreadCount(users[0]!)).toBe(2);
      expect(await h.unreadCount(users[4]!)).toBe(1);
      // Exactly one ADDED per receiver, whatever polls ran.
      await t.app.services.activity.runQueuedFanOuts();
      expect(subscriber.events.filter((e) => e.action?.id === action.id)).toHaveLength(1);
    } finally {
      await subscriber.dispose();
    }
  });

  it('an action amended by grouping while its fan-out waits is fanned out once, in its amended state', async () => {
    const run = uniqueId('g');
    const item = { type: 'Doc', id: `${run}-item` };
    const users = Array.from({ length: USERS }, (_, i) => `${run}-u${i}`);
    for (const user of users) await h.track({ owner: user, object: item, actorOnly: false });
    const actor = { type: 'User', id: `${run}-actor` };
    // One logActions call: the second input groups into the first (delay 0 groups within a call) before either is
    // fanned out, so the amendment finds the job pending.
    const data = await t.ok<{ logActions: Array<{ id: string; groupedCount: number }> }>(
      `mutation($inputs: [LogActionInput!]!) { logActions(inputs: $inputs) { id groupedCount } }`,
      {
        inputs: [
          { actor, verb: 'edited', targets: [item], groupingDelay: 0 },
          { actor, verb: 'edited', targets: [item], groupingDelay: 0 },
        ],
      },
      h.service,
    );
    const [first, second] = data.logActions;
    expect(second!.id).toBe(first!.id);
    await t.app.services.activity.runQueuedFanOuts();
    for (const user of users) {
      const feed = await h.feed(user);
      expect(feed.edges.map((e) => [e.node.id, e.node.groupedCount]), user).toEqual([[first!.id, 2]]);
      expect(await h.unreadCount(user)).toBe(1);
    }
  });
});

/**
 * An instance for the describe block that queues every fan-out and runs none (ACTIVITY_FANOUT_POLL_MS=0): as if it
 * stopped right after answering logAction. The tests run the queue themselves (`runQueuedFanOuts`).
 */
function useQueueOnlyApp(): () => TestApp {
  let app: TestApp | undefined;
  beforeAll(async () => {
    app = await startTestApp({ ACTIVITY_FANOUT_INLINE_MAX: '0', ACTIVITY_FANOUT_POLL_MS: '0' });
  });
  afterAll(async () => {
    await app?.stop();
  });
  return () => {
    if (!app) throw new Error('the queue-only app did not start');
    return app;
  };
}

describe('a queued fan-out outlives the instance that queued it', () => {
  const queueOnly = useQueueOnlyApp();

  it('the job is stored with the action, and whoever runs the queue later writes the feeds exactly once', async () => {
    const a = queueOnly();
    const h = activityHelpers(a);
    const run = uniqueId('c');
    const item = { type: 'Doc', id: `${run}-item` };
    const users = Array.from({ length: 3 }, (_, i) => `${run}-u${i}`);
    for (const user of users) await h.track({ owner: user, object: item, actorOnly: false });
    const action = await h.logAction({ actor: { type: 'User', id: `${run}-actor` }, verb: 'edited', targets: [item] });
    await new Promise((r) => setTimeout(r, 300));
    for (const user of users) expect(await h.feedIds(user), 'nothing runs the queue on this instance').toEqual([]);

    if (process.env['DATABASE_URL']) {
      // A second instance of the deployment (same database) polls and runs it.
      const b = await startTestApp({ ACTIVITY_FANOUT_POLL_MS: '100' }, { shareDatabaseOf: a });
      try {
        const hb = activityHelpers(b);
        for (const user of users) {
          expect(await until(() => hb.feedIds(user), (v) => v.length > 0), user).toEqual([action.id]);
        }
      } finally {
        await b.stop();
      }
    } else {
      // The embedded database lives in this process: run the queue as a restarted instance's worker would.
      await a.app.services.activity.runQueuedFanOuts();
    }
    await a.app.services.activity.runQueuedFanOuts(); // nothing left: a second run writes nothing twice
    for (const user of users) {
      expect(await h.feedIds(user)).toEqual([action.id]);
      expect(await h.unreadCount(user)).toBe(1);
    }
  });
});

describe.skipIf(!process.env['DATABASE_URL'])('a queued fan-out racing a grouped amendment of its action', () => {
  const queueOnly = useQueueOnlyApp();

  it('a worker cannot take the job while an amendment that relies on it is uncommitted: the action is fanned out as amended', async () => {
    const q = queueOnly();
    const h = activityHelpers(q);
    const run = uniqueId('amend');
    const thread = { type: 'Thread', id: `${run}-t1` };
    const [d1, d2, d3] = [1, 2, 3].map((i) => ({ type: 'Doc', id: `${run}-d${i}` }));
    const [ua, uc] = [`${run}-ua`, `${run}-uc`];
    await h.track({ owner: ua, object: thread, actorOnly: false });
    await h.track({ owner: uc, object: d2, actorOnly: false });
    const bot = { type: 'Bot', id: `${run}-b` };
    const a1 = await h.logAction({ actor: bot, verb: 'comment', targets: [thread], related: [d1], groupingDelay: 3600 });
    const b1 = await h.logAction({ actor: bot, verb: 'like', targets: [thread], groupingDelay: 3600 });
    await q.app.services.activity.runQueuedFanOuts();
    // Amended again: its job waits in the queue (nothing runs it on this instance).
    expect((await h.logAction({ actor: bot, verb: 'comment', targets: [thread], related: [d3], groupingDelay: 3600 })).id).toBe(a1.id);

    // A call amends a1 once more (now ERROR, naming d2, relying on the pending job), then waits on b1's row.
    const b1Id = Buffer.from(b1.id, 'base64').toString().split(':')[1];
    const release = await holdRows(q, `select 1 from activity_action where id = ? for update`, [b1Id]);
    const call = q.ok(
      `mutation($i: [LogActionInput!]!) { logActions(inputs: $i) { id } }`,
      {
        i: [
          { actor: bot, verb: 'comment', targets: [thread], related: [d2], level: 'ERROR', groupingDelay: 3600 },
          { actor: bot, verb: 'like', targets: [thread], groupingDelay: 3600 },
        ],
      },
      h.service,
    );
    await new Promise((r) => setTimeout(r, 400));
    const worker = q.app.services.activity.runQueuedFanOuts(); // a worker looks for jobs meanwhile
    await new Promise((r) => setTimeout(r, 400));
    await release();
    await Promise.all([call, worker]);
    await q.app.services.activity.runQueuedFanOuts();

    expect(await h.feedIds(uc)).toEqual([a1.id]); // reached through d2, named by the last amendment
    const errors = await q.ok<{ unreadCount: number }>(`query($u: ID) { unreadCount(user: $u, minLevel: ERROR) }`, { u: ua }, h.service);
    expect(errors.unreadCount).toBe(1); // ua's entry is counted at the amended level
  });
});

describe('backpressure: ACTIVITY_FANOUT_QUEUE_MAX', () => {
  let q: TestApp;
  beforeAll(async () => {
    // One queued fan-out at most, and no worker on this instance: the second large action cannot be queued.
    q = await startTestApp({ ACTIVITY_FANOUT_INLINE_MAX: '1', ACTIVITY_FANOUT_QUEUE_MAX: '1', ACTIVITY_FANOUT_POLL_MS: '0' });
  });
  afterAll(async () => {
    await q?.stop();
  });

  it('with the queue full, logAction fans out in its own transaction again', async () => {
    const h = activityHelpers(q);
    const run = uniqueId('b');
    const item = { type: 'Doc', id: `${run}-item` };
    const users = [`${run}-u0`, `${run}-u1`];
    for (const user of users) await h.track({ owner: user, object: item, actorOnly: false });
    const actor = { type: 'User', id: `${run}-actor` };
    const queued = await h.logAction({ actor, verb: 'edited', targets: [item], groupingDelay: -1 });
    const inline = await h.logAction({ actor, verb: 'commented', targets: [item], groupingDelay: -1 });
    for (const user of users) expect(await h.feedIds(user), 'only the second, fanned out by logAction').toEqual([inline.id]);
    await q.app.services.activity.runQueuedFanOuts();
    for (const user of users) {
      expect((await h.feedIds(user)).sort()).toEqual([queued.id, inline.id].sort());
      expect(await h.unreadCount(user)).toBe(2);
    }
  });
});

describe('queued fan-outs racing the inbox transitions', () => {
  let q: TestApp;
  beforeAll(async () => {
    // Every fan-out queued, two workers: concurrent fan-outs to the same users, and transitions racing them.
    q = await startTestApp({ ACTIVITY_FANOUT_INLINE_MAX: '1', ACTIVITY_FANOUT_WORKERS: '2' });
  });
  afterAll(async () => {
    await q?.stop();
  });

  it('counts stay exact: unread and unseen counters equal the listed entries once the queue has run', { timeout: 120_000 }, async () => {
    const h = activityHelpers(q);
    const run = uniqueId('r');
    const person = { type: 'Person', id: `${run}-p` };
    const users = Array.from({ length: 6 }, (_, i) => `${run}-u${i}`);
    for (const owner of users) await h.track({ owner, object: person });
    const mutate = (field: string, user: string) => q.ok(`mutation($u: ID) { ${field}(user: $u) }`, { u: user }, h.service);
    for (let round = 0; round < 3; round++) {
      const writers = Array.from({ length: 8 }, (_, i) => h.logAction({ actor: person, verb: `w${i % 2}`, groupingDelay: -1 }));
      const markers = users.flatMap((u, i) => (i % 2 === 0 ? [mutate('markAllRead', u)] : [mutate('markAllSeen', u)]));
      await Promise.all([...writers, ...markers]);
      await q.app.services.activity.runQueuedFanOuts();
    }
    for (const user of users) {
      const data = await q.ok<{ feed: { edges: Array<{ node: { unread: boolean; seen: boolean } }> }; unreadCount: number; unseenCount: number }>(
        `query($u: ID) { feed(user: $u, first: 100) { edges { node { unread seen } } } unreadCount(user: $u) unseenCount(user: $u) }`,
        { u: user },
        h.service,
      );
      expect(data.feed.edges).toHaveLength(24);
      expect(data.unreadCount, user).toBe(data.feed.edges.filter((e) => e.node.unread).length);
      expect(data.unseenCount, user).toBe(data.feed.edges.filter((e) => !e.node.seen).length);
    }
  });
});
