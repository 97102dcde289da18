import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { counterHistory } from '../../src/ops/retention.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

// Counter history is kept per period (RETENTION_HOUR_DAYS … RETENTION_YEAR_DAYS, 0 = forever): once a period's
// days have passed, its series may lose resolution, while every period kept longer stays exact; history that no
// period keeps any more is deleted, and LIFETIME (the total) always stays. Before, everything past
// RETENTION_DAY_DAYS was deleted, which wiped MONTH and YEAR series kept "for ever" and shifted LIFETIME points.

const DAY = 86_400_000;
const HOUR = 3_600_000;
const PERIODS = ['HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR'] as const;
type Period = (typeof PERIODS)[number];
const SETTINGS = {
  RETENTION_HOUR_DAYS: '30',
  RETENTION_DAY_DAYS: '400',
  RETENTION_WEEK_DAYS: '500',
  RETENTION_MONTH_DAYS: '800',
  RETENTION_YEAR_DAYS: '1200',
};
// Metric ref, age in days, and the periods whose series must be unchanged at that age.
const AGES: Array<[string, number, Period[]]> = [
  ['d100', 100, ['DAY', 'WEEK', 'MONTH', 'YEAR']],
  ['d450', 450, ['WEEK', 'MONTH', 'YEAR']],
  ['d600', 600, ['MONTH', 'YEAR']],
  ['d900', 900, ['YEAR']],
  ['d1300', 1300, []],
];

let t: TestApp;
let s: string;

beforeAll(async () => {
  t = await startTestApp(SETTINGS);
  s = t.serviceToken;
  await t.ok('mutation { registerDomain(ref: "rp", name: "Retention periods") { ref } }', {}, { token: s });
  for (const [ref] of AGES) await t.ok(`mutation { registerMetric(domain: "rp", ref: "${ref}", name: "${ref}") { ref } }`, {}, { token: s });
});
afterAll(async () => {
  await t?.stop();
});

type Point = { start: string; value: number };
async function series(metric: string, period: string, from: number, to: number): Promise<Point[]> {
  const data = await t.ok<{ domain: { metric: { series: Point[] } } }>(
    `query($p: Period!, $f: DateTime!, $t: DateTime!) { domain(ref: "rp") { metric(ref: "${metric}") { series(period: $p, from: $f, to: $t) { start value } } } }`,
    { p: period, f: new Date(from).toISOString(), t: new Date(to).toISOString() },
    { token: s },
  );
  return data.domain.metric.series;
}
const total = async (metric: string) =>
  (await t.ok<{ domain: { metric: { total: number } } }>(`{ domain(ref: "rp") { metric(ref: "${metric}") { total } } }`, {}, { token: s })).domain.metric.total;

/** Every period's series around `at` (wide enough to hold every chunk its buckets can move to). */
async function around(metric: string, at: number): Promise<Record<Period, Point[]>> {
  const spans: Record<Period, number> = { HOUR: 3 * DAY, DAY: 40 * DAY, WEEK: 60 * DAY, MONTH: 400 * DAY, YEAR: 800 * DAY };
  const out = {} as Record<Period, Point[]>;
  for (const period of PERIODS) out[period] = await series(metric, period, at - spans[period], at + spans[period]);
  return out;
}
const sum = (points: Point[]) => points.reduce((a, p) => a + p.value, 0);

describe('counter retention per period', () => {
  it('splits history by the ages at which periods stop being kept', () => {
    const now = new Date('2026-06-15T10:00:00Z');
    const history = counterHistory(now, loadConfig({ ...SETTINGS }).retention);
    expect(history.map((h) => [h.from?.toISOString() ?? null, h.before.toISOString(), h.periods])).toEqual([
      ['2025-05-11T00:00:00.000Z', '2026-05-16T00:00:00.000Z', ['DAY', 'WEEK', 'MONTH', 'YEAR']],
      ['2025-01-31T00:00:00.000Z', '2025-05-11T00:00:00.000Z', ['WEEK', 'MONTH', 'YEAR']],
      ['2024-04-06T00:00:00.000Z', '2025-01-31T00:00:00.000Z', ['MONTH', 'YEAR']],
      ['2023-03-03T00:00:00.000Z', '2024-04-06T00:00:00.000Z', ['YEAR']],
      [null, '2023-03-03T00:00:00.000Z', []],
    ]);
    // The defaults: hours for 30 days, days for 730, weeks, months and years for ever (nothing deleted).
    expect(counterHistory(now, loadConfig({}).retention).map((h) => h.periods)).toEqual([
      ['DAY', 'WEEK', 'MONTH', 'YEAR'],
      ['WEEK', 'MONTH', 'YEAR'],
    ]);
    expect(counterHistory(now, loadConfig({ RETENTION_HOUR_DAYS: '0', RETENTION_DAY_DAYS: '0' }).retention)).toEqual([]);
  });

  it('keeps the series of every period kept longer than the history’s age, deletes what none keeps, and keeps totals', async () => {
    // Per metric: 1 at each of four quarter-hours spread over two days (and so over hours, days and, for some
    // ages, weeks or months), then moved back in time by the metric's age (rows cannot be made that old
    // through the API).
    const base = Math.floor((Date.now() - 3 * DAY) / DAY) * DAY;
    const offsets = [1.25 * HOUR, 9.5 * HOUR, 23.75 * HOUR, 36 * HOUR];
    for (const [ref, age] of AGES) {
      const events = offsets.map((o, i) => ({ domain: 'rp', metric: ref, by: i + 1, at: new Date(base + o).toISOString(), object: { type: 'Page', id: `p${i % 2}` } }));
      expect((await t.ok<{ increment: { accepted: number } }>('mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }', { e: events }, { token: s })).increment.accepted).toBe(4);
      await t.ok('mutation { foldCounters { folded } }', {}, { token: s });
      await t.app.orm.em.fork().execute(
        `update metric_statistic set start = start - (? * interval '1 day')
          where period = 'Q15' and metric_id = (select m.id from metric m join metric_domain d on d.id = m.domain_id where d.ref = 'rp' and m.ref = ?)`,
        [age, ref],
      );
    }
    const before = new Map<string, Record<Period, Point[]>>();
    for (const [ref, age] of AGES) before.set(ref, await around(ref, base - age * DAY + 18 * HOUR));

    const report = (await t.ok<{ applyRetention: { statisticsDeleted: number; statisticsCompacted: number } }>(
      'mutation { applyRetention { statisticsDeleted statisticsCompacted } }',
      {},
      { token: s },
    )).applyRetention;
    // d1300's 4 buckets, each at 3 levels (its object, its category, everything): nothing keeps them.
    expect(report.statisticsDeleted).toBe(12);

    for (const [ref, age, kept] of AGES) {
      const after = await around(ref, base - age * DAY + 18 * HOUR);
      for (const period of PERIODS) {
        // A period no longer kept may show a chunk outside the window: only the kept ones are compared.
        if (kept.includes(period)) expect(after[period], `${ref} ${period}`).toEqual(before.get(ref)![period]);
        if (kept.length === 0) expect(sum(after[period]), `${ref} ${period} deleted`).toBe(0);
      }
      expect(await total(ref), `${ref} total`).toBe(10);
    }
    // Coarser chunks really were made: d900 keeps YEAR only, so its four buckets are one chunk per key.
    const [row] = await t.app.orm.em.fork().execute<Array<{ n: string }>>(
      `select count(distinct start) as n from metric_statistic
        where period = 'Q15' and metric_id = (select m.id from metric m join metric_domain d on d.id = m.domain_id where d.ref = 'rp' and m.ref = 'd900')`,
    );
    expect(Number(row?.n)).toBe(1);
    // What d1300 had is gone (nothing keeps it), and a second run has nothing left to do.
    const again = (await t.ok<{ applyRetention: { statisticsDeleted: number; statisticsCompacted: number } }>(
      'mutation { applyRetention { statisticsDeleted statisticsCompacted } }',
      {},
      { token: s },
    )).applyRetention;
    expect(again).toEqual({ statisticsDeleted: 0, statisticsCompacted: 0 });
  });
});
