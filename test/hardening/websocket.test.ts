import http from 'node:http';
import { SignJWT } from 'jose';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_JWT_SECRET, uniqueId, type TestApp } from '../support/app.ts';
import { closedEvent, connectedEvent, runWs, sleep } from './support.ts';

const FEED = 'subscription { feed { kind unreadCount } }';

interface FeedSubscription {
  events: unknown[];
  error?: unknown;
  /** Resolves on error or completion. */
  ended: Promise<void>;
  stop(): void;
}

function subscribeFeed(client: Client): FeedSubscription {
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const sub: FeedSubscription = {
    events: [],
    ended,
    stop: () => undefined,
  };
  sub.stop = client.subscribe(
    { query: FEED },
    {
      next: (v) => sub.events.push(v),
      error: (e) => {
        sub.error = e;
        end();
      },
      complete: () => end(),
    },
  );
  return sub;
}

/** A feed subscription over HTTP (server-sent events), kept open until `close()`. */
function openSse(t: TestApp, token: string) {
  let text = '';
  let onData: () => void = () => undefined;
  const req = http.request({
    host: '127.0.0.1',
    port: t.port,
    method: 'POST',
    path: '/graphql',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
  });
  req.on('response', (res) => {
    res.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      onData();
    });
  });
  req.on('error', () => undefined);
  req.end(JSON.stringify({ query: FEED }));
  return {
    /** Resolves with the stream so far once it contains `pattern`, or with null after `ms`. */
    waitFor(pattern: RegExp, ms = 500): Promise<string | null> {
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), ms);
        onData = () => {
          if (pattern.test(text)) {
            clearTimeout(timer);
            resolve(text);
          }
        };
        onData();
      });
    },
    close: () => req.destroy(),
  };
}

/** Settles within `ms`: true when the subscription ended (refused), false when it is still running. */
async function endedWithin(sub: FeedSubscription, ms = 300): Promise<boolean> {
  return Promise.race([sub.ended.then(() => true), sleep(ms).then(() => false)]);
}

describe('websocket limits and token lifetime', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      JWT_CLOCK_SKEW_SECONDS: '0',
      WS_MAX_CONNECTIONS_PER_CLIENT: '2',
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: '2',
      WS_MAX_SUBSCRIPTIONS_PER_CLIENT: '3',
    });
  });
  afterAll(async () => t?.stop());

  /** The user tracks a document; logging an action on it puts an ADDED event on each of the user's feed subscriptions. */
  async function feedPoker(userId: string) {
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await t.ok('mutation($i: TrackInput!) { track(input: $i) { id } }', { i: { object: doc } }, { token: await t.userToken(userId) });
    return () => t.ok('mutation($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { actor: doc, verb: 'edited' } }, { token: t.serviceToken });
  }

  it('refuses a connection with an expired token (4419) or an unsigned one (4403), before any operation runs', async () => {
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('late')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 5)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"sub":"x","roles":["service"],"exp":${Math.floor(Date.now() / 1000) + 60}}`).toString('base64url')}.`;
    for (const [token, code, reason] of [
      [expired, 4419, /expired/i],
      [none, 4403, /invalid token/i],
    ] as const) {
      const client = t.wsClient(token);
      const closed = closedEvent(client);
      const outcome = await runWs(client, '{ viewer { role } }');
      expect(outcome.values).toEqual([]);
      const event = await closed;
      expect(event.code).toBe(code);
      expect(event.reason).toMatch(reason);
    }
  });

  it('refuses an authorization that is not a string (4403), never downgrading it to anonymous', async () => {
    for (const authorization of [123, { token: 'x' }, ['Bearer x'], true]) {
      const client = createClient({ url: `ws://127.0.0.1:${t.port}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization }, retryAttempts: 0, lazy: true });
      try {
        const closed = closedEvent(client);
        const outcome = await runWs(client, '{ viewer { role } }');
        expect(outcome.values, JSON.stringify(authorization)).toEqual([]);
        const event = await closed;
        expect([event.code, event.reason]).toEqual([4403, 'Authorization must be "Bearer <token>"']);
      } finally {
        await client.dispose();
      }
    }
  });

  it('anonymous connections may not subscribe to a feed', async () => {
    const sub = subscribeFeed(t.wsClient());
    await sub.ended;
    expect(JSON.stringify([sub.error ?? null, sub.events])).toMatch(/UNAUTHENTICATED/);
    expect(JSON.stringify(sub.events)).not.toMatch(/"kind"/);
  });

  it('closes the connection when its token expires (4419 "Token expired"), ending its subscriptions', async () => {
    const userId = uniqueId('expiring');
    const poke = await feedPoker(userId);
    const exp = Math.floor(Date.now() / 1000) + 3;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const client = t.wsClient(token);
    const closed = closedEvent(client);
    const connected = connectedEvent(client);
    const sub = subscribeFeed(client);
    await connected;
    await sleep(100);
    await poke();
    await expect.poll(() => sub.events.length).toBe(1);
    const event = await closed;
    expect(event.code).toBe(4419);
    expect(event.reason).toBe('Token expired');
    expect(event.at).toBeGreaterThanOrEqual(exp * 1000 - 50);
    expect(event.at).toBeLessThan(exp * 1000 + 1500);
    await sub.ended;
    await poke();
    await sleep(200);
    expect(sub.events).toHaveLength(1);
  });

  it('limits connections per client (4429), and frees the slot when one closes', async () => {
    const userId = uniqueId('conns');
    const token = await t.userToken(userId);
    const first = t.wsClient(token);
    const second = t.wsClient(token);
    const subs = [subscribeFeed(first), subscribeFeed(second)];
    expect(await endedWithin(subs[0]!)).toBe(false);
    expect(await endedWithin(subs[1]!)).toBe(false);
    const third = t.wsClient(token);
    const closed = closedEvent(third);
    const refused = subscribeFeed(third);
    const event = await closed;
    expect(event.code).toBe(4429);
    expect(event.reason).toMatch(/Too many connections: at most 2/);
    await refused.ended;
    // Another user is not affected.
    expect(await endedWithin(subscribeFeed(t.wsClient(await t.userToken(uniqueId('other')))))).toBe(false);
    await first.dispose();
    await sleep(100);
    const fourth = subscribeFeed(t.wsClient(token));
    expect(await endedWithin(fourth)).toBe(false);
  });

  it('limits subscriptions per connection; queries do not count; a completed subscription frees its slot', async () => {
    const userId = uniqueId('subs');
    const poke = await feedPoker(userId);
    const client = t.wsClient(await t.userToken(userId));
    const a = subscribeFeed(client);
    const b = subscribeFeed(client);
    expect(await endedWithin(a)).toBe(false);
    const c = subscribeFeed(client);
    await c.ended;
    expect(JSON.stringify(c.error)).toMatch(/Too many subscriptions on this connection: at most 2/);
    expect(JSON.stringify(c.error)).toMatch(/RATE_LIMITED/);
    for (let i = 0; i < 4; i++) expect((await runWs(client, '{ viewer { role } }')).values).toHaveLength(1);
    await poke();
    await expect.poll(() => a.events.length + b.events.length).toBe(2);
    expect(c.events).toEqual([]);
    a.stop();
    await sleep(100);
    const d = subscribeFeed(client);
    expect(await endedWithin(d)).toBe(false);
    await poke();
    await expect.poll(() => d.events.length).toBe(1);
  });

  it('limits subscriptions per client across its connections', async () => {
    const userId = uniqueId('many');
    const token = await t.userToken(userId);
    const one = t.wsClient(token);
    const two = t.wsClient(token);
    const running = [subscribeFeed(one), subscribeFeed(one), subscribeFeed(two)];
    for (const sub of running) expect(await endedWithin(sub, 150)).toBe(false);
    const refused = subscribeFeed(two);
    await refused.ended;
    expect(JSON.stringify(refused.error)).toMatch(/Too many subscriptions for this client: at most 3/);
    await one.dispose();
    await sleep(100);
    const later = subscribeFeed(two);
    expect(await endedWithin(later)).toBe(false);
  });

  it('subscriptions over HTTP (SSE) count toward the per-client limit too', async () => {
    const userId = uniqueId('sse');
    const token = await t.userToken(userId);
    const poke = await feedPoker(userId);
    const streams = [openSse(t, token), openSse(t, token)];
    const ws = subscribeFeed(t.wsClient(token));
    expect(await endedWithin(ws)).toBe(false);
    await poke();
    for (const stream of streams) expect(await stream.waitFor(/"kind":"ADDED"/, 2000)).not.toBeNull();
    const refused = openSse(t, token);
    expect(await refused.waitFor(/Too many subscriptions for this client: at most 3/)).not.toBeNull();
    refused.close();
    const refusedWs = subscribeFeed(t.wsClient(token));
    await refusedWs.ended;
    streams[0]!.close();
    await sleep(200);
    const again = openSse(t, token);
    expect(await again.waitFor(/Too many/, 300)).toBeNull();
    await poke();
    expect(await again.waitFor(/"kind":"ADDED"/, 2000)).not.toBeNull();
    again.close();
    streams[1]!.close();
  });
});
