import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailableError } from '../../src/db/availability.ts';
import { startTestApp, TEST_JWT_SECRET, uniqueId, type GraphQLResponse, type TestApp } from '../support/app.ts';
import { expectRefused, postJson, raw, runWs } from './support.ts';

/**
 * Text PostgreSQL cannot store (a NUL character, a lone UTF-16 surrogate) and numbers past the bigint range
 * are refused at the schema edge: BAD_USER_INPUT naming the field, for every path (anonymous ones too),
 * nothing stored — never a masked 500 or a false "database unavailable" 503.
 */

const NUL = 'a\u0000b';
const SURROGATE = 'a\uD800b';
const b64 = (s: string) => Buffer.from(s).toString('base64');
/** A cursor far in the future (microseconds since the epoch) at the given action id. */
const cursor = (id: string) => Buffer.from(`action:99999999999999999:${id}`).toString('base64url');

describe('strings and ids at the schema edge', () => {
  let t: TestApp;
  const owner = uniqueId('owner');
  const domain = uniqueId('edge');
  const item = { type: 'Item', id: uniqueId('item') };
  const service = () => ({ token: t.serviceToken });

  /** Everything the refused calls could have written, read as a service. */
  const state = () =>
    t.ok(
      `query($o: ObjectRefInput, $u: ID, $d: ID!) {
        onItem: actions(involving: $o) { edges { node { id verb data } } }
        trackers(user: $u) { id verbs }
        domains { ref }
        domain(ref: $d) { metrics { ref } metric(ref: "c") { total } }
        metricsStatus { inboxRows }
      }`,
      { o: item, u: owner, d: domain },
      service(),
    );

  async function refused(call: () => Promise<GraphQLResponse>, field: RegExp) {
    const before = await state();
    const result = await call();
    expectRefused(result, 'BAD_USER_INPUT', field);
    expect(await state()).toEqual(before);
  }

  beforeAll(async () => {
    t = await startTestApp();
    await t.ok('mutation($d: ID!) { registerDomain(ref: $d, name: "E") { ref } }', { d: domain }, service());
    await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "c", name: "C", public: true) { ref } }', { d: domain }, service());
    await t.ok('mutation($i: TrackInput!) { track(input: $i) { id } }', { i: { object: item, owner, actorOnly: false } }, service());
    await t.ok('mutation($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { actor: { type: 'Robot', id: 'r' }, verb: 'seeded', targets: [item] } }, service());
  });
  afterAll(async () => t?.stop());

  for (const [name, bad] of [
    ['a NUL character', NUL],
    ['a lone surrogate', SURROGATE],
  ] as const) {
    const problem = name === 'a NUL character' ? /NUL character/ : /lone UTF-16 surrogate/;
    it(`${name}: logAction verb, actor id, target type, data value and data key`, async () => {
      const log = (input: Record<string, unknown>) => () => t.gql('mutation($i: LogActionInput!) { logAction(input: $i) { id } }', { i: input }, service());
      const base = { actor: { type: 'Robot', id: 'r' }, verb: 'v', targets: [item] };
      await refused(log({ ...base, verb: bad }), /^logAction\.input\.verb: /);
      await refused(log({ ...base, actor: { type: 'Robot', id: bad } }), /^logAction\.input\.actor\.id: /);
      await refused(log({ ...base, targets: [item, { type: bad, id: '1' }] }), /^logAction\.input\.targets\.1\.type: /);
      await refused(log({ ...base, data: { nested: [{ text: bad }] } }), /^logAction\.input\.data\.nested\.0\.text: /);
      const key = await t.gql('mutation($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { ...base, data: { [bad]: 1 } } }, service());
      expectRefused(key, 'BAD_USER_INPUT', problem);
      expect(key.errors?.[0]?.message).toMatch(/^logAction\.input\.data\.a.b: keys /);
    });

    it(`${name}: feed verbs, trackersOf, track, forgetObject (users and services)`, async () => {
      const user = { token: await t.userToken(owner) };
      await refused(() => t.gql('query($v: [String!]) { feed(verbs: $v) { edges { cursor } } }', { v: ['ok', bad] }, user), /^feed\.verbs\.1: /);
      await refused(() => t.gql('query($o: ObjectRefInput!) { trackersOf(object: $o) { id } }', { o: { type: 'Item', id: bad } }, user), /^trackersOf\.object\.id: /);
      await refused(() => t.gql('mutation($i: TrackInput!) { track(input: $i) { id } }', { i: { objectType: 'Item', verbs: [bad] } }, user), /^track\.input\.verbs\.0: /);
      await refused(
        () => t.gql('mutation($o: ObjectRefInput!, $d: String) { forgetObject(object: $o, description: $d) { deleted } }', { o: item, d: bad }, service()),
        /^forgetObject\.description: /,
      );
    });

    it(`${name}: metric refs in total, labelStats, domain, registerDomain, recordStatistic, increment, trackLabels (anonymous paths included)`, async () => {
      const anonymous = {};
      await refused(() => t.gql('query($d: ID!) { domain(ref: $d) { ref } }', { d: bad }, anonymous), /^domain\.ref: /);
      await refused(() => t.gql('query($d: ID!, $m: ID!) { domain(ref: $d) { metric(ref: $m) { total } } }', { d: domain, m: bad }, anonymous), /^domain\.metric\.ref: /);
      await refused(
        () => t.gql('query($d: ID!, $c: String) { domain(ref: $d) { metric(ref: "c") { total(category: $c) } } }', { d: domain, c: bad }, anonymous),
        /^domain\.metric\.total\.category: /,
      );
      await refused(() => t.gql('query($ids: [String!]!) { labelStats(domIds: $ids) { count } }', { ids: [bad] }, anonymous), /^labelStats\.domIds\.0: /);
      await refused(
        () => t.gql('mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }', { e: [{ domain, metric: 'c' }, { domain, metric: 'c', category: bad }] }, anonymous),
        /^increment\.events\.1\.category: /,
      );
      await refused(() => t.gql('mutation($l: String!) { trackLabels(labels: $l) { accepted } }', { l: `x::${bad}` }, anonymous), /^trackLabels\.labels: /);
      await refused(() => t.gql('mutation($r: ID!) { registerDomain(ref: $r, name: "N") { ref } }', { r: bad }, service()), /^registerDomain\.ref: /);
      await refused(
        () => t.gql('mutation($d: ID!, $o: ObjectRefInput) { recordStatistic(domain: $d, metric: "c", value: 1, period: DAY, object: $o) { value } }', { d: domain, o: { type: 'Item', id: bad } }, service()),
        /^recordStatistic\.object\.id: /,
      );
    });
  }

  it('a NUL in a string literal of the document (an escape) is refused the same way', async () => {
    await refused(() => t.gql(`{ domain(ref: "a\\u0000b") { ref } }`), /^domain\.ref: must not contain the NUL character/);
  });

  it('the same over a websocket, and the connection stays up', async () => {
    const client = t.wsClient(t.serviceToken);
    const outcome = await runWs(client, 'query($d: ID!) { domain(ref: $d) { ref } }', { d: NUL });
    // A request error of the operation (no data), delivered as its result.
    expect(outcome.values).toHaveLength(1);
    const result = outcome.values[0] as GraphQLResponse;
    expect(result.data).toBeUndefined();
    expect(result.errors?.[0]?.message).toMatch(/^domain\.ref: must not contain the NUL character/);
    expect(result.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    const fine = await runWs(client, '{ viewer { role } }');
    expect(fine.values).toEqual([{ data: { viewer: { role: 'SERVICE' } } }]);
    // A document that does not parse: GRAPHQL_PARSE_FAILED, as over HTTP.
    const broken = await runWs(client, '{ (');
    expect((broken.error as Array<{ extensions?: Record<string, unknown> }>)[0]?.extensions?.['code']).toBe('GRAPHQL_PARSE_FAILED');
    const invalid = await runWs(client, '{ nope }');
    expect((invalid.error as Array<{ extensions?: Record<string, unknown> }>)[0]?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((await runWs(client, '{ viewer { role } }')).values).toEqual([{ data: { viewer: { role: 'SERVICE' } } }]);
  });

  it('cursors past the bigint range: BAD_USER_INPUT naming `after`', async () => {
    const user = { token: await t.userToken(owner) };
    for (const id of ['9223372036854775808', '9999999999999999999', '99999999999999999999']) {
      await refused(() => t.gql('query($a: String) { feed(after: $a) { edges { cursor } } }', { a: cursor(id) }, user), /after: not a cursor/);
      await refused(() => t.gql('query($o: ObjectRefInput, $a: String) { actions(involving: $o, after: $a) { edges { cursor } } }', { o: item, a: cursor(id) }, service()), /after: not a cursor/);
    }
    // The largest bigint is a valid (empty) position.
    expect((await t.ok('query($a: String) { feed(after: $a) { edges { cursor } } }', { a: cursor('9223372036854775807') }, user)).feed.edges.length).toBeGreaterThan(0);
  });

  it('variables with more than 50 bad values: every error is BAD_USER_INPUT, also graphql-js\'s "too many errors"', async () => {
    const result = await t.gql('query($d: [String!]!) { labelStats(domIds: $d) { count } }', { d: Array.from({ length: 60 }, () => null) });
    expect(result.errors!.length).toBe(51);
    expect(result.errors!.map((e) => e.extensions?.['code'])).toEqual(Array.from({ length: 51 }, () => 'BAD_USER_INPUT'));
  });

  it('Action ids past the bigint range: markRead and node(id:) are BAD_USER_INPUT naming the id', async () => {
    const user = { token: await t.userToken(owner) };
    const big = b64('Action:9999999999999999999');
    await refused(() => t.gql('mutation($ids: [ID!]!) { markRead(actionIds: $ids) }', { ids: [big] }, user), /actionIds: ".*" is not an Action id/);
    await refused(() => t.gql('mutation($ids: [ID!]!) { markUnread(actionIds: $ids) }', { ids: [big] }, user), /actionIds: ".*" is not an Action id/);
    const node = await t.gql('query($id: ID!) { node(id: $id) { id } }', { id: big }, service());
    expect(node.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(node.errors?.[0]?.message).toMatch(/^id: ".*" is not a valid node id/);
  });

  it('node(id:) of a type that has no ids (unknown, or not a node) is BAD_USER_INPUT naming the id', async () => {
    for (const typename of ['Foo', 'Query', 'Domain', '__proto__']) {
      const result = await t.gql('query($id: ID!) { node(id: $id) { id } }', { id: b64(`${typename}:1`) }, service());
      expect(result.data).toEqual({ node: null });
      expect(result.errors?.[0]?.extensions?.['code'], JSON.stringify(result)).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.message).toMatch(/^id: ".*" is not the id of an object/);
    }
  });

  it('a token whose subject is such text is refused (401), never a user id that SQL would choke on', async () => {
    for (const sub of [NUL, SURROGATE]) {
      const token = await new SignJWT({ roles: [] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
      const response = await postJson(t, '{ unreadCount }', {}, { authorization: `Bearer ${token}` });
      expect(response.status).toBe(401);
      expectRefused(response.json(), 'UNAUTHENTICATED', /bad "sub" claim/);
    }
  });

  it('DateTime values PostgreSQL or a period around them cannot hold (year 0000, year 9999) are BAD_USER_INPUT, nothing stored', async () => {
    // Before: INTERNAL_SERVER_ERROR from the database ("date/time field value out of range", "time zone displacement").
    for (const when of ['0000-01-01T00:00:00Z', '0001-06-01T00:00:00Z', '9999-12-31T00:00:00Z']) {
      const out = new RegExp(`DateTime out of range|${when.slice(0, 4)}`);
      await refused(() => t.gql('mutation($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { actor: { type: 'Robot', id: 'r' }, verb: 'dated', targets: [item], timestamp: when } }, service()), out);
      await refused(() => t.gql('query($u: ID, $s: DateTime) { feed(user: $u, since: $s) { edges { cursor } } }', { u: owner, s: when }, service()), out);
      await refused(() => t.gql('mutation($u: ID, $b: DateTime) { markAllRead(user: $u, before: $b) }', { u: owner, b: when }, service()), out);
      await refused(
        () => t.gql(`query($d: ID!, $f: DateTime!) { domain(ref: $d) { metric(ref: "c") { series(period: DAY, from: $f, to: $f) { value } } } }`, { d: domain, f: when }, service()),
        out,
      );
      // As a literal in the document: a validation error, as for any literal a scalar refuses ("not a date" too).
      for (const literal of [when, 'not a date']) {
        const result = await t.gql(`{ domain(ref: "${domain}") { metric(ref: "c") { series(period: YEAR, from: "${literal}", to: "${literal}") { value } } } }`, {}, service());
        expectRefused(result, 'GRAPHQL_VALIDATION_FAILED', /DateTime/);
      }
    }
    // The edges of the range work, in the zones furthest from UTC.
    for (const [when, timezone] of [
      ['9998-12-31T23:59:59.999Z', 'Pacific/Kiritimati'],
      ['9998-12-31T23:59:59.999Z', 'Etc/GMT+12'],
      ['0002-01-01T00:00:00Z', 'Pacific/Kiritimati'],
      ['0002-01-01T00:00:00Z', 'Etc/GMT+12'],
    ] as const) {
      for (const period of ['DAY', 'WEEK', 'MONTH', 'YEAR']) {
        const series = await t.ok(
          `query($d: ID!, $f: DateTime!, $z: String) { domain(ref: $d) { metric(ref: "c") { series(period: ${period}, from: $f, to: $f, timezone: $z) { value } } } }`,
          { d: domain, f: when, z: timezone },
          service(),
        );
        expect(series.domain.metric.series).toHaveLength(1);
      }
    }
  });

  it('numbers past the largest double (1e400 parses to Infinity) are BAD_USER_INPUT, as literals and in a JSON body; nothing stored', async () => {
    // A body written by hand: JSON.stringify cannot spell such a number (it writes null for Infinity).
    const body = (query: string, variables: string) => `{"query":${JSON.stringify(query)},"variables":${variables}}`;
    const post = async (query: string, variables = '{}') =>
      (await raw(t, { headers: { 'content-type': 'application/json', authorization: `Bearer ${t.serviceToken}` }, body: body(query, variables) })).json();
    const LOG = 'mutation($i: LogActionInput!) { logAction(input: $i) { id } }';
    const gauge = uniqueId('g');
    await t.ok('mutation($d: ID!, $m: ID!) { registerMetric(domain: $d, ref: $m, kind: GAUGE) { ref } }', { d: domain, m: gauge }, service());
    const read = () => t.ok(`query($d: ID!, $m: ID!) { domain(ref: $d) { metric(ref: $m) { total series(period: DAY) { value } } } }`, { d: domain, m: gauge }, service());
    const gaugeBefore = await read();
    for (const literal of ['1e400', '-1e400', '1' + '0'.repeat(400)]) {
      const float = literal.includes('e') ? literal : `${literal}.0`;
      await refused(() => post(`mutation { recordStatistic(domain: "${domain}", metric: "${gauge}", value: ${float}, period: LIFETIME) { value } }`), /^recordStatistic\.value: must be a finite number/);
      await refused(() => post(`mutation { logAction(input: { actor: { type: "Robot", id: "r" }, verb: "v", targets: [{ type: "Item", id: "${item.id}" }], data: { n: ${literal} } }) { id } }`), /^logAction\.input\.data\.n: must be a finite number/);
      await refused(
        () => post(LOG, `{"i":{"actor":{"type":"Robot","id":"r"},"verb":"v","targets":[{"type":"Item","id":"${item.id}"}],"data":{"deep":[1,{"n":${literal}}]}}}`),
        /^logAction\.input\.data\.deep\.1\.n: must be a finite number/,
      );
      await refused(() => post('mutation($v: Float!) { recordStatistic(domain: "' + domain + '", metric: "' + gauge + '", value: $v, period: DAY) { value } }', `{"v":${literal}}`), /value/);
    }
    expect(await read()).toEqual(gaugeBefore);
    // The largest finite double is a number like any other.
    const max = await post(`mutation { recordStatistic(domain: "${domain}", metric: "${gauge}", value: 1.7976931348623157e308, period: LIFETIME) { value } }`);
    expect(max.errors).toBeUndefined();
    expect((await read()).domain.metric.total).toBe(1.7976931348623157e308);
  });

  it('node ids have one spelling: node(id:) and markRead refuse the same malformed ids with BAD_USER_INPUT', async () => {
    const user = { token: await t.userToken(owner) };
    const seeded = (await t.ok('query($o: ObjectRefInput) { actions(involving: $o) { edges { node { id } } } }', { o: item }, service())).actions.edges[0].node.id as string;
    const dbId = Buffer.from(seeded, 'base64').toString('utf8').split(':')[1]!;
    const malformed = ['Action:-5', 'Action:0x10', 'Action: 1', 'Action:1e3', 'Action:', 'Action', 'Action:1:2', `Action:0${dbId}`, `Action:+${dbId}`, 'Action:0', 'Action:9223372036854775808'];
    for (const spelling of malformed) {
      const id = b64(spelling);
      const node = await t.gql('query($id: ID!) { node(id: $id) { id } }', { id }, service());
      expect(node.errors?.[0]?.extensions?.['code'], `${spelling}: ${JSON.stringify(node)}`).toBe('BAD_USER_INPUT');
      await refused(() => t.gql('mutation($ids: [ID!]!) { markRead(actionIds: $ids) }', { ids: [id] }, user), /^actionIds: ".*" is not an Action id/);
    }
    for (const spelling of ['Tracker:abc', 'Tracker:01', 'Tracker:2147483648']) {
      await refused(() => t.gql('query($t: ID) { unreadCount(tracker: $t) }', { t: b64(spelling) }, user), /^tracker: ".*" is not a Tracker id/);
      const node = await t.gql('query($id: ID!) { node(id: $id) { id } }', { id: b64(spelling) }, service());
      // Tracker ids are 32-bit: one past them is no tracker id, for node(id:) as for the filters.
      expect(node.errors?.[0]?.extensions?.['code'], spelling).toBe('BAD_USER_INPUT');
    }
    // The one spelling of the id is read by both.
    expect((await t.ok('query($id: ID!) { node(id: $id) { id } }', { id: b64(`Action:${dbId}`) }, service())).node.id).toBe(seeded);
  });

  it('answers these over HTTP with 400 (graphql-response+json), never 500 or 503', async () => {
    const response = await postJson(t, 'query($d: ID!) { domain(ref: $d) { ref } }', { d: NUL }, { accept: 'application/graphql-response+json' });
    expect(response.status).toBe(400);
  });
});

describe('what counts as "the database cannot be reached"', () => {
  it('connection failures do; a protocol violation (08P01) or a bad character (22021) does not', () => {
    expect(isDatabaseUnavailableError({ code: '08006', message: 'connection failure' })).toBe(true);
    expect(isDatabaseUnavailableError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' })).toBe(true);
    expect(isDatabaseUnavailableError({ code: '57P01', message: 'terminating connection due to administrator command' })).toBe(true);
    expect(isDatabaseUnavailableError({ code: '08P01', message: 'invalid message format' })).toBe(false);
    expect(isDatabaseUnavailableError({ code: '22021', message: 'invalid byte sequence for encoding "UTF8": 0x00' })).toBe(false);
    expect(isDatabaseUnavailableError(new Error('wrapped', { cause: { code: '08P01', message: 'protocol' } }))).toBe(false);
  });
});
