import { describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

const noGroup = { groupingDelay: -1 };

describe('tracker rules', () => {
  it('an object tracker (actorOnly default true) matches actions whose actor is the object, not as target', async () => {
    const user = uniqueId('u');
    const train = { type: 'Train', id: uniqueId('train') };
    await h.track({ owner: user, object: train });
    const asActor = await h.logAction({ actor: train, verb: 'left', ...noGroup });
    const asTarget = await h.logAction({ actor: { type: 'Station', id: 's1' }, verb: 'welcomed', targets: [train], ...noGroup });
    const ids = await h.feedIds(user);
    expect(ids).toContain(asActor.id);
    expect(ids).not.toContain(asTarget.id);
  });

  it('actorOnly: false also matches targets and related objects', async () => {
    const user = uniqueId('u');
    const train = { type: 'Train', id: uniqueId('train') };
    await h.track({ owner: user, object: train, actorOnly: false });
    const a1 = await h.logAction({ actor: { type: 'Station', id: 's1' }, verb: 'welcomed', targets: [train], ...noGroup });
    const a2 = await h.logAction({ actor: { type: 'Station', id: 's2' }, verb: 'saw', related: [train], ...noGroup });
    const a3 = await h.logAction({ actor: train, verb: 'left', ...noGroup });
    const other = await h.logAction({ actor: { type: 'Station', id: 's2' }, verb: 'saw', related: [{ type: 'Train', id: 'x' }], ...noGroup });
    const ids = await h.feedIds(user);
    expect(ids).toEqual([a3.id, a2.id, a1.id]);
    expect(ids).not.toContain(other.id);
  });

  it('a type tracker matches every object of the type (as actor; as target with actorOnly false)', async () => {
    const user1 = uniqueId('u');
    const user2 = uniqueId('u');
    const type = `Ship${uniqueId('').replace('-', '')}`;
    await h.track({ owner: user1, objectType: type });
    await h.track({ owner: user2, objectType: type, actorOnly: false });
    const asActor = await h.logAction({ actor: { type, id: '1' }, verb: 'sailed', ...noGroup });
    const asTarget = await h.logAction({ actor: { type: 'Port', id: 'p' }, verb: 'docked', targets: [{ type, id: '2' }], ...noGroup });
    expect(await h.feedIds(user1)).toEqual([asActor.id]);
    expect(await h.feedIds(user2)).toEqual([asTarget.id, asActor.id]);
  });

  it('verbs limit the tracker; tracking again replaces verbs; untrack removes verbs, then the tracker', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Doc', id: uniqueId('d') };
    const first = await h.track({ owner: user, object: obj, verbs: ['edited'] });
    expect(first.verbs).toEqual(['edited']);
    const merged = await h.track({ owner: user, object: obj, verbs: ['deleted', 'edited'] });
    expect(merged.id).toBe(first.id);
    expect([...merged.verbs].sort()).toEqual(['deleted', 'edited']);

    const edited = await h.logAction({ actor: obj, verb: 'edited', ...noGroup });
    const viewed = await h.logAction({ actor: obj, verb: 'viewed', ...noGroup });
    const ids = await h.feedIds(user);
    expect(ids).toContain(edited.id);
    expect(ids).not.toContain(viewed.id);

    const untrack = `mutation($input: UntrackInput!) { untrack(input: $input) { id verbs } }`;
    const partial = await t.ok(untrack, { input: { owner: user, object: obj, verbs: ['edited'] } }, h.service);
    expect(partial.untrack).toEqual({ id: first.id, verbs: ['deleted'] });
    const gone = await t.ok(untrack, { input: { owner: user, object: obj, verbs: ['deleted'] } }, h.service);
    expect(gone.untrack).toBeNull();
    // actrack's untrack of an object the user does not track does nothing: no error, nothing logged.
    const again = await t.ok(`mutation($input: UntrackInput!) { untrack(input: $input) { id } }`, { input: { owner: user, object: obj, log: true } }, h.service);
    expect(again.untrack).toBeNull();
    const logged = await t.ok(`query($o: ObjectRefInput!) { actions(involving: $o, verbs: ["stopped tracking"]) { edges { node { id } } } }`, { o: obj }, h.service);
    expect(logged.actions.edges).toEqual([]);
  });

  it('a feed follows the current trackers: past actions enter as read, untrack removes them (actrack feed())', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Doc', id: uniqueId('d') };
    const before = await h.logAction({ actor: obj, verb: 'edited', ...noGroup });
    await h.track({ owner: user, object: obj });
    const during = await h.logAction({ actor: obj, verb: 'edited', ...noGroup });
    const nodes = (await h.feed(user)).edges.map((e) => [e.node.id, e.node.unread]);
    expect(nodes).toEqual([
      [during.id, true],
      [before.id, false],
    ]);
    expect(await h.unreadCount(user)).toBe(1);
    await t.ok(`mutation($i: UntrackInput!) { untrack(input: $i) { id } }`, { i: { owner: user, object: obj } }, h.service);
    const after = await h.logAction({ actor: obj, verb: 'edited', ...noGroup });
    expect(await h.feedIds(user)).toEqual([]);
    expect(await h.unreadCount(user)).toBe(0);
    expect(after.id).not.toBe(during.id);
  });

  it('track with log: true logs "started tracking"; trackers and trackersOf list them', async () => {
    const user = uniqueId('u');
    const watcher = uniqueId('w');
    const userType = t.app.config.userType;
    const obj = { type: 'Doc', id: uniqueId('d'), label: 'Plan' };
    // The watcher follows the user, so the user's "started tracking" action reaches the watcher.
    await h.track({ owner: watcher, object: { type: userType, id: user } });
    await h.track({ owner: user, object: obj, log: true });
    const watcherFeed = await h.feed(watcher);
    expect(watcherFeed.edges[0]?.node).toMatchObject({
      verb: 'started tracking',
      actor: { type: userType, id: user },
      targets: [{ type: 'Doc', id: obj.id, label: 'Plan' }],
    });
    const token = await t.userToken(user);
    const mine = await t.ok(`{ trackers { objectType object { id label } owner } }`, {}, { token });
    expect(mine.trackers).toEqual([{ objectType: 'Doc', object: { id: obj.id, label: 'Plan' }, owner: user }]);
    const of = await t.ok(`query($o: ObjectRefInput!) { trackersOf(object: $o) { owner } }`, { o: obj }, h.service);
    expect(of.trackersOf).toEqual([{ owner: user }]);
  });

  it('bad tracker input: both or neither of object/objectType, empty verbs', async () => {
    const track = `mutation($i: TrackInput!) { track(input: $i) { id } }`;
    const both = await t.gql(track, { i: { owner: 'x', object: { type: 'A', id: '1' }, objectType: 'A' } }, h.service);
    expect(both.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const neither = await t.gql(track, { i: { owner: 'x' } }, h.service);
    expect(neither.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const emptyVerb = await t.gql(track, { i: { owner: 'x', objectType: 'A', verbs: [' '] } }, h.service);
    expect(emptyVerb.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const noOwner = await t.gql(track, { i: { objectType: 'A' } }, h.service);
    expect(noOwner.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const trackers = await t.ok(`{ trackers(user: "x") { id } }`, {}, h.service);
    expect(trackers.trackers).toEqual([]);
  });
});

describe('feed', () => {
  it('is newest first with stable cursors, filters, matchedTrackers', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Board', id: uniqueId('b') };
    const tracker = await h.track({ owner: user, object: obj, actorOnly: false });
    const logged: string[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await h.logAction({ actor: obj, verb: i % 2 ? 'odd' : 'even', level: i === 4 ? 'WARNING' : 'INFO', ...noGroup });
      logged.unshift(a.id);
    }
    const page1 = await h.feed(user, { first: 2 });
    expect(page1.edges.map((e) => e.node.id)).toEqual(logged.slice(0, 2));
    expect(page1.pageInfo.hasNextPage).toBe(true);
    // A new action does not shift the next page (keyset cursor).
    await h.logAction({ actor: obj, verb: 'even', ...noGroup });
    const page2 = await h.feed(user, { first: 2, after: page1.pageInfo.endCursor });
    expect(page2.edges.map((e) => e.node.id)).toEqual(logged.slice(2, 4));
    const page3 = await h.feed(user, { first: 2, after: page2.pageInfo.endCursor });
    expect(page3.edges.map((e) => e.node.id)).toEqual(logged.slice(4));
    expect(page3.pageInfo.hasNextPage).toBe(false);

    expect((await h.feed(user, { verbs: ['odd'] })).edges).toHaveLength(2);
    expect((await h.feed(user, { minLevel: 'WARNING' })).edges.map((e) => e.node.id)).toEqual([logged[0]]);
    expect(page1.edges[0]!.node.matchedTrackers).toEqual([{ id: tracker.id, objectType: 'Board' }]);

    const bad = await t.gql(`{ feed(user: "x", after: "nonsense") { edges { cursor } } }`, {}, h.service);
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('actions(actor|target|related|involving) are actrack accessors', async () => {
    const a = { type: 'Person', id: uniqueId('p') };
    const b = { type: 'Person', id: uniqueId('p') };
    const x1 = await h.logAction({ actor: a, verb: 'met', targets: [b], ...noGroup });
    const x2 = await h.logAction({ actor: b, verb: 'called', related: [a], ...noGroup });
    const x3 = await h.logAction({ actor: b, verb: 'slept', ...noGroup });
    const q = `query($actor: ObjectRefInput, $target: ObjectRefInput, $related: ObjectRefInput, $involving: ObjectRefInput, $verbs: [String!]) {
      actions(actor: $actor, target: $target, related: $related, involving: $involving, verbs: $verbs) { edges { node { id } } } }`;
    const ids = async (vars: Record<string, unknown>) =>
      (await t.ok(q, vars, h.service)).actions.edges.map((e: any) => e.node.id);
    expect(await ids({ actor: b })).toEqual([x3.id, x2.id]);
    expect(await ids({ target: b })).toEqual([x1.id]);
    expect(await ids({ related: a })).toEqual([x2.id]);
    expect(await ids({ involving: a })).toEqual([x2.id, x1.id]);
    expect(await ids({ involving: b, verbs: ['met', 'slept'] })).toEqual([x3.id, x1.id]);
  });
});

describe('logAction input', () => {
  it('rejects empty verbs, oversized data, users acting as someone else; stores nothing', async () => {
    const user = uniqueId('u');
    const actor = { type: 'Thing', id: uniqueId('thing') };
    await h.track({ owner: user, object: actor });
    const m = `mutation($i: LogActionInput!) { logAction(input: $i) { id } }`;
    const empty = await t.gql(m, { i: { actor, verb: '  ' } }, h.service);
    expect(empty.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const big = await t.gql(m, { i: { actor, verb: 'v', data: { blob: 'x'.repeat(20_000) } } }, h.service);
    expect(big.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const badRef = await t.gql(m, { i: { actor, verb: 'v', targets: [{ type: '', id: '1' }] } }, h.service);
    expect(badRef.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const token = await t.userToken(user);
    const impostor = await t.gql(m, { i: { actor, verb: 'v' } }, { token });
    expect(impostor.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anon = await t.gql(m, { i: { actor, verb: 'v' } });
    expect(anon.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await h.feedIds(user)).toEqual([]);
    expect(await h.unreadCount(user)).toBe(0);

    const self = await t.ok(m, { i: { actor: { type: t.app.config.userType, id: user }, verb: 'waved' } }, { token });
    expect(self.logAction.id).toBeTruthy();
  });
});

describe('logAction rate limit', () => {
  it('users are limited by RATE_LIMIT_ACTIONS per window; services are not', async () => {
    const limited = await startTestApp({ RATE_LIMIT_ACTIONS: '2' });
    try {
      const user = uniqueId('u');
      const token = await limited.userToken(user);
      const m = `mutation($i: LogActionInput!) { logAction(input: $i) { id } }`;
      const input = { actor: { type: limited.app.config.userType, id: user }, verb: 'clicked', groupingDelay: -1 };
      await limited.ok(m, { i: input }, { token });
      await limited.ok(m, { i: input }, { token });
      const third = await limited.gql(m, { i: input }, { token });
      expect(third.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      for (let i = 0; i < 3; i++) await limited.ok(m, { i: input }, { token: limited.serviceToken });
    } finally {
      await limited.stop();
    }
  });
});
