import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { expectRefused, postJson, randomClientIp, randomLoopback, raw, runWs, sleep } from './support.ts';

const VIEWER = '{ viewer { role id } }';
const LOG = 'mutation($i: LogActionInput!) { logAction(input: $i) { id } }';
const ACTIONS_OF = 'query($a: ObjectRefInput) { actions(actor: $a) { edges { node { id } } } }';

describe('per-client request limits (3 per 2 s, behind a trusted proxy)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      RATE_LIMIT_REQUESTS: '3',
      RATE_LIMIT_WINDOW_SECONDS: '2',
      RATE_LIMIT_INCREMENTS: '10',
      TRUST_PROXY: 'true',
    });
  });
  afterAll(async () => t?.stop());

  it('a user exhausts its budget, gets 429 RATE_LIMITED with a retry hint, and recovers after it', async () => {
    const token = await t.userToken(uniqueId('u'));
    const auth = { authorization: `Bearer ${token}` };
    for (let i = 0; i < 3; i++) expect((await postJson(t, VIEWER, {}, auth)).status).toBe(200);
    const limited = await postJson(t, VIEWER, {}, auth);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    expectRefused(limited.json(), 'RATE_LIMITED', /at most 3 requests per 2s; retry in \ds/);
    expect(limited.json().errors?.[0]?.extensions).toMatchObject({ retryAfterSeconds: retryAfter, bucket: 'request', limit: 3 });
    expect(limited.json().errors?.[0]?.extensions?.['http']).toBeUndefined();
    // Refused requests consume nothing: hammering does not push the recovery back.
    for (let i = 0; i < 5; i++) expect((await postJson(t, VIEWER, {}, auth)).status).toBe(429);
    await sleep(retryAfter * 1000 + 100);
    expect((await postJson(t, VIEWER, {}, auth)).status).toBe(200);
  });

  it('limits are per client: another user, and services, are not affected', async () => {
    const noisy = await t.userToken(uniqueId('noisy'));
    for (let i = 0; i < 4; i++) await t.gql(VIEWER, {}, { token: noisy });
    expectRefused(await t.gql(VIEWER, {}, { token: noisy }), 'RATE_LIMITED');
    expect((await t.ok(VIEWER, {}, { token: await t.userToken(uniqueId('quiet')) })).viewer.role).toBe('USER');
    for (let i = 0; i < 10; i++) expect((await t.ok(VIEWER, {}, { token: t.serviceToken })).viewer.role).toBe('SERVICE');
  });

  it('anonymous callers are limited per IP (the address our proxy saw, not what the client claims)', async () => {
    const ip = randomClientIp();
    for (let i = 0; i < 3; i++) expect((await t.gql(VIEWER, {}, { headers: { 'x-forwarded-for': ip } })).data).toBeTruthy();
    expectRefused(await t.gql(VIEWER, {}, { headers: { 'x-forwarded-for': ip } }), 'RATE_LIMITED');
    // Prepending invented addresses does not help: only the last hop is trusted.
    expectRefused(await t.gql(VIEWER, {}, { headers: { 'x-forwarded-for': `${randomClientIp()}, ${ip}` } }), 'RATE_LIMITED');
    expect((await t.gql(VIEWER, {}, { headers: { 'x-forwarded-for': randomClientIp() } })).data).toBeTruthy();
  });

  it('IPv6 clients are limited per /64', async () => {
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    for (let i = 0; i < 3; i++) await t.gql(VIEWER, {}, { headers: { 'x-forwarded-for': `${prefix}::${i + 1}` } });
    expectRefused(await t.gql(VIEWER, {}, { headers: { 'x-forwarded-for': `${prefix}:dead:beef::99` } }), 'RATE_LIMITED');
  });

  it('a limited mutation stores nothing', async () => {
    const userId = uniqueId('writer');
    const token = await t.userToken(userId);
    for (let i = 0; i < 3; i++) await t.gql(VIEWER, {}, { token });
    const actor = { type: 'User', id: userId };
    expectRefused(await t.gql(LOG, { i: { actor, verb: 'spammed' } }, { token }), 'RATE_LIMITED');
    expect((await t.ok(ACTIONS_OF, { a: actor }, { token: t.serviceToken })).actions.edges).toEqual([]);
  });

  it('operations over graphql-ws draw from the same budget', async () => {
    const token = await t.userToken(uniqueId('ws'));
    for (let i = 0; i < 3; i++) await t.gql(VIEWER, {}, { token });
    const outcome = await runWs(t.wsClient(token), VIEWER);
    const errors = (outcome.values[0] as { errors?: Array<{ extensions: Record<string, unknown> }> }).errors;
    expect(errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', bucket: 'request' });
    expect(errors?.[0]?.extensions['retryAfterSeconds']).toBeGreaterThanOrEqual(1);
  });

  it('ctx.services.rateLimiter.consume: budgets per bucket, refusals charge nothing, oversized costs are bad input', async () => {
    const limiter = t.app.services.rateLimiter;
    const subject = { viewer: { kind: 'user' as const, id: uniqueId('api') }, clientIp: null };
    expect((await limiter.consume(subject, 'increment', 6)).remaining).toBe(4);
    await expect(limiter.consume(subject, 'increment', 5)).rejects.toMatchObject({
      extensions: { code: 'RATE_LIMITED', bucket: 'increment', limit: 10 },
    });
    expect((await limiter.consume(subject, 'increment', 4)).remaining).toBe(0);
    await expect(limiter.consume(subject, 'increment', 11)).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    // Other buckets of the same client are independent.
    expect((await limiter.consume(subject, 'logAction', 1)).allowed).toBe(true);
    const anonymousWithoutAddress = { viewer: { kind: 'anonymous' as const }, clientIp: null };
    expect((await limiter.check(anonymousWithoutAddress, 'increment', 1000)).allowed).toBe(true);
  });
});

describe('without a trusted proxy', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_REQUESTS: '3', RATE_LIMIT_WINDOW_SECONDS: '30', RATE_LIMIT_SERVICES: 'true' });
  });
  afterAll(async () => t?.stop());

  it('X-Forwarded-For is ignored: rotating it does not escape the per-IP limit', async () => {
    const localAddress = randomLoopback();
    for (let i = 0; i < 3; i++) {
      const response = await postJson(t, VIEWER, {}, { 'x-forwarded-for': randomClientIp() }, { localAddress });
      expect(response.status).toBe(200);
    }
    const limited = await postJson(t, VIEWER, {}, { 'x-forwarded-for': randomClientIp() }, { localAddress });
    expect(limited.status).toBe(429);
    expect((await postJson(t, VIEWER, {}, {}, { localAddress: randomLoopback() })).status).toBe(200);
  });

  it('RATE_LIMIT_SERVICES=true limits service tokens too', async () => {
    const token = await t.app.tokens.sign({ sub: uniqueId('svc'), roles: ['service'] });
    for (let i = 0; i < 3; i++) await t.ok(VIEWER, {}, { token });
    expectRefused(await t.gql(VIEWER, {}, { token }), 'RATE_LIMITED');
  });
});

describe.skipIf(!process.env['REDIS_URL'])('with REDIS_URL, limits hold across instances', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const env = { RATE_LIMIT_REQUESTS: '4', RATE_LIMIT_WINDOW_SECONDS: '30' };
    [a, b] = await Promise.all([startTestApp(env), startTestApp(env)]);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('two instances share one budget per client', async () => {
    expect(a.app.services.rateLimiter.storeKind).toBe('redis');
    const userId = uniqueId('shared');
    const [ta, tb] = [await a.userToken(userId), await b.userToken(userId)];
    await a.ok(VIEWER, {}, { token: ta });
    await b.ok(VIEWER, {}, { token: tb });
    await a.ok(VIEWER, {}, { token: ta });
    await b.ok(VIEWER, {}, { token: tb });
    expectRefused(await a.gql(VIEWER, {}, { token: ta }), 'RATE_LIMITED');
    expectRefused(await b.gql(VIEWER, {}, { token: tb }), 'RATE_LIMITED');
    expect((await b.ok(VIEWER, {}, { token: await b.userToken(uniqueId('other')) })).viewer.role).toBe('USER');
  });
});

describe('module budgets: increments, labels (and the beacon), logAction; cost = events', () => {
  let t: TestApp;
  const domain = uniqueId('rl');
  const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
  const INC = 'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }';
  const total = async (category: string) =>
    (await t.ok('query($d: ID!, $c: String) { domain(ref: $d) { metric(ref: "c") { total(category: $c) } } }', { d: domain, c: category }, { token: t.serviceToken }))
      .domain.metric.total as number;
  const labelCount = async (domId: string) =>
    ((await t.ok('query($d: [String!]!) { labelStats(domIds: $d) { count } }', { d: [domId] })).labelStats as Array<{ count: number }>).reduce((a, s) => a + s.count, 0);

  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_INCREMENTS: '5', RATE_LIMIT_LABELS: '4', RATE_LIMIT_ACTIONS: '2', RATE_LIMIT_WINDOW_SECONDS: '60' });
    await t.ok('mutation($d: ID!) { registerDomain(ref: $d, name: "R") { ref } }', { d: domain }, { token: t.serviceToken });
    await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "c", name: "C", public: true) { ref } }', { d: domain }, { token: t.serviceToken });
  });
  afterAll(async () => t?.stop());

  it('increment is charged per event: 3 + 3 > 5 is refused whole, 2 more fit; the refused batch stores nothing', async () => {
    const token = await t.userToken(uniqueId('inc'));
    const events = (n: number) => Array.from({ length: n }, () => ({ domain, metric: 'c', category: 'inc' }));
    expect((await t.ok(INC, { e: events(3) }, { token, headers: { 'user-agent': BROWSER_UA } })).increment.accepted).toBe(3);
    const limited = await t.gql(INC, { e: events(3) }, { token, headers: { 'user-agent': BROWSER_UA } });
    expectRefused(limited, 'RATE_LIMITED', /increment/);
    expect(limited.errors?.[0]?.extensions).toMatchObject({ bucket: 'increment', limit: 5 });
    expect(await total('inc')).toBe(3);
    expect((await t.ok(INC, { e: events(2) }, { token, headers: { 'user-agent': BROWSER_UA } })).increment.accepted).toBe(2);
    expect(await total('inc')).toBe(5);
  });

  it('incrementObjects draws from the same budget, one per object', async () => {
    const token = await t.userToken(uniqueId('obj'));
    const q = 'mutation($d: ID!, $ids: [ID!]!) { incrementObjects(domain: $d, metric: "c", objectType: "P", objectIds: $ids, category: "obj") { accepted } }';
    expect((await t.ok(q, { d: domain, ids: ['1', '2', '3', '4'] }, { token, headers: { 'user-agent': BROWSER_UA } })).incrementObjects.accepted).toBe(4);
    expectRefused(await t.gql(q, { d: domain, ids: ['5', '6'] }, { token, headers: { 'user-agent': BROWSER_UA } }), 'RATE_LIMITED');
    expect(await total('obj')).toBe(4);
  });

  it('trackLabels is charged per label; the refused call stores nothing', async () => {
    const token = await t.userToken(uniqueId('lab'));
    const domId = uniqueId('dom');
    const q = 'mutation($l: String!) { trackLabels(labels: $l) { accepted } }';
    expect((await t.ok(q, { l: `a::${domId}|b::${domId}|c::${domId}` }, { token, headers: { 'user-agent': BROWSER_UA } })).trackLabels.accepted).toBe(3);
    expectRefused(await t.gql(q, { l: `d::${domId}|e::${domId}` }, { token, headers: { 'user-agent': BROWSER_UA } }), 'RATE_LIMITED');
    expect(await labelCount(domId)).toBe(3);
  });

  it('the beacon (/track) is limited per client IP like trackLabels: 429 with Retry-After, nothing stored', async () => {
    const domId = uniqueId('beacon');
    const localAddress = randomLoopback();
    const hit = (labels: string) =>
      raw(t, { method: 'GET', path: `/track?labels=${encodeURIComponent(labels)}`, headers: { 'user-agent': BROWSER_UA }, localAddress });
    expect((await hit(`a::${domId}|b::${domId}|c::${domId}|d::${domId}`)).status).toBe(204);
    const limited = await hit(`e::${domId}`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await labelCount(domId)).toBe(4);
    // Another address has its own budget.
    expect((await raw(t, { method: 'GET', path: `/track?labels=f::${domId}`, headers: { 'user-agent': BROWSER_UA }, localAddress: randomLoopback() })).status).toBe(204);
  });

  it('logAction is charged once per action for users (services exempt); the refused action is not stored', async () => {
    const userId = uniqueId('actor');
    const token = await t.userToken(userId);
    const actor = { type: 'User', id: userId };
    for (let i = 0; i < 2; i++) await t.ok(LOG, { i: { actor, verb: `v${i}` } }, { token });
    expectRefused(await t.gql(LOG, { i: { actor, verb: 'v2' } }, { token }), 'RATE_LIMITED', /at most 2 logged actions per 60s/);
    expect((await t.ok(ACTIONS_OF, { a: actor }, { token: t.serviceToken })).actions.edges).toHaveLength(2);
    await t.ok(LOG, { i: { actor, verb: 'by-service' } }, { token: t.serviceToken });
    expect((await t.ok(ACTIONS_OF, { a: actor }, { token: t.serviceToken })).actions.edges).toHaveLength(3);
  });
});
