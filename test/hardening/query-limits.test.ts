import fs from 'node:fs';
import { getIntrospectionQuery, Kind, parse, print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { expectRefused, postJson, runWs } from './support.ts';

const LOG = 'mutation($i: LogActionInput!) { logAction(input: $i) { id } }';
const ACTIONS_OF = 'query($a: ObjectRefInput) { actions(actor: $a) { edges { node { id } } } }';

describe('query limits (small limits, to probe each one)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      MAX_DEPTH: '4',
      MAX_ALIASES: '3',
      MAX_TOKENS: '1000',
      MAX_DIRECTIVES: '3',
      MAX_COST: '200',
    });
  });
  afterAll(async () => t?.stop());

  it('a query inside every limit runs', async () => {
    const user = uniqueId('u');
    const result = await t.ok('{ a: viewer { id } b: viewer { role } feed(first: 5) { edges { node { id } } } }', {}, { token: await t.userToken(user) });
    expect(result.a.id).toBe(user);
  });

  it('refuses a deep query with QUERY_LIMIT_EXCEEDED: HTTP 400 (graphql-response+json; 200 for application/json)', async () => {
    const deep = '{ feed { edges { node { actor { id } } } } }';
    const auth = { authorization: `Bearer ${t.serviceToken}` };
    expect((await postJson(t, deep, {}, auth)).status).toBe(200);
    const response = await postJson(t, deep, {}, { ...auth, accept: 'application/graphql-response+json' });
    expect(response.status).toBe(400);
    expectRefused(response.json(), 'QUERY_LIMIT_EXCEEDED', /depth limit of 4 exceeded/);
    expect(response.json().errors?.[0]?.extensions?.['limit']).toBe('maxDepth');
  });

  it('counts depth through fragments', async () => {
    const query = 'query { ...F } fragment F on Query { feed { edges { node { actor { id } } } } }';
    expectRefused(await t.gql(query, {}, { token: t.serviceToken }), 'QUERY_LIMIT_EXCEEDED', /depth/);
  });

  it('refuses a wide query (one field repeated 300 times) by cost', async () => {
    const query = `{ viewer { ${Array(300).fill('id').join(' ')} } }`;
    expectRefused(await t.gql(query), 'QUERY_LIMIT_EXCEEDED', /cost limit of 200 exceeded/i);
  });

  it('refuses too many aliases, and stores nothing of an aliased mutation batch', async () => {
    expectRefused(await t.gql('{ a: viewer { id } b: viewer { id } c: viewer { id } d: viewer { id } }'), 'QUERY_LIMIT_EXCEEDED', /aliases limit of 3 exceeded/i);
    const actor = { type: 'Robot', id: uniqueId('r') };
    const batch = `mutation($i: LogActionInput!) { ${['a', 'b', 'c', 'd', 'e'].map((a) => `${a}: logAction(input: $i) { id }`).join(' ')} }`;
    expectRefused(await t.gql(batch, { i: { actor, verb: 'spam' } }, { token: t.serviceToken }), 'QUERY_LIMIT_EXCEEDED', /aliases/i);
    expect((await t.ok(ACTIONS_OF, { a: actor }, { token: t.serviceToken })).actions.edges).toEqual([]);
  });

  it('refuses a token-heavy query before parsing it all', async () => {
    const query = `{ ${Array(1100).fill('__typename').join(' ')} }`;
    expectRefused(await t.gql(query), 'QUERY_LIMIT_EXCEEDED', /token limit of 1000 exceeded/i);
  });

  it('refuses too many directives', async () => {
    const query = '{ viewer { id @skip(if: false) role @skip(if: false) } a: __typename @skip(if: false) b: __typename @include(if: true) }';
    expectRefused(await t.gql(query), 'QUERY_LIMIT_EXCEEDED', /directives limit of 3 exceeded/i);
  });

  it('hides field suggestions', async () => {
    const result = await t.gql('{ viewr { id } }');
    expect(result.errors?.[0]?.message).toMatch(/Cannot query field "viewr"/);
    expect(JSON.stringify(result)).not.toMatch(/Did you mean/);
  });

  it('hides every other "Did you mean": enum values and input fields, in literals and in variables, over HTTP and websockets', async () => {
    // [query, variables, what an error says, what no error may say]
    const cases: Array<[string, Record<string, unknown>, RegExp, RegExp]> = [
      ['{ feed(minLevel: INF) { syncCursor } }', {}, /"INF"/, /INFO/],
      ['query Q($l: Level) { feed(minLevel: $l) { syncCursor } }', { l: 'INF' }, /"INF" does not exist in "Level" enum/, /INFO/],
      ['query Q($b: [FeedCountKey!]!) { feedCounts(by: $b) { key } }', { b: ['TRACKR'] }, /"TRACKR"/, /TRACKER/],
      ['query Q($o: ObjectRefInput) { actions(involving: $o) { edges { node { id } } } }', { o: { typ: 'a', id: '1', x: 1 } }, /"typ" is not defined by type "ObjectRefInput"/, /Did you mean/],
      ['{ actions(involving: { typ: "a", id: "1" }) { edges { node { id } } } }', {}, /"typ"/, /Did you mean/],
    ];
    const token = await t.userToken(uniqueId('suggest'));
    for (const [query, variables, says, hidden] of cases) {
      const result = await t.gql(query, variables, { token });
      expect(result.errors?.map((e) => e.message).join(' | '), query).toMatch(says);
      expect(JSON.stringify(result), query).not.toMatch(/Did you mean/);
      expect(JSON.stringify(result), query).not.toMatch(hidden);
    }
    const ws = await runWs(t.wsClient(token), cases[1]![0], cases[1]![1]);
    expect(JSON.stringify(ws)).toMatch(/INF\\" does not exist/);
    expect(JSON.stringify(ws)).not.toMatch(/Did you mean|INFO/);
  });

  it('applies the same limits over graphql-ws, as operation errors (the connection stays up)', async () => {
    const client = t.wsClient(t.serviceToken);
    const deep = await runWs(client, '{ feed { edges { node { actor { id } } } } }');
    expect(JSON.stringify(deep.error)).toMatch(/depth limit of 4 exceeded/);
    expect(JSON.stringify(deep.error)).toMatch(/QUERY_LIMIT_EXCEEDED/);
    const tokens = await runWs(client, `{ ${Array(1100).fill('__typename').join(' ')} }`);
    expect(JSON.stringify(tokens.error)).toMatch(/token limit of 1000 exceeded/i);
    const aliases = await runWs(client, 'subscription { a: feed { unreadCount } b: feed { unreadCount } c: feed { unreadCount } d: feed { unreadCount } }');
    expect(JSON.stringify(aliases.error)).toMatch(/aliases limit/i);
    const fine = await runWs(client, '{ viewer { role } }');
    expect(fine.values).toEqual([{ data: { viewer: { role: 'SERVICE' } } }]);
  });
});

describe('default limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.stop());

  it("refuses literals nested deeper than 100 before parsing (graphql's recursive parser ran out of stack: an internal error)", async () => {
    const auth = { authorization: `Bearer ${t.serviceToken}`, accept: 'application/graphql-response+json' };
    for (const inner of ['null', '"x"', '1', 'SOME_ENUM']) {
      for (const n of [150, 1_900, 50_000]) {
        const response = await postJson(t, `{ labelStats(domIds: ${'['.repeat(n)}${inner}${']'.repeat(n)}) { count } }`, {}, auth);
        expect(response.status).toBe(400);
        expectRefused(response.json(), 'QUERY_LIMIT_EXCEEDED', /Nesting limit of 100 exceeded/);
      }
    }
    const objects = await postJson(t, `mutation { logAction(input: { actor: { type: "R", id: "r" }, verb: "v", data: ${'{a:'.repeat(20_000)}1${'}'.repeat(20_000)} }) { id } }`, {}, auth);
    expectRefused(objects.json(), 'QUERY_LIMIT_EXCEEDED', /Nesting limit/);
    // Brackets inside strings, block strings and comments do not count; 100 levels are parsed (and validated).
    const quoted = `{ labelStats(domIds: ["${'['.repeat(300)}", """${'{'.repeat(300)}"""]) { count } # ${'('.repeat(300)}\n}`;
    // (parsed, then refused as DOM ids: brackets are not DOM id characters)
    expectRefused((await postJson(t, quoted, {}, auth)).json(), 'BAD_USER_INPUT', /domIds/);
    const hundred = await postJson(t, `{ labelStats(domIds: ${'['.repeat(98)}"x"${']'.repeat(98)}) { count } }`, {}, auth);
    expectRefused(hundred.json(), 'GRAPHQL_VALIDATION_FAILED', /String cannot represent/);
  });

  it("let GraphiQL's introspection query and realistic queries through", async () => {
    const schema = await t.ok(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true }));
    expect(schema.__schema.queryType.name).toBe('Query');
    const feed = await t.ok(
      `{ feed(first: 20) { edges { cursor node { id verb level timestamp groupedCount unread text data
           actor { type id label deleted description } targets { type id label deleted } related { type id label } } }
         pageInfo { hasNextPage endCursor } } unreadCount trackers { id objectType verbs object { type id } } }`,
      {},
      { token: await t.userToken(uniqueId('u')) },
    );
    expect(feed.feed.edges).toEqual([]);
  });

  it('let every README example through (no QUERY_LIMIT_EXCEEDED), subscriptions included', async () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const operations = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].flatMap((m) =>
      parse(m[1]!).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION),
    );
    expect(operations.length).toBeGreaterThan(10);
    const client = t.wsClient(await t.userToken(uniqueId('readme')));
    for (const operation of operations) {
      const query = print(operation);
      if (operation.operation === 'subscription') {
        const outcome = await Promise.race([runWs(client, query), new Promise<null>((r) => setTimeout(() => r(null), 500))]);
        expect(outcome, query).toBeNull(); // still running: accepted
      } else {
        const result = await t.gql(query, {}, { token: t.serviceToken });
        expect(result.errors?.filter((e) => e.extensions?.['code'] === 'QUERY_LIMIT_EXCEEDED') ?? [], query).toEqual([]);
      }
    }
  });

  it('let a full page (first: 100) of feed and actions through, with a reasonable selection', async () => {
    const token = await t.userToken(uniqueId('page'));
    const objects = '{ type id label deleted }';
    const node = `id verb text unread timestamp level groupedCount data actor ${objects} targets ${objects} related ${objects} matchedTrackers { id objectType verbs object { type id } }`;
    await t.ok(`{ feed(first: 100) { edges { cursor node { ${node} } } pageInfo { hasNextPage endCursor } } unreadCount }`, {}, { token });
    // The selection of the review (actor, targets and related as { type id }) with a variable page size.
    const minimal = 'node { actor { type id } targets { type id } related { type id } }';
    await t.ok(`query($n: Int) { feed(first: $n) { edges { ${minimal} } } }`, { n: 100 }, { token });
    await t.ok(`query($n: Int) { actions(actor: { type: "User", id: "x" }, first: $n) { edges { cursor ${minimal} } pageInfo { endCursor } } }`, { n: 100 }, { token });
  });

  it('refuse what costs much more than that, whether page sizes are literals or variables', async () => {
    const token = await t.userToken(uniqueId('abuse'));
    const page = 'edges { node { id verb actor { type id } targets { type id } related { type id } } }';
    const aliased = Array.from({ length: 12 }, (_, i) => `f${i}: feed(first: $n) { ${page} }`).join(' ');
    const byVariable = await t.gql(`query($n: Int) { ${aliased} }`, { n: 100 }, { token });
    expectRefused(byVariable, 'QUERY_LIMIT_EXCEEDED', /^Query cost limit of 5000 exceeded: this operation costs \d+ \(MAX_COST/);
    expect(byVariable.errors?.[0]?.extensions?.['limit']).toBe('costLimit');
    // The same with small pages is fine: the cost follows what is asked for.
    await t.ok(`query($n: Int) { ${aliased} }`, { n: 10 }, { token });
    // Nested lists multiply: every metric of every domain, each with its top 100 objects and a series.
    const nested = '{ domains { metrics { total series(period: HOUR) { start value } top(period: DAY, limit: 100) { object { type id label } value } } } }';
    expectRefused(await t.gql(nested), 'QUERY_LIMIT_EXCEEDED', /cost limit of 5000 exceeded/);
  });

  it('refusals never claim a syntax error, and name the setting', async () => {
    const cases: Array<[string, RegExp]> = [
      [`{ ${Array.from({ length: 16 }, (_, i) => `a${i}: viewer { id }`).join(' ')} }`, /^Aliases limit of 15 exceeded, found 16 \(MAX_ALIASES\)\.$/],
      [`{ ${Array(2100).fill('__typename').join(' ')} }`, /^Token limit of 2000 exceeded \(MAX_TOKENS\)\.$/],
      [`{ viewer { ${Array.from({ length: 21 }, () => 'id @skip(if: false)').join(' ')} } }`, /^Directives limit of 20 exceeded, found 21 \(MAX_DIRECTIVES\)\.$/],
      ['{ __type(name: "Query") { fields { type { fields { type { fields { type { fields { type { fields { type { name } } } } } } } } } } } }', /^Query depth limit of 10 exceeded, found \d+ \(MAX_DEPTH\)\.$/],
    ];
    for (const [query, message] of cases) {
      const result = await t.gql(query, {}, { token: t.serviceToken });
      expectRefused(result, 'QUERY_LIMIT_EXCEEDED', message);
      expect(result.errors?.[0]?.message).not.toMatch(/syntax/i);
    }
  });

  it('refuse a deep introspection query (`__type` is not exempt)', async () => {
    const query = '{ __type(name: "Query") { fields { type { fields { type { fields { type { fields { type { fields { type { name } } } } } } } } } } } }';
    expectRefused(await t.gql(query), 'QUERY_LIMIT_EXCEEDED', /depth limit of 10 exceeded/);
  });
});

describe('introspection switch', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ INTROSPECTION: 'false' });
  });
  afterAll(async () => t?.stop());

  it('INTROSPECTION=false refuses __schema and __type but keeps __typename', async () => {
    expectRefused(await t.gql('{ __schema { types { name } } }'), 'GRAPHQL_VALIDATION_FAILED', /introspection/i);
    expectRefused(await t.gql('{ __type(name: "Query") { name } }'), 'GRAPHQL_VALIDATION_FAILED', /introspection/i);
    expect(await t.ok('{ __typename }')).toEqual({ __typename: 'Query' });
  });

  it('production defaults: introspection and GraphiQL off unless asked for', () => {
    const secret = 'x'.repeat(40);
    const production = loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret });
    expect(production.limits.introspection).toBe(false);
    expect(production.graphiql).toBe(false);
    const opted = loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, INTROSPECTION: 'true', GRAPHIQL: 'true' });
    expect(opted.limits.introspection).toBe(true);
    expect(opted.graphiql).toBe(true);
    const development = loadConfig({ NODE_ENV: 'development' });
    expect(development.limits.introspection).toBe(true);
    expect(development.graphiql).toBe(true);
  });

  it('limits are validated at start-up', () => {
    expect(() => loadConfig({ MAX_DEPTH: '0' })).toThrow(/MAX_DEPTH/);
    expect(() => loadConfig({ JWT_ALGORITHMS: 'HS256' })).toThrow(/JWT_ALGORITHMS/);
    expect(() => loadConfig({ JWT_ALGORITHMS: 'none' })).toThrow(/JWT_ALGORITHMS/);
    expect(() => loadConfig({ JWT_PUBLIC_KEY: 'not a key' })).toThrow(/JWT_PUBLIC_KEY/);
    expect(() => loadConfig({ MAX_BODY_BYTES: '10' })).toThrow(/MAX_BODY_BYTES/);
  });
});
