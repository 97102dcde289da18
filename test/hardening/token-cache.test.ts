import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from '../support/app.ts';
import { expectRefused, postJson, sleep } from './support.ts';

/** Verified tokens are remembered (per-request overhead), but never past their expiry, and never another token. */
describe('verified-token cache', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ JWT_CLOCK_SKEW_SECONDS: '0' });
  });
  afterAll(async () => t?.stop());

  const sign = (sub: string, expiresAt: number, secret = TEST_JWT_SECRET) =>
    new SignJWT({ roles: [] }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(expiresAt).sign(new TextEncoder().encode(secret));

  it('a token that verified is refused once it expires, although it was verified before', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 8;
    const token = await sign('cached-user', expiresAt);
    const auth = { authorization: `Bearer ${token}` };
    for (let i = 0; i < 3; i++) expect((await postJson(t, '{ viewer { id } }', {}, auth)).json()).toEqual({ data: { viewer: { id: 'cached-user' } } });
    await sleep(Math.max(0, expiresAt * 1000 - Date.now() + 500));
    const expired = await postJson(t, '{ viewer { id } }', {}, auth);
    expect(expired.status).toBe(401);
    expectRefused(expired.json(), 'UNAUTHENTICATED', /Token expired/);
  });

  it('a cached token does not vouch for another one: the same claims under a forged signature are refused', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const good = await sign('alice-cache', exp);
    const forged = await sign('alice-cache', exp, 'another-secret-0123456789abcdef0123456789');
    expect((await postJson(t, '{ viewer { id } }', {}, { authorization: `Bearer ${good}` })).status).toBe(200);
    const refused = await postJson(t, '{ viewer { id } }', {}, { authorization: `Bearer ${forged}` });
    expect(refused.status).toBe(401);
  });
});
