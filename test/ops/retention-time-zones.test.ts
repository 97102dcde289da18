import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';

// Issue 11, item 3: compaction of 15-minute buckets moved data into the previous local week/month west of
// UTC (everything went to 00:00 UTC). It must not change the series the retention policy promises to keep:
// DAY, WEEK, MONTH and YEAR in RETENTION_TIMEZONES (and UTC), and totals.

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
let t: TestApp;
let s: string;

beforeAll(async () => {
  t = await startTestApp({
    RETENTION_HOUR_DAYS: '30',
    RETENTION_DAY_DAYS: '3650',
    RETENTION_TIMEZONES: 'America/New_York, Asia/Kolkata',
    METRICS_MAX_AGE_HOURS: String(24 * 366 * 10),
  });
  s = t.serviceToken;
  await t.ok('mutation { registerDomain(ref: "rtz", name: "Retention zones") { ref } registerMetric(domain: "rtz", ref: "visits", name: "Visits") { ref } }', {}, { token: s });
});
afterAll(async () => {
  await t?.stop();
});

type Point = { start: string; value: number };
async function series(period: string, from: string, to: string, timezone: string): Promise<Point[]> {
  const data = await t.ok<{ domain: { metric: { series: Point[] } } }>(
    `query($p: Period!, $f: DateTime!, $t: DateTime!, $tz: String) { domain(ref: "rtz") { metric(ref: "visits") { series(period: $p, from: $f, to: $t, timezone: $tz) { start value } } } }`,
    { p: period, f: from, t: to, tz: timezone },
    { token: s },
  );
  return data.domain.metric.series;
}

describe('retention compaction in RETENTION_TIMEZONES', () => {
  it('keeps DAY, WEEK, MONTH and YEAR series in the listed zones and UTC, and totals; only hours lose resolution', async () => {
    const at = [
      '2025-03-03T12:00:00Z', // Monday 07:00 in New York: must stay in that week
      '2025-03-03T04:30:00Z', // Sunday 23:30 in New York, Monday 10:00 in Kolkata
      '2025-03-02T18:29:00Z', // Sunday 23:59 in Kolkata
      '2025-03-02T18:31:00Z', // Monday 00:01 in Kolkata
      '2025-03-09T06:30:00Z', // 01:30 EST, the night New York springs forward
      '2025-03-09T07:30:00Z', // 03:30 EDT
      '2025-03-10T03:59:00Z', // Sunday 23:59 EDT
      '2025-03-31T23:45:00Z', // 31 March in New York, 1 April in UTC and Kolkata
      '2024-12-31T23:50:00Z', // 2024 in New York, 2025 in UTC
    ];
    const result = await t.ok<{ increment: { accepted: number } }>(
      'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }',
      { e: at.map((a, i) => ({ domain: 'rtz', metric: 'visits', at: a, by: i + 1 })) },
      { token: s, headers: { 'user-agent': UA } },
    );
    expect(result.increment.accepted).toBe(at.length);
    await t.ok('mutation { foldCounters { folded } }', {}, { token: s });

    const views: Array<[string, string, string, string]> = [];
    for (const zone of ['America/New_York', 'Asia/Kolkata', 'UTC']) {
      views.push(['DAY', '2025-02-28T00:00:00Z', '2025-04-02T00:00:00Z', zone]);
      views.push(['WEEK', '2025-02-20T00:00:00Z', '2025-04-02T00:00:00Z', zone]);
      views.push(['MONTH', '2024-12-01T00:00:00Z', '2025-04-15T00:00:00Z', zone]);
      views.push(['YEAR', '2024-06-01T00:00:00Z', '2025-06-01T00:00:00Z', zone]);
      views.push(['LIFETIME', '2025-02-28T00:00:00Z', '2025-04-02T00:00:00Z', zone]);
    }
    const before = await Promise.all(views.map((v) => series(...v)));
    const mondayWeek = before[1]!.find((p) => p.start === '2025-03-03T05:00:00.000Z');
    expect(mondayWeek?.value).toBe(1 + 5 + 6 + 7); // New York week of Monday 3 March

    const report = (await t.ok<{ applyRetention: { statisticsCompacted: number } }>('mutation { applyRetention { statisticsCompacted } }', {}, { token: s }))
      .applyRetention;
    expect(report.statisticsCompacted).toBeGreaterThan(0);
    const after = await Promise.all(views.map((v) => series(...v)));
    views.forEach((view, i) => expect(after[i], view.join(' ')).toEqual(before[i]));

    // Hours of compacted days show each chunk at its start: Monday 07:00 New York is now at New York's midnight.
    const hours = (await series('HOUR', '2025-03-03T05:00:00Z', '2025-03-03T13:00:00Z', 'America/New_York')).filter((p) => p.value > 0);
    expect(hours).toEqual([{ start: '2025-03-03T05:00:00.000Z', value: 1 }]);
    // A second run has nothing left to move.
    expect((await t.ok<{ applyRetention: { statisticsCompacted: number } }>('mutation { applyRetention { statisticsCompacted } }', {}, { token: s })).applyRetention.statisticsCompacted).toBe(0);
  });
});
