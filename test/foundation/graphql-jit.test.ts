import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type GraphQLResponse, type TestApp } from '../support/app.ts';

// GRAPHQL_JIT=true must answer exactly like Yoga's executor (GRAPHQL_JIT=false): the same data, the same
// contract errors (codes, messages, paths), the same subscriptions. Whatever GRAPHQL_JIT the suite runs with.
let jit: TestApp;
let yoga: TestApp;

beforeAll(async () => {
  jit = await startTestApp({ GRAPHQL_JIT: 'true' });
  yoga = await startTestApp({ GRAPHQL_JIT: 'false' });
  for (const t of [jit, yoga]) {
    await t.ok(
      `mutation { registerDomain(ref: "jit", name: "JIT") { ref }
        registerMetric(domain: "jit", ref: "views", name: "Views", public: true) { ref } }`,
      {},
      { token: t.serviceToken },
    );
  }
});
afterAll(async () => {
  await jit?.stop();
  await yoga?.stop();
});

/** The response without what differs per request (request ids). */
function comparable(response: GraphQLResponse): unknown {
  return JSON.parse(JSON.stringify(response), (key, value) => (key === 'requestId' ? undefined : value));
}

async function both(query: string, variables: Record<string, unknown>, token?: 'service' | 'anonymous') {
  const [a, b] = await Promise.all(
    [jit, yoga].map((t) => t.gql(query, variables, { token: token === 'anonymous' ? undefined : t.serviceToken })),
  );
  return { jit: comparable(a!), yoga: comparable(b!), raw: a! };
}

const INCREMENT = 'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted rejected { index reason } } }';

describe('GRAPHQL_JIT=true answers like Yoga’s executor', () => {
  it('increments of 100 input objects (defaults, nulls, labels), accepted and rejected', async () => {
    const events = Array.from({ length: 100 }, (_, i) => ({
      domain: 'jit',
      metric: i % 10 === 9 ? 'nope' : 'views',
      object: { type: 'Page', id: `p${i % 7}`, ...(i % 3 ? { label: `Page ${i}` } : { label: null }) },
      ...(i % 2 ? { by: 2 } : {}),
      category: i % 4 ? 'web' : null,
    }));
    const r = await both(INCREMENT, { e: events }, 'anonymous');
    expect(r.jit).toEqual(r.yoga);
    expect((r.raw.data as any).increment.accepted).toBe(90);
    const totals = await both('{ domain(ref: "jit") { metric(ref: "views") { total t: total(object: {type: "Page", id: "p1"}) } } }', {});
    expect(totals.jit).toEqual(totals.yoga);
  });

  it('bad input: validation (zod) issues, mistyped and malformed nested variables, contract errors; introspection', async () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      [INCREMENT, { e: [{ domain: 'jit', metric: 'views', object: { type: '1bad type', id: '' } }] }],
      ['mutation($e: [IncrementInput!]!) {\r\n  viewer { role }\n\n    a: increment(events: $e) { accepted }\n}', { e: [{ domain: 'jit', metric: 'views', object: { type: 'T', id: '' } }] }],
      [INCREMENT, { e: [{ domain: 'jit', metric: 'views', at: '2024-13-45T00:00:00Z' }] }],
      [INCREMENT, { e: [{ domain: 'jit', metric: 'views', by: 'two' }] }],
      [INCREMENT, { e: [{ domain: 'jit' }] }],
      [INCREMENT, {}],
      ['query($u: ID) { node(id: $u) { id } }', { u: 'not-a-node-id' }],
      ['mutation { registerMetric(domain: "missing", ref: "x", name: "X") { ref } }', {}],
      ['{ __schema { queryType { name } types { name kind fields { name args { name defaultValue } } } } }', {}],
    ];
    for (const [query, variables] of cases) {
      const r = await both(query, variables);
      expect(r.jit, `${query} ${JSON.stringify(variables)}`).toEqual(r.yoga);
      if (!query.includes('__schema')) expect(r.raw.errors?.length).toBeGreaterThan(0);
    }
  });

  it('variables inside the literal of a JSON argument reach it (graphql-jit dropped them silently)', async () => {
    const query = `mutation($k: String, $n: Int) {
      logAction(input: { actor: { type: "Bot", id: "jit" }, verb: "noted", data: { k: $k, fixed: 1, list: [$k, 2, { n: $n }], nested: { x: $n } } }) { data }
    }`;
    const r = await both(query, { k: 'hello', n: 7 });
    const data = { k: 'hello', fixed: 1, list: ['hello', 2, { n: 7 }], nested: { x: 7 } };
    expect(r.jit).toEqual({ data: { logAction: { data } } });
    expect(r.yoga).toEqual(r.jit);
    // A variable left out is an absent key, as graphql-js's JSON scalar reads it.
    const absent = await both(query, { k: 'only' });
    expect(absent.jit).toEqual(absent.yoga);
  });

  it('picks the named operation of a document with several (compiled per operation)', async () => {
    const document = 'query A { viewer { role } } query B { domains { ref } }';
    for (const operationName of ['A', 'B', 'A']) {
      const [a, b] = await Promise.all(
        [jit, yoga].map((t) =>
          fetch(t.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${t.serviceToken}` },
            body: JSON.stringify({ query: document, operationName }),
          }).then((res) => res.json()),
        ),
      );
      expect(a).toEqual(b);
      expect(Object.keys(a.data)).toEqual([operationName === 'A' ? 'viewer' : 'domains']);
    }
  });

  it('subscription arguments given as literals and as variables reach the field (graphql-jit #183)', async () => {
    const user = uniqueId('u');
    const received: string[] = [];
    const errors: unknown[] = [];
    const client: Client = jit.wsClient(jit.serviceToken);
    const subscribe = (query: string, variables: Record<string, unknown>, label: string) =>
      client.subscribe<{ feed: { kind: string } }>(
        { query, variables },
        { next: (v) => (v.errors ? errors.push(v.errors) : received.push(`${label}:${v.data?.feed.kind}`)), error: (e) => errors.push(e), complete: () => {} },
      );
    const stopLiteral = subscribe(`subscription { feed(user: "${user}") { kind } }`, {}, 'literal');
    const stopVariable = subscribe('subscription($u: ID) { feed(user: $u) { kind } }', { u: user }, 'variable');
    const object = { type: 'Doc', id: uniqueId('d') };
    await jit.ok('mutation($i: TrackInput!) { track(input: $i) { id } }', { i: { owner: user, object } }, { token: jit.serviceToken });
    for (let i = 0; i < 50 && received.length < 2; i++) {
      await jit.ok('mutation($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { actor: object, verb: 'edited', groupingDelay: -1 } }, { token: jit.serviceToken });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(errors).toEqual([]);
    expect(received).toContain('literal:ADDED');
    expect(received).toContain('variable:ADDED');
    stopLiteral();
    stopVariable();

    // Another user naming this user's feed, as a literal: refused, as with Yoga's executor.
    const other = jit.wsClient(await jit.userToken(uniqueId('x')));
    const refused = await new Promise<unknown>((resolve) => {
      other.subscribe(
        { query: `subscription { feed(user: "${user}") { kind } }` },
        { next: (v) => resolve(v), error: (e) => resolve(e), complete: () => resolve('complete') },
      );
    });
    expect(JSON.stringify(refused)).toMatch(/FORBIDDEN/);
  });
});
