import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';

let t: TestApp;
const INTERVAL = 250;

beforeAll(async () => {
  t = await startTestApp({ LIVE_METRICS_INTERVAL_MS: String(INTERVAL) });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

function anonymousClient(app: TestApp): Client {
  return createClient({ url: `ws://127.0.0.1:${app.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
}

function collect<T>(client: Client, query: string, variables: Record<string, unknown>) {
  const values: Array<{ value: T; at: number }> = [];
  const errors: unknown[] = [];
  const dispose = client.subscribe<Record<string, T>>(
    { query, variables },
    {
      next: (v) => {
        if (v.errors) errors.push(v.errors);
        if (v.data) values.push({ value: Object.values(v.data)[0]!, at: Date.now() });
      },
      error: (e) => errors.push(e),
      complete: () => {},
    },
  );
  return { values, errors, dispose };
}

async function counter(app: TestApp) {
  const domain = uniqueId('live');
  await app.ok(
    `mutation R($d: ID!) { registerDomain(ref: $d, name: "Live") { ref } registerMetric(domain: $d, ref: "clicks", name: "Clicks", public: true) { ref } }`,
    { d: domain },
    { token: app.serviceToken },
  );
  const increment = (object: { type: string; id: string }, by = 1) =>
    app.ok('mutation I($e: [IncrementInput!]!) { increment(events: $e) { accepted } }', { e: [{ domain, metric: 'clicks', object, by }] });
  return { domain, increment };
}

const METRIC = 'subscription LiveTotal($d: ID!, $o: ObjectRefInput) { metric(domain: $d, metric: "clicks", object: $o) }';

describe('subscription { metric } and { labelStats }', () => {
  it('gives the total now, then fresh totals after increments, coalesced, only for the object watched', async () => {
    const { domain, increment } = await counter(t);
    const link = { type: 'Link', id: uniqueId('l') };
    const other = { type: 'Link', id: uniqueId('o') };
    await increment(link, 2);
    const client = anonymousClient(t);
    const subs = [collect<number>(client, METRIC, { d: domain, o: link }), collect<number>(client, METRIC, { d: domain, o: link })];
    await expect.poll(() => subs.map((s) => s.values.length)).toEqual([1, 1]);
    expect(subs.map((s) => s.values[0]!.value)).toEqual([2, 2]);

    await increment(other, 5);
    await new Promise((r) => setTimeout(r, 3 * INTERVAL));
    expect(subs[0]!.values).toHaveLength(1); // another object: nothing

    // A burst of 10 increments: the last value is the exact total, with far fewer values than increments.
    await Promise.all(Array.from({ length: 10 }, () => increment(link)));
    for (const s of subs) {
      await expect.poll(() => s.values.at(-1)?.value, { timeout: 5_000 }).toBe(12);
      expect(s.errors).toEqual([]);
      const values = s.values.map((v) => v.value);
      expect(values).toEqual([...values].sort((a, b) => a - b));
      expect(values.length).toBeLessThanOrEqual(1 + 4);
      // Coalesced: two values of the burst at least one interval apart (timer slack allowed).
      for (let i = 2; i < s.values.length; i++) expect(s.values[i]!.at - s.values[i - 1]!.at).toBeGreaterThanOrEqual(INTERVAL - 50);
    }
    // Both subscribers got the very same values (one watcher read them).
    expect(subs[0]!.values.map((v) => v.value)).toEqual(subs[1]!.values.map((v) => v.value));
    await client.dispose();
  });

  it('private metrics are refused to anonymous subscribers; unknown ones are NOT_FOUND', async () => {
    const domain = uniqueId('priv');
    await t.ok(
      `mutation R($d: ID!) { registerDomain(ref: $d, name: "Private") { ref } registerMetric(domain: $d, ref: "clicks", name: "Clicks") { ref } }`,
      { d: domain },
      { token: t.serviceToken },
    );
    const client = anonymousClient(t);
    const refused = collect<number>(client, METRIC, { d: domain, o: null });
    const unknown = collect<number>(client, METRIC, { d: uniqueId('nope'), o: null });
    await expect.poll(() => refused.errors.length + unknown.errors.length).toBe(2);
    expect(JSON.stringify(refused.errors)).toMatch(/FORBIDDEN|not public/);
    expect(JSON.stringify(unknown.errors)).toMatch(/NOT_FOUND/);
    await client.dispose();
  });

  it('a stream ends with an error once the metric is made private (not for services), stops being a counter, or is deleted', async () => {
    const service = { token: t.serviceToken };
    const REGISTER = `mutation R($d: ID!, $public: Boolean, $kind: MetricKind) { registerMetric(domain: $d, ref: "clicks", public: $public, kind: $kind) { ref } }`;
    const serviceClient = createClient({ url: `ws://127.0.0.1:${t.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${t.serviceToken}` } });
    const anonymous = anonymousClient(t);
    const ended = (s: { errors: unknown[] }) => s.errors.length > 0;

    // Made private: the anonymous stream ends FORBIDDEN at once, with no increment needed; the service's goes on.
    const first = await counter(t);
    const anon = collect<number>(anonymous, METRIC, { d: first.domain, o: null });
    const byService = collect<number>(serviceClient, METRIC, { d: first.domain, o: null });
    await expect.poll(() => [anon.values.length, byService.values.length]).toEqual([1, 1]);
    await t.ok(REGISTER, { d: first.domain, public: false }, service);
    await expect.poll(() => JSON.stringify(anon.errors), { timeout: 5_000 }).toMatch(/FORBIDDEN|not public/);
    await t.ok('mutation I($e: [IncrementInput!]!) { increment(events: $e) { accepted } }', { e: [{ domain: first.domain, metric: 'clicks', by: 7 }] }, service);
    await expect.poll(() => byService.values.at(-1)?.value, { timeout: 5_000 }).toBe(7);
    expect(anon.values.map((v) => v.value)).toEqual([0]);
    expect(ended(byService)).toBe(false);

    // Deleted: every stream of it ends NOT_FOUND (the same ref registered again is another metric).
    await t.ok(`mutation D($d: ID!) { deleteMetric(domain: $d, ref: "clicks") }`, { d: first.domain }, service);
    await expect.poll(() => JSON.stringify(byService.errors), { timeout: 5_000 }).toMatch(/NOT_FOUND|was deleted/);

    // No longer a counter (a metric an open domain created on first use, registered as a gauge): BAD_USER_INPUT.
    const open = uniqueId('open');
    await t.ok(`mutation R($d: ID!) { registerDomain(ref: $d, openMetrics: true, publicMetrics: true) { ref } }`, { d: open }, service);
    await t.ok('mutation I($e: [IncrementInput!]!) { increment(events: $e) { accepted } }', { e: [{ domain: open, metric: 'clicks', by: 2 }] }, service);
    const autoCreated = collect<number>(anonymous, METRIC, { d: open, o: null });
    await expect.poll(() => autoCreated.values.map((v) => v.value)).toEqual([2]);
    await t.ok(REGISTER, { d: open, kind: 'GAUGE' }, service);
    await expect.poll(() => JSON.stringify(autoCreated.errors), { timeout: 5_000 }).toMatch(/no longer a counter/);
    await anonymous.dispose();
    await serviceClient.dispose();
  });

  it('labelStats(domIds) is live: a click on a watched DOM id brings the new counts', async () => {
    const dom = uniqueId('btn');
    const client = anonymousClient(t);
    const sub = collect<Array<{ domId: string; label: string; count: number }>>(
      client,
      'subscription LiveLabels($ids: [String!]!) { labelStats(domIds: $ids) { domId label category count } }',
      { ids: [dom] },
    );
    await expect.poll(() => sub.values.length).toBe(1);
    expect(sub.values[0]!.value).toEqual([]);
    await t.ok('mutation L($l: String!) { trackLabels(labels: $l) { accepted } }', { l: `signup:cta:${dom}` });
    await expect.poll(() => sub.values.at(-1)?.value, { timeout: 5_000 }).toEqual([{ domId: dom, label: 'signup', category: 'cta', count: 1 }]);
    // A click elsewhere: no new value.
    const before = sub.values.length;
    await t.ok('mutation L($l: String!) { trackLabels(labels: $l) { accepted } }', { l: `signup:cta:${uniqueId('elsewhere')}` });
    await new Promise((r) => setTimeout(r, 3 * INTERVAL));
    expect(sub.values).toHaveLength(before);
    await client.dispose();
  });
});

const shared = Boolean(process.env['DATABASE_URL'] && process.env['REDIS_URL']);
describe.skipIf(!shared)('live metrics across instances', () => {
  it('an increment on A reaches a metric subscriber on B', async () => {
    const b = await startTestApp({}, { shareDatabaseOf: t });
    try {
      const { domain, increment } = await counter(t);
      const link = { type: 'Link', id: uniqueId('x') };
      const client = anonymousClient(b);
      const sub = collect<number>(client, METRIC, { d: domain, o: link });
      await expect.poll(() => sub.values.length).toBe(1);
      await increment(link, 7);
      await expect.poll(() => sub.values.at(-1)?.value, { timeout: 5_000 }).toBe(7);
      await client.dispose();
    } finally {
      await b.stop();
    }
  }, 60_000);
});
