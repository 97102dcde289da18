import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_JWT_SECRET, uniqueId, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

const base = () => `http://127.0.0.1:${t.port}`;

describe('HTTP', () => {
  it('answers /health and /ready', async () => {
    expect((await fetch(`${base()}/health`)).status).toBe(200);
    expect((await fetch(`${base()}/ready`)).status).toBe(200);
  });

  it('answers GraphQL over POST and GET on a real port', async () => {
    const post = await fetch(`${base()}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(await post.json()).toEqual({ data: { __typename: 'Query' } });
    const get = await fetch(`${base()}/graphql?query=${encodeURIComponent('{ viewer { role id } }')}`);
    expect(await get.json()).toEqual({ data: { viewer: { role: 'ANONYMOUS', id: null } } });
  });

  it('serves GraphiQL to browsers, configured for subscriptions over SSE (the Headers tab goes with them)', async () => {
    const page = await fetch(`${base()}/graphql`, { headers: { accept: 'text/html' } });
    const html = await page.text();
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(html).toContain('trackql');
    expect(html).toContain('"subscriptionsProtocol":"SSE"');
  });
});

describe('identity', () => {
  it('maps tokens to roles', async () => {
    const userId = uniqueId('user');
    const asUser = await t.ok('{ viewer { role id } }', {}, { token: await t.userToken(userId) });
    expect(asUser.viewer).toEqual({ role: 'USER', id: userId });
    const asService = await t.ok('{ viewer { role id } }', {}, { token: t.serviceToken });
    expect(asService.viewer).toEqual({ role: 'SERVICE', id: 'test-service' });
  });

  it('refuses a forged token with a 401-style error instead of downgrading to anonymous', async () => {
    const forged = await new SignJWT({ roles: ['service'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('intruder')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret-not-the-secret-not-the-secret'));
    const response = await fetch(`${base()}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${forged}` },
      body: JSON.stringify({ query: '{ viewer { role } }' }),
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { data?: unknown; errors: Array<{ extensions: { code: string } }> };
    expect(body.data ?? null).toBeNull();
    expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('refuses an expired token', async () => {
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('late')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const result = await t.gql('{ viewer { role } }', {}, { token: expired });
    expect(result.errors?.[0]?.message).toMatch(/expired/i);
    expect(result.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
  });
});

describe('graphql-ws on the same URL', () => {
  it('acknowledges the connection and runs operations with the token from connectionParams', async () => {
    const userId = uniqueId('ws-user');
    const client = t.wsClient(await t.userToken(userId));
    let acknowledged = false;
    client.on('connected', () => {
      acknowledged = true;
    });
    const result = await new Promise<unknown>((resolve, reject) => {
      let value: unknown;
      client.subscribe(
        { query: '{ viewer { role id } }' },
        { next: (v) => (value = v), error: reject, complete: () => resolve(value) },
      );
    });
    expect(acknowledged).toBe(true);
    expect(result).toEqual({ data: { viewer: { role: 'USER', id: userId } } });
  });

  it('closes a connection whose token is bad', async () => {
    const client = t.wsClient('not-a-jwt');
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      client.on('closed', (event) => resolve(event as { code: number; reason: string }));
      client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: () => {}, complete: () => {} });
    });
    expect(closed.code).toBe(4403);
    expect(closed.reason).toMatch(/invalid token/i);
  });
});
