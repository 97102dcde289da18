import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type GraphQLResponse, type TestApp } from '../support/app.ts';
import { expectRefused, postJson, raw } from './support.ts';

/**
 * Input bounds: every oversized or malformed input is BAD_USER_INPUT with a message naming the field, and
 * stores nothing (read back as a service after each refusal).
 */

const LOG = 'mutation($i: LogActionInput!) { logAction(input: $i) { id } }';
const TRACK = 'mutation($i: TrackInput!) { track(input: $i) { id } }';
const INCREMENT = 'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted rejected { index reason } } }';
const FORGET = 'mutation($o: ObjectRefInput!, $d: String, $s: JSON) { forgetObject(object: $o, description: $d, serialization: $s) { deleted } }';

const long = (n: number) => 'x'.repeat(n);
const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });

describe('input bounds', () => {
  let t: TestApp;
  const owner = uniqueId('owner');
  const actor = { type: 'Robot', id: uniqueId('actor') };
  const item = { type: 'Item', id: uniqueId('item') };
  const domain = uniqueId('bounds');
  const service = () => ({ token: t.serviceToken });

  /** Everything the refused calls below could have written, read as a service. */
  async function state() {
    return t.ok(`query($a: ObjectRefInput, $o: ObjectRefInput, $u: ID, $d: ID!) {
      byActor: actions(actor: $a) { edges { node { id } } }
      onItem: actions(target: $o) { edges { node { id targets { deleted description } } } }
      trackers(user: $u) { id verbs }
      unreadCount(user: $u)
      domain(ref: $d) { metrics { ref } metric(ref: "c") { total } }
      labelStats(domIds: ["bounds-dom"]) { label count }
      metricsStatus { inboxRows }
    }`, { a: actor, o: item, u: owner, d: domain }, service());
  }

  async function refused(call: Promise<GraphQLResponse>, field: RegExp) {
    const before = await state();
    const result = await call;
    expectRefused(result, 'BAD_USER_INPUT', field);
    expect(await state()).toEqual(before);
  }

  beforeAll(async () => {
    t = await startTestApp();
    await t.ok('mutation($d: ID!) { registerDomain(ref: $d, name: "B") { ref } }', { d: domain }, service());
    await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "c", name: "C", public: true) { ref } }', { d: domain }, service());
    await t.ok(TRACK, { i: { object: item, owner, actorOnly: false } }, service());
    // One action on the item, so that the state has a tombstone flag (deleted: false) to watch.
    await t.ok(LOG, { i: { actor: { type: 'Robot', id: 'seed' }, verb: 'seeded', targets: [item] } }, service());
  });
  afterAll(async () => t?.stop());

  // ---- objects, verbs, actions
  it('object type: over 128 characters, or not an identifier', async () => {
    await refused(t.gql(LOG, { i: { actor, verb: 'v', targets: [{ type: long(129), id: '1' }] } }, service()), /targets\.0\.type: must be at most 128/);
    await refused(t.gql(LOG, { i: { actor, verb: 'v', targets: [{ type: 'two words', id: '1' }] } }, service()), /targets\.0\.type: must start with a letter/);
  });

  it('object id over 256 characters, or empty; label over 256', async () => {
    await refused(t.gql(LOG, { i: { actor: { ...actor, id: long(257) }, verb: 'v' } }, service()), /actor\.id: must be at most 256/);
    await refused(t.gql(LOG, { i: { actor: { ...actor, id: '' }, verb: 'v' } }, service()), /actor\.id: must not be empty/);
    await refused(t.gql(LOG, { i: { actor: { ...actor, label: long(257) }, verb: 'v' } }, service()), /actor\.label: must be at most 256/);
  });

  it('verb: empty or over 128 characters', async () => {
    await refused(t.gql(LOG, { i: { actor, verb: '   ' } }, service()), /verb: must not be empty/);
    await refused(t.gql(LOG, { i: { actor, verb: long(129) } }, service()), /verb: must be at most 128/);
  });

  it('more than 100 objects per role of an action', async () => {
    const targets = Array.from({ length: 101 }, (_, i) => ({ type: 'Item', id: String(i) }));
    await refused(t.gql(LOG, { i: { actor, verb: 'v', targets } }, service()), /targets: at most 100 objects/);
  });

  it('action data over ACTIVITY_DATA_MAX_BYTES (16 KiB)', async () => {
    await refused(t.gql(LOG, { i: { actor, verb: 'v', data: { blob: long(17_000) } } }, service()), /data: \d+ bytes, at most 16384/);
  });

  it('action data nested deeper than 32 levels', async () => {
    await refused(t.gql(LOG, { i: { actor, verb: 'v', data: nested(33) } }, service()), /input\.data: must be nested at most 32 levels/);
    // 32 levels are fine.
    expect((await t.gql(LOG, { i: { actor: { type: 'Robot', id: 'deep-ok' }, verb: 'v', data: nested(32) } }, service())).errors).toBeUndefined();
  });

  it('hostile nesting (50,000 levels in a raw body) is refused cleanly, not a crash', async () => {
    const depth = 50_000;
    const body = `{"query":${JSON.stringify(LOG)},"variables":{"i":{"actor":${JSON.stringify(actor)},"verb":"v","data":${'['.repeat(depth)}${']'.repeat(depth)}}}}`;
    const before = await state();
    const response = await raw(t, { headers: { 'content-type': 'application/json', authorization: `Bearer ${t.serviceToken}` }, body });
    expectRefused(response.json(), 'BAD_USER_INPUT', /input\.data: must be nested at most 32 levels/);
    expect(await state()).toEqual(before);
  });

  it('grouping delay over a year', async () => {
    await refused(t.gql(LOG, { i: { actor, verb: 'v', groupingDelay: 2_000_000_000 } }, service()), /groupingDelay: must be at most 31536000/);
  });

  it('malformed dates are BAD_USER_INPUT naming the variable path', async () => {
    await refused(t.gql(LOG, { i: { actor, verb: 'v', timestamp: '2024-13-45T00:00:00Z' } }, service()), /i\.timestamp/);
    await refused(t.gql(INCREMENT, { e: [{ domain, metric: 'c', at: 'yesterday' }] }, service()), /e\[0\]\.at|e\.0\.at|"yesterday"/);
    await refused(t.gql('mutation($b: DateTime) { markAllRead(before: $b) }', { b: 'soon' }, { token: await t.userToken(owner) }), /\$b/);
  });

  // ---- trackers, feeds, marks
  it('tracker: more than 100 verbs, malformed objectType, both object and type', async () => {
    const verbs = Array.from({ length: 101 }, (_, i) => `v${i}`);
    await refused(t.gql(TRACK, { i: { objectType: 'Item', owner, verbs } }, service()), /input\.verbs: at most 100 verbs/);
    await refused(t.gql(TRACK, { i: { objectType: 'no spaces', owner } }, service()), /objectType: must start with a letter/);
    await refused(t.gql(TRACK, { i: { objectType: 'Item', object: item, owner } }, service()), /exactly one of object or objectType/);
    await refused(t.gql(TRACK, { i: { objectType: 'Item', owner: long(257) } }, service()), /owner: at most 256/);
  });

  it('connections: first over 100 or negative, forged cursors, backward paging', async () => {
    const token = await t.userToken(owner);
    await refused(t.gql('{ feed(first: 101) { edges { cursor } } }', {}, { token }), /first: must be between 0 and 100/);
    await refused(t.gql('{ feed(first: -1) { edges { cursor } } }', {}, { token }), /first: must be between 0 and 100/);
    await refused(t.gql('query($o: ObjectRefInput) { actions(target: $o, first: 101) { edges { cursor } } }', { o: item }, { token }), /first: must be between 0 and 100/);
    await refused(t.gql('{ feed(after: "bm90LWEtY3Vyc29y") { edges { cursor } } }', {}, { token }), /after: not a cursor/);
    await refused(t.gql('{ feed(first: 5, last: 5) { edges { cursor } } }', {}, { token }), /Give first or last, not both/);
    await refused(t.gql('{ feed(last: 101) { edges { cursor } } }', {}, { token }), /last: must be between 0 and 100/);
    await refused(t.gql('{ feed(before: "bm90LWEtY3Vyc29y") { edges { cursor } } }', {}, { token }), /before: not a cursor/);
  });

  it('feed verbs filter over 100 entries', async () => {
    const verbs = Array.from({ length: 101 }, (_, i) => `v${i}`);
    await refused(t.gql('query($v: [String!]) { feed(verbs: $v) { edges { cursor } } }', { v: verbs }, { token: await t.userToken(owner) }), /verbs: at most 100 verbs/);
  });

  it('markRead: more than 1000 ids, or ids that are not Action ids; nothing changes', async () => {
    const token = await t.userToken(owner);
    const [first] = (await t.ok('{ feed { edges { node { id } } } }', {}, { token })).feed.edges.map((e: { node: { id: string } }) => e.node.id);
    const many = Array.from({ length: 1001 }, () => first);
    await refused(t.gql('mutation($ids: [ID!]!) { markRead(actionIds: $ids) }', { ids: many.map((id, i) => (i === 0 ? id : Buffer.from(`Action:${1_000_000 + i}`).toString('base64'))) }, { token }), /actionIds: at most 1000/);
    await refused(t.gql('mutation($ids: [ID!]!) { markRead(actionIds: $ids) }', { ids: [first, 'not-an-id'] }, { token }), /actionIds: "not-an-id" is not an Action id/);
    const trackerId = (await t.ok('query($u: ID) { trackers(user: $u) { id } }', { u: owner }, service())).trackers[0].id;
    await refused(t.gql('mutation($ids: [ID!]!) { markRead(actionIds: $ids) }', { ids: [trackerId] }, { token }), /is not an Action id/);
  });

  it('node(id:) with a malformed id is BAD_USER_INPUT (not a masked internal error)', async () => {
    await refused(t.gql('{ node(id: "garbage!!") { id } }', {}, service()), /id: "garbage!!" is not a valid node id/);
  });

  // ---- tombstones and verbs
  it('forgetObject: description over 2000 characters, serialization too big or too deep', async () => {
    await refused(t.gql(FORGET, { o: item, d: long(2001) }, service()), /description: must be at most 2000/);
    await refused(t.gql(FORGET, { o: item, s: { blob: long(17_000) } }, service()), /serialization: \d+ bytes, at most 16384/);
    await refused(t.gql(FORGET, { o: item, s: nested(40) }, service()), /serialization: must be nested at most 32/);
  });

  it('registerVerb: template over 2000 characters, empty verb', async () => {
    await refused(t.gql('mutation($v: String!, $t: String!) { registerVerb(verb: $v, template: $t) { verb } }', { v: 'seeded', t: long(2001) }, service()), /template: at most 2000/);
    await refused(t.gql('mutation($v: String!, $t: String!) { registerVerb(verb: $v, template: $t) { verb } }', { v: ' ', t: '{actor}' }, service()), /verb: must not be empty/);
    // The action logged in beforeAll still renders actrack's default text: no template was stored.
    const text = (await t.ok('query($o: ObjectRefInput) { actions(target: $o) { edges { node { text } } } }', { o: item }, service())).actions.edges[0].node.text;
    expect(text).toBe(`Robot seed seeded Item ${item.id}`);
  });

  // ---- metrics catalog and increments
  it('registerDomain / registerMetric: refs too long or with label syntax, names too long', async () => {
    await refused(t.gql('mutation($r: ID!) { registerDomain(ref: $r, name: "X") { ref } }', { r: long(65) }, service()), /ref: must be at most 64/);
    await refused(t.gql('mutation($r: ID!) { registerDomain(ref: $r, name: "X") { ref } }', { r: 'a|b:c' }, service()), /ref: must start with a letter, digit or _/);
    await refused(t.gql('mutation($d: ID!, $n: String!) { registerMetric(domain: $d, ref: "m2", name: $n) { ref } }', { d: domain, n: long(257) }, service()), /name: must be at most 256/);
    await refused(t.gql('mutation($d: ID!) { registerMetric(domain: $d, ref: "with space", name: "N") { ref } }', { d: domain }, service()), /ref: must start/);
  });

  it('lookups by ref longer than any ref are bad input', async () => {
    await refused(t.gql('query($r: ID!) { domain(ref: $r) { ref } }', { r: long(65) }), /ref: must be at most 64/);
    await refused(t.gql('query($d: ID!, $r: ID!) { domain(ref: $d) { metric(ref: $r) { ref } } }', { d: domain, r: long(129) }), /ref: must be at most 128/);
    await refused(t.gql(INCREMENT, { e: [{ domain: long(65), metric: 'c' }] }), /events\.0\.domain: must be at most 64/);
    await refused(t.gql(INCREMENT, { e: [{ domain, metric: 'c' }, { domain, metric: long(129) }] }), /events\.1\.metric: must be at most 128/);
  });

  it('increment: more than METRICS_MAX_BATCH events; the good events of a refused batch are not stored', async () => {
    const events = Array.from({ length: 1001 }, () => ({ domain, metric: 'c' }));
    await refused(t.gql(INCREMENT, { e: events }), /Too many events: 1001 \(at most 1000/);
    await refused(t.gql(INCREMENT, { e: [{ domain, metric: 'c' }, { domain, metric: 'c', category: long(129) }] }), /events\.1\.category: must be at most 128/);
    await refused(t.gql(INCREMENT, { e: [{ domain, metric: 'c', domId: long(257) }] }), /events\.0\.domId: must be at most 256/);
    await refused(t.gql(INCREMENT, { e: [{ domain, metric: 'c', object: { type: 'Item', id: long(257) } }] }), /id: must be at most 256/);
    // Every bad object of the batch is named, as the validation plugin names them elsewhere.
    await refused(
      t.gql(INCREMENT, { e: [{ domain, metric: 'c', object: item }, { domain, metric: 'c', object: { type: '9lives', id: '' } }, { domain, metric: 'c', object: { ...item, label: long(257) } }] }),
      /^events\.1\.object\.type: must start with a letter or _[^;]*; events\.1\.object\.id: must not be empty; events\.2\.object\.label: must be at most 256 characters$/,
    );
  });

  it('incrementObjects: too many ids, an id too long, a bad object type', async () => {
    const q = 'mutation($d: ID!, $t: String!, $ids: [ID!]!) { incrementObjects(domain: $d, metric: "c", objectType: $t, objectIds: $ids) { accepted } }';
    await refused(t.gql(q, { d: domain, t: 'Item', ids: Array.from({ length: 1001 }, (_, i) => String(i)) }), /Too many objects: 1001/);
    await refused(t.gql(q, { d: domain, t: 'Item', ids: ['1', long(257)] }), /objectIds\.1: must be 1 to 256 characters/);
    await refused(t.gql(q, { d: domain, t: '9lives', ids: ['1'] }), /objectType: must start with a letter/);
  });

  it('trackLabels: over 64 KiB, or more labels than METRICS_MAX_BATCH', async () => {
    const q = 'mutation($l: String!) { trackLabels(labels: $l) { accepted } }';
    await refused(t.gql(q, { l: `a::bounds-dom|${long(70_000)}` }), /labels: at most 65536 characters/);
    await refused(t.gql(q, { l: Array.from({ length: 1001 }, () => 'a::bounds-dom').join('|') }), /Too many labels: 1001/);
  });

  it('malformed labels are rejected one by one with a reason; nothing of them is stored', async () => {
    const before = await state();
    const r = await t.ok('mutation($l: String!) { trackLabels(labels: $l) { accepted rejected { index reason } } }', {
      l: `a:b:c:bounds-dom|bad label!::bounds-dom||${long(129)}::bounds-dom|ok:${long(129)}:bounds-dom`,
    });
    expect(r.trackLabels).toEqual({
      accepted: 0,
      rejected: [
        { index: 0, reason: 'malformed_label' },
        { index: 1, reason: 'invalid_label' },
        { index: 2, reason: 'empty_label' },
        { index: 3, reason: 'invalid_label' },
        { index: 4, reason: 'malformed_label' },
      ],
    });
    expect(await state()).toEqual(before);
  });

  it('labelStats: more than 1000 DOM ids, or one over 256 characters', async () => {
    await refused(t.gql('query($d: [String!]!) { labelStats(domIds: $d) { count } }', { d: Array.from({ length: 1001 }, (_, i) => `d${i}`) }), /at most 1000 domIds/);
    await refused(t.gql('query($d: [String!]!) { labelStats(domIds: $d) { count } }', { d: [long(257)] }), /domIds\.0: must be at most 256/);
  });

  it('series/top: unknown or oversized time zones, reversed ranges, too many points, limit over 100', async () => {
    const q = (vars: string, field: string) => `query($d: ID!${vars}) { domain(ref: $d) { metric(ref: "c") { ${field} } } }`;
    const series = q(', $tz: String, $from: DateTime, $to: DateTime', 'series(period: DAY, timezone: $tz, from: $from, to: $to) { value }');
    await refused(t.gql(series, { d: domain, tz: 'Mars/Olympus_Mons' }), /Unknown time zone "Mars\/Olympus_Mons"/);
    await refused(t.gql(series, { d: domain, tz: long(65) }), /timezone: must be at most 64/);
    await refused(t.gql(series, { d: domain, from: '2024-02-01T00:00:00Z', to: '2024-01-01T00:00:00Z' }), /`from` must not be after `to`/);
    const hourly = q(', $from: DateTime, $to: DateTime', 'series(period: HOUR, from: $from, to: $to) { value }');
    await refused(t.gql(hourly, { d: domain, from: '2000-01-01T00:00:00Z', to: '2024-01-01T00:00:00Z' }), /Too many points/);
    await refused(t.gql(q('', 'top(period: DAY, limit: 101) { value }'), { d: domain }), /`limit` must be between 1 and 100/);
    await refused(t.gql(q(', $c: String', 'total(category: $c)'), { d: domain, c: long(129) }), /category: must be at most 128/);
  });

  it('recordStatistic: a date in the future, a time zone that does not exist', async () => {
    await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "g", name: "G", kind: GAUGE) { ref } }', { d: domain }, service());
    const q = 'mutation($d: ID!, $date: DateTime, $tz: String) { recordStatistic(domain: $d, metric: "g", value: 3, period: DAY, date: $date, timezone: $tz) { value } }';
    const gauge = async () => (await t.ok('query($d: ID!) { domain(ref: $d) { metric(ref: "g") { series(period: DAY) { value } } } }', { d: domain }, service())).domain.metric.series;
    const before = await gauge();
    await refused(t.gql(q, { d: domain, date: '2999-01-01T00:00:00Z' }, service()), /`date` must not be in the future/);
    await refused(t.gql(q, { d: domain, tz: 'Nowhere/Town' }, service()), /Unknown time zone/);
    expect(await gauge()).toEqual(before);
  });

  it('a JSON body that is not JSON, or variables of the wrong type, are refused without running anything', async () => {
    const before = await state();
    const broken = await raw(t, { headers: { 'content-type': 'application/json' }, body: '{"query": "mutation { trackLabels(labels: \\"a::bounds-dom\\") { accepted } }", ' });
    expect(broken.status).toBe(400);
    const wrongType = await postJson(t, INCREMENT, { e: [{ domain, metric: 'c', by: 'lots' }] });
    expectRefused(wrongType.json(), 'BAD_USER_INPUT', /e\[0\]\.by|by/);
    expect(await state()).toEqual(before);
  });
});
