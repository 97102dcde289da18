import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { randomClientIp, raw } from './support.ts';

/**
 * HTTP status codes per the GraphQL-over-HTTP specification, for both response media types:
 * graphql-http's own audit of the generic cases, then a matrix of trackql's own errors.
 */

const GRAPHQL_RESPONSE = 'application/graphql-response+json';
const JSON_TYPE = 'application/json';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    TRUST_PROXY: 'true',
    MAX_DEPTH: '4',
    MAX_ALIASES: '3',
    RATE_LIMIT_REQUESTS: '3',
    RATE_LIMIT_INCREMENTS: '3',
    MAX_BODY_BYTES: '4096',
  });
  const s = { token: t.serviceToken };
  await t.ok('mutation { registerDomain(ref: "hs", name: "HS") { ref } }', {}, s);
  await t.ok('mutation { registerMetric(domain: "hs", ref: "c", name: "C", public: true) { ref } }', {}, s);
});
afterAll(async () => t?.stop());

interface Answer {
  status: number;
  contentType: string;
  body: { data?: unknown; errors?: Array<{ extensions?: Record<string, unknown> }> };
}

/** One POST from a client IP of its own (rate limits are per client), with the given Accept header. */
async function post(accept: string, query: string, variables: Record<string, unknown> = {}, token?: string, ip = randomClientIp()): Promise<Answer> {
  const response = await raw(t, {
    headers: {
      'content-type': 'application/json',
      accept,
      'x-forwarded-for': ip,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, contentType: String(response.headers['content-type']), body: JSON.parse(response.text) };
}

describe('graphql-http audits', () => {
  it('pass every audit (MUST and SHOULD) of the GraphQL-over-HTTP specification', async () => {
    const failures: string[] = [];
    // Each audit request from a client address of its own (this server's request budget is tiny).
    const fetchFn = (input: RequestInfo | URL, init: RequestInit = {}) =>
      fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), 'x-forwarded-for': randomClientIp() } });
    for (const audit of serverAudits({ url: `http://127.0.0.1:${t.port}/graphql`, fetchFn })) {
      const result = await audit.fn();
      if (result.status !== 'ok') failures.push(`${audit.id} ${audit.name}: ${result.reason}`);
    }
    expect(failures).toEqual([]);
  });
});

describe("status codes of trackql's own errors", () => {
  /** [case, query, variables, token or a function making one, status with graphql-response+json, with application/json, code] */
  type Case = [string, string, Record<string, unknown>, (() => Promise<string | undefined>) | undefined, number, number, string];
  const user = () => t.userToken(uniqueId('u'));
  const cases: Case[] = [
    // The operation ran: partial data (a field refused) is 200, with either media type.
    ['partial data, one field UNAUTHENTICATED', 'mutation { t: trackLabels(labels: "a::hs-dom") { accepted } u: untrack(input: { objectType: "X" }) { id } }', {}, undefined, 200, 200, 'UNAUTHENTICATED'],
    ['data null, the only field UNAUTHENTICATED', 'mutation { logAction(input: { actor: { type: "User", id: "x" }, verb: "v" }) { id } }', {}, undefined, 200, 200, 'UNAUTHENTICATED'],
    ['a field FORBIDDEN', 'mutation { foldCounters { folded } }', {}, user, 200, 200, 'FORBIDDEN'],
    ['a field BAD_USER_INPUT', '{ feed(first: -1) { edges { cursor } } }', {}, user, 200, 200, 'BAD_USER_INPUT'],
    ['a field NOT_FOUND', 'mutation { recordStatistic(domain: "nope", metric: "nope", value: 1, period: DAY) { value } }', {}, () => Promise.resolve(t.serviceToken), 200, 200, 'NOT_FOUND'],
    // The request could not run: 400 with graphql-response+json, 200 with application/json.
    ['query depth limit', '{ feed { edges { node { actor { id } } } } }', {}, user, 400, 200, 'QUERY_LIMIT_EXCEEDED'],
    ['query aliases limit', '{ a: viewer { id } b: viewer { id } c: viewer { id } d: viewer { id } }', {}, undefined, 400, 200, 'QUERY_LIMIT_EXCEEDED'],
    ['parse error', '{ viewer { ', {}, undefined, 400, 200, 'GRAPHQL_PARSE_FAILED'],
    ['unknown field', '{ nope }', {}, undefined, 400, 200, 'GRAPHQL_VALIDATION_FAILED'],
    ['variable of the wrong type', 'query($n: Int) { feed(first: $n) { edges { cursor } } }', { n: 'ten' }, user, 400, 200, 'BAD_USER_INPUT'],
    ['NUL character in a variable', 'query($d: ID!) { domain(ref: $d) { ref } }', { d: 'a\u0000b' }, undefined, 400, 200, 'BAD_USER_INPUT'],
    // Refused before GraphQL: the HTTP status, with either media type.
    ['a bad token', '{ viewer { id } }', {}, () => Promise.resolve('not-a-token'), 401, 401, 'UNAUTHENTICATED'],
  ];

  for (const [name, query, variables, token, graphqlResponseStatus, jsonStatus, code] of cases) {
    it(`${name}: ${graphqlResponseStatus} (${GRAPHQL_RESPONSE}), ${jsonStatus} (${JSON_TYPE}), ${code}`, async () => {
      for (const [accept, status] of [
        [GRAPHQL_RESPONSE, graphqlResponseStatus],
        [JSON_TYPE, jsonStatus],
      ] as const) {
        const answer = await post(accept, query, variables, await token?.());
        expect(answer.status, `${accept}: ${JSON.stringify(answer.body)}`).toBe(status);
        expect(answer.contentType).toContain(accept);
        expect(answer.body.errors?.[0]?.extensions?.['code']).toBe(code);
        // The spec's rule: a response with data is 2xx; 4xx/5xx only without data.
        if (answer.status >= 400) expect('data' in answer.body).toBe(false);
      }
    });
  }

  it('the request rate limit refuses the whole request: 429 with Retry-After, with either media type', async () => {
    for (const accept of [GRAPHQL_RESPONSE, JSON_TYPE]) {
      const ip = randomClientIp();
      for (let i = 0; i < 3; i++) expect((await post(accept, '{ __typename }', {}, undefined, ip)).status).toBe(200);
      const limited = await raw(t, {
        headers: { 'content-type': 'application/json', accept, 'x-forwarded-for': ip },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.json().errors?.[0]?.extensions?.['code']).toBe('RATE_LIMITED');
    }
  });

  it('a field refused by its own budget (increments) is 200, and keeps Retry-After', async () => {
    for (const accept of [GRAPHQL_RESPONSE, JSON_TYPE]) {
      const token = await user();
      const event = { domain: 'hs', metric: 'c' };
      const query = 'mutation($e: [IncrementInput!]!) { a: trackLabels(labels: "x::hs-dom") { accepted } b: increment(events: $e) { accepted } c: increment(events: $e) { accepted } }';
      const response = await raw(t, {
        headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables: { e: [event, event] } }),
      });
      expect(response.status, response.text).toBe(200);
      // `increment` is non-null: the refused field nulls the whole data (an operation that ran, still 200).
      expect(response.json().data).toBeNull();
      expect(response.json().errors?.[0]?.extensions?.['code']).toBe('RATE_LIMITED');
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    }
  });

  it('transport refusals keep their status with either media type: body too large 413, CSRF 403', async () => {
    for (const accept of [GRAPHQL_RESPONSE, JSON_TYPE]) {
      const big = await raw(t, {
        headers: { 'content-type': 'application/json', accept },
        body: JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(5000) } }),
      });
      expect(big.status).toBe(413);
      const csrf = await raw(t, { headers: { 'content-type': 'text/plain', accept }, body: JSON.stringify({ query: '{ __typename }' }) });
      expect(csrf.status).toBe(403);
    }
  });

  it('variables or extensions that are not JSON in a query string (GET, a form body, SSE) are a malformed request: 400 BAD_REQUEST', async () => {
    const query = encodeURIComponent('{ __typename }');
    for (const params of [`variables=notjson`, `variables=%7B`, `extensions=x`, `variables=%7B%7D&extensions=%5B`]) {
      for (const accept of [GRAPHQL_RESPONSE, JSON_TYPE]) {
        const get = await raw(t, { method: 'GET', path: `/graphql?query=${query}&${params}`, headers: { accept, 'x-forwarded-for': randomClientIp() } });
        expect(get.status, `GET ${params} ${accept}`).toBe(400);
        expect(get.json().errors?.[0]?.extensions?.['code'], params).toBe('BAD_REQUEST');
        const form = await raw(t, {
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-graphql-csrf': '1', accept, 'x-forwarded-for': randomClientIp() },
          body: `query=${query}&${params}`,
        });
        expect(form.status, `form ${params} ${accept}`).toBe(400);
        expect(form.json().errors?.[0]?.extensions?.['code'], params).toBe('BAD_REQUEST');
      }
      const sse = await raw(t, { method: 'GET', path: `/graphql?query=${query}&${params}`, headers: { accept: 'text/event-stream', 'x-forwarded-for': randomClientIp() } });
      expect(sse.text, params).toContain('BAD_REQUEST');
      expect(sse.text, params).not.toContain('INTERNAL_SERVER_ERROR');
    }
  });
});
