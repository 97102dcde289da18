import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { repoRoot } from '../support/process.ts';
import { errorCodes, metricsHelpers } from './helpers.ts';

let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;

beforeAll(async () => {
  // Small fold batches so that every fold here takes several transactions.
  t = await startTestApp({ METRICS_FOLD_BATCH: '64' });
  h = metricsHelpers(t);
});
afterAll(async () => {
  await t?.stop();
});

const eventsOf = (domain: string, metric: string, n: number, object?: { type: string; id: string }) =>
  Array.from({ length: n }, (_, i) => ({ domain, metric, by: 1 + (i % 3), ...(object ? { object } : {}) }));
const sumBy = (n: number) => Array.from({ length: n }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b, 0);

describe('fold', () => {
  it('two folds running concurrently with increments count every increment exactly once', async () => {
    const { domain, metric } = await h.counter();
    const obj = { type: 'Item', id: uniqueId('i') };
    await h.fold(); // start from an empty inbox
    const waves = 6;
    const perRequest = 100;
    const folded: number[] = [];
    const work: Array<Promise<unknown>> = [];
    for (let wave = 0; wave < waves; wave++) {
      work.push(h.increment(eventsOf(domain, metric, perRequest, obj)), h.increment(eventsOf(domain, metric, perRequest)));
      work.push(h.fold().then((r) => folded.push(r.folded)), h.fold().then((r) => folded.push(r.folded)));
    }
    await Promise.all(work);
    const last = await h.fold();
    folded.push(last.folded);
    const expected = waves * 2 * sumBy(perRequest);
    expect(folded.reduce((a, b) => a + b, 0)).toBe(waves * 2 * perRequest);
    expect((await h.status()).inboxRows).toBe(0);
    expect(await h.total(domain, metric)).toBe(expected);
    expect(await h.total(domain, metric, { object: obj })).toBe(expected / 2);
    const series = await h.series(domain, metric, { period: 'DAY' });
    expect(series.data!.domain.metric.series.reduce((a, p) => a + p.value, 0)).toBe(expected);
  });

  it('a fold interrupted by an error keeps what it committed and leaves the rest in the inbox, counted once', async () => {
    const { domain, metric } = await h.counter();
    const victim = (await h.registerMetric(domain)).ref;
    await h.fold();
    await h.increment(eventsOf(domain, metric, 150));
    await h.increment([{ domain, metric: victim, by: 1000 }]);
    await h.increment(eventsOf(domain, metric, 50));
    const expected = sumBy(150) + sumBy(50);

    // Fault injection: a constraint that the victim's bucket will violate, so the fold's third batch fails.
    const em = t.app.orm.em.fork();
    await em.execute(`alter table metric_statistic add constraint test_fold_fault check (value < 1000) not valid`);
    try {
      const failed = await t.gql<{ foldCounters: unknown }>(`mutation { foldCounters { folded } }`, {}, h.service);
      expect(errorCodes(failed)).toEqual(['UNAVAILABLE']);
      const partial = failed.errors![0]!.extensions!['report'] as { folded: number; batches: number };
      expect(partial.folded).toBe(128); // two batches of 64 committed before the failing one
      expect(partial.batches).toBe(2);
      expect((await h.status()).inboxRows).toBe(201 - 128);
      expect(await h.total(domain, metric)).toBe(expected);
      expect(await h.total(domain, victim)).toBe(1000);
    } finally {
      await em.execute(`alter table metric_statistic drop constraint test_fold_fault`);
    }
    const report = await h.fold();
    expect(report.folded).toBe(201 - 128);
    expect((await h.status()).inboxRows).toBe(0);
    expect(await h.total(domain, metric)).toBe(expected);
    expect(await h.total(domain, victim)).toBe(1000);
  });

  it.skipIf(!process.env['DATABASE_URL'])('two instances on one database fold at the same time and count everything once', async () => {
    const other = await startTestApp({ METRICS_FOLD_BATCH: '50' }, { shareDatabaseOf: t });
    try {
      const o = metricsHelpers(other);
      const { domain, metric } = await h.counter();
      await h.fold();
      const folded: number[] = [];
      const work: Array<Promise<unknown>> = [];
      for (let wave = 0; wave < 5; wave++) {
        work.push(h.increment(eventsOf(domain, metric, 100)), o.increment(eventsOf(domain, metric, 100)));
        work.push(h.fold().then((r) => folded.push(r.folded)), o.fold().then((r) => folded.push(r.folded)));
      }
      await Promise.all(work);
      folded.push((await o.fold()).folded, (await h.fold()).folded);
      expect(folded.reduce((a, b) => a + b, 0)).toBe(1000);
      expect(await h.total(domain, metric)).toBe(10 * sumBy(100));
      expect(await o.total(domain, metric)).toBe(10 * sumBy(100));
    } finally {
      await other.stop();
    }
  });

  it('batches hold exactly METRICS_FOLD_BATCH rows, whatever the ids', async () => {
    const { domain, metric } = await h.counter();
    await h.fold();
    for (let i = 0; i < 3; i++) {
      await h.increment(eventsOf(domain, metric, 64 * 3));
      expect(await h.fold()).toMatchObject({ folded: 192, batches: 3 });
    }
    await h.increment(eventsOf(domain, metric, 65));
    expect(await h.fold()).toMatchObject({ folded: 65, batches: 2 });
  });

  it('reports folded rows, buckets and batches; an empty inbox is a no-op', async () => {
    const { domain, metric } = await h.counter();
    await h.fold();
    await h.increment(eventsOf(domain, metric, 100, { type: 'A', id: '1' }));
    const report = await h.fold();
    expect(report).toMatchObject({ folded: 100, deadLettered: 0, batches: 2, skipped: false });
    // One key in one 15-minute bucket (maybe two if the clock crossed a boundary), per batch: exact Q15 +
    // LIFETIME, per-category Q15 + LIFETIME, total Q15 + LIFETIME.
    expect(report.buckets).toBeGreaterThanOrEqual(6);
    expect(report.buckets).toBeLessThanOrEqual(24);
    expect(await h.fold()).toMatchObject({ folded: 0, buckets: 0, deadLettered: 0, batches: 0 });
  });
});

describe('fold scheduling', () => {
  it('the cron folds on FOLD_CRON', async () => {
    const cronApp = await startTestApp({ FOLD_CRON: '* * * * * *' });
    try {
      const c = metricsHelpers(cronApp);
      const { domain, metric } = await c.counter();
      await c.increment(eventsOf(domain, metric, 30));
      const deadline = Date.now() + 10_000;
      let status = await c.status();
      while (status.inboxRows > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        status = await c.status();
      }
      expect(status.inboxRows).toBe(0);
      const last = await cronApp.ok<{ metricsStatus: { lastFold: { folded: number } | null } }>(`{ metricsStatus { lastFold { folded } } }`, {}, c.service);
      expect(last.metricsStatus.lastFold).not.toBeNull();
      expect(await c.total(domain, metric)).toBe(sumBy(30));
    } finally {
      await cronApp.stop();
    }
  });

  it.skipIf(!process.env['DATABASE_URL'])('`npm run fold` folds the configured database once and prints the report', async () => {
    const { domain, metric } = await h.counter();
    await h.fold();
    await h.increment(eventsOf(domain, metric, 10));
    const output = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'src/cli/fold.ts'], {
        cwd: repoRoot,
        env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: t.database.url!, METRICS_FOLD_BATCH: '4' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    expect(output.code, output.stderr).toBe(0);
    const report = JSON.parse(output.stdout.trim().split('\n').at(-1)!) as { folded: number; batches: number };
    expect(report.folded).toBe(10);
    expect(report.batches).toBe(3);
    expect((await h.status()).inboxRows).toBe(0);
    expect(await h.total(domain, metric)).toBe(sumBy(10));
  });
});
