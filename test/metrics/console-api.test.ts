import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { errorCodes, metricsHelpers } from './helpers.ts';

/**
 * What the console needs beyond the core contract: renaming domains and metrics, retrying and purging dead
 * letters, the label heat map of a day, the recent folds. All service only.
 */
let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;
let userToken: string;

beforeAll(async () => {
  t = await startTestApp();
  h = metricsHelpers(t);
  userToken = await t.userToken(uniqueId('user'));
});
afterAll(async () => {
  await t?.stop();
});

const HOUR = 3_600_000;

interface DeadLetterRow {
  id: string;
  metricId: number;
  amount: number;
  reason: string;
  object: { type: string; id: string } | null;
  category: string | null;
  domId: string | null;
  at: string;
}

async function deadLetters(): Promise<DeadLetterRow[]> {
  const data = await t.ok<{ metricDeadLetters: DeadLetterRow[] }>(
    `query { metricDeadLetters(first: 100) { id metricId amount reason object { type id } category domId at } }`,
    {},
    h.service,
  );
  return data.metricDeadLetters;
}

/** A counter whose increments became dead letters (deleted before the fold); returns their ids. */
async function deadLettered(events: Array<{ by: number; object?: { type: string; id: string }; category?: string; at?: string }>) {
  const { domain, metric } = await h.counter();
  await h.fold();
  await h.increment(events.map((e) => ({ domain, metric, ...e })));
  await t.ok(`mutation($d: ID!, $m: ID!) { deleteMetric(domain: $d, ref: $m) }`, { d: domain, m: metric }, h.service);
  const report = await h.fold();
  expect(report.deadLettered).toBe(events.length);
  const letters = (await deadLetters()).slice(0, events.length);
  expect(letters.every((l) => l.reason === 'unknown_metric')).toBe(true);
  return { domain, metric, letters };
}

describe('retryMetricDeadLetters and purgeMetricDeadLetters', () => {
  it('retry into a counter moves the increments back into the inbox with their object, category and time, folded once', async () => {
    const at = new Date(Date.now() - 5 * HOUR).toISOString();
    const item = { type: 'Item', id: uniqueId('i') };
    const { domain, metric, letters } = await deadLettered([{ by: 3, object: item, category: 'a', at }, { by: 4 }, { by: 5, category: 'a' }]);
    // The metric registered again (a new metric with the same ref): retry the dead letters into it.
    await h.registerMetric(domain, { ref: metric });
    const before = (await h.status()).deadLetters;
    const moved = await t.ok<{ retryMetricDeadLetters: number }>(
      `mutation($ids: [ID!]!, $d: ID!, $m: ID!) { retryMetricDeadLetters(ids: $ids, domain: $d, metric: $m) }`,
      { ids: [...letters.map((l) => l.id), '999999999'], d: domain, m: metric },
      h.service,
    );
    expect(moved.retryMetricDeadLetters).toBe(3);
    expect((await h.status()).deadLetters).toBe(before - 3);
    // Exact before the fold (inbox) and after it.
    expect(await h.total(domain, metric)).toBe(12);
    const report = await h.fold();
    expect(report.deadLettered).toBe(0);
    expect(await h.total(domain, metric)).toBe(12);
    expect(await h.total(domain, metric, { object: item })).toBe(3);
    expect(await h.total(domain, metric, { category: 'a' })).toBe(8);
    const hours = await h.series(domain, metric, { period: 'HOUR', from: new Date(Date.parse(at) - HOUR).toISOString(), to: at });
    expect(hours.data!.domain.metric.series.at(-1)!.value).toBe(3);
    // Retrying the same ids again moves nothing.
    const twice = await t.ok<{ retryMetricDeadLetters: number }>(`mutation($ids: [ID!]!) { retryMetricDeadLetters(ids: $ids) }`, { ids: letters.map((l) => l.id) }, h.service);
    expect(twice.retryMetricDeadLetters).toBe(0);
  });

  it('retry into their own, still missing metric makes them dead letters again at the next fold', async () => {
    const { letters } = await deadLettered([{ by: 2 }, { by: 7 }]);
    const moved = await t.ok<{ retryMetricDeadLetters: number }>(`mutation($ids: [ID!]!) { retryMetricDeadLetters(ids: $ids) }`, { ids: letters.map((l) => l.id) }, h.service);
    expect(moved.retryMetricDeadLetters).toBe(2);
    expect((await deadLetters()).map((l) => l.id)).not.toContain(letters[0]!.id);
    const report = await h.fold();
    expect(report.deadLettered).toBe(2);
    const again = (await deadLetters()).slice(0, 2);
    expect(again.map((l) => l.amount).sort()).toEqual([2, 7]);
    expect(again.every((l) => l.metricId === letters[0]!.metricId && l.reason === 'unknown_metric')).toBe(true);
  });

  it('purge deletes them for good; bad arguments change nothing', async () => {
    const { domain, letters } = await deadLettered([{ by: 1 }, { by: 1 }]);
    const gauge = (await h.registerMetric(domain, { kind: 'GAUGE' })).ref;
    const ids = letters.map((l) => l.id);
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [`mutation($ids: [ID!]!, $d: ID!, $m: ID!) { retryMetricDeadLetters(ids: $ids, domain: $d, metric: $m) }`, { ids, d: domain, m: gauge }, 'BAD_USER_INPUT'],
      [`mutation($ids: [ID!]!, $d: ID!) { retryMetricDeadLetters(ids: $ids, domain: $d) }`, { ids, d: domain }, 'BAD_USER_INPUT'],
      [`mutation($ids: [ID!]!, $d: ID!) { retryMetricDeadLetters(ids: $ids, domain: $d, metric: "nope") }`, { ids, d: domain }, 'NOT_FOUND'],
      [`mutation($ids: [ID!]!) { purgeMetricDeadLetters(ids: $ids) }`, { ids: [...ids, 'abc'] }, 'BAD_USER_INPUT'],
      [`mutation($ids: [ID!]!) { purgeMetricDeadLetters(ids: $ids) }`, { ids: Array.from({ length: 1001 }, (_, i) => String(i + 1)) }, 'BAD_USER_INPUT'],
    ];
    for (const [query, variables, code] of cases) {
      expect(errorCodes(await t.gql(query, variables, h.service)), query).toEqual([code]);
    }
    for (const [token, code] of [[userToken, 'FORBIDDEN'], [undefined, 'UNAUTHENTICATED']] as const) {
      expect(errorCodes(await t.gql(`mutation($ids: [ID!]!) { purgeMetricDeadLetters(ids: $ids) }`, { ids }, { token }))).toEqual([code]);
      expect(errorCodes(await t.gql(`mutation($ids: [ID!]!) { retryMetricDeadLetters(ids: $ids) }`, { ids }, { token }))).toEqual([code]);
    }
    expect((await deadLetters()).map((l) => l.id)).toEqual(expect.arrayContaining(ids));

    const purged = await t.ok<{ purgeMetricDeadLetters: number }>(`mutation($ids: [ID!]!) { purgeMetricDeadLetters(ids: $ids) }`, { ids }, h.service);
    expect(purged.purgeMetricDeadLetters).toBe(2);
    expect((await deadLetters()).map((l) => l.id)).not.toEqual(expect.arrayContaining([ids[0]]));
    const none = await t.ok<{ purgeMetricDeadLetters: number }>(`mutation($ids: [ID!]!) { purgeMetricDeadLetters(ids: $ids) }`, { ids }, h.service);
    expect(none.purgeMetricDeadLetters).toBe(0);
  });
});

interface HeatRow {
  domId: string;
  label: string;
  category: string | null;
  count: number;
}

async function heatMap(args: { day: string; timezone?: string; category?: string; first?: number }): Promise<HeatRow[]> {
  const data = await t.ok<{ labelHeatMap: HeatRow[] }>(
    `query($day: DateTime, $tz: String, $c: String, $first: Int) {
       labelHeatMap(day: $day, timezone: $tz, category: $c, first: $first) { domId label category count }
     }`,
    { day: args.day, tz: args.timezone ?? 'UTC', c: args.category, first: args.first ?? 1000 },
    h.service,
  );
  return data.labelHeatMap;
}

/** The calendar day of an instant in a time zone, as YYYY-MM-DD. */
const localDay = (ms: number, timezone: string) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);

describe('labelHeatMap', () => {
  it('counts the DOM ids of one day in a time zone, folded and not, highest first', async () => {
    const [a, b] = [uniqueId('cta'), uniqueId('nav')];
    const midnight = Math.floor(Date.now() / 86_400_000) * 86_400_000;
    // 22:00 UTC the day before today: already "today" in India (+5:30).
    const late = new Date(midnight - 2 * HOUR).toISOString();
    // 04:00 UTC the day before: the same day in both.
    const early = new Date(midnight - 20 * HOUR).toISOString();
    await h.increment([
      { domain: 'labels', metric: 'signup', domId: a, category: 'header', at: late, by: 2 },
      { domain: 'labels', metric: 'signup', domId: a, category: 'header', at: early },
    ]);
    await h.fold();
    await h.increment([
      { domain: 'labels', metric: 'menu', domId: b, category: 'nav', at: early, by: 5 },
      { domain: 'labels', metric: 'menu', domId: b, at: early },
    ]);
    const mine = (rows: HeatRow[]) => rows.filter((r) => r.domId === a || r.domId === b);

    const utc = mine(await heatMap({ day: early }));
    expect(utc).toEqual([
      { domId: b, label: 'menu', category: 'nav', count: 5 },
      { domId: a, label: 'signup', category: 'header', count: 3 },
      { domId: b, label: 'menu', category: null, count: 1 },
    ]);
    expect(mine(await heatMap({ day: early, timezone: 'Asia/Kolkata' }))).toEqual([
      { domId: b, label: 'menu', category: 'nav', count: 5 },
      { domId: a, label: 'signup', category: 'header', count: 1 },
      { domId: b, label: 'menu', category: null, count: 1 },
    ]);
    expect(mine(await heatMap({ day: late, timezone: 'Asia/Kolkata' }))).toEqual([{ domId: a, label: 'signup', category: 'header', count: 2 }]);
    expect(mine(await heatMap({ day: early, category: 'header' }))).toEqual([{ domId: a, label: 'signup', category: 'header', count: 3 }]);
    expect(mine(await heatMap({ day: new Date(midnight - 30 * HOUR).toISOString() }))).toEqual([]);
  });

  it('bad arguments are BAD_USER_INPUT; only services read it', async () => {
    const day = new Date().toISOString();
    expect(errorCodes(await t.gql(`query { labelHeatMap(timezone: "Mars/Olympus") { domId } }`, {}, h.service))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(`query { labelHeatMap(first: 0) { domId } }`, {}, h.service))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(`query($day: DateTime) { labelHeatMap(day: $day) { domId } }`, { day }, { token: userToken }))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await t.gql(`query { labelHeatMap { domId } }`, {}))).toEqual(['UNAUTHENTICATED']);
  });

  it('matches a reference count per local day for random increments (property, seeded)', async () => {
    const zones = ['UTC', 'Asia/Kolkata', 'Asia/Kathmandu', 'America/New_York', 'Pacific/Auckland'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ dom: fc.integer({ min: 0, max: 2 }), label: fc.constantFrom('x', 'y'), minutesAgo: fc.integer({ min: 1, max: 5 * 24 * 60 }), by: fc.integer({ min: 1, max: 9 }) }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.constantFrom(...zones),
        fc.boolean(),
        async (events, timezone, foldFirst) => {
          const doms = [uniqueId('p'), uniqueId('p'), uniqueId('p')];
          const now = Date.now();
          const rows = events.map((e) => ({ ...e, domId: doms[e.dom]!, at: now - e.minutesAgo * 60_000 }));
          await h.increment(rows.map((r) => ({ domain: 'labels', metric: r.label, domId: r.domId, by: r.by, at: new Date(r.at).toISOString() })));
          if (foldFirst) await h.fold();
          const day = rows[0]!.at;
          const expected = new Map<string, number>();
          for (const r of rows) {
            if (localDay(r.at, timezone) !== localDay(day, timezone)) continue;
            const key = `${r.domId}|${r.label}`;
            expected.set(key, (expected.get(key) ?? 0) + r.by);
          }
          const got = new Map(
            (await heatMap({ day: new Date(day).toISOString(), timezone }))
              .filter((r) => doms.includes(r.domId))
              .map((r) => [`${r.domId}|${r.label}`, r.count] as const),
          );
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 12, seed: 20261130 },
    );
  });
});

describe('metricsStatus.recentFolds', () => {
  it('lists the folds of this instance, newest first, with what they did', async () => {
    const { domain, metric } = await h.counter();
    await h.fold();
    await h.increment([{ domain, metric, by: 2 }, { domain, metric, by: 3 }]);
    const report = await h.fold();
    const data = await t.ok<{ metricsStatus: { inboxRows: number; recentFolds: Array<{ finishedAt: string; report: { folded: number; skipped: boolean } }> } }>(
      `query { metricsStatus { inboxRows recentFolds { finishedAt report { folded skipped } } } }`,
      {},
      h.service,
    );
    const folds = data.metricsStatus.recentFolds;
    expect(folds[0]!.report).toEqual({ folded: report.folded, skipped: false });
    expect(folds[0]!.report.folded).toBeGreaterThanOrEqual(2);
    expect(Date.now() - Date.parse(folds[0]!.finishedAt)).toBeLessThan(60_000);
    const times = folds.map((f) => Date.parse(f.finishedAt));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    expect(folds.length).toBeLessThanOrEqual(20);
  });
});
