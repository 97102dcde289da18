import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';

/**
 * Retention and the fold at the same moment, on counter buckets older than the compaction cutoff (increments dated
 * back within METRICS_MAX_AGE_HOURS, which is longer than RETENTION_HOUR_DAYS here): both succeed, every time, and
 * the total is exact. PostgreSQL only: the embedded database runs one statement at a time.
 */
const shared = Boolean(process.env['DATABASE_URL']);
const DAY = 86_400_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

describe.skipIf(!shared)('applyRetention racing foldCounters', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ RETENTION_HOUR_DAYS: '2', METRICS_MAX_AGE_HOURS: String(24 * 60), RATE_LIMIT_INCREMENTS: '0' });
  });
  afterAll(async () => t?.stop());

  it('never fails either of them (they deadlocked on the same buckets), and loses nothing', async () => {
    const domain = uniqueId('race');
    const s = { token: t.serviceToken, headers: { 'user-agent': UA } };
    await t.ok(`mutation($d: ID!) { registerDomain(ref: $d) { ref } registerMetric(domain: $d, ref: "n") { ref } }`, { d: domain }, s);
    const rounds = 8;
    const failures: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const events = Array.from({ length: 1000 }, (_, i) => ({
        domain,
        metric: 'n',
        object: { type: 'Page', id: `p${i % 40}` },
        category: `c${i % 3}`,
        at: new Date(Date.now() - (3 + (i % 40)) * DAY - (i % 96) * 900_000).toISOString(),
      }));
      expect((await t.ok<{ increment: { accepted: number } }>('mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }', { e: events }, s)).increment.accepted).toBe(1000);
      const results = await Promise.all([
        t.gql('mutation { foldCounters { folded } }', {}, s),
        t.gql('mutation { applyRetention { ran statisticsCompacted } }', {}, s),
      ]);
      for (const r of results) if (r.errors) failures.push(JSON.stringify(r.errors));
    }
    expect(failures).toEqual([]);
    await t.ok('mutation { foldCounters { folded } }', {}, s);
    const total = await t.ok<{ domain: { metric: { total: number } } }>(`query($d: ID!) { domain(ref: $d) { metric(ref: "n") { total } } }`, { d: domain }, s);
    expect(total.domain.metric.total).toBe(rounds * 1000);
  }, 120_000);
});
