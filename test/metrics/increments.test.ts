import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { BOT_UA, errorCodes, metricsHelpers } from './helpers.ts';

let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;

beforeAll(async () => {
  t = await startTestApp({ METRICS_MAX_BATCH: '50', METRICS_MAX_BY: '1000' });
  h = metricsHelpers(t);
});
afterAll(async () => {
  await t?.stop();
});

describe('increments and totals', () => {
  it('totals are exact right after increments, and stay exact after a fold (per object, category, both, none)', async () => {
    const { domain, metric } = await h.counter();
    const a = { type: 'Article', id: uniqueId('a') };
    const b = { type: 'Article', id: uniqueId('b') };
    const result = await h.increment([
      { domain, metric, object: a },
      { domain, metric, object: a, by: 4, category: 'web' },
      { domain, metric, object: b, by: 10, category: 'web' },
      { domain, metric, by: 2, category: 'app' },
      { domain, metric, by: 3 },
    ]);
    expect(result).toEqual({ accepted: 5, rejected: [] });

    const check = async () => {
      expect(await h.total(domain, metric)).toBe(20);
      expect(await h.total(domain, metric, { object: a })).toBe(5);
      expect(await h.total(domain, metric, { object: b })).toBe(10);
      expect(await h.total(domain, metric, { category: 'web' })).toBe(14);
      expect(await h.total(domain, metric, { category: 'app' })).toBe(2);
      expect(await h.total(domain, metric, { object: a, category: 'web' })).toBe(4);
      expect(await h.total(domain, metric, { object: a, category: 'app' })).toBe(0);
      expect(await h.total(domain, metric, { object: { type: 'Article', id: 'nobody' } })).toBe(0);
    };
    await check();
    const report = await h.fold();
    expect(report.folded).toBeGreaterThanOrEqual(5);
    expect(report.skipped).toBe(false);
    await check();

    // More increments after the fold: folded + inbox.
    await h.increment([{ domain, metric, object: a, by: 7, category: 'web' }]);
    expect(await h.total(domain, metric)).toBe(27);
    expect(await h.total(domain, metric, { object: a })).toBe(12);
    expect(await h.total(domain, metric, { category: 'web' })).toBe(21);
    await h.fold();
    expect(await h.total(domain, metric)).toBe(27);
    expect(await h.total(domain, metric, { object: a, category: 'web' })).toBe(11);
    expect(await h.fold()).toMatchObject({ folded: 0, buckets: 0 });
  });

  it('rejects events one by one with a reason and accepts the others', async () => {
    const { domain, metric } = await h.counter();
    const negative = (await h.registerMetric(domain, { allowNegative: true })).ref;
    const gauge = (await h.registerMetric(domain, { kind: 'GAUGE' })).ref;
    const now = Date.now();
    const result = await h.increment([
      { domain, metric },
      { domain: 'no-such-domain', metric },
      { domain, metric: 'no-such-metric' },
      { domain, metric: gauge },
      { domain, metric, by: 0 },
      { domain, metric, by: -3 },
      { domain, metric: negative, by: -3 },
      { domain, metric, by: 1001 },
      { domain, metric, by: 1000 },
      { domain, metric, at: new Date(now + 3_600_000).toISOString() },
      { domain, metric, at: new Date(now - 8 * 24 * 3_600_000).toISOString() },
      { domain, metric, at: new Date(now - 3_600_000).toISOString() },
    ]);
    expect(result.accepted).toBe(4);
    expect(result.rejected).toEqual([
      { index: 1, reason: 'unknown_domain' },
      { index: 2, reason: 'unknown_metric' },
      { index: 3, reason: 'not_counter' },
      { index: 4, reason: 'by_not_positive' },
      { index: 5, reason: 'by_not_positive' },
      { index: 7, reason: 'by_too_large' },
      { index: 9, reason: 'at_in_future' },
      { index: 10, reason: 'at_too_old' },
    ]);
    expect(await h.total(domain, metric)).toBe(1 + 1000 + 1);
    expect(await h.total(domain, negative)).toBe(-3);
  });

  it('a batch over METRICS_MAX_BATCH is an error and stores nothing', async () => {
    const { domain, metric } = await h.counter();
    const events = Array.from({ length: 51 }, () => ({ domain, metric }));
    const result = await h.incrementRaw(events, { token: t.serviceToken });
    expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
    expect(await h.total(domain, metric)).toBe(0);
    expect((await h.increment(events.slice(0, 50))).accepted).toBe(50);
    expect(await h.total(domain, metric)).toBe(50);
  });

  it('an invalid event (bad object, category too long) fails the whole call and stores nothing', async () => {
    const { domain, metric } = await h.counter();
    const badObject = await h.incrementRaw([{ domain, metric }, { domain, metric, object: { type: '', id: 'x' } }], { token: t.serviceToken });
    expect(errorCodes(badObject)).toEqual(['BAD_USER_INPUT']);
    const longCategory = await h.incrementRaw([{ domain, metric }, { domain, metric, category: 'c'.repeat(129) }], { token: t.serviceToken });
    expect(errorCodes(longCategory)).toEqual(['BAD_USER_INPUT']);
    expect(await h.total(domain, metric)).toBe(0);
  });

  it('stores any characters in object ids, categories and dom ids exactly; NUL is BAD_USER_INPUT', async () => {
    const { domain, metric } = await h.counter();
    const odd = ['a"b', 'back\\slash', 'comma,brace{}', 'NULL', ' spaced ', 'é✓🚀', "quote'single", ''];
    const events = odd.flatMap((id, i) => (id ? [{ domain, metric, object: { type: 'Odd', id }, category: odd[(i + 1) % odd.length]!, domId: odd[(i + 2) % odd.length]!, by: i + 1 }] : []));
    expect((await h.increment(events)).accepted).toBe(events.length);
    const check = async () => {
      for (const e of events) {
        expect(await h.total(domain, metric, { object: e.object }), e.object.id).toBe(e.by);
        if (e.category) expect(await h.total(domain, metric, { object: e.object, category: e.category })).toBe(e.by);
      }
    };
    await check();
    await h.fold();
    await check();
    const nul = await h.incrementRaw([{ domain, metric }, { domain, metric, object: { type: 'Odd', id: 'a\u0000b' } }], { token: t.serviceToken });
    expect(errorCodes(nul)).toEqual(['BAD_USER_INPUT']);
    expect(await h.total(domain, metric)).toBe(events.reduce((a, e) => a + e.by, 0));
  });

  it('anonymous callers and users may increment and read public metrics only', async () => {
    const domain = (await h.registerDomain()).ref;
    const pub = (await h.registerMetric(domain, { public: true })).ref;
    const priv = (await h.registerMetric(domain, { public: false })).ref;
    const user = await t.userToken(uniqueId('u'));
    for (const token of [undefined, user]) {
      const result = await h.increment([{ domain, metric: pub }, { domain, metric: priv }], { token });
      expect(result).toEqual({ accepted: 1, rejected: [{ index: 1, reason: 'not_public' }] });
      expect(await h.total(domain, pub, {}, token)).toBeGreaterThan(0);
      const hidden = await t.gql(`query($d: ID!, $m: ID!) { domain(ref: $d) { metric(ref: $m) { total } } }`, { d: domain, m: priv }, { token });
      expect(errorCodes(hidden)).toEqual(['FORBIDDEN']);
      const listed = await t.ok<{ domain: { metrics: Array<{ ref: string }> } }>(
        `query($d: ID!) { domain(ref: $d) { metrics { ref } } }`,
        { d: domain },
        { token },
      );
      expect(listed.domain.metrics.map((m) => m.ref)).toEqual([pub]);
    }
    expect(await h.total(domain, pub)).toBe(2);
    expect(await h.total(domain, priv)).toBe(0);
  });

  it('open domains create metrics on first use: for services always, for others only when new metrics are public', async () => {
    const closed = (await h.registerDomain({ openMetrics: true, publicMetrics: false })).ref;
    const open = (await h.registerDomain({ openMetrics: true, publicMetrics: true })).ref;
    expect(await h.increment([{ domain: closed, metric: 'made-by-service', by: 2 }])).toEqual({ accepted: 1, rejected: [] });
    expect(await h.total(closed, 'made-by-service')).toBe(2);
    expect(await h.increment([{ domain: closed, metric: 'made-by-anon' }], { token: undefined })).toEqual({
      accepted: 0,
      rejected: [{ index: 0, reason: 'not_public' }],
    });
    expect(await h.increment([{ domain: open, metric: 'clicks' }, { domain: open, metric: 'clicks' }], { token: undefined })).toEqual({
      accepted: 2,
      rejected: [],
    });
    expect(await h.total(open, 'clicks', {}, undefined)).toBe(2);
    // The first registration of a metric created on first use redefines it (even its kind); later ones may
    // rename it (trackstats' register), but not change its kind.
    const claimed = await h.registerMetric(open, { ref: 'clicks', name: 'Clicks', public: true });
    expect(claimed).toMatchObject({ ref: 'clicks', name: 'Clicks', public: true });
    const again = await t.gql(
      `mutation($d: ID!) { registerMetric(domain: $d, ref: "clicks", name: "Other name", kind: GAUGE) { ref } }`,
      { d: open },
      h.service,
    );
    expect(errorCodes(again)).toEqual(['CONFLICT']);
    expect(await h.total(open, 'clicks')).toBe(2);
  });

  it('incrementObjects: one increment per object id, with the same rules as increment', async () => {
    const domain = (await h.registerDomain()).ref;
    const metric = (await h.registerMetric(domain, { public: true })).ref;
    const mutation = `mutation($d: ID!, $m: ID!, $type: String!, $ids: [ID!]!, $by: Int, $category: String, $at: DateTime) {
      incrementObjects(domain: $d, metric: $m, objectType: $type, objectIds: $ids, by: $by, category: $category, at: $at) { accepted rejected { index reason } }
    }`;
    const ids = ['a', 'b', 'c', 'a'];
    const ok = await t.ok<{ incrementObjects: unknown }>(mutation, { d: domain, m: metric, type: 'Product', ids, by: 2, category: 'list' });
    expect(ok.incrementObjects).toEqual({ accepted: 4, rejected: [] });
    expect(await h.total(domain, metric, { object: { type: 'Product', id: 'a' } })).toBe(4);
    expect(await h.total(domain, metric, { object: { type: 'Product', id: 'b' }, category: 'list' })).toBe(2);
    expect(await h.total(domain, metric)).toBe(8);
    const old = await t.ok<{ incrementObjects: unknown }>(mutation, { d: domain, m: 'nope', type: 'Product', ids: ['a', 'b'] });
    expect(old.incrementObjects).toEqual({ accepted: 0, rejected: [{ index: 0, reason: 'unknown_metric' }, { index: 1, reason: 'unknown_metric' }] });
    for (const bad of [{ type: 'not a type', ids: ['a'] }, { type: 'Product', ids: ['a', ''] }, { type: 'Product', ids: Array(51).fill('x') }]) {
      expect(errorCodes(await t.gql(mutation, { d: domain, m: metric, ...bad }, h.service))).toEqual(['BAD_USER_INPUT']);
    }
    expect(await h.total(domain, metric)).toBe(8);
  });

  it('concurrent increments share commits (group commit) and are all durable when acknowledged', async () => {
    const { domain, metric } = await h.counter();
    const before = await h.status();
    const results = await Promise.all(Array.from({ length: 40 }, () => h.increment([{ domain, metric, by: 3 }])));
    expect(results.every((r) => r.accepted === 1)).toBe(true);
    const after = await h.status();
    expect(after.acknowledgedWrites - before.acknowledgedWrites).toBe(40);
    expect(after.flushes - before.flushes).toBeLessThan(40);
    expect(after.flushedRows - before.flushedRows).toBe(40);
    expect(await h.total(domain, metric)).toBe(120);
  });
});

describe('bots', () => {
  it('rejects increments from bot user agents for anonymous callers and users (not services) and counts them', async () => {
    const domain = (await h.registerDomain()).ref;
    const metric = (await h.registerMetric(domain, { public: true })).ref;
    const user = await t.userToken(uniqueId('u'));
    const botsBefore = await h.total('trackql', 'bot_rejections', { category: domain });
    for (const token of [undefined, user]) {
      expect(await h.increment([{ domain, metric }, { domain, metric }], { token, userAgent: BOT_UA })).toEqual({
        accepted: 0,
        rejected: [
          { index: 0, reason: 'bot' },
          { index: 1, reason: 'bot' },
        ],
      });
    }
    expect(await h.increment([{ domain, metric }], { userAgent: BOT_UA })).toEqual({ accepted: 1, rejected: [] });
    expect(await h.total(domain, metric)).toBe(1);
    expect(await h.total('trackql', 'bot_rejections', { category: domain })).toBe(botsBefore + 4);
  });
});

describe('labels (django-tracker)', () => {
  const track = (labels: string, userAgent?: string) =>
    t.ok<{ trackLabels: { accepted: number; rejected: Array<{ index: number; reason: string }> } }>(
      `mutation($labels: String!) { trackLabels(labels: $labels) { accepted rejected { index reason } } }`,
      { labels },
      { headers: userAgent ? { 'user-agent': userAgent } : {} },
    );
  const labelStats = (domIds: string[]) =>
    t.ok<{ labelStats: Array<{ domId: string; label: string; category: string | null; count: number }> }>(
      `query($ids: [String!]!) { labelStats(domIds: $ids) { domId label category count } }`,
      { ids: domIds },
    );

  it('parses "a|b:category:domId", rejects malformed parts with a reason, and counts per dom id', async () => {
    const link1 = uniqueId('link1');
    const link2 = uniqueId('link2');
    const first = await track(`user_connected|tracked-links-1:links:${link1}|tracked-links-2:links:${link2}`);
    expect(first).toEqual({ trackLabels: { accepted: 3, rejected: [] } });
    const second = await track(`tracked-links-1:links:${link1}||a:b:c:d|bad<label|tracked-links-1::${link1}|${'x'.repeat(200)}`);
    expect(second.trackLabels.accepted).toBe(2);
    expect(second.trackLabels.rejected).toEqual([
      { index: 1, reason: 'empty_label' },
      { index: 2, reason: 'malformed_label' },
      { index: 3, reason: 'invalid_label' },
      { index: 5, reason: 'invalid_label' },
    ]);

    const expected = [
      { domId: link1, label: 'tracked-links-1', category: null, count: 1 },
      { domId: link1, label: 'tracked-links-1', category: 'links', count: 2 },
      { domId: link2, label: 'tracked-links-2', category: 'links', count: 1 },
    ];
    expect((await labelStats([link1, link2, 'unknown'])).labelStats).toEqual(expected);
    await h.fold();
    expect((await labelStats([link1, link2])).labelStats).toEqual(expected);
    await track(`tracked-links-2:links:${link2}`);
    expect((await labelStats([link2])).labelStats).toEqual([{ domId: link2, label: 'tracked-links-2', category: 'links', count: 2 }]);

    // Each label is a public metric of the built-in labels domain.
    expect(await h.total('labels', 'tracked-links-1', {}, undefined)).toBeGreaterThanOrEqual(3);
    const domain = await t.ok<{ domain: { ref: string; openMetrics: boolean; publicMetrics: boolean } }>(
      `{ domain(ref: "labels") { ref openMetrics publicMetrics } }`,
    );
    expect(domain.domain).toEqual({ ref: 'labels', openMetrics: true, publicMetrics: true });
  });

  it('bots get every label rejected', async () => {
    const dom = uniqueId('d');
    expect((await track(`x:y:${dom}|z`, BOT_UA)).trackLabels).toEqual({
      accepted: 0,
      rejected: [
        { index: 0, reason: 'bot' },
        { index: 1, reason: 'bot' },
      ],
    });
    expect((await labelStats([dom])).labelStats).toEqual([]);
  });
});
