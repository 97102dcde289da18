import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type GraphQLResponse, type TestApp } from '../support/app.ts';
import { expectRefused, runWs, sleep } from './support.ts';

/**
 * Authorization abuse: a user (bob) trying every path into another user's (alice's) feed, trackers and
 * identity, anonymous callers on every non-public operation, users on service-only ones, and private
 * metrics. Each case asserts the refusal and, read back as a service, that nothing changed.
 */

const FEED = 'query($u: ID) { feed(user: $u) { edges { node { id unread } } } }';
const UNREAD = 'query($u: ID) { unreadCount(user: $u) }';
const TRACKERS = 'query($u: ID) { trackers(user: $u) { id objectType verbs } }';
const MARK_READ = 'mutation($ids: [ID!]!, $u: ID) { markRead(actionIds: $ids, user: $u) }';
const MARK_UNREAD = 'mutation($ids: [ID!]!, $u: ID) { markUnread(actionIds: $ids, user: $u) }';
const MARK_ALL = 'mutation($u: ID) { markAllRead(user: $u) }';
const TRACK = 'mutation($i: TrackInput!) { track(input: $i) { id owner verbs } }';
const UNTRACK = 'mutation($i: UntrackInput!) { untrack(input: $i) { id verbs } }';
const LOG = 'mutation($i: LogActionInput!) { logAction(input: $i) { id } }';
const ACTIONS = 'query($a: ObjectRefInput, $t: ObjectRefInput) { actions(actor: $a, target: $t) { edges { node { id } } } }';
const NODE = 'query($id: ID!) { node(id: $id) { id __typename } }';
const TRACKERS_OF = 'query($o: ObjectRefInput!) { trackersOf(object: $o) { id owner } }';

describe('cross-user access', () => {
  let t: TestApp;
  const alice = uniqueId('alice');
  const bob = uniqueId('bob');
  const itemType = `Item_${uniqueId('t').replace('-', '_')}`;
  const item = { type: itemType, id: 'i1' };
  let aliceToken: string;
  let bobToken: string;
  let actionIds: string[] = [];
  let aliceTrackerId: string;
  const service = () => ({ token: t.serviceToken });

  /** Everything about alice that bob must not be able to change, read as a service. */
  async function aliceState() {
    const data = await t.ok(`query($u: ID, $o: ObjectRefInput!, $a: ObjectRefInput) {
      feed(user: $u) { edges { node { id unread } } }
      unreadCount(user: $u)
      trackers(user: $u) { id objectType verbs actorOnly object { id } }
      trackersOf(object: $o) { id owner }
      actions(actor: $a) { edges { node { id } } }
    }`, { u: alice, o: item, a: { type: 'User', id: alice } }, service());
    return data;
  }

  beforeAll(async () => {
    t = await startTestApp();
    aliceToken = await t.userToken(alice);
    bobToken = await t.userToken(bob);
    aliceTrackerId = (await t.ok(TRACK, { i: { object: item, verbs: ['liked', 'shared'], actorOnly: false } }, { token: aliceToken })).track.id;
    await t.ok(TRACK, { i: { objectType: `${itemType}Other`, owner: alice } }, service());
    for (const verb of ['liked', 'shared', 'liked']) {
      await t.ok(LOG, { i: { actor: { type: 'Robot', id: uniqueId('r') }, verb, targets: [item], groupingDelay: -1 } }, service());
    }
    actionIds = (await t.ok(FEED, {}, { token: aliceToken })).feed.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(actionIds).toHaveLength(3);
    // One of alice's actions is read, so that markUnread has something to flip.
    expect((await t.ok(MARK_READ, { ids: [actionIds[0]] }, { token: aliceToken })).markRead).toBe(1);
  });
  afterAll(async () => t?.stop());

  async function refusedWithoutChange(result: Promise<GraphQLResponse>, code: string, message?: RegExp) {
    const before = await aliceState();
    expectRefused(await result, code, message);
    expect(await aliceState()).toEqual(before);
  }

  it('bob cannot read alice’s feed', async () => {
    await refusedWithoutChange(t.gql(FEED, { u: alice }, { token: bobToken }), 'FORBIDDEN', /own feed/);
  });

  it('bob cannot read alice’s unread count', async () => {
    await refusedWithoutChange(t.gql(UNREAD, { u: alice }, { token: bobToken }), 'FORBIDDEN', /own feed/);
  });

  it('bob cannot list alice’s trackers', async () => {
    await refusedWithoutChange(t.gql(TRACKERS, { u: alice }, { token: bobToken }), 'FORBIDDEN');
  });

  it('bob cannot mark alice’s actions read by naming her', async () => {
    await refusedWithoutChange(t.gql(MARK_READ, { ids: actionIds, u: alice }, { token: bobToken }), 'FORBIDDEN');
  });

  it('bob cannot mark alice’s actions read through his own feed (ids not in it are skipped: 0 changed)', async () => {
    const before = await aliceState();
    expect((await t.ok(MARK_READ, { ids: [actionIds[1]] }, { token: bobToken })).markRead).toBe(0);
    expect(await aliceState()).toEqual(before);
  });

  it('bob cannot mark alice’s read action unread (named or not)', async () => {
    await refusedWithoutChange(t.gql(MARK_UNREAD, { ids: [actionIds[0]], u: alice }, { token: bobToken }), 'FORBIDDEN');
    const before = await aliceState();
    expect((await t.ok(MARK_UNREAD, { ids: [actionIds[0]] }, { token: bobToken })).markUnread).toBe(0);
    expect(await aliceState()).toEqual(before);
  });

  it('bob cannot mark all of alice’s feed read', async () => {
    await refusedWithoutChange(t.gql(MARK_ALL, { u: alice }, { token: bobToken }), 'FORBIDDEN');
  });

  it('bob cannot create a tracker for alice', async () => {
    await refusedWithoutChange(t.gql(TRACK, { i: { objectType: 'Spam', owner: alice } }, { token: bobToken }), 'FORBIDDEN', /own feed and trackers/);
  });

  it('bob cannot remove or trim alice’s tracker', async () => {
    await refusedWithoutChange(t.gql(UNTRACK, { i: { object: item, owner: alice } }, { token: bobToken }), 'FORBIDDEN');
    await refusedWithoutChange(t.gql(UNTRACK, { i: { object: item, verbs: ['liked'], owner: alice } }, { token: bobToken }), 'FORBIDDEN');
    // Without owner, untrack only ever looks at bob's own trackers: bob has none, so nothing happens (null).
    const before = await aliceState();
    expect((await t.ok(UNTRACK, { i: { object: item } }, { token: bobToken })).untrack).toBeNull();
    expect(await aliceState()).toEqual(before);
  });

  it('bob cannot log an action as alice, nor as any non-user actor', async () => {
    await refusedWithoutChange(t.gql(LOG, { i: { actor: { type: 'User', id: alice }, verb: 'confessed' } }, { token: bobToken }), 'FORBIDDEN', /actor is themselves/);
    await refusedWithoutChange(t.gql(LOG, { i: { actor: { type: 'Robot', id: bob }, verb: 'confessed', targets: [item] } }, { token: bobToken }), 'FORBIDDEN');
    // Nothing reached alice's feed, and the impostor actions do not exist.
    const spoofed = await t.ok(ACTIONS, { a: { type: 'Robot', id: bob } }, service());
    expect(spoofed.actions.edges).toEqual([]);
  });

  it('bob cannot subscribe to alice’s feed; a later event of hers never reaches him', async () => {
    const before = await aliceState();
    const client = t.wsClient(bobToken);
    const outcome = runWs(client, 'subscription($u: ID) { feed(user: $u) { kind unreadCount action { id } } }', { u: alice });
    const result = await Promise.race([outcome, sleep(3000).then(() => null)]);
    expect(result, 'the subscription must end with an error at once').not.toBeNull();
    expect(JSON.stringify(result)).toMatch(/FORBIDDEN/);
    expect(JSON.stringify(result!.values)).not.toMatch(/"data"/);
    expect(await aliceState()).toEqual(before);
    // Alice's feed moves on; bob's socket receives nothing more.
    const seen = result!.values.length;
    await t.ok(LOG, { i: { actor: { type: 'Robot', id: 'late' }, verb: 'liked', targets: [item], level: 'DEBUG', groupingDelay: -1 } }, service());
    await sleep(300);
    expect(result!.values).toHaveLength(seen);
  });

  it('node(id:) hides alice’s actions and tracker from bob (null, like an unknown id); services see them', async () => {
    for (const id of [actionIds[0], aliceTrackerId]) {
      const r = await t.gql(NODE, { id }, { token: bobToken });
      expect(r.errors).toBeUndefined();
      expect(r.data?.node).toBeNull();
      expect((await t.ok(NODE, { id }, service())).node.id).toBe(id);
      expect((await t.ok(NODE, { id }, { token: aliceToken })).node.id).toBe(id);
    }
  });

  it('trackersOf shows bob only his own trackers (none), services every owner', async () => {
    expect((await t.ok(TRACKERS_OF, { o: item }, { token: bobToken })).trackersOf).toEqual([]);
    expect((await t.ok(TRACKERS_OF, { o: item }, service())).trackersOf).toEqual([{ id: aliceTrackerId, owner: alice }]);
  });

  it('actions(...) shows bob nothing of alice’s feed; services and alice see it', async () => {
    expect((await t.ok(ACTIONS, { t: item }, { token: bobToken })).actions.edges).toEqual([]);
    const all = (await t.ok(ACTIONS, { t: item }, service())).actions.edges;
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect((await t.ok(ACTIONS, { t: item }, { token: aliceToken })).actions.edges).toEqual(all);
  });

  it('a user naming itself is allowed (user: / owner: equal to its own id)', async () => {
    expect((await t.ok(UNREAD, { u: alice }, { token: aliceToken })).unreadCount).toBe(2);
    expect((await t.ok(TRACKERS, { u: alice }, { token: aliceToken })).trackers).toHaveLength(2);
  });
});

describe('roles: anonymous and users on operations that are not theirs', () => {
  let t: TestApp;
  const user = uniqueId('victim');
  const domain = uniqueId('dom');
  const item = { type: 'Doc', id: uniqueId('doc') };
  const verb = uniqueId('verb');
  let userToken: string;
  let actionId = '';

  beforeAll(async () => {
    t = await startTestApp();
    userToken = await t.userToken(user);
    const service = { token: t.serviceToken };
    await t.ok('mutation($d: ID!) { registerDomain(ref: $d, name: "D") { ref } }', { d: domain }, service);
    await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "g", name: "G", kind: GAUGE) { ref } }', { d: domain }, service);
    await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "c", name: "C", public: true) { ref } }', { d: domain }, service);
    await t.ok(TRACK, { i: { object: item, owner: user, actorOnly: false } }, service);
    actionId = (await t.ok(LOG, { i: { actor: { type: 'Bot', id: 'b' }, verb, targets: [item] } }, service)).logAction.id;
    await t.ok('mutation($d: ID!) { increment(events: [{domain: $d, metric: "c"}]) { accepted } }', { d: domain }, { token: userToken });
  });
  afterAll(async () => t?.stop());

  /** What any refused operation below could have changed, read as a service. */
  async function state() {
    return t.ok(`query($d: ID!, $u: ID, $o: ObjectRefInput!, $id: ID!) {
      domain(ref: $d) { metrics { ref name kind public } g: metric(ref: "g") { total } c: metric(ref: "c") { total } }
      x: domain(ref: "never-registered") { ref }
      unreadCount(user: $u)
      trackers(user: $u) { id verbs }
      trackersOf(object: $o) { id }
      actions(target: $o) { edges { node { id text targets { deleted } } } }
      node(id: $id) { id }
      metricsStatus { inboxRows deadLetters }
    }`, { d: domain, u: user, o: item, id: actionId }, { token: t.serviceToken });
  }

  const serviceOnly: Array<[string, string, Record<string, unknown>]> = [
    ['registerDomain', 'mutation { registerDomain(ref: "never-registered", name: "X") { ref } }', {}],
    ['registerMetric', 'mutation($d: ID!) { registerMetric(domain: $d, ref: "new", name: "N") { ref } }', { d: domain }],
    ['deleteMetric', 'mutation($d: ID!) { deleteMetric(domain: $d, ref: "c") }', { d: domain }],
    ['recordStatistic', 'mutation($d: ID!) { recordStatistic(domain: $d, metric: "g", value: 5, period: LIFETIME) { value } }', { d: domain }],
    ['foldCounters', 'mutation { foldCounters { folded } }', {}],
    ['applyRetention', 'mutation { applyRetention { ran } }', {}],
    ['registerVerb', 'mutation($v: String!) { registerVerb(verb: $v, template: "{actor} did it") { verb } }', { v: verb }],
    ['forgetObject', 'mutation($o: ObjectRefInput!) { forgetObject(object: $o, description: "gone") { deleted } }', { o: item }],
    ['metricDeadLetters', '{ metricDeadLetters { id } }', {}],
    ['metricsStatus', '{ metricsStatus { inboxRows } }', {}],
  ];
  const signedIn: Array<[string, string, Record<string, unknown>]> = [
    ['feed', '{ feed { edges { node { id } } } }', {}],
    ['unreadCount', '{ unreadCount }', {}],
    ['actions', 'query($o: ObjectRefInput) { actions(target: $o) { edges { node { id } } } }', { o: item }],
    ['trackers', '{ trackers { id } }', {}],
    ['trackersOf', 'query($o: ObjectRefInput!) { trackersOf(object: $o) { id } }', { o: item }],
    ['node', 'query($id: ID!) { node(id: $id) { id } }', { id: actionId }],
    ['logAction', LOG, { i: { actor: { type: 'User', id: 'anyone' }, verb, targets: [item] } }],
    ['track', TRACK, { i: { object: item, owner: user } }],
    ['untrack', UNTRACK, { i: { object: item, owner: user } }],
    ['markRead', MARK_READ, { ids: ['placeholder'], u: user }],
    ['markUnread', MARK_UNREAD, { ids: ['placeholder'], u: user }],
    ['markAllRead', MARK_ALL, { u: user }],
  ];

  it('anonymous callers get UNAUTHENTICATED on every non-public operation, and nothing changes', async () => {
    const before = await state();
    for (const [name, query, vars] of [...serviceOnly, ...signedIn]) {
      const v = name === 'node' ? { id: actionId } : name.startsWith('mark') && 'ids' in vars ? { ...vars, ids: [actionId] } : vars;
      const result = await t.gql(query, v);
      expect(result.errors?.[0]?.extensions?.['code'], `${name}: ${JSON.stringify(result)}`).toBe('UNAUTHENTICATED');
      expect(result.errors?.[0]?.message, name).toMatch(new RegExp(`Authentication required for (Query|Mutation)\\.${name}`));
    }
    expect(await state()).toEqual(before);
  });

  it('anonymous websocket connections get UNAUTHENTICATED for the feed subscription', async () => {
    const outcome = await runWs(t.wsClient(), 'subscription { feed { kind } }');
    expect(JSON.stringify(outcome)).toMatch(/UNAUTHENTICATED/);
    expect(JSON.stringify(outcome.values)).not.toMatch(/"data"/);
  });

  it('users get FORBIDDEN on every service-only operation, and nothing changes', async () => {
    const before = await state();
    for (const [name, query, vars] of serviceOnly) {
      const result = await t.gql(query, vars, { token: userToken });
      expect(result.errors?.[0]?.extensions?.['code'], `${name}: ${JSON.stringify(result)}`).toBe('FORBIDDEN');
    }
    expect(await state()).toEqual(before);
  });

  it('the public operations stay public: viewer, domains, increment, trackLabels, labelStats', async () => {
    const r = await t.ok(`mutation($d: ID!) {
      increment(events: [{domain: $d, metric: "c"}]) { accepted }
      trackLabels(labels: "cta:hero:btn-1") { accepted }
    }`, { d: domain });
    expect(r).toEqual({ increment: { accepted: 1 }, trackLabels: { accepted: 1 } });
    const q = await t.ok('{ viewer { role } domains { ref } labelStats(domIds: ["btn-1"]) { label count } }');
    expect(q.viewer.role).toBe('ANONYMOUS');
    expect(q.labelStats).toEqual([{ label: 'cta', count: 1 }]);
  });
});

describe('private metrics', () => {
  let t: TestApp;
  const domain = uniqueId('pm');
  const secretLabel = `secret_${uniqueId('l').replace('-', '_')}`;
  const domId = uniqueId('dom');
  let userToken: string;
  const service = () => ({ token: t.serviceToken });
  const total = async () =>
    (await t.ok('query($d: ID!) { domain(ref: $d) { metric(ref: "hidden") { total } } }', { d: domain }, service())).domain.metric.total;

  beforeAll(async () => {
    t = await startTestApp();
    userToken = await t.userToken(uniqueId('u'));
    await t.ok('mutation($d: ID!) { registerDomain(ref: $d, name: "P") { ref } }', { d: domain }, service());
    await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "hidden", name: "H") { ref } }', { d: domain }, service());
    await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "open", name: "O", public: true) { ref } }', { d: domain }, service());
    await t.ok(
      'mutation($d: ID!) { increment(events: [{domain: $d, metric: "hidden", object: {type: "Item", id: "1"}, by: 7}]) { accepted } }',
      { d: domain },
      service(),
    );
    // A service may register a private metric in the built-in labels domain: its counts are not for users.
    await t.ok('mutation($r: ID!) { registerMetric(domain: "labels", ref: $r, name: "S") { ref } }', { r: secretLabel }, service());
    await t.ok('mutation($l: String!) { trackLabels(labels: $l) { accepted } }', { l: `${secretLabel}::${domId}|visible::${domId}` }, service());
  });
  afterAll(async () => t?.stop());

  it('users and anonymous callers cannot read a private metric’s total, series or top objects', async () => {
    for (const token of [userToken, undefined]) {
      for (const field of ['total', 'series(period: DAY) { value }', 'top(period: LIFETIME) { object { id } value }', 'name']) {
        const r = await t.gql(`query($d: ID!) { domain(ref: $d) { metric(ref: "hidden") { ${field} } } }`, { d: domain }, { token });
        expect(r.errors?.[0]?.extensions?.['code'], field).toBe('FORBIDDEN');
        expect(r.errors?.[0]?.message).toMatch(/is not public/);
        expect(JSON.stringify(r.data)).not.toMatch(/"value"|"total"|"name"/);
      }
    }
  });

  it('domains { metrics } lists only public metrics to users, every metric to services', async () => {
    const query = 'query($d: ID!) { domain(ref: $d) { metrics { ref total top(period: LIFETIME) { object { id } } } } }';
    expect((await t.ok(query, { d: domain }, { token: userToken })).domain.metrics.map((m: { ref: string }) => m.ref)).toEqual(['open']);
    const all = (await t.ok('{ domains { metrics { ref } } }', {}, { token: userToken })).domains.flatMap((d: { metrics: Array<{ ref: string }> }) => d.metrics.map((m) => m.ref));
    expect(all).not.toContain('hidden');
    expect(all).not.toContain(secretLabel);
    expect((await t.ok(query, { d: domain }, service())).domain.metrics.map((m: { ref: string }) => m.ref)).toEqual(['hidden', 'open']);
  });

  it('users and anonymous callers cannot increment a private metric (not_public, total unchanged)', async () => {
    const before = await total();
    for (const token of [userToken, undefined]) {
      const r = await t.ok('mutation($d: ID!) { increment(events: [{domain: $d, metric: "hidden", by: 5}]) { accepted rejected { index reason } } }', { d: domain }, { token });
      expect(r.increment).toEqual({ accepted: 0, rejected: [{ index: 0, reason: 'not_public' }] });
      const objects = await t.ok('mutation($d: ID!) { incrementObjects(domain: $d, metric: "hidden", objectType: "Item", objectIds: ["1", "2"]) { accepted rejected { reason } } }', { d: domain }, { token });
      expect(objects.incrementObjects.accepted).toBe(0);
    }
    expect(await total()).toBe(before);
  });

  it('labelStats hides labels of private metrics from users, not from services', async () => {
    const query = 'query($ids: [String!]!) { labelStats(domIds: $ids) { label count } }';
    expect((await t.ok(query, { ids: [domId] }, { token: userToken })).labelStats).toEqual([{ label: 'visible', count: 1 }]);
    expect((await t.ok(query, { ids: [domId] })).labelStats).toEqual([{ label: 'visible', count: 1 }]);
    const all = (await t.ok(query, { ids: [domId] }, service())).labelStats.map((s: { label: string }) => s.label);
    expect(all.sort()).toEqual([secretLabel, 'visible'].sort());
    // And trackLabels of the private label is rejected for anyone else.
    const r = await t.ok('mutation($l: String!) { trackLabels(labels: $l) { accepted rejected { reason } } }', { l: `${secretLabel}::${domId}` }, { token: userToken });
    expect(r.trackLabels).toEqual({ accepted: 0, rejected: [{ reason: 'not_public' }] });
  });
});
