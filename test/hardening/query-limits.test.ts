import { getIntrospectionQuery } from 'graphql';
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
