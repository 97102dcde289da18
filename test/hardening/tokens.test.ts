import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_JWT_SECRET, uniqueId, type TestApp } from '../support/app.ts';
import { freePort } from '../support/instances.ts';
import { expectRefused, postJson } from './support.ts';

const VIEWER = '{ viewer { role id } }';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`), the classic forgery. */
function unsecured(claims: Record<string, unknown>): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}

async function sign(
  key: CryptoKey | Uint8Array,
  alg: string,
  claims: Record<string, unknown> = {},
  options: { sub?: string; exp?: number | null; iss?: string; aud?: string; kid?: string; nbf?: number } = {},
): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT', ...(options.kid ? { kid: options.kid } : {}) }).setIssuedAt();
  if (options.sub !== '') jwt = jwt.setSubject(options.sub ?? 'someone');
  if (options.exp !== null) jwt = jwt.setExpirationTime(options.exp ?? now() + 3600);
  if (options.iss) jwt = jwt.setIssuer(options.iss);
  if (options.aud) jwt = jwt.setAudience(options.aud);
  if (options.nbf) jwt = jwt.setNotBefore(options.nbf);
  return jwt.sign(key);
}

const secret = new TextEncoder().encode(TEST_JWT_SECRET);

describe('HS256 (default)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.stop());

  it('a missing token is anonymous, a valid one is the user', async () => {
    expect((await t.ok(VIEWER)).viewer).toEqual({ role: 'ANONYMOUS', id: null });
    const id = uniqueId('u');
    expect((await t.ok(VIEWER, {}, { token: await sign(secret, 'HS256', {}, { sub: id }) })).viewer).toEqual({ role: 'USER', id });
  });

  const refusals: Array<[string, () => Promise<string>, RegExp]> = [
    ['alg none', async () => unsecured({ sub: 'intruder', roles: ['service'], exp: now() + 3600 }), /invalid token/i],
    ['HS512 with the right secret (algorithm not allowed)', () => sign(secret, 'HS512', { roles: ['service'] }), /algorithm not allowed/i],
    ['a forged signature', () => sign(new TextEncoder().encode('x'.repeat(48)), 'HS256', { roles: ['service'] }), /signature/i],
    ['an expired token', () => sign(secret, 'HS256', {}, { exp: now() - 3600 }), /expired/i],
    ['a token without exp', () => sign(secret, 'HS256', {}, { exp: null }), /exp/i],
    ['a token without sub', () => sign(secret, 'HS256', {}, { sub: '' }), /sub/i],
    ['a token not valid yet (nbf)', () => sign(secret, 'HS256', {}, { nbf: now() + 3600 }), /nbf/i],
    ['a huge sub', () => sign(secret, 'HS256', {}, { sub: 'x'.repeat(300) }), /sub/i],
    // A signed token may carry any JSON in sub: before, these were INTERNAL_SERVER_ERROR (value.includes is not a function).
    ...([{ a: 1 }, 42, ['x'], true] as const).map((sub): [string, () => Promise<string>, RegExp] => [
      `a sub that is not a string (${JSON.stringify(sub)})`,
      () => sign(secret, 'HS256', { sub }, { sub: '' }),
      /sub/i,
    ]),
    ['a token over 8 KiB', async () => sign(secret, 'HS256', { pad: 'x'.repeat(9000) }), /too long/i],
    ['garbage', async () => 'not.a.jwt', /invalid token/i],
  ];
  for (const [name, make, message] of refusals) {
    it(`refuses ${name} with UNAUTHENTICATED (HTTP 401) instead of downgrading to anonymous`, async () => {
      const response = await postJson(t, VIEWER, {}, { authorization: `Bearer ${await make()}` });
      expect(response.status).toBe(401);
      expectRefused(response.json(), 'UNAUTHENTICATED', message);
    });
  }

  it('refuses an Authorization header that is not a bearer token', async () => {
    const response = await postJson(t, VIEWER, {}, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` });
    expect(response.status).toBe(401);
    expectRefused(response.json(), 'UNAUTHENTICATED', /Bearer/);
  });

  it('tolerates a bounded clock skew (30 s by default) and no more', async () => {
    const justExpired = await sign(secret, 'HS256', {}, { sub: 'skewed', exp: now() - 10 });
    expect((await t.ok(VIEWER, {}, { token: justExpired })).viewer.id).toBe('skewed');
    const tooLate = await sign(secret, 'HS256', {}, { exp: now() - 45 });
    expectRefused(await t.gql(VIEWER, {}, { token: tooLate }), 'UNAUTHENTICATED', /expired/i);
  });

  it('a refused token stores nothing: a forged service token cannot log an action', async () => {
    const actor = { type: 'Robot', id: uniqueId('r') };
    const forged = unsecured({ sub: 'intruder', roles: ['service'], exp: now() + 3600 });
    const result = await t.gql('mutation($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { actor, verb: 'forged' } }, { token: forged });
    expectRefused(result, 'UNAUTHENTICATED');
    const expired = await sign(secret, 'HS256', { roles: ['service'] }, { exp: now() - 3600 });
    expectRefused(
      await t.gql('mutation($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { actor, verb: 'expired' } }, { token: expired }),
      'UNAUTHENTICATED',
    );
    const stored = await t.ok('query($a: ObjectRefInput) { actions(actor: $a) { edges { node { id } } } }', { a: actor }, { token: t.serviceToken });
    expect(stored.actions.edges).toEqual([]);
  });
});

describe('issuer and audience (HS256)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ JWT_ISSUER: 'https://auth.example.test', JWT_AUDIENCE: 'trackql' });
  });
  afterAll(async () => t?.stop());

  it('accepts the right iss/aud (and signs its own tokens with them)', async () => {
    expect((await t.ok(VIEWER, {}, { token: t.serviceToken })).viewer.role).toBe('SERVICE');
    const token = await sign(secret, 'HS256', {}, { sub: 'ok', iss: 'https://auth.example.test', aud: 'trackql' });
    expect((await t.ok(VIEWER, {}, { token })).viewer.id).toBe('ok');
  });

  it.each([
    ['a wrong issuer', { iss: 'https://evil.test', aud: 'trackql' }, /"iss"/],
    ['no issuer', { aud: 'trackql' }, /"iss"/],
    ['a wrong audience', { iss: 'https://auth.example.test', aud: 'other-app' }, /"aud"/],
    ['no audience', { iss: 'https://auth.example.test' }, /"aud"/],
  ])('refuses %s', async (_name, claims, message) => {
    const token = await sign(secret, 'HS256', {}, claims);
    expectRefused(await t.gql(VIEWER, {}, { token }), 'UNAUTHENTICATED', message);
  });
});

describe('PEM public key (RS256)', () => {
  let t: TestApp;
  let privateKey: CryptoKey;
  let publicKey: CryptoKey;
  beforeAll(async () => {
    ({ privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true }));
    const pem = await exportSPKI(publicKey);
    // Written with "\n" escapes, as it would be in a one-line environment variable.
    t = await startTestApp({ JWT_PUBLIC_KEY: pem.replace(/\n/g, '\\n'), JWT_ALGORITHMS: 'RS256', JWT_CLOCK_SKEW_SECONDS: '0' });
  });
  afterAll(async () => t?.stop());

  it('accepts RS256 tokens signed by the matching private key', async () => {
    const token = await sign(privateKey, 'RS256', { roles: ['service'] }, { sub: 'backend' });
    expect((await t.ok(VIEWER, {}, { token })).viewer).toEqual({ role: 'SERVICE', id: 'backend' });
  });

  it('refuses HS256 tokens, even ones signed with the server secret', async () => {
    expectRefused(await t.gql(VIEWER, {}, { token: t.serviceToken }), 'UNAUTHENTICATED', /algorithm not allowed/i);
  });

  it('refuses an HS256 token whose HMAC key is the public key (algorithm confusion)', async () => {
    const pem = await exportSPKI(publicKey);
    const token = await sign(new TextEncoder().encode(pem), 'HS256', { roles: ['service'] });
    expectRefused(await t.gql(VIEWER, {}, { token }), 'UNAUTHENTICATED', /algorithm not allowed/i);
  });

  it('refuses RS256 tokens of another key, PS256 tokens (not configured) and expired tokens (no skew)', async () => {
    const other = await generateKeyPair('RS256');
    expectRefused(await t.gql(VIEWER, {}, { token: await sign(other.privateKey, 'RS256') }), 'UNAUTHENTICATED', /signature/i);
    const pss = await generateKeyPair('PS256');
    expectRefused(await t.gql(VIEWER, {}, { token: await sign(pss.privateKey, 'PS256') }), 'UNAUTHENTICATED', /algorithm not allowed/i);
    expectRefused(await t.gql(VIEWER, {}, { token: await sign(privateKey, 'RS256', {}, { exp: now() - 2 }) }), 'UNAUTHENTICATED', /expired/i);
  });
});

describe('JWKS URL (ES256)', () => {
  let t: TestApp;
  let jwksServer: http.Server;
  let fetches = 0;
  let privateKey: CryptoKey;
  const kid = 'key-1';
  const issuer = 'https://idp.example.test';
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' };
    jwksServer = http.createServer((req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    t = await startTestApp({
      JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      JWT_ALGORITHMS: 'ES256,RS256',
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: 'trackql',
    });
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise((resolve) => jwksServer?.close(resolve));
  });

  const good = (claims: Record<string, unknown> = {}, sub = 'jwks-user') =>
    sign(privateKey, 'ES256', claims, { sub, kid, iss: issuer, aud: 'trackql' });

  it('accepts ES256 tokens of a published key and caches the key set', async () => {
    expect((await t.ok(VIEWER, {}, { token: await good() })).viewer).toEqual({ role: 'USER', id: 'jwks-user' });
    expect((await t.ok(VIEWER, {}, { token: await good({ roles: ['service'] }, 'svc') })).viewer).toEqual({ role: 'SERVICE', id: 'svc' });
    expect(fetches).toBe(1);
  });

  it('refuses the HS256 tokens the server could sign itself', async () => {
    expectRefused(await t.gql(VIEWER, {}, { token: t.serviceToken }), 'UNAUTHENTICATED', /algorithm not allowed/i);
  });

  it('refuses alg none, unknown keys, other keys with the published kid, and wrong issuers', async () => {
    expectRefused(await t.gql(VIEWER, {}, { token: unsecured({ sub: 'x', exp: now() + 60, iss: issuer, aud: 'trackql' }) }), 'UNAUTHENTICATED');
    const stranger = await generateKeyPair('ES256');
    expectRefused(
      await t.gql(VIEWER, {}, { token: await sign(stranger.privateKey, 'ES256', {}, { kid: 'unknown', iss: issuer, aud: 'trackql' }) }),
      'UNAUTHENTICATED',
    );
    expectRefused(
      await t.gql(VIEWER, {}, { token: await sign(stranger.privateKey, 'ES256', {}, { kid, iss: issuer, aud: 'trackql' }) }),
      'UNAUTHENTICATED',
      /signature/i,
    );
    expectRefused(
      await t.gql(VIEWER, {}, { token: await sign(privateKey, 'ES256', {}, { kid, iss: 'https://evil.test', aud: 'trackql' }) }),
      'UNAUTHENTICATED',
      /"iss"/,
    );
  });
});

describe('JWKS URL unreachable', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A port nothing listens on.
    const port = await freePort();
    t = await startTestApp({ JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json` });
  });
  afterAll(async () => t?.stop());

  it('answers 503 UNAVAILABLE (not 401, not a masked 500) and still serves anonymous callers', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const response = await postJson(t, VIEWER, {}, { authorization: `Bearer ${await sign(privateKey, 'ES256', {}, { kid: 'k' })}` });
    expect(response.status).toBe(503);
    expectRefused(response.json(), 'UNAVAILABLE', /keys are unavailable/);
    expect((await t.ok(VIEWER)).viewer.role).toBe('ANONYMOUS');
  });
});
