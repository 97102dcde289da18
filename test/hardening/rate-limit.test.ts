import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { expectRefused, postJson, randomClientIp, randomLoopback, runWs, sleep } from './support.ts';

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
