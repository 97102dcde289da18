/**
 * Fold throughput on a real PostgreSQL (DATABASE_URL, default the local server; a fresh database is
 * created and dropped): 1,000,000 inbox rows across 10,000 keys (10 metrics x 1,000 objects, one
 * 15-minute bucket) are inserted directly, then the fold (the same function cron, `foldCounters` and
 * `npm run fold` use) runs with the default batch size; rows/s = rows / fold time. Repeated ROUNDS times:
 * the first round creates the buckets, later rounds add to existing ones. Totals are checked after each.
 *
 *   node --experimental-strip-types bench/metrics/fold.ts      (writes bench/results/metrics.md)
 *
 * Env: DATABASE_URL, FOLD_ROWS (default 1000000), FOLD_ROUNDS (default 3), METRICS_FOLD_BATCH.
 */
import { loadConfig } from '../../src/config.ts';
import { applyMigrations, createOrm } from '../../src/db/orm.ts';
import { createLogger } from '../../src/logger.ts';
import { fold } from '../../src/metrics/fold.ts';
import { query, sql } from '../../src/metrics/sql.ts';
import { createTestDatabase } from '../../test/support/database.ts';
import { median } from '../machine.ts';
import { writeSection, type BenchRow } from './report.ts';

const ROWS = Number(process.env['FOLD_ROWS'] ?? 1_000_000);
const ROUNDS = Number(process.env['FOLD_ROUNDS'] ?? 3);
const METRICS = 10;
const OBJECTS = 1_000;

export async function run(): Promise<{ rows: BenchRow[]; notes: string[] }> {
  process.env['DATABASE_URL'] ??= 'postgres://postgres@127.0.0.1:5432/postgres';
  const config = loadConfig({ ...process.env, FOLD_CRON: 'off' });
  const database = await createTestDatabase();
  const orm = await createOrm(database.target);
  const logger = createLogger('warn');
  try {
    await applyMigrations(orm);
    const em = orm.em.fork();
    await query(em, sql`insert into metric_domain (ref, name) values ('bench', 'Bench')`);
    const metricIds = (
      await query<{ id: number }>(
        em,
        sql`insert into metric (domain_id, ref, name, kind)
            select d.id, 'm' || g, 'M' || g, 'COUNTER' from metric_domain d, generate_series(1, ${METRICS}) g returning id`,
      )
    ).map((r) => r.id);

    const seconds: number[] = [];
    const details: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const insertStart = performance.now();
      await query(
        em,
        sql`insert into metric_inbox (metric_id, object_type, object_id, category, dom_id, amount, occurred_at)
            select (${metricIds}::int[])[1 + g % ${METRICS}], 'Page', 'p' || ((g / ${METRICS}) % ${OBJECTS}), '', '', 1,
                   date_bin('15 minutes', now(), timestamptz 'epoch') + (g % 600) * interval '1 second'
            from generate_series(0, ${ROWS - 1}) g`,
      );
      await query(em, sql`analyze metric_inbox`);
      const insertMs = performance.now() - insertStart;

      const report = await fold(orm, logger, { batchSize: config.metrics.foldBatch, wait: true });
      const check = await query<{ total: number; inbox: number; keys: number }>(
        em,
        sql`select (select sum(value) from metric_statistic where level = 2 and period = 'LIFETIME')::float8 as total,
                   (select count(*) from metric_inbox)::int as inbox,
                   (select count(*) from metric_statistic where level = 0 and period = 'LIFETIME')::int as keys`,
      );
      const c = check[0]!;
      if (report.folded !== ROWS || c.inbox !== 0 || c.total !== ROWS * round || c.keys !== METRICS * OBJECTS) {
        throw new Error(`fold check failed: ${JSON.stringify({ report, check: c })}`);
      }
      seconds.push(report.durationMs / 1000);
      details.push(
        `round ${round}: ${report.folded} rows in ${report.durationMs} ms (${(report.folded / (report.durationMs / 1000)).toFixed(0)} rows/s), ${report.batches} batches, ${report.buckets} bucket upserts${round === 1 ? ' (new buckets)' : ' (existing buckets)'}; inserting the rows took ${insertMs.toFixed(0)} ms`,
      );
    }
    const rate = ROWS / median(seconds);
    const rows: BenchRow[] = [
      {
        benchmark: `fold ${ROWS.toLocaleString('en')} inbox rows across ${(METRICS * OBJECTS).toLocaleString('en')} keys (batch ${config.metrics.foldBatch.toLocaleString('en')}), median of ${ROUNDS}`,
        value: `${rate.toFixed(0)} rows/s (${median(seconds).toFixed(2)} s)`,
        target: '>= 200,000 rows/s',
        met: rate >= 200_000,
      },
    ];
    const notes = [
      ...details,
      'Each batch is one transaction: advisory lock, DELETE ... RETURNING of the oldest rows, dead-letter check, GROUP BY per key and 15-minute bucket, one upsert of exact + per-category + total buckets (15-minute and LIFETIME). Checked after each round: inbox empty, LIFETIME total = rows inserted so far, 10,000 exact keys.',
    ];
    return { rows, notes };
  } finally {
    await orm.close(true);
    await database.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows, notes } = await run();
  console.table(rows);
  for (const note of notes) console.log(`- ${note}`);
  writeSection('fold', 'Fold (bench/metrics/fold.ts)', rows, notes);
}
