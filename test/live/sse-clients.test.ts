import { createClient, type Client } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { startTestApp, TEST_JWT_SECRET, uniqueId, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

interface Outcome {
  values: unknown[];
  error: unknown;
  /** How many HTTP requests the client made. */
  requests: number;
  tookMs: number;
}

/** Subscribes with graphql-sse (its default retry options) and waits until the client reports an outcome. */
async function firstOutcome(options: { singleConnection: boolean; token?: string; retryAttempts?: number }, query: string): Promise<Outcome> {
  let requests = 0;
  const values: unknown[] = [];
  const started = Date.now();
  const client: Client = createClient({
    url: t.url,
    singleConnection: options.singleConnection,
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    ...(options.retryAttempts === undefined ? {} : { retryAttempts: options.retryAttempts }),
    // graphql-sse's own attempts, without its waits (the test counts them).
    retry: async () => {},
    fetchFn: (input: RequestInfo | URL, init?: RequestInit) => {
      requests++;
      return fetch(input, init);
    },
  });
  try {
    const error = await new Promise<unknown>((resolve) => {
      client.subscribe({ query }, { next: (v) => values.push(v), error: resolve, complete: () => resolve(null) });
    });
    return { values, error, requests, tookMs: Date.now() - started };
  } finally {
    client.dispose();
  }
}

describe('graphql-sse 2 clients', () => {
  it('single connection mode is refused with a message naming what to use instead', async () => {
    // graphql-sse retries any non-2xx answer to its PUT (5 attempts by default), then reports the status text.
    const outcome = await firstOutcome({ singleConnection: true, token: await t.userToken(uniqueId('u')) }, 'subscription S { feed { kind } }');
    expect(outcome.error).toBeInstanceOf(Error);
    expect(String((outcome.error as Error).message)).toMatch(
      /^Server responded with 405: graphql-sse single connection mode is not supported: use distinct connections mode \(singleConnection: false\) or graphql-ws/,
    );
    expect(outcome.requests).toBe(6);
    expect(outcome.values).toEqual([]);
  });

  it('a bad token is reported at once (no retries), with the UNAUTHENTICATED error', async () => {
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('late')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    for (const [token, message] of [
      ['not-a-jwt', /^Invalid token/],
      [expired, /^Token expired$/],
    ] as const) {
      const outcome = await firstOutcome({ singleConnection: false, token }, 'subscription S { feed { kind } }');
      expect(outcome.requests).toBe(1);
      expect(outcome.error).toBeNull(); // completed, not failed after retries
      expect(outcome.values).toHaveLength(1);
      const errors = (outcome.values[0] as { errors: Array<{ message: string; extensions: { code: string } }> }).errors;
      expect(errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
      expect(errors[0]!.message).toMatch(message);
    }
  });

  it('distinct connections mode receives feed events', async () => {
    const user = uniqueId('sse');
    const token = await t.userToken(user);
    const doc = { type: 'Doc', id: uniqueId('d') };
    await t.ok('mutation T($i: TrackInput!) { track(input: $i) { id } }', { i: { object: doc } }, { token });
    const values: unknown[] = [];
    const client = createClient({ url: t.url, headers: { authorization: `Bearer ${token}` } });
    const dispose = client.subscribe({ query: 'subscription S { feed { kind unreadCount } }' }, { next: (v) => values.push(v), error: () => {}, complete: () => {} });
    try {
      await expect
        .poll(async () => {
          await t.ok('mutation L($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { actor: doc, verb: 'edited' } }, { token: t.serviceToken });
          return values.length;
        }, { timeout: 10_000, interval: 300 })
        .toBeGreaterThan(0);
      expect(JSON.stringify(values[0])).toMatch(/"kind":"ADDED"/);
    } finally {
      dispose();
      client.dispose();
    }
  });
});

describe('an SSE subscription whose token expires', () => {
  let strict: TestApp;
  beforeAll(async () => {
    strict = await startTestApp({ JWT_CLOCK_SKEW_SECONDS: '0' });
  });
  afterAll(async () => {
    await strict?.stop();
  });

  it('ends when the token expires, with the UNAUTHENTICATED "Token expired" error as its last event (websockets close with 4419)', async () => {
    const user = uniqueId('sse-exp');
    const expiresAt = Math.floor(Date.now() / 1000) + 4;
    const token = await new SignJWT({ roles: [] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user)
      .setExpirationTime(expiresAt)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const doc = { type: 'Doc', id: uniqueId('d') };
    await strict.ok('mutation T($i: TrackInput!) { track(input: $i) { id } }', { i: { object: doc } }, { token });
    const values: Array<{ data?: unknown; errors?: Array<{ message: string; extensions: Record<string, unknown> }> }> = [];
    const client = createClient({ url: strict.url, headers: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
    const ended = new Promise<{ at: number; error: unknown }>((resolve) => {
      client.subscribe(
        { query: 'subscription S { feed { kind } }' },
        { next: (v) => void values.push(v as never), error: (error) => resolve({ at: Date.now(), error }), complete: () => resolve({ at: Date.now(), error: null }) },
      );
    });
    try {
      // Live while the token is valid.
      await expect
        .poll(async () => {
          await strict.ok('mutation L($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { actor: doc, verb: 'edited', groupingDelay: -1 } }, { token: strict.serviceToken });
          return values.length;
        }, { timeout: 3_000, interval: 200 })
        .toBeGreaterThan(0);
      const outcome = await Promise.race([ended, new Promise<null>((resolve) => setTimeout(() => resolve(null), 8_000))]);
      expect(outcome).not.toBeNull(); // before: the stream went on past the expiry, for as long as the client kept it
      expect(outcome!.error).toBeNull(); // completed: graphql-sse reports the last event, no retries
      expect(outcome!.at).toBeGreaterThanOrEqual(expiresAt * 1000 - 50);
      const last = values.at(-1)!;
      expect(last.data).toBeUndefined();
      expect(last.errors?.[0]?.message).toBe('Token expired');
      expect(last.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', tokenExpired: true });
      expect(values.slice(0, -1).every((v) => JSON.stringify(v).includes('"kind":"ADDED"'))).toBe(true);
    } finally {
      client.dispose();
    }
  });
});
