import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

/** `track` creates or modifies a tracker, as actrack's `track` (issue 10 item 2, issue 11 item 14). */

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

const UNTRACK = `mutation($input: UntrackInput!) { untrack(input: $input) { id verbs actorOnly } }`;
const TRACKING_ACTIONS = `query($a: ObjectRefInput) { actions(actor: $a, verbs: ["started tracking", "stopped tracking"]) { edges { node { verb } } } }`;

async function trackingVerbs(user: string): Promise<string[]> {
  const data = await t.ok<{ actions: { edges: Array<{ node: { verb: string } }> } }>(TRACKING_ACTIONS, { a: { type: 'User', id: user } }, h.service);
  return data.actions.edges.map((e) => e.node.verb).reverse();
}

describe('track creates or modifies', () => {
  it('on an existing tracker, verbs replace the verb set; omitted verbs mean every verb', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Doc', id: uniqueId('d') };
    const first = await h.track({ owner: user, object: obj, verbs: ['edited', 'viewed'] });
    const replaced = await h.track({ owner: user, object: obj, verbs: ['deleted'] });
    expect(replaced.id).toBe(first.id);
    expect(replaced.verbs).toEqual(['deleted']);
    const all = await h.track({ owner: user, object: obj });
    expect(all.id).toBe(first.id);
    expect(all.verbs).toBeNull();
    const again = await h.track({ owner: user, object: obj, verbs: ['edited'] });
    expect(again.verbs).toEqual(['edited']);
  });

  it('an empty verb list means every verb, as actrack (to_set([]) is empty): track follows them all, untrack removes the tracker', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Doc', id: uniqueId('d') };
    const created = await h.track({ owner: user, object: obj, verbs: [], actorOnly: false });
    expect(created.verbs).toBeNull();
    await h.logAction({ actor: { type: 'Bot', id: 'b' }, verb: 'anything', targets: [obj], groupingDelay: -1 });
    expect(await h.unreadCount(user)).toBe(1);
    const narrowed = await h.track({ owner: user, object: obj, verbs: ['edited'] });
    expect([narrowed.id, narrowed.verbs]).toEqual([created.id, ['edited']]);
    const widened = await h.track({ owner: user, object: obj, verbs: [] });
    expect([widened.id, widened.verbs]).toEqual([created.id, null]);
    // untrack with an empty list: every verb, so a tracker of some verbs is deleted, like one of all verbs.
    await h.track({ owner: user, object: obj, verbs: ['a'] });
    expect((await t.ok<{ untrack: unknown }>(UNTRACK, { input: { owner: user, object: obj, verbs: [] } }, h.service)).untrack).toBeNull();
    const other = { type: 'Doc', id: uniqueId('d') };
    await h.track({ owner: user, object: other });
    expect((await t.ok<{ untrack: unknown }>(UNTRACK, { input: { owner: user, object: other, verbs: [] } }, h.service)).untrack).toBeNull();
    const left = await t.ok<{ trackers: unknown[] }>(`query($u: ID) { trackers(user: $u) { id } }`, { u: user }, h.service);
    expect(left.trackers).toEqual([]);
  });

  it('actorOnly changes only when given; a new tracker defaults to true', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Doc', id: uniqueId('d') };
    expect((await h.track({ owner: user, object: obj, verbs: ['a'] })).actorOnly).toBe(true);
    expect((await h.track({ owner: user, object: obj, verbs: ['a'], actorOnly: false })).actorOnly).toBe(false);
    // Issue 11 item 14: merging (now replacing) verbs must not turn the tracker actor-only.
    const changedVerbs = await h.track({ owner: user, object: obj, verbs: ['a', 'b'] });
    expect(changedVerbs.actorOnly).toBe(false);
    expect((await h.track({ owner: user, object: obj })).actorOnly).toBe(false);
    expect((await h.track({ owner: user, object: obj, actorOnly: true })).actorOnly).toBe(true);
    const other = { type: 'Doc', id: uniqueId('d') };
    expect((await h.track({ owner: user, object: other, actorOnly: false })).actorOnly).toBe(false);
    // The tracker's matching follows: as target it is matched since actorOnly stayed false.
    const user2 = uniqueId('u');
    await h.track({ owner: user2, object: obj, actorOnly: false });
    await h.track({ owner: user2, object: obj, verbs: ['commented'] });
    const action = await h.logAction({ actor: { type: 'User', id: 'someone' }, verb: 'commented', targets: [obj], groupingDelay: -1 });
    expect(await h.feedIds(user2)).toContain(action.id);
  });

  it('log: true logs "started tracking" only when created, "stopped tracking" only when deleted', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Doc', id: uniqueId('d') };
    await h.track({ owner: user, object: obj, verbs: ['a', 'b'], log: true });
    await h.track({ owner: user, object: obj, verbs: ['a', 'b', 'c'], log: true });
    expect(await trackingVerbs(user)).toEqual(['started tracking']);
    await t.ok(UNTRACK, { input: { owner: user, object: obj, verbs: ['a'], log: true } }, h.service);
    expect(await trackingVerbs(user)).toEqual(['started tracking']);
    const gone = await t.ok<{ untrack: unknown }>(UNTRACK, { input: { owner: user, object: obj, log: true } }, h.service);
    expect(gone.untrack).toBeNull();
    expect(await trackingVerbs(user)).toEqual(['started tracking', 'stopped tracking']);
  });
});

describe('track(log: true) and untrack(log: true) are charged as logged actions (RATE_LIMIT_ACTIONS)', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await startTestApp({ RATE_LIMIT_ACTIONS: '2', RATE_LIMIT_WINDOW_SECONDS: '60' });
  });
  afterAll(async () => {
    await limited?.stop();
  });

  const TRACK = `mutation($i: TrackInput!) { track(input: $i) { id } }`;

  it('aliased track(log: true) in one request: two pass, the third is refused and leaves nothing behind', async () => {
    const userId = uniqueId('u');
    const token = await limited.userToken(userId);
    const objs = [0, 1, 2].map((i) => ({ type: 'Doc', id: `${userId}-${i}` }));
    const result = await limited.gql(
      `mutation($a: TrackInput!, $b: TrackInput!, $c: TrackInput!) {
         a: track(input: $a) { id } b: track(input: $b) { id } c: track(input: $c) { id } }`,
      { a: { object: objs[0], log: true }, b: { object: objs[1], log: true }, c: { object: objs[2], log: true } },
      { token },
    );
    const codes = (result.errors ?? []).map((e) => e.extensions?.['code']);
    expect(codes).toEqual(['RATE_LIMITED']);
    const trackers = await limited.ok<{ trackers: Array<{ object: { id: string } }> }>(`query { trackers { object { id } } }`, {}, { token });
    expect(trackers.trackers).toHaveLength(2);
    const logged = await limited.ok<{ actions: { edges: unknown[] } }>(
      `query($a: ObjectRefInput) { actions(actor: $a) { edges { node { id } } } }`,
      { a: { type: 'User', id: userId } },
      { token: limited.serviceToken },
    );
    expect(logged.actions.edges).toHaveLength(2);
    // Without log, tracking is not a logged action and is not charged.
    await limited.ok(TRACK, { i: { object: objs[2] } }, { token });
  });

  it('logAction and untrack(log: true) share the budget; modifying a tracker logs nothing and is not charged', async () => {
    const userId = uniqueId('u');
    const token = await limited.userToken(userId);
    const obj = { type: 'Doc', id: `${userId}-x` };
    await limited.ok(TRACK, { i: { object: obj, verbs: ['a', 'b'] } }, { token });
    await limited.ok(`mutation($i: LogActionInput!) { logAction(input: $i) { id } }`, { i: { actor: { type: 'User', id: userId }, verb: 'did' } }, { token });
    // Modifies: logs nothing, so nothing is charged even with log: true.
    for (let i = 0; i < 3; i++) await limited.ok(TRACK, { i: { object: obj, verbs: ['a'], log: true } }, { token });
    // Removing some verbs keeps the tracker: nothing logged, nothing charged.
    await limited.ok(TRACK, { i: { object: obj, verbs: ['a', 'b'] } }, { token });
    await limited.ok(UNTRACK, { input: { object: obj, verbs: ['b'], log: true } }, { token });
    const other = { type: 'Doc', id: `${userId}-y` };
    await limited.ok(TRACK, { i: { object: other, log: true } }, { token });
    await limited.ok(TRACK, { i: { object: { type: 'Doc', id: `${userId}-z` } } }, { token });
    const refused = await limited.gql(UNTRACK, { input: { object: { type: 'Doc', id: `${userId}-z` }, log: true } }, { token });
    expect(refused.errors?.[0]?.extensions?.['code']).toBe('RATE_LIMITED');
    // The refused untrack changed nothing.
    const trackers = await limited.ok<{ trackers: Array<{ object: { id: string } }> }>(`query { trackers { object { id } } }`, {}, { token });
    expect(trackers.trackers.map((tr) => tr.object.id)).toContain(`${userId}-z`);
  });
});
