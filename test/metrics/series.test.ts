import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { errorCodes, metricsHelpers } from './helpers.ts';

let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;

beforeAll(async () => {
  // Events from 2024 are accepted: ten years of age allowed.
  t = await startTestApp({ METRICS_MAX_AGE_HOURS: String(24 * 366 * 10), METRICS_MAX_SERIES_POINTS: '2000' });
  h = metricsHelpers(t);
});
afterAll(async () => {
  await t?.stop();
});

const iso = (s: string) => new Date(s).toISOString();
async function points(domain: string, metric: string, args: Record<string, unknown>) {
  const result = await h.series(domain, metric, args);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data!.domain.metric.series.map((p) => [p.start, p.value] as const);
}

/** Runs `check` on the inbox, then after folding: both must agree. */
async function beforeAndAfterFold(check: () => Promise<void>) {
  await check();
  await h.fold();
  await check();
}

describe('series', () => {
  it('DAY and HOUR in Europe/Paris across the autumn DST change (a 25-hour day, two 02:00 hours), vs UTC', async () => {
    const { domain, metric } = await h.counter();
    const at = [
      '2024-10-26T21:30:00Z', // 23:30 CEST, Oct 26
      '2024-10-26T22:15:00Z', // 00:15 CEST, Oct 27
      '2024-10-27T00:30:00Z', // 02:30 CEST (first 02:xx)
      '2024-10-27T01:30:00Z', // 02:30 CET (second 02:xx)
      '2024-10-27T22:59:00Z', // 23:59 CET, Oct 27
      '2024-10-27T23:00:00Z', // 00:00 CET, Oct 28
    ];
    expect((await h.increment(at.map((a) => ({ domain, metric, at: a })))).accepted).toBe(6);

    await beforeAndAfterFold(async () => {
      expect(await points(domain, metric, { period: 'DAY', from: '2024-10-26T12:00:00Z', to: '2024-10-28T12:00:00Z', timezone: 'Europe/Paris' })).toEqual([
        [iso('2024-10-25T22:00:00Z'), 1],
        [iso('2024-10-26T22:00:00Z'), 4],
        [iso('2024-10-27T23:00:00Z'), 1],
      ]);
      expect(await points(domain, metric, { period: 'DAY', from: '2024-10-26T12:00:00Z', to: '2024-10-28T12:00:00Z' })).toEqual([
        [iso('2024-10-26T00:00:00Z'), 2],
        [iso('2024-10-27T00:00:00Z'), 4],
        [iso('2024-10-28T00:00:00Z'), 0],
      ]);
      expect(
        await points(domain, metric, { period: 'HOUR', from: '2024-10-26T23:10:00Z', to: '2024-10-27T02:59:00Z', timezone: 'Europe/Paris' }),
      ).toEqual([
        [iso('2024-10-26T23:00:00Z'), 0], // 01:00 CEST
        [iso('2024-10-27T00:00:00Z'), 1], // 02:00 CEST
        [iso('2024-10-27T01:00:00Z'), 1], // 02:00 CET
        [iso('2024-10-27T02:00:00Z'), 0], // 03:00 CET
      ]);
    });
  });

  it('half- and quarter-hour zones: HOUR in Asia/Kolkata, DAY in Asia/Kathmandu', async () => {
    const { domain, metric } = await h.counter();
    await h.increment([
      { domain, metric, at: '2024-05-01T00:29:00Z' }, // 05:59 IST
      { domain, metric, at: '2024-05-01T00:30:00Z' }, // 06:00 IST
      { domain, metric, at: '2024-05-01T01:29:59Z' }, // 06:59 IST
      { domain, metric, at: '2024-05-01T18:14:00Z' }, // 23:59 NPT, May 1
      { domain, metric, at: '2024-05-01T18:15:00Z' }, // 00:00 NPT, May 2
    ]);
    await beforeAndAfterFold(async () => {
      expect(await points(domain, metric, { period: 'HOUR', from: '2024-05-01T00:00:00Z', to: '2024-05-01T01:45:00Z', timezone: 'Asia/Kolkata' })).toEqual([
        [iso('2024-04-30T23:30:00Z'), 1],
        [iso('2024-05-01T00:30:00Z'), 2],
        [iso('2024-05-01T01:30:00Z'), 0],
      ]);
      expect(await points(domain, metric, { period: 'DAY', from: '2024-05-01T12:00:00Z', to: '2024-05-02T12:00:00Z', timezone: 'Asia/Kathmandu' })).toEqual([
        [iso('2024-04-30T18:15:00Z'), 4],
        [iso('2024-05-01T18:15:00Z'), 1],
      ]);
    });
  });

  it('spring DST change (23-hour day), WEEK (Monday), MONTH and YEAR with zero-filled gaps', async () => {
    const { domain, metric } = await h.counter();
    await h.increment([
      { domain, metric, at: '2024-03-30T22:59:00Z' }, // Mar 30 23:59 CET
      { domain, metric, at: '2024-03-30T23:00:00Z' }, // Mar 31 00:00 CET
      { domain, metric, at: '2024-03-31T21:59:00Z' }, // Mar 31 23:59 CEST
      { domain, metric, at: '2024-03-31T22:00:00Z' }, // Apr 1 00:00 CEST
      { domain, metric, at: '2024-01-15T12:00:00Z', by: 5 },
    ]);
    await beforeAndAfterFold(async () => {
      expect(await points(domain, metric, { period: 'DAY', from: '2024-03-30T12:00:00Z', to: '2024-04-01T12:00:00Z', timezone: 'Europe/Paris' })).toEqual([
        [iso('2024-03-29T23:00:00Z'), 1],
        [iso('2024-03-30T23:00:00Z'), 2],
        [iso('2024-03-31T22:00:00Z'), 1],
      ]);
      // ISO weeks start on Monday: Mon Mar 25 and Mon Apr 1 (local).
      expect(await points(domain, metric, { period: 'WEEK', from: '2024-03-30T12:00:00Z', to: '2024-04-02T12:00:00Z', timezone: 'Europe/Paris' })).toEqual([
        [iso('2024-03-24T23:00:00Z'), 3],
        [iso('2024-03-31T22:00:00Z'), 1],
      ]);
      expect(await points(domain, metric, { period: 'MONTH', from: '2024-01-20T00:00:00Z', to: '2024-04-20T00:00:00Z', timezone: 'Europe/Paris' })).toEqual([
        [iso('2023-12-31T23:00:00Z'), 5],
        [iso('2024-01-31T23:00:00Z'), 0],
        [iso('2024-02-29T23:00:00Z'), 3],
        [iso('2024-03-31T22:00:00Z'), 1],
      ]);
      expect(await points(domain, metric, { period: 'YEAR', from: '2023-06-01T00:00:00Z', to: '2024-06-01T00:00:00Z' })).toEqual([
        [iso('2023-01-01T00:00:00Z'), 0],
        [iso('2024-01-01T00:00:00Z'), 9],
      ]);
      // LIFETIME: the running total at the end of each local day (trackstats' CountObjectsByDateTracker).
      expect(await points(domain, metric, { period: 'LIFETIME', from: '2024-03-29T12:00:00Z', to: '2024-04-01T12:00:00Z', timezone: 'Europe/Paris' })).toEqual([
        [iso('2024-03-28T23:00:00Z'), 5],
        [iso('2024-03-29T23:00:00Z'), 6],
        [iso('2024-03-30T23:00:00Z'), 8],
        [iso('2024-03-31T22:00:00Z'), 9],
      ]);
      expect((await points(domain, metric, { period: 'LIFETIME' })).at(-1)?.[1]).toBe(9);
    });
  });

  it('filters by object and category, and defaults to the last periods up to now', async () => {
    const { domain, metric } = await h.counter();
    const a = { type: 'Page', id: uniqueId('p') };
    const now = new Date();
    await h.increment([
      { domain, metric, object: a, category: 'x' },
      { domain, metric, object: a, category: 'y', by: 2 },
      { domain, metric, category: 'x', by: 4 },
    ]);
    await beforeAndAfterFold(async () => {
      const all = await points(domain, metric, { period: 'DAY' });
      expect(all).toHaveLength(30);
      const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())).toISOString();
      expect(all[29]).toEqual([today, 7]);
      expect(all.slice(0, 29).every(([, v]) => v === 0)).toBe(true);
      expect((await points(domain, metric, { period: 'DAY', object: a })).at(-1)).toEqual([today, 3]);
      expect((await points(domain, metric, { period: 'DAY', category: 'x' })).at(-1)).toEqual([today, 5]);
      expect((await points(domain, metric, { period: 'DAY', object: a, category: 'y' })).at(-1)).toEqual([today, 2]);
      expect(await points(domain, metric, { period: 'HOUR' })).toHaveLength(24);
    });
  });

  it('rejects an unknown time zone, from after to, and absurd ranges', async () => {
    const { domain, metric } = await h.counter();
    const bad = [
      { period: 'DAY', timezone: 'Mars/Olympus_Mons' },
      { period: 'DAY', timezone: "UTC'; drop table metric; --" },
      // Offsets are not time zones (Intl takes them; a place's calendar is an IANA zone).
      { period: 'DAY', timezone: '+05:30' },
      { period: 'DAY', timezone: '-00:00' },
      { period: 'DAY', timezone: ' +14:01' },
      { period: 'DAY', timezone: '\u221205:00' },
      { period: 'DAY', from: '2024-02-01T00:00:00Z', to: '2024-01-01T00:00:00Z' },
      { period: 'HOUR', from: '2000-01-01T00:00:00Z', to: '2024-01-01T00:00:00Z' },
    ];
    for (const args of bad) {
      const result = await h.series(domain, metric, args);
      expect(errorCodes(result), JSON.stringify(args)).toEqual(['BAD_USER_INPUT']);
    }
    // Within the limit (2000 points here) it works.
    expect(await points(domain, metric, { period: 'DAY', from: '2020-01-01T00:00:00Z', to: '2024-12-31T00:00:00Z' })).toHaveLength(1827);
    // The limit counts the calendar's points: the years 0002–2001 are 2,000 (an estimate from the shortest year
    // refused them), 0002–2002 one too many.
    expect(await points(domain, metric, { period: 'YEAR', from: '0002-01-01T00:00:00Z', to: '2001-06-01T00:00:00Z' })).toHaveLength(2000);
    expect(errorCodes(await h.series(domain, metric, { period: 'YEAR', from: '0002-01-01T00:00:00Z', to: '2002-01-01T00:00:00Z' }))).toEqual(['BAD_USER_INPUT']);
  });

  it('days of the zones whose local mean time was more than 14 hours from UTC (Manila until 1844, Sitka until 1867)', async () => {
    const { domain, metric } = await h.counter();
    // Manila was at -15:56:08 and skipped 31 December 1844 to +8:03:52: the skipped day folds into the next one.
    expect(await points(domain, metric, { period: 'DAY', from: '1844-12-30T00:00:00Z', to: '1845-01-02T00:00:00Z', timezone: 'Asia/Manila' })).toEqual([
      ['1844-12-29T15:56:08.000Z', 0],
      ['1844-12-30T15:56:08.000Z', 0],
      ['1844-12-31T15:56:08.000Z', 0], // 1 January 1845: the clock went from 30 December to 1 January
      ['1845-01-01T15:56:08.000Z', 0],
    ]);
    // Sitka was at +14:58:47 (the Russian side of the date line) until 18 October 1867 (local), then -9:01:13: its
    // clock read 18 October twice. A day starts when the clock first reaches it, so 19 October runs on through the
    // repeated 18th until 20 October.
    expect(await points(domain, metric, { period: 'DAY', from: '1867-10-17T00:00:00Z', to: '1867-10-19T12:00:00Z', timezone: 'America/Sitka' })).toEqual([
      ['1867-10-16T09:01:13.000Z', 0],
      ['1867-10-17T09:01:13.000Z', 0],
      ['1867-10-18T09:01:13.000Z', 0],
    ]);
  });

  it('counts periods of the first centuries as they are (years 2–99 are not 1902–1999)', async () => {
    const { domain, metric } = await h.counter();
    // DateTime accepts 0002-01-01 onwards: every period of those years is a point of its own year.
    expect(await points(domain, metric, { period: 'DAY', from: '0050-06-01T00:00:00Z', to: '0050-06-03T00:00:00Z' })).toEqual([
      ['0050-06-01T00:00:00.000Z', 0],
      ['0050-06-02T00:00:00.000Z', 0],
      ['0050-06-03T00:00:00.000Z', 0],
    ]);
    expect(await points(domain, metric, { period: 'MONTH', from: '0099-11-15T00:00:00Z', to: '0100-01-02T00:00:00Z' })).toEqual([
      ['0099-11-01T00:00:00.000Z', 0],
      ['0099-12-01T00:00:00.000Z', 0],
      ['0100-01-01T00:00:00.000Z', 0],
    ]);
    expect(await points(domain, metric, { period: 'YEAR', from: '0002-03-01T00:00:00Z', to: '0004-01-01T00:00:00Z' })).toEqual([
      ['0002-01-01T00:00:00.000Z', 0],
      ['0003-01-01T00:00:00.000Z', 0],
      ['0004-01-01T00:00:00.000Z', 0],
    ]);
    expect(await points(domain, metric, { period: 'WEEK', from: '0050-06-01T00:00:00Z', to: '0050-06-01T00:00:00Z', timezone: 'Europe/Paris' })).toHaveLength(1);
    // Only `to`, at the first instant DateTime accepts: the default span stops there (it reached year 0000).
    expect(await points(domain, metric, { period: 'YEAR', to: '0002-01-01T00:00:00Z' })).toEqual([['0002-01-01T00:00:00.000Z', 0]]);
    expect(await points(domain, metric, { period: 'MONTH', to: '0002-01-01T00:00:00Z', timezone: 'Asia/Kathmandu' })).toEqual([['0001-12-31T18:18:44.000Z', 0]]);
    expect(await points(domain, metric, { period: 'LIFETIME', to: '0002-01-01T12:00:00Z' })).toEqual([['0002-01-01T00:00:00.000Z', 0]]);
    const gauge = await h.registerMetric(domain, { kind: 'GAUGE' });
    expect(await points(domain, gauge.ref, { period: 'DAY', to: '0002-01-01T00:00:00Z' })).toEqual([]);
  });
});

describe('top', () => {
  const top = (domain: string, metric: string, args: Record<string, unknown>) =>
    t.ok<{ domain: { metric: { top: Array<{ object: { type: string; id: string }; value: number }> } } }>(
      `query($d: ID!, $m: ID!, $period: Period!, $at: DateTime, $limit: Int, $timezone: String) {
         domain(ref: $d) { metric(ref: $m) { top(period: $period, at: $at, limit: $limit, timezone: $timezone) { object { type id } value } } }
       }`,
      { d: domain, m: metric, ...args },
      h.service,
    ).then((d) => d.domain.metric.top.map((o) => [o.object.id, o.value] as const));

  it('ranks objects in the period containing `at`, and overall for LIFETIME', async () => {
    const { domain, metric } = await h.counter();
    await h.increment([
      { domain, metric, object: { type: 'Video', id: 'a' }, by: 5, at: '2024-06-10T10:00:00Z' },
      { domain, metric, object: { type: 'Video', id: 'b' }, by: 7, at: '2024-06-10T23:30:00Z' }, // Jun 11 in Paris
      { domain, metric, object: { type: 'Video', id: 'c' }, by: 2, at: '2024-06-10T12:00:00Z' },
      { domain, metric, object: { type: 'Video', id: 'c' }, by: 2, at: '2024-06-11T12:00:00Z' },
      { domain, metric, by: 100, at: '2024-06-10T12:00:00Z' }, // no object: never ranked
    ]);
    await beforeAndAfterFold(async () => {
      expect(await top(domain, metric, { period: 'DAY', at: '2024-06-10T15:00:00Z' })).toEqual([['b', 7], ['a', 5], ['c', 2]]);
      expect(await top(domain, metric, { period: 'DAY', at: '2024-06-10T15:00:00Z', timezone: 'Europe/Paris' })).toEqual([['a', 5], ['c', 2]]);
      expect(await top(domain, metric, { period: 'LIFETIME', limit: 2 })).toEqual([['b', 7], ['a', 5]]);
      expect(await top(domain, metric, { period: 'MONTH', at: '2024-06-01T00:00:00Z' })).toEqual([['b', 7], ['a', 5], ['c', 4]]);
      expect(await top(domain, metric, { period: 'DAY', at: '2024-06-12T15:00:00Z' })).toEqual([]);
    });
  });
});

describe('gauges (recordStatistic)', () => {
  const record = (args: Record<string, unknown>, token: string | null = t.serviceToken) =>
    t.gql<{ recordStatistic: { period: string; start: string; value: number; object: { type: string; id: string } | null; metric: { ref: string } } }>(
      `mutation($d: ID!, $m: ID!, $value: Float!, $period: Period!, $date: DateTime, $object: ObjectRefInput, $timezone: String) {
         recordStatistic(domain: $d, metric: $m, value: $value, period: $period, date: $date, object: $object, timezone: $timezone) {
           period date start value object { type id } metric { ref }
         }
       }`,
      args,
      { token: token ?? undefined },
    );

  it('keeps one value per (metric, object, period, date), as trackstats: a later record replaces it; LIFETIME recorded on several dates is a series', async () => {
    const domain = (await h.registerDomain()).ref;
    const m = (await h.registerMetric(domain, { kind: 'GAUGE', ref: 'followers' })).ref;
    const account = { type: 'Account', id: uniqueId('acc') };
    const today = new Date().toISOString().slice(0, 10);
    const first = await record({ d: domain, m, value: 100, period: 'LIFETIME', object: account });
    expect(first.data?.recordStatistic).toEqual({
      period: 'LIFETIME',
      date: today,
      start: iso(`${today}T00:00:00Z`),
      value: 100,
      object: account,
      metric: { ref: m },
    });
    await record({ d: domain, m, value: 120, period: 'LIFETIME', object: account });
    await record({ d: domain, m, value: 5000, period: 'LIFETIME' });
    expect(await h.total(domain, m, { object: account })).toBe(120);
    expect(await h.total(domain, m)).toBe(5000);

    // Cumulative values recorded on earlier dates (in New York) form a series; the total stays the latest.
    await record({ d: domain, m, value: 80, period: 'LIFETIME', date: '2024-03-02T03:00:00Z', object: account, timezone: 'America/New_York' });
    await record({ d: domain, m, value: 90, period: 'LIFETIME', date: '2024-03-02T12:00:00Z', object: account, timezone: 'America/New_York' });
    const lifetime = { period: 'LIFETIME', from: '2024-02-28T12:00:00Z', to: '2024-03-05T12:00:00Z', object: account, timezone: 'America/New_York' };
    expect(await points(domain, m, lifetime)).toEqual([
      [iso('2024-03-01T05:00:00Z'), 80],
      [iso('2024-03-02T05:00:00Z'), 90],
    ]);
    expect(await h.total(domain, m, { object: account })).toBe(120);

    const day1 = await record({ d: domain, m, value: 90, period: 'DAY', date: '2024-03-01T20:00:00Z', object: account, timezone: 'America/New_York' });
    expect(day1.data?.recordStatistic).toMatchObject({ date: '2024-03-01', start: iso('2024-03-01T05:00:00Z') });
    await record({ d: domain, m, value: 95, period: 'DAY', date: '2024-03-01T23:00:00Z', object: account, timezone: 'America/New_York' });
    await record({ d: domain, m, value: 110, period: 'DAY', date: '2024-03-03T12:00:00Z', object: account, timezone: 'America/New_York' });
    expect(
      await points(domain, m, { period: 'DAY', from: '2024-02-28T12:00:00Z', to: '2024-03-05T12:00:00Z', object: account, timezone: 'America/New_York' }),
    ).toEqual([
      [iso('2024-03-01T05:00:00Z'), 95],
      [iso('2024-03-03T05:00:00Z'), 110],
    ]);
    // WEEK is the rolling 7 days ending on each date, recorded per date (not per calendar week).
    await record({ d: domain, m, value: 700, period: 'WEEK', date: '2024-03-03T12:00:00Z', object: account });
    await record({ d: domain, m, value: 710, period: 'WEEK', date: '2024-03-04T12:00:00Z', object: account });
    expect(await points(domain, m, { period: 'WEEK', from: '2024-03-01T00:00:00Z', to: '2024-03-05T00:00:00Z', object: account })).toEqual([
      [iso('2024-03-03T00:00:00Z'), 700],
      [iso('2024-03-04T00:00:00Z'), 710],
    ]);
    const top = (args: string) =>
      t
        .ok<{ domain: { metric: { top: Array<{ object: { id: string }; value: number }> } } }>(
          `query($d: ID!, $m: ID!) { domain(ref: $d) { metric(ref: $m) { top(${args}) { object { id } value } } } }`,
          { d: domain, m },
          h.service,
        )
        .then((r) => r.domain.metric.top);
    expect(await top('period: LIFETIME')).toEqual([{ object: { id: account.id }, value: 120 }]);
    expect(await top('period: LIFETIME, at: "2024-03-10T00:00:00Z"')).toEqual([{ object: { id: account.id }, value: 90 }]);
    expect(await top('period: WEEK, at: "2024-03-04T20:00:00Z"')).toEqual([{ object: { id: account.id }, value: 710 }]);
  });

  it('is for gauges, services, known metrics and known time zones only', async () => {
    const { domain, metric } = await h.counter();
    const gauge = (await h.registerMetric(domain, { kind: 'GAUGE' })).ref;
    expect(errorCodes(await record({ d: domain, m: metric, value: 1, period: 'DAY' }))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await record({ d: domain, m: 'nope', value: 1, period: 'DAY' }))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await record({ d: domain, m: gauge, value: 1, period: 'DAY', timezone: 'Nowhere/Land' }))).toEqual(['BAD_USER_INPUT']);
    // One value per local date: an HOUR record would silently replace the other hours of its day.
    expect(errorCodes(await record({ d: domain, m: gauge, value: 1, period: 'HOUR' }))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await record({ d: domain, m: gauge, value: 1, period: 'DAY' }, null))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await record({ d: domain, m: gauge, value: 1, period: 'DAY' }, await t.userToken('u1')))).toEqual(['FORBIDDEN']);
    expect(await h.total(domain, gauge)).toBe(0);
    expect(await h.increment([{ domain, metric: gauge }])).toEqual({ accepted: 0, rejected: [{ index: 0, reason: 'not_counter' }] });
  });
});
