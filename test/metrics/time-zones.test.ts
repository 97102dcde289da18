import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';
import { metricsHelpers } from './helpers.ts';

// Defects found by an independent review (issue 11): period bounds computed in the database session's zone
// instead of the requested one, and hours around 30-minute DST shifts.

let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;

beforeAll(async () => {
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
async function beforeAndAfterFold(check: () => Promise<void>) {
  await check();
  await h.fold();
  await check();
}

describe('series bounds in the requested time zone', () => {
  it('MONTH keeps the end of the last month east of UTC (30 March in Paris, 31 May in London and Paris)', async () => {
    const { domain, metric } = await h.counter();
    await h.increment([
      { domain, metric, at: '2024-03-30T10:00:00Z', by: 1 }, // 30 March, Paris
      { domain, metric, at: '2024-05-31T21:30:00Z', by: 100 }, // 31 May 22:30 London, 23:30 Paris
    ]);
    await beforeAndAfterFold(async () => {
      expect(await points(domain, metric, { period: 'MONTH', from: '2024-03-15T00:00:00Z', to: '2024-03-20T00:00:00Z', timezone: 'Europe/Paris' })).toEqual([
        [iso('2024-02-29T23:00:00Z'), 1],
      ]);
      for (const [timezone, start] of [
        ['Europe/Paris', '2024-04-30T22:00:00Z'],
        ['Europe/London', '2024-04-30T23:00:00Z'],
        ['Asia/Kathmandu', '2024-04-30T18:15:00Z'],
      ] as const) {
        const series = await points(domain, metric, { period: 'MONTH', from: '2024-05-10T00:00:00Z', to: '2024-05-20T00:00:00Z', timezone });
        expect(series, timezone).toEqual([[iso(start), timezone === 'Asia/Kathmandu' ? 0 : 100]]);
      }
      // In Kathmandu (+5:45) the increment is on 1 June.
      expect(await points(domain, metric, { period: 'MONTH', from: '2024-06-01T00:00:00Z', to: '2024-06-02T00:00:00Z', timezone: 'Asia/Kathmandu' })).toEqual([
        [iso('2024-05-31T18:15:00Z'), 100],
      ]);
      expect(await points(domain, metric, { period: 'YEAR', from: '2024-06-01T00:00:00Z', to: '2024-06-02T00:00:00Z', timezone: 'Pacific/Kiritimati' })).toEqual([
        [iso('2023-12-31T10:00:00Z'), 101],
      ]);
    });
  });

  it('HOUR around the 30-minute DST shifts of Australia/Lord_Howe: every increment in exactly one hour', async () => {
    const { domain, metric } = await h.counter();
    // Spring forward 2024-10-06 02:00 (+10:30) -> 02:30 (+11:00) at 15:30Z; fall back 2025-04-06 02:00 (+11:00) -> 01:30 (+10:30) at 15:00Z.
    const events = [];
    for (const base of [Date.parse('2024-10-05T13:00:00Z'), Date.parse('2025-04-05T13:00:00Z')]) {
      for (let k = 0; k < 20; k++) events.push({ domain, metric, at: new Date(base + k * 15 * 60_000 + 60_000).toISOString() });
    }
    await h.increment(events);
    await beforeAndAfterFold(async () => {
      const spring = await points(domain, metric, { period: 'HOUR', from: '2024-10-05T13:00:00Z', to: '2024-10-05T17:59:00Z', timezone: 'Australia/Lord_Howe' });
      expect(spring).toEqual([
        [iso('2024-10-05T12:30:00Z'), 2], // 23:00 (+10:30): 13:00 and 13:15Z
        [iso('2024-10-05T13:30:00Z'), 4], // 00:00
        [iso('2024-10-05T14:30:00Z'), 4], // 01:00
        [iso('2024-10-05T15:30:00Z'), 2], // 02:30 (+11:00): a 30-minute hour
        [iso('2024-10-05T16:00:00Z'), 4], // 03:00
        [iso('2024-10-05T17:00:00Z'), 4], // 04:00
      ]);
      const fall = await points(domain, metric, { period: 'HOUR', from: '2025-04-05T13:00:00Z', to: '2025-04-05T17:59:00Z', timezone: 'Australia/Lord_Howe' });
      expect(fall).toEqual([
        [iso('2025-04-05T13:00:00Z'), 4], // 00:00 (+11:00)
        [iso('2025-04-05T14:00:00Z'), 4], // 01:00 (+11:00)
        [iso('2025-04-05T15:00:00Z'), 2], // 01:30 (+10:30), the repeated half hour
        [iso('2025-04-05T15:30:00Z'), 4], // 02:00
        [iso('2025-04-05T16:30:00Z'), 4], // 03:00
        [iso('2025-04-05T17:30:00Z'), 2], // 04:00
      ]);
      const day = await points(domain, metric, { period: 'DAY', from: '2024-10-05T13:00:00Z', to: '2024-10-05T17:59:00Z', timezone: 'Australia/Lord_Howe' });
      expect(spring.reduce((sum, [, v]) => sum + v, 0)).toBe(20);
      expect(day.reduce((sum, [, v]) => sum + v, 0)).toBe(20);
    });
  });

  it('top uses the same bounds (the last day of a month east of UTC)', async () => {
    const { domain, metric } = await h.counter();
    await h.increment([{ domain, metric, object: { type: 'Page', id: 'late' }, at: '2024-05-31T21:30:00Z', by: 3 }]);
    await beforeAndAfterFold(async () => {
      const ranked = await t.ok<{ domain: { metric: { top: Array<{ object: { id: string }; value: number }> } } }>(
        `query($d: ID!, $m: ID!) { domain(ref: $d) { metric(ref: $m) { top(period: MONTH, at: "2024-05-02T00:00:00Z", timezone: "Europe/Paris") { object { id } value } } } }`,
        { d: domain, m: metric },
        h.service,
      );
      expect(ranked.domain.metric.top).toEqual([{ object: { id: 'late' }, value: 3 }]);
    });
  });
});

describe('metrics status counts', () => {
  it('counts that grow with an instance’s uptime are Float, not Int (2^31 is reached on a busy instance)', async () => {
    const types = await t.ok<{ [k: string]: { fields: Array<{ name: string; type: { ofType: { name: string } | null } }> } }>(
      `{ status: __type(name: "MetricsStatus") { fields { name type { ofType { name } } } }
         fold: __type(name: "FoldReport") { fields { name type { ofType { name } } } }
         retention: __type(name: "RetentionReport") { fields { name type { ofType { name } } } } }`,
    );
    const typeOf = (kind: string, name: string) => types[kind]!.fields.find((f) => f.name === name)?.type.ofType?.name;
    for (const name of ['acknowledgedWrites', 'flushes', 'flushedRows', 'inboxRows', 'deadLetters']) expect(typeOf('status', name), name).toBe('Float');
    for (const name of ['folded', 'buckets', 'deadLettered']) expect(typeOf('fold', name), name).toBe('Float');
    for (const name of ['statisticsCompacted', 'statisticsDeleted', 'actionsDeleted', 'feedEntriesDeleted']) expect(typeOf('retention', name), name).toBe('Float');
  });
});
