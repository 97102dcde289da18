import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { buildApp, type App } from '../../src/server/app.ts';
import { startTestApp, TEST_JWT_SECRET, uniqueId, type TestApp } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { closedEvent, expectRefused, postJson, raw, runWs } from './support.ts';

const LOG = 'mutation($i: LogActionInput!) { logAction(input: $i) { id } }';
const ACTIONS_OF = 'query($a: ObjectRefInput) { actions(actor: $a) { edges { node { id } } } }';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('request body size', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ MAX_BODY_BYTES: '4096' });
  });
  afterAll(async () => t?.stop());

  it('refuses a body over MAX_BODY_BYTES with 413 and a message naming the limit; nothing is stored', async () => {
    const actor = { type: 'Robot', id: uniqueId('r') };
    const big = { actor, verb: 'big', data: { blob: 'x'.repeat(5000) } };
    const response = await postJson(t, LOG, { i: big }, { authorization: `Bearer ${t.serviceToken}` });
    expect(response.status).toBe(413);
    expectRefused(response.json(), 'REQUEST_ENTITY_TOO_LARGE', /too large: \d+ bytes, the limit is 4096 bytes/);
    expect((await t.ok(ACTIONS_OF, { a: actor }, { token: t.serviceToken })).actions.edges).toEqual([]);
  });

  it('refuses a chunked body (no Content-Length) once it grows over the limit', async () => {
    const response = await raw(t, {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.serviceToken}` },
      body: JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(50_000) } }),
      chunked: true,
    });
    expect(response.status).toBe(413);
    expect(response.json().errors?.[0]?.message).toMatch(/too large/i);
  });

  it('accepts a body under the limit', async () => {
    const response = await postJson(t, '{ __typename }', { pad: 'x'.repeat(3000) });
    expect(response.status).toBe(200);
    expect(response.json()).toMatchObject({ data: { __typename: 'Query' } });
  });

  it('closes a websocket that sends a message over the limit (1009)', async () => {
    const client = t.wsClient(t.serviceToken);
    const closed = closedEvent(client);
    void runWs(client, '{ __typename }', { pad: 'x'.repeat(10_000) });
    expect((await closed).code).toBe(1009);
  });
});

describe('CSRF prevention', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.stop());

  const form = (query: string) => `query=${encodeURIComponent(query)}`;

  it('refuses a "simple" form POST (what a cross-site <form> can send) with 403', async () => {
    const response = await raw(t, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form('mutation { __typename }'),
    });
    expect(response.status).toBe(403);
    expect(response.json().errors?.[0]?.message).toMatch(/CSRF/);
  });

  it('refuses text/plain and multipart POSTs without the header', async () => {
    for (const contentType of ['text/plain', 'multipart/form-data; boundary=x']) {
      const response = await raw(t, { headers: { 'content-type': contentType }, body: JSON.stringify({ query: '{ __typename }' }) });
      expect(response.status, contentType).toBe(403);
    }
  });

  it('accepts the same form POST with the x-graphql-csrf header (which forces a CORS preflight)', async () => {
    const response = await raw(t, {
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-graphql-csrf': '1' },
      body: form('{ viewer { role } }'),
    });
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ data: { viewer: { role: 'ANONYMOUS' } } });
  });

  it('JSON POSTs pass (browsers preflight them); GET runs queries but never mutations', async () => {
    expect((await postJson(t, '{ __typename }')).status).toBe(200);
    const get = await raw(t, { method: 'GET', path: `/graphql?query=${encodeURIComponent('{ viewer { role } }')}` });
    expect(get.json()).toEqual({ data: { viewer: { role: 'ANONYMOUS' } } });
    const mutation = await raw(t, { method: 'GET', path: `/graphql?query=${encodeURIComponent('mutation { __typename }')}` });
    expect(mutation.status).toBe(405);
  });
});

describe('CORS', () => {
  let open: TestApp;
  let restricted: TestApp;
  beforeAll(async () => {
    open = await startTestApp();
    restricted = await startTestApp({ CORS_ORIGINS: 'https://app.example.test, https://admin.example.test' });
  });
  afterAll(async () => {
    await open?.stop();
    await restricted?.stop();
  });

  const preflight = (t: TestApp, origin: string) =>
    raw(t, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });

  it('by default any origin may call (bearer tokens, no cookies: no credentials allowed)', async () => {
    const response = await preflight(open, 'https://anywhere.example');
    expect(response.headers['access-control-allow-origin']).toBe('https://anywhere.example');
    expect(response.headers['access-control-allow-headers']).toMatch(/authorization/);
    expect(response.headers['access-control-allow-headers']).toMatch(/x-graphql-csrf/);
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    const post = await postJson(open, '{ __typename }', {}, { origin: 'https://anywhere.example' });
    expect(post.headers['access-control-expose-headers']).toMatch(/x-request-id/);
  });

  it('CORS_ORIGINS lets the listed origins in and no others', async () => {
    expect((await preflight(restricted, 'https://admin.example.test')).headers['access-control-allow-origin']).toBe('https://admin.example.test');
    expect((await preflight(restricted, 'https://evil.example')).headers['access-control-allow-origin']).toBe('null');
  });

  it('CORS_ORIGINS also refuses websocket upgrades from other origins', async () => {
    const url = `ws://127.0.0.1:${restricted.port}/graphql`;
    // 403 with a message naming the origin rule (a 401 would send developers after their token).
    const refused = await new Promise<{ status: number; body: string }>((resolve) => {
      const socket = new WebSocket(url, 'graphql-transport-ws', { origin: 'https://evil.example' });
      socket.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      socket.on('open', () => resolve({ status: 101, body: '' }));
    });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/Origin "https:\/\/evil\.example" may not open websockets: it is not listed in CORS_ORIGINS/);
    const allowed = await new Promise<number>((resolve) => {
      const socket = new WebSocket(url, 'graphql-transport-ws', { origin: 'https://app.example.test' });
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.on('open', () => {
        socket.close();
        resolve(101);
      });
    });
    expect(allowed).toBe(101);
  });
});

describe('request ids', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.stop());

  it('every response has an x-request-id; a plausible caller id is kept, anything else replaced', async () => {
    const fresh = await postJson(t, '{ __typename }');
    expect(fresh.headers['x-request-id']).toMatch(UUID);
    const mine = await postJson(t, '{ __typename }', {}, { 'x-request-id': 'edge-1234.abc' });
    expect(mine.headers['x-request-id']).toBe('edge-1234.abc');
    const hostile = await postJson(t, '{ __typename }', {}, { 'x-request-id': '<script>alert(1)</script>' });
    expect(hostile.headers['x-request-id']).toMatch(UUID);
  });

  it('every kind of error carries extensions.requestId equal to the header', async () => {
    const cases = [
      await postJson(t, '{ nope }'),
      await postJson(t, '{ viewer { role } }', {}, { authorization: 'Bearer junk' }),
      await postJson(t, 'mutation { logAction(input: {actor: {type: "User", id: "x"}, verb: "v"}) { id } }'),
      await postJson(t, '{ viewer '),
      await raw(t, { headers: { 'content-type': 'text/plain' }, body: '{}' }),
    ];
    for (const response of cases) {
      const errors = response.json().errors ?? [];
      expect(errors.length, response.text).toBeGreaterThan(0);
      for (const error of errors) expect(error.extensions?.['requestId'], response.text).toBe(response.headers['x-request-id']);
    }
  });
});

describe('masked internal errors', () => {
  let app: App;
  let port: number;
  let database: TestDatabase;
  let dataDir: string;
  const lines: Array<Record<string, any>> = [];
  const secretDetail = 'relation "feed_secret" does not exist (SELECT * FROM feed_secret) at /srv/trackql/src/activity/service.ts:42';

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-hardening-'));
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const config = loadConfig({
      NODE_ENV: 'development',
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: dataDir,
      FOLD_CRON: 'off',
      HOST: '127.0.0.1',
      DATABASE_URL: database.url ?? '',
      REDIS_URL: process.env['REDIS_URL'] ?? '',
    });
    app = await buildApp(config, { database: database.target, logger });
    ({ port } = await app.start(0));
  });
  afterAll(async () => {
    await app?.stop();
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const failure = () => {
    const error = new Error(secretDetail);
    error.stack = `Error: ${secretDetail}\n    at ActivityService.filteredCounts (/srv/trackql/src/activity/service.ts:42:11)`;
    return error;
  };

  it('a resolver failure reaches the caller as "Unexpected error." with the request id, and the log has the details', async () => {
    const original = app.services.activity.filteredCounts;
    app.services.activity.filteredCounts = async () => {
      throw failure();
    };
    try {
      const token = await app.tokens.sign({ sub: uniqueId('u') });
      const response = await postJson({ port }, '{ unreadCount }', {}, { authorization: `Bearer ${token}` });
      const requestId = response.headers['x-request-id'];
      expect(response.text).not.toMatch(/feed_secret|SELECT|\/srv\/|service\.ts|stack/);
      const body = response.json();
      expect(body.errors).toEqual([
        expect.objectContaining({
          message: 'Unexpected error.',
          path: ['unreadCount'],
          extensions: { code: 'INTERNAL_SERVER_ERROR', requestId },
        }),
      ]);
      const logged = lines.filter((l) => l['requestId'] === requestId && JSON.stringify(l).includes('feed_secret'));
      expect(logged).toHaveLength(1);
      expect(logged[0]?.['err']?.stack).toMatch(/service\.ts:42/);
      expect(logged[0]?.['path']).toBe('unreadCount');
    } finally {
      app.services.activity.filteredCounts = original;
    }
  });

  it('a failure outside resolvers (server plugin) is masked the same way', async () => {
    const original = app.services.rateLimiter.check;
    app.services.rateLimiter.check = async () => {
      throw failure();
    };
    try {
      const response = await postJson({ port }, '{ __typename }', {}, { 'x-forwarded-for': '203.0.113.9' });
      const requestId = response.headers['x-request-id'];
      expect(response.text).not.toMatch(/feed_secret|SELECT|\/srv\//);
      expect(response.json().errors?.[0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId } });
      expect(lines.some((l) => l['requestId'] === requestId && JSON.stringify(l).includes('feed_secret'))).toBe(true);
    } finally {
      app.services.rateLimiter.check = original;
    }
  });

  it('over graphql-ws too: masked, with a request id that is in the log', async () => {
    const original = app.services.activity.filteredCounts;
    app.services.activity.filteredCounts = async () => {
      throw failure();
    };
    const { createClient } = await import('graphql-ws');
    const client = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${await app.tokens.sign({ sub: uniqueId('u') })}` },
      retryAttempts: 0,
    });
    try {
      const outcome = await runWs(client, '{ unreadCount }');
      const payload = JSON.stringify(outcome.values);
      expect(payload).not.toMatch(/feed_secret|SELECT|\/srv\//);
      const error = (outcome.values[0] as { errors: Array<{ message: string; extensions: Record<string, string> }> }).errors[0];
      expect(error?.message).toBe('Unexpected error.');
      expect(error?.extensions['code']).toBe('INTERNAL_SERVER_ERROR');
      const requestId = error?.extensions['requestId'];
      expect(requestId).toMatch(UUID);
      expect(lines.some((l) => l['requestId'] === requestId && JSON.stringify(l).includes('feed_secret'))).toBe(true);
    } finally {
      app.services.activity.filteredCounts = original;
      await client.dispose();
    }
  });

  it('over graphql-ws, a failure outside resolvers is masked and does not close the socket', async () => {
    const original = app.services.rateLimiter.check;
    app.services.rateLimiter.check = async () => {
      throw failure();
    };
    const { createClient } = await import('graphql-ws');
    let closed = false;
    const client = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${await app.tokens.sign({ sub: uniqueId('u') })}` },
      retryAttempts: 0,
      lazy: false,
      on: { closed: () => (closed = true) },
    });
    try {
      const outcome = await runWs(client, '{ viewer { role } }');
      expect(JSON.stringify(outcome)).not.toMatch(/feed_secret|SELECT|\/srv\//);
      const error = (outcome.values[0] as { errors: Array<{ message: string; extensions: Record<string, string> }> }).errors[0];
      expect(error).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      expect(lines.some((l) => l['requestId'] === error?.extensions['requestId'] && JSON.stringify(l).includes('feed_secret'))).toBe(true);
      app.services.rateLimiter.check = original;
      expect((await runWs(client, '{ viewer { role } }')).values).toEqual([{ data: { viewer: { role: 'USER' } } }]);
      expect(closed).toBe(false);
    } finally {
      app.services.rateLimiter.check = original;
      await client.dispose();
    }
  });

  it('a client that breaks the websocket protocol (a frame over the limit, invalid UTF-8) is closed with its code, and logs no error line', async () => {
    const errorsBefore = lines.filter((l) => l['level'] >= 50).length;
    const closedBy = async (send: (socket: WebSocket) => void) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      send(socket);
      return closed;
    };
    expect(await closedBy((socket) => socket.send('x'.repeat(256 * 1024 + 1)))).toBe(1009);
    expect(await closedBy((socket) => socket.send(Buffer.from([0xff, 0xfe, 0xfd]), { binary: false }))).toBe(1007);
    expect(lines.filter((l) => l['level'] >= 50).slice(errorsBefore)).toEqual([]);
    expect(lines.some((l) => l['msg'] === 'websocket: client protocol error')).toBe(true);
  });
});
