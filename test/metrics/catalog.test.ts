import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { errorCodes, metricsHelpers } from './helpers.ts';

let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;

beforeAll(async () => {
  t = await startTestApp();
  h = metricsHelpers(t);
});
afterAll(async () => {
  await t?.stop();
});

const REGISTER_DOMAIN = `mutation($ref: ID!, $name: String!, $open: Boolean) { registerDomain(ref: $ref, name: $name, openMetrics: $open) { ref name openMetrics } }`;
const REGISTER_METRIC = `mutation($d: ID!, $ref: ID!, $name: String!, $kind: MetricKind, $public: Boolean) {
  registerMetric(domain: $d, ref: $ref, name: $name, kind: $kind, public: $public) { ref name kind public domain { ref } }
}`;

describe('domains and metrics', () => {
  it("registerDomain updates or creates (trackstats' register): a new name or setting is taken, omitted settings are kept", async () => {
    const ref = uniqueId('shop');
    const first = await h.registerDomain({ ref, name: 'Shopping' });
    expect(first).toEqual({ ref, name: 'Shopping', openMetrics: false, publicMetrics: false });
    expect(await h.registerDomain({ ref, name: 'Shopping' })).toEqual(first);
    // Renaming in application code must not break its start-up.
    expect((await t.ok(REGISTER_DOMAIN, { ref, name: 'Ecommerce', open: true }, h.service)).registerDomain).toEqual({ ref, name: 'Ecommerce', openMetrics: true });
    expect((await t.ok(`mutation($ref: ID!) { registerDomain(ref: $ref, name: "Ecommerce") { name openMetrics } }`, { ref }, h.service)).registerDomain).toEqual({
      name: 'Ecommerce',
      openMetrics: true,
    });
    const read = await t.ok<{ domain: unknown }>(`query($r: ID!) { domain(ref: $r) { ref name openMetrics } }`, { r: ref });
    expect(read.domain).toEqual({ ref, name: 'Ecommerce', openMetrics: true });
    // The built-in domains cannot be redefined.
    const builtIn = await t.gql(REGISTER_DOMAIN, { ref: 'labels', name: 'Labels', open: false }, h.service);
    expect(errorCodes(builtIn)).toEqual(['CONFLICT']);
    expect((await t.ok(REGISTER_DOMAIN, { ref: 'labels', name: 'Labels', open: true }, h.service)).registerDomain.openMetrics).toBe(true);
  });

  it('a domain incremented before it exists accepts increments right after it is registered', async () => {
    const ref = uniqueId('late');
    expect(await h.increment([{ domain: ref, metric: 'x' }])).toEqual({ accepted: 0, rejected: [{ index: 0, reason: 'unknown_domain' }] });
    await h.registerDomain({ ref, openMetrics: true });
    expect(await h.increment([{ domain: ref, metric: 'x' }])).toEqual({ accepted: 1, rejected: [] });
    expect(await h.total(ref, 'x')).toBe(1);
  });

  it('concurrent registrations of the same domain all return it', async () => {
    const ref = uniqueId('race');
    const results = await Promise.all(Array.from({ length: 8 }, () => h.registerDomain({ ref, name: 'Race' })));
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
  });

  it('registerMetric updates name and settings; only a kind change (which would corrupt data) is a CONFLICT; unknown domain is NOT_FOUND', async () => {
    const d = (await h.registerDomain()).ref;
    const ref = uniqueId('orders');
    const first = await t.ok(REGISTER_METRIC, { d, ref, name: 'Orders' }, h.service);
    expect(first.registerMetric).toEqual({ ref, name: 'Orders', kind: 'COUNTER', public: false, domain: { ref: d } });
    expect((await t.ok(REGISTER_METRIC, { d, ref, name: 'Orders', kind: 'COUNTER' }, h.service)).registerMetric).toEqual(first.registerMetric);
    await h.increment([{ domain: d, metric: ref, by: 3 }]);
    expect((await t.ok(REGISTER_METRIC, { d, ref, name: 'Number of orders', public: true }, h.service)).registerMetric).toEqual({
      ...first.registerMetric,
      name: 'Number of orders',
      public: true,
    });
    // Omitted settings keep their value.
    expect((await t.ok(REGISTER_METRIC, { d, ref, name: 'Number of orders' }, h.service)).registerMetric.public).toBe(true);
    const changed = await t.gql(REGISTER_METRIC, { d, ref, name: 'Orders', kind: 'GAUGE' }, h.service);
    expect(errorCodes(changed)).toEqual(['CONFLICT']);
    expect(changed.errors![0]!.message).toMatch(/COUNTER/);
    expect(await h.total(d, ref)).toBe(3);
    expect(errorCodes(await t.gql(REGISTER_METRIC, { d: 'trackql', ref: 'bot_rejections', name: 'Bots', public: true }, h.service))).toEqual(['CONFLICT']);
    // The same ref in another domain is another metric.
    const other = (await h.registerDomain()).ref;
    expect((await t.ok(REGISTER_METRIC, { d: other, ref, name: 'Other', kind: 'GAUGE' }, h.service)).registerMetric.kind).toBe('GAUGE');
    expect(errorCodes(await t.gql(REGISTER_METRIC, { d: 'no-such-domain', ref, name: 'X' }, h.service))).toEqual(['NOT_FOUND']);
  });

  it("a name is optional, as trackstats' register(domain, ref, name=''): empty for a new one, kept when omitted on an existing one", async () => {
    const ref = uniqueId('d');
    const NO_NAME_DOMAIN = `mutation($ref: ID!) { registerDomain(ref: $ref) { ref name } }`;
    const NO_NAME_METRIC = `mutation($d: ID!, $ref: ID!) { registerMetric(domain: $d, ref: $ref) { ref name kind } }`;
    expect((await t.ok(NO_NAME_DOMAIN, { ref }, h.service)).registerDomain).toEqual({ ref, name: '' });
    expect((await t.ok(NO_NAME_METRIC, { d: ref, ref: 'followers_count' }, h.service)).registerMetric).toEqual({ ref: 'followers_count', name: '', kind: 'COUNTER' });
    await t.ok(REGISTER_DOMAIN, { ref, name: 'Social' }, h.service);
    await t.ok(REGISTER_METRIC, { d: ref, ref: 'followers_count', name: 'Followers' }, h.service);
    // Registered again without a name (application start-up): the names stay.
    expect((await t.ok(NO_NAME_DOMAIN, { ref }, h.service)).registerDomain.name).toBe('Social');
    expect((await t.ok(NO_NAME_METRIC, { d: ref, ref: 'followers_count' }, h.service)).registerMetric.name).toBe('Followers');
    // An empty (or blank) name is a name: trackstats' field may be blank.
    expect((await t.ok(REGISTER_METRIC, { d: ref, ref: 'followers_count', name: '  ' }, h.service)).registerMetric.name).toBe('');
    // The built-in domains: registering one without a name is not a redefinition.
    expect((await t.gql(`mutation { registerDomain(ref: "labels") { ref } }`, {}, h.service)).errors).toBeUndefined();
  });

  it('invalid refs and names are BAD_USER_INPUT and store nothing', async () => {
    for (const ref of ['', 'has space', 'a|b', 'a:b', 'x'.repeat(65)]) {
      expect(errorCodes(await t.gql(REGISTER_DOMAIN, { ref, name: 'N' }, h.service)), ref).toEqual(['BAD_USER_INPUT']);
    }
    expect(errorCodes(await t.gql(REGISTER_DOMAIN, { ref: uniqueId('d'), name: 'n'.repeat(257) }, h.service))).toEqual(['BAD_USER_INPUT']);
    const d = (await h.registerDomain()).ref;
    expect(errorCodes(await t.gql(REGISTER_METRIC, { d, ref: 'bad ref', name: 'N' }, h.service))).toEqual(['BAD_USER_INPUT']);
    const listed = await t.ok<{ domains: Array<{ ref: string }>; domain: { metrics: unknown[] } }>(
      `query($d: ID!) { domains { ref } domain(ref: $d) { metrics { ref } } }`,
      { d },
      h.service,
    );
    expect(listed.domains.some((x) => x.ref === '' || x.ref.includes(' ') || x.ref.includes('|'))).toBe(false);
    expect(listed.domain.metrics).toEqual([]);
  });

  it('only services register or delete; anyone lists domains; the built-in domains exist', async () => {
    const user = await t.userToken(uniqueId('u'));
    expect(errorCodes(await t.gql(REGISTER_DOMAIN, { ref: uniqueId('x'), name: 'X' }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await t.gql(REGISTER_DOMAIN, { ref: uniqueId('x'), name: 'X' }, { token: user }))).toEqual(['FORBIDDEN']);
    const d = (await h.registerDomain()).ref;
    expect(errorCodes(await t.gql(REGISTER_METRIC, { d, ref: 'm', name: 'M' }, { token: user }))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await t.gql(`mutation($d: ID!) { deleteMetric(domain: $d, ref: "m") }`, { d }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await t.gql(`mutation { foldCounters { folded } }`, {}, { token: user }))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await t.gql(`{ metricsStatus { inboxRows } }`))).toEqual(['UNAUTHENTICATED']);

    const anonymous = await t.ok<{ domains: Array<{ ref: string }>; none: null }>(`{ domains { ref } none: domain(ref: "nope") { ref } }`);
    expect(anonymous.domains.map((x) => x.ref)).toEqual(expect.arrayContaining(['labels', 'trackql', d]));
    expect(anonymous.none).toBeNull();
    // The bot counter is private.
    expect(errorCodes(await t.gql(`{ domain(ref: "trackql") { metric(ref: "bot_rejections") { total } } }`))).toEqual(['FORBIDDEN']);
  });
});

describe('recordStatistic racing deleteMetric', () => {
  it('each record is stored or NOT_FOUND, never an internal error (the foreign key check lost the race)', async () => {
    const domain = (await h.registerDomain()).ref;
    const codes = new Map<string, number>();
    for (let round = 0; round < 10; round++) {
      const ref = `g${round}`;
      await t.ok(`mutation($d: ID!, $m: ID!) { registerMetric(domain: $d, ref: $m, kind: GAUGE) { ref } }`, { d: domain, m: ref }, h.service);
      const record = (i: number) =>
        t.gql(
          `mutation($d: ID!, $m: ID!, $v: Float!, $p: Period!) { recordStatistic(domain: $d, metric: $m, value: $v, period: $p, object: { type: "T", id: "i" }) { value } }`,
          { d: domain, m: ref, v: i, p: ['DAY', 'LIFETIME', 'WEEK', 'MONTH'][i % 4] },
          h.service,
        );
      await record(0);
      const results = await Promise.all([
        ...Array.from({ length: 8 }, (_, i) => record(i + 1)),
        t.gql(`mutation($d: ID!, $m: ID!) { deleteMetric(domain: $d, ref: $m) }`, { d: domain, m: ref }, h.service),
      ]);
      for (const r of results) {
        const code = r.errors ? String(r.errors[0]?.extensions?.['code']) : 'ok';
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    expect([...codes.keys()].filter((c) => c !== 'ok' && c !== 'NOT_FOUND')).toEqual([]);
  });
});

describe('deleting a metric and dead letters', () => {
  it('increments of a deleted metric become dead letters at the next fold; the fold goes on with the others', async () => {
    const { domain, metric } = await h.counter();
    const keep = (await h.registerMetric(domain)).ref;
    const page = uniqueId('p');
    await h.increment([
      { domain, metric, by: 2, object: { type: 'Page', id: page, label: 'Pricing page' }, category: 'c', domId: 'd1' },
      { domain, metric, by: 3 },
      { domain, metric: keep, by: 5 },
    ]);
    const deleted = await t.ok<{ deleteMetric: boolean }>(`mutation($d: ID!, $m: ID!) { deleteMetric(domain: $d, ref: $m) }`, { d: domain, m: metric }, h.service);
    expect(deleted.deleteMetric).toBe(true);
    const gone = await t.ok<{ domain: { metric: null } }>(`query($d: ID!, $m: ID!) { domain(ref: $d) { metric(ref: $m) { ref } } }`, { d: domain, m: metric }, h.service);
    expect(gone.domain.metric).toBeNull();

    const before = await h.status();
    const report = await h.fold();
    expect(report.deadLettered).toBe(2);
    expect(report.folded).toBeGreaterThanOrEqual(1);
    expect(await h.total(domain, keep)).toBe(5);
    const after = await h.status();
    expect(after.deadLetters - before.deadLetters).toBe(2);
    expect(after.inboxRows).toBe(0);

    const letters = await t.ok<{ metricDeadLetters: Array<{ amount: number; reason: string; object: { id: string; label: string | null } | null; category: string | null; domId: string | null }> }>(
      `{ metricDeadLetters(first: 2) { amount reason object { id label } category domId } }`,
      {},
      h.service,
    );
    expect(letters.metricDeadLetters).toEqual([
      { amount: 3, reason: 'unknown_metric', object: null, category: null, domId: null },
      { amount: 2, reason: 'unknown_metric', object: { id: page, label: 'Pricing page' }, category: 'c', domId: 'd1' },
    ]);

    // Registering the ref again starts from zero.
    await h.registerMetric(domain, { ref: metric });
    expect(await h.total(domain, metric)).toBe(0);
    expect((await t.ok<{ deleteMetric: boolean }>(`mutation($d: ID!) { deleteMetric(domain: $d, ref: "never-was") }`, { d: domain }, h.service)).deleteMetric).toBe(false);
  });

  it('lists dead letters newest first (numeric order across digit boundaries)', async () => {
    const { domain, metric } = await h.counter();
    await h.increment(Array.from({ length: 12 }, (_, i) => ({ domain, metric, by: i + 1 })));
    await t.ok(`mutation($d: ID!, $m: ID!) { deleteMetric(domain: $d, ref: $m) }`, { d: domain, m: metric }, h.service);
    expect((await h.fold()).deadLettered).toBe(12);
    const letters = await t.ok<{ metricDeadLetters: Array<{ amount: number }> }>(`{ metricDeadLetters(first: 12) { amount } }`, {}, h.service);
    expect(letters.metricDeadLetters.map((l) => l.amount)).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('a metric turned into a gauge leaves its pending increments as dead letters (not_counter)', async () => {
    const domain = (await h.registerDomain({ openMetrics: true })).ref;
    await h.increment([{ domain, metric: 'auto', by: 4 }]);
    // First registration of a metric created on first use redefines it, here as a gauge.
    expect((await h.registerMetric(domain, { ref: 'auto', kind: 'GAUGE' })).kind).toBe('GAUGE');
    expect((await h.fold()).deadLettered).toBe(1);
    const letters = await t.ok<{ metricDeadLetters: Array<{ amount: number; reason: string }> }>(`{ metricDeadLetters(first: 1) { amount reason } }`, {}, h.service);
    expect(letters.metricDeadLetters).toEqual([{ amount: 4, reason: 'not_counter' }]);
  });
});

describe('catalog caches', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await startTestApp({ METRICS_CATALOG_CACHE_MAX: '50' });
  });
  afterAll(async () => {
    await small?.stop();
  });

  it('stay bounded when anonymous callers name ever-new domains and metrics, and still answer right', async () => {
    const s = metricsHelpers(small);
    const { domain, metric } = await s.counter({ public: true });
    const cached = async () =>
      (await small.ok<{ metricsStatus: { catalogCacheEntries: number } }>('{ metricsStatus { catalogCacheEntries } }', {}, s.service)).metricsStatus
        .catalogCacheEntries;
    for (let round = 0; round < 4; round++) {
      const events = Array.from({ length: 999 }, (_, i) => ({ domain: `nope-${round}-${i}`, metric: `m-${i}` }));
      events.push({ domain, metric });
      const result = await s.incrementRaw(events, { token: undefined });
      expect(result.data?.increment.accepted).toBe(1);
      expect(result.data?.increment.rejected).toHaveLength(999);
      expect(result.data?.increment.rejected.every((r) => r.reason === 'unknown_domain')).toBe(true);
      expect(await cached()).toBeLessThanOrEqual(100);
    }
    expect(await s.total(domain, metric)).toBe(4);
  });
});
