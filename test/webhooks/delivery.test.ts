import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { activityHelpers } from '../activity/helpers.ts';
import { metricsHelpers } from '../metrics/helpers.ts';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { FAST_WEBHOOKS, webhookHelpers } from './helpers.ts';
import { startReceiver, type Receiver } from './receiver.ts';

/** Webhooks end to end through GraphQL, with a real local receiver verifying every signature. */

let t: TestApp;
let w: ReturnType<typeof webhookHelpers>;
let a: ReturnType<typeof activityHelpers>;
const receivers: Receiver[] = [];

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

beforeAll(async () => {
  t = await startTestApp(FAST_WEBHOOKS);
  w = webhookHelpers(t);
  a = activityHelpers(t);
});
afterEach(async () => {
  await w.cleanup();
});
afterAll(async () => {
  await t?.stop();
  await Promise.all(receivers.map((r) => r.close()));
});

describe('webhook events', () => {
  it('delivers every event kind, signed per Standard Webhooks', async () => {
    const type = uniqueId('Doc');
    const r = await receiver();
    const hook = await w.register(
      r,
      ['ACTION_LOGGED', 'FEED_ENTRY_ADDED', 'FEED_READ', 'FEED_SEEN', 'FEED_STILL_UNREAD', 'STATISTIC_RECORDED'],
      { objectTypes: [type] },
      1,
    );
    const user = uniqueId('u');
    const tracker = await a.track({ object: { type, id: 'd1' }, actorOnly: false, owner: user });
    const first = await a.logAction({ actor: { type: 'User', id: 'alice' }, verb: 'edited', targets: [{ type, id: 'd1' }] });
    const second = await a.logAction({ actor: { type: 'User', id: 'bob' }, verb: 'commented', targets: [{ type, id: 'd1' }] });
    await t.ok(`mutation MarkRead($ids: [ID!]!, $user: ID) { markRead(actionIds: $ids, user: $user) }`, { ids: [first.id], user }, w.service);
    // Seen, still unread: a FEED_SEEN event with both counts, and the reminder still comes.
    await t.ok(`mutation MarkSeen($ids: [ID!]!, $user: ID) { markSeen(actionIds: $ids, user: $user) }`, { ids: [second.id], user }, w.service);

    const m = metricsHelpers(t);
    const domain = (await m.registerDomain()).ref;
    await m.registerMetric(domain, { ref: 'followers', kind: 'GAUGE' });
    await t.ok(
      `mutation Record($d: ID!, $m: ID!, $o: ObjectRefInput) { recordStatistic(domain: $d, metric: $m, value: 42, period: DAY, object: $o) { value } }`,
      { d: domain, m: 'followers', o: { type, id: 'd1' } },
      w.service,
    );

    await r.waitFor(() => r.events().some((e) => e.type === 'FEED_STILL_UNREAD'), 20_000);
    // The read entry's reminder came due too (1 s) and was dropped: give the worker a few more passes.
    await new Promise((res) => setTimeout(res, 1_500));
    const events = r.events();
    expect(r.requests.every((q) => q.verified === true)).toBe(true);
    const byType = (type: string) => events.filter((e) => e.type === type);
    expect(byType('ACTION_LOGGED').map((e) => e.data.action.id).sort()).toEqual([first.id, second.id].sort());
    expect(byType('ACTION_LOGGED')[0]!.data.action.targets).toEqual([{ type, id: 'd1', label: null }]);
    expect(byType('FEED_ENTRY_ADDED')).toHaveLength(2);
    for (const e of byType('FEED_ENTRY_ADDED')) {
      expect(e.data.user).toBe(user);
      expect(e.data.trackerIds).toEqual([tracker.id]);
    }
    expect(byType('FEED_READ').map((e) => [e.data.user, e.data.action.id, e.data.unreadCount])).toEqual([[user, first.id, 1]]);
    expect(byType('FEED_SEEN').map((e) => [e.data.user, e.data.action.id, e.data.all, e.data.unreadCount, e.data.unseenCount])).toEqual([
      [user, second.id, false, 1, 0],
    ]);
    expect(byType('FEED_STILL_UNREAD').map((e) => [e.data.user, e.data.action.id])).toEqual([[user, second.id]]);
    // Written like every other payload: times as toISOString writes them, objects with their label key.
    const [reminder] = byType('FEED_STILL_UNREAD');
    const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
    expect(reminder!.data.arrivedAt).toMatch(iso);
    expect(reminder!.data.action.timestamp).toMatch(iso);
    expect(reminder!.data.action.timestamp).toBe(byType('ACTION_LOGGED').find((e) => e.data.action.id === second.id)!.data.action.timestamp);
    expect(reminder!.data.action.actor).toEqual({ type: 'User', id: 'bob', label: null });
    expect(byType('STATISTIC_RECORDED').map((e) => [e.data.metric, e.data.value, e.data.object])).toEqual([['followers', 42, { type, id: 'd1', label: null }]]);
    // Event ids are unique; the request ids are msg_… and every delivery is DELIVERED once.
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(r.requests.every((q) => /^msg_\d+$/.test(q.webhookId))).toBe(true);
    await w.waitUntil(async () => (await w.deliveries(hook.id, 'PENDING')).length === 0);
    const all = await w.deliveries(hook.id);
    expect(all).toHaveLength(events.length);
    expect(all.every((d) => d.status === 'DELIVERED' && d.attempts === 1 && d.lastStatusCode === 200)).toBe(true);
  }, 60_000);

  it('a queued fan-out (more receivers than ACTIVITY_FANOUT_INLINE_MAX) gives ACTION_LOGGED once and FEED_ENTRY_ADDED per receiver', async () => {
    const q = await startTestApp({ ...FAST_WEBHOOKS, ACTIVITY_FANOUT_INLINE_MAX: '1' });
    try {
      const wq = webhookHelpers(q);
      const aq = activityHelpers(q);
      const type = uniqueId('Doc');
      const r = await receiver();
      await wq.register(r, ['ACTION_LOGGED', 'FEED_ENTRY_ADDED'], { objectTypes: [type] });
      const users = [uniqueId('u'), uniqueId('u'), uniqueId('u')];
      for (const owner of users) await aq.track({ object: { type, id: 'd1' }, actorOnly: false, owner });
      const action = await aq.logAction({ actor: { type: 'User', id: 'alice' }, verb: 'edited', targets: [{ type, id: 'd1' }] });
      await r.waitFor(() => r.events().filter((e) => e.type === 'FEED_ENTRY_ADDED').length >= 3, 20_000);
      await new Promise((res) => setTimeout(res, 800));
      const events = r.events();
      expect(events.filter((e) => e.type === 'ACTION_LOGGED').map((e) => e.data.action.id)).toEqual([action.id]);
      const added = events.filter((e) => e.type === 'FEED_ENTRY_ADDED');
      expect(added.map((e) => e.data.user).sort()).toEqual([...users].sort());
      expect(added.every((e) => e.data.action.id === action.id)).toBe(true);
      await wq.cleanup();
    } finally {
      await q.stop();
    }
  }, 60_000);

  it('applies filters: verbs, object types and minimum level', async () => {
    const type = uniqueId('Doc');
    const r = await receiver();
    await w.register(r, ['ACTION_LOGGED'], { verbs: ['published'], objectTypes: [type], minLevel: 'WARNING' });
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'published', targets: [{ type, id: '1' }], level: 'ERROR' });
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'published', targets: [{ type, id: '2' }], level: 'INFO' });
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'edited', targets: [{ type, id: '3' }], level: 'ERROR' });
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'published', targets: [{ type: `${type}-other`, id: '4' }], level: 'ERROR' });
    await r.waitFor(() => r.events().length >= 1);
    await new Promise((res) => setTimeout(res, 800));
    expect(r.events().map((e) => e.data.action.targets[0].id)).toEqual(['1']);
  }, 30_000);

  it('ACTION_LOGGED for every path that logs: each action of logActions, track/untrack with log; never for an idempotent repeat', async () => {
    const type = uniqueId('Doc');
    const r = await receiver();
    await w.register(r, ['ACTION_LOGGED'], { objectTypes: [type] });
    const LOG_ACTIONS = 'mutation LogActions($inputs: [LogActionInput!]!) { logActions(inputs: $inputs) { id } }';
    const input = (id: string) => ({ actor: { type: 'Bot', id: 'b' }, verb: 'built', targets: [{ type, id }], groupingDelay: -1 });
    const batch = (await t.ok(LOG_ACTIONS, { inputs: [input('1'), input('2'), input('3')] }, w.service)).logActions.map((x: { id: string }) => x.id);
    const key = uniqueId('key');
    const keyed = await a.logAction({ ...input('4'), idempotencyKey: key });
    expect((await a.logAction({ ...input('4'), idempotencyKey: key })).id).toBe(keyed.id); // a repeat: no second event
    const user = uniqueId('u');
    await a.track({ owner: user, object: { type, id: '5' }, log: true });
    await t.ok('mutation Untrack($input: UntrackInput!) { untrack(input: $input) { id } }', { input: { owner: user, object: { type, id: '5' }, log: true } }, w.service);
    await r.waitFor(() => r.events().length >= 6, 20_000);
    await new Promise((res) => setTimeout(res, 1_000));
    const logged = r.events().map((e) => e.data.action);
    expect(logged.filter((x) => x.verb === 'built').map((x) => x.id).sort()).toEqual([...batch, keyed.id].sort());
    expect(logged.filter((x) => x.verb !== 'built').map((x) => x.verb).sort()).toEqual(['started tracking', 'stopped tracking']);
  }, 40_000);

  it('writes no event when the action\u2019s transaction fails at commit, and no action when the outbox write fails', async () => {
    const type = uniqueId('Doc');
    const r = await receiver();
    const hook = await w.register(r, ['ACTION_LOGGED', 'FEED_ENTRY_ADDED'], { objectTypes: [type] });
    const user = uniqueId('u');
    await a.track({ object: { type, id: 'd1' }, actorOnly: false, owner: user });
    const em = t.app.orm.em.fork();
    // Fails at COMMIT, after the outbox rows were written in the same transaction.
    await em.execute(`create or replace function test_fail_at_commit() returns trigger language plpgsql as
      $$ begin raise exception 'injected failure at commit'; end $$`);
    await em.execute(`create constraint trigger test_fail_at_commit after insert on activity_action
      deferrable initially deferred for each row when (new.verb = 'explode-at-commit') execute function test_fail_at_commit()`);
    // Fails inside the outbox statement itself.
    await em.execute(`create or replace function test_fail_outbox() returns trigger language plpgsql as
      $$ begin if new.payload->'action'->>'verb' = 'explode-in-outbox' then raise exception 'injected outbox failure'; end if; return new; end $$`);
    await em.execute(`create trigger test_fail_outbox before insert on webhook_delivery for each row execute function test_fail_outbox()`);
    try {
      for (const verb of ['explode-at-commit', 'explode-in-outbox']) {
        const result = await t.gql(
          `mutation Log($input: LogActionInput!) { logAction(input: $input) { id } }`,
          { input: { actor: { type: 'User', id: 'x' }, verb, targets: [{ type, id: 'd1' }] } },
          w.service,
        );
        expect(result.errors?.[0]?.extensions?.['code']).toBe('INTERNAL_SERVER_ERROR');
      }
      await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'fine', targets: [{ type, id: 'd1' }] });
      await r.waitFor(() => r.events().length >= 2);
      await new Promise((res) => setTimeout(res, 500));
      expect(r.events().map((e) => `${e.type}:${e.data.action.verb}`).sort()).toEqual(['ACTION_LOGGED:fine', 'FEED_ENTRY_ADDED:fine']);
      expect((await w.deliveries(hook.id)).map((d) => d.payload.action.verb)).toEqual(['fine', 'fine']);
      expect((await a.feed(user)).edges.map((e) => e.node.verb)).toEqual(['fine']);
    } finally {
      await em.execute(`drop trigger test_fail_at_commit on activity_action`);
      await em.execute(`drop trigger test_fail_outbox on webhook_delivery`);
    }
  }, 30_000);
});

describe('retries, failure and batching', () => {
  it('retries with exponential backoff under the same webhook-id until the receiver accepts', async () => {
    const type = uniqueId('Doc');
    const r = await receiver();
    r.respond = (_req, i) => (i < 2 ? { status: 500, body: 'receiver down '.repeat(100) } : { status: 204 });
    const hook = await w.register(r, ['ACTION_LOGGED'], { objectTypes: [type] });
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'v', targets: [{ type, id: '1' }] });
    await r.waitFor(() => r.requests.length >= 3);
    expect(new Set(r.requests.map((q) => q.webhookId)).size).toBe(1);
    expect(r.requests.every((q) => q.verified)).toBe(true);
    // Backoff: base 300 ms then 600 ms, each at least half of that (equal jitter).
    expect(r.requests[1]!.at - r.requests[0]!.at).toBeGreaterThanOrEqual(150);
    expect(r.requests[2]!.at - r.requests[1]!.at).toBeGreaterThanOrEqual(300);
    await w.waitUntil(async () => (await w.deliveries(hook.id, 'DELIVERED')).length === 1);
    const [d] = await w.deliveries(hook.id);
    expect(d).toMatchObject({ status: 'DELIVERED', attempts: 3, lastStatusCode: 204, lastError: null, messageId: r.requests[0]!.webhookId });
  }, 30_000);

  it("a receiver that does not answer holds only its own request: another webhook's events arrive meanwhile", async () => {
    const type = uniqueId('Doc');
    const stuck = await receiver();
    stuck.respond = () => ({ status: 204, delayMs: 60_000 }); // answers after the response timeout (1.5 s here)
    const quick = await receiver();
    await w.register(stuck, ['ACTION_LOGGED'], { objectTypes: [type] });
    await w.register(quick, ['ACTION_LOGGED'], { objectTypes: [`${type}-quick`] });
    // More of its events than there are request slots (8), each its own request while the earlier ones hang: the
    // silent webhook gets at most half the slots.
    for (let i = 0; i < 8; i++) {
      await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'v', targets: [{ type, id: String(i) }], groupingDelay: -1 });
      await new Promise((res) => setTimeout(res, 120));
    }
    await stuck.waitFor(() => stuck.requests.length >= 1);
    expect(stuck.requests.filter((q) => !q.answered).length).toBeLessThanOrEqual(4);
    // While that request is open: three events for the other webhook, one after the other.
    const latencies: number[] = [];
    for (let i = 0; i < 3; i++) {
      const sent = Date.now();
      await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'v', targets: [{ type: `${type}-quick`, id: String(i) }] });
      await quick.waitFor(() => quick.events().length === i + 1, 5_000);
      latencies.push(Date.now() - sent);
    }
    // The first request is still waiting for its answer: the others did not queue behind it (before: each waited
    // for it, up to the 1.5 s response timeout).
    expect(stuck.requests[0]!.answered).toBe(false);
    expect(Math.max(...latencies)).toBeLessThan(1_000);
  }, 30_000);

  it('marks a delivery FAILED after WEBHOOK_MAX_ATTEMPTS (timeouts, 500s, redirects) and retryWebhookDelivery sends it again', async () => {
    const type = uniqueId('Doc');
    const r = await receiver();
    // A slow answer (past the response timeout), a redirect (not followed), a 500.
    r.respond = (_req, i) => [{ status: 200, delayMs: 3_000 }, { status: 302 }, { status: 500 }][i] ?? { status: 200 };
    const hook = await w.register(r, ['ACTION_LOGGED'], { objectTypes: [type] });
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'v', targets: [{ type, id: '1' }] });
    await w.waitUntil(async () => (await w.deliveries(hook.id, 'FAILED')).length === 1, 30_000);
    const [failed] = await w.deliveries(hook.id);
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 3, lastStatusCode: 500 });
    expect(failed.lastError.length).toBeLessThanOrEqual(200);
    expect(r.requests).toHaveLength(3);

    const again = await t.ok(`mutation Retry($id: ID!) { retryWebhookDelivery(id: $id) { status attempts } }`, { id: failed.id }, w.service);
    expect(again.retryWebhookDelivery).toEqual({ status: 'PENDING', attempts: 0 });
    await w.waitUntil(async () => (await w.deliveries(hook.id, 'DELIVERED')).length === 1);
    expect(r.requests).toHaveLength(4);
    expect(new Set(r.requests.map((q) => q.webhookId)).size).toBe(1);

    const notFailed = await t.gql(`mutation Retry($id: ID!) { retryWebhookDelivery(id: $id) { status } }`, { id: failed.id }, w.service);
    expect(notFailed.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  }, 60_000);

  it('a request whose first event eraseUser deleted still sends the others (their webhook-id unchanged), pending or retried', async () => {
    for (const failFirst of [false, true]) {
      const type = uniqueId('Room');
      const r = await receiver();
      // The first attempt fails (500): its two events now form one request, retried after a backoff, and (second
      // round) marked FAILED after WEBHOOK_MAX_ATTEMPTS, then retried by hand.
      let fail = true;
      r.respond = () => (fail ? { status: 500 } : { status: 204 });
      const hook = await w.register(r, ['FEED_ENTRY_ADDED'], { objectTypes: [type] });
      const victim = `a-${uniqueId('victim')}`; // sorts first: its row is the request's first
      const other = `z-${uniqueId('other')}`;
      for (const owner of [victim, other]) await a.track({ object: { type, id: 'x' }, owner, actorOnly: false });
      await a.logAction({ actor: { type: 'Bot', id: 'b' }, verb: 'posted', targets: [{ type, id: 'x' }] });
      await w.waitUntil(async () => r.requests.length >= 1);
      if (failFirst) await w.waitUntil(async () => (await w.deliveries(hook.id, 'FAILED')).length === 2, 30_000);
      await t.ok(`mutation Erase($u: ID!) { eraseUser(user: $u, actions: TOMBSTONE) { user } }`, { u: victim }, w.service);
      fail = false;
      const left = await w.deliveries(hook.id);
      expect(left).toHaveLength(1);
      expect(left[0].payload.user).toBe(other);
      if (failFirst) await t.ok(`mutation Retry($id: ID!) { retryWebhookDelivery(id: $id) { status } }`, { id: left[0].id }, w.service);
      await w.waitUntil(async () => (await w.deliveries(hook.id, 'DELIVERED')).length === 1, 20_000);
      const delivered = r.requests.filter((q) => q.status === 204);
      expect(delivered).toHaveLength(1);
      expect(delivered[0]!.events.map((e) => (e.data as { user: string }).user)).toEqual([other]);
      expect(new Set(r.requests.map((q) => q.webhookId)).size).toBe(1);
      await w.cleanup();
    }
  }, 90_000);

  it.each(['8', '3'])('receivers that never answer do not starve a healthy webhook (WEBHOOK_CONCURRENCY %s)', async (concurrency) => {
    // Batches of 5: each silent receiver's backlog is several requests, each holding its slot until the response
    // timeout (1.5 s here). 8 is the default; with 3, one slot is still kept for webhooks with nothing in flight.
    const f = await startTestApp({ ...FAST_WEBHOOKS, WEBHOOK_BATCH_SIZE: '5', WEBHOOK_RESPONSE_TIMEOUT_MS: '1500', WEBHOOK_CONCURRENCY: concurrency });
    try {
      const fw = webhookHelpers(f);
      const fa = activityHelpers(f);
      const silentType = uniqueId('Silent');
      const healthyType = uniqueId('Healthy');
      const silent = [await receiver(), await receiver()];
      for (const r of silent) {
        r.respond = () => ({ status: 200, delayMs: 10_000 });
        await fw.register(r, ['ACTION_LOGGED'], { objectTypes: [silentType] });
      }
      const healthy = await receiver();
      await fw.register(healthy, ['ACTION_LOGGED'], { objectTypes: [healthyType] });
      for (let i = 0; i < 40; i++) await fa.logAction({ actor: { type: 'Bot', id: 'b' }, verb: `s${i}`, targets: [{ type: silentType, id: 'x' }], groupingDelay: -1 });
      await new Promise((r) => setTimeout(r, 500)); // the silent receivers' requests take the slots
      const sent: number[] = [];
      for (let i = 0; i < 5; i++) {
        sent.push(Date.now());
        await fa.logAction({ actor: { type: 'Bot', id: 'b' }, verb: `h${i}`, targets: [{ type: healthyType, id: 'y' }], groupingDelay: -1 });
        await new Promise((r) => setTimeout(r, 300));
      }
      await healthy.waitFor(() => healthy.events().length === 5, 20_000);
      const latencies = healthy.requests.flatMap((q) => q.events.map((e) => q.at - sent[Number(e.data.action.verb.slice(1))]!));
      // Well under the silent receivers' timeout: the healthy webhook never waited for their slots.
      expect(Math.max(...latencies), JSON.stringify(latencies)).toBeLessThan(1_000);
      await fw.cleanup();
    } finally {
      await f.stop();
    }
  }, 60_000);

  it('batches a burst: 300 feed entries in a few requests, each event once', async () => {
    const type = uniqueId('Doc');
    const r = await receiver();
    await w.register(r, ['FEED_ENTRY_ADDED'], { objectTypes: [type] });
    const users = Array.from({ length: 300 }, (_, i) => `${type}-user-${i}`);
    for (const owner of users) await a.track({ objectType: type, owner, actorOnly: false });
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'posted', targets: [{ type, id: 'big' }] });
    await r.waitFor(() => r.events().length >= 300);
    expect(r.requests.length).toBeLessThanOrEqual(8);
    expect(r.requests.every((q) => q.verified && q.events.length <= 50)).toBe(true);
    expect(new Set(r.events().map((e) => e.data.user))).toEqual(new Set(users));
    expect(r.events()).toHaveLength(300);
  }, 120_000);

  it('updateWebhook pauses (no events written) and resumes, changes filters; pages of deliveries; deleteWebhook drops its rows', async () => {
    const type = uniqueId('Doc');
    const r = await receiver();
    const hook = await w.register(r, ['ACTION_LOGGED'], { objectTypes: [type] });
    const paused = await t.ok(
      `mutation Pause($id: ID!) { updateWebhook(id: $id, active: false) { active events filter { objectTypes verbs } } }`,
      { id: hook.id },
      w.service,
    );
    expect(paused.updateWebhook).toEqual({ active: false, events: ['ACTION_LOGGED'], filter: { objectTypes: [type], verbs: null } });
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'while-paused', targets: [{ type, id: '1' }] });
    expect(await w.deliveries(hook.id)).toHaveLength(0); // inactive: no event written
    await t.ok(`mutation Resume($id: ID!) { updateWebhook(id: $id, active: true) { active } }`, { id: hook.id }, w.service);
    for (let i = 0; i < 5; i++) await a.logAction({ actor: { type: 'User', id: 'x' }, verb: `v${i}`, targets: [{ type, id: String(i) }] });
    await r.waitFor(() => r.events().length >= 5);
    expect(r.events().map((e) => e.data.action.verb).sort()).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);

    // Pages: newest first, keyset cursors.
    const first = await t.ok(
      `query Page($w: ID!, $after: String) { webhookDeliveries(webhook: $w, first: 2, after: $after) { edges { cursor node { payload } } pageInfo { hasNextPage endCursor } } }`,
      { w: hook.id },
      w.service,
    );
    expect(first.webhookDeliveries.edges.map((e: any) => e.node.payload.action.verb)).toEqual(['v4', 'v3']);
    expect(first.webhookDeliveries.pageInfo.hasNextPage).toBe(true);
    const second = await t.ok(
      `query Page($w: ID!, $after: String) { webhookDeliveries(webhook: $w, first: 5, after: $after) { edges { node { payload } } pageInfo { hasNextPage } } }`,
      { w: hook.id, after: first.webhookDeliveries.pageInfo.endCursor },
      w.service,
    );
    expect(second.webhookDeliveries.edges.map((e: any) => e.node.payload.action.verb)).toEqual(['v2', 'v1', 'v0']);
    expect(second.webhookDeliveries.pageInfo.hasNextPage).toBe(false);
    const badCursor = await t.gql(`query Page($w: ID!) { webhookDeliveries(webhook: $w, after: "nope") { edges { cursor } } }`, { w: hook.id }, w.service);
    expect(badCursor.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');

    // A filter change applies to the next events.
    await t.ok(`mutation Refilter($id: ID!, $f: WebhookFilterInput) { updateWebhook(id: $id, filter: $f) { id } }`, { id: hook.id, f: { objectTypes: [type], verbs: ['kept'] } }, w.service);
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'dropped', targets: [{ type, id: '9' }] });
    await a.logAction({ actor: { type: 'User', id: 'x' }, verb: 'kept', targets: [{ type, id: '9' }] });
    await r.waitFor(() => r.events().length >= 6);
    await new Promise((res) => setTimeout(res, 500));
    expect(r.events().map((e) => e.data.action.verb).slice(5)).toEqual(['kept']);
    // Omitted, the filter is kept; null clears it (as remindAfter: null does).
    const FILTER = `mutation Refilter($id: ID!, $f: WebhookFilterInput) { updateWebhook(id: $id, filter: $f) { filter { objectTypes verbs } } }`;
    expect((await t.ok(`mutation Keep($id: ID!) { updateWebhook(id: $id, active: true) { filter { objectTypes verbs } } }`, { id: hook.id }, w.service)).updateWebhook.filter).toEqual({ objectTypes: [type], verbs: ['kept'] });
    expect((await t.ok(FILTER, { id: hook.id, f: null }, w.service)).updateWebhook.filter).toEqual({ objectTypes: null, verbs: null });
    await t.ok(FILTER, { id: hook.id, f: { objectTypes: [type] } }, w.service);

    // Retention: delivered rows older than RETENTION_WEBHOOK_DAYS go; pending and recent ones stay.
    const em = t.app.orm.em.fork();
    await em.execute(`update webhook_delivery set delivered_at = now() - interval '8 days' where id = (select min(id) from webhook_delivery where status = 'DELIVERED')`);
    expect(await t.app.services.webhooks.worker.retention()).toBe(1);
    expect(await w.deliveries(hook.id)).toHaveLength(5);

    await t.ok(`mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }`, { id: hook.id }, w.service);
    const gone = await t.gql(`query Page($w: ID!) { webhookDeliveries(webhook: $w) { edges { cursor } } }`, { w: hook.id }, w.service);
    expect(gone.errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
    const left = await em.execute(`select count(*)::int as n from webhook_delivery where payload->'action'->>'verb' in ('v0','v1','v2','v3','v4','kept')`);
    expect(Number(left[0]!['n'])).toBe(0);
  }, 60_000);
});
