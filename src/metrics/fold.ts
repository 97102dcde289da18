import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import type { FoldReport } from './model.ts';
import { query, queryOne, sql } from './sql.ts';

/** Advisory lock key of the fold (any constant shared by every instance). */
export const FOLD_LOCK_KEY = 727_001_003;

export interface FoldOptions {
  /** Inbox rows per transaction. */
  batchSize: number;
  /**
   * Wait for the lock when another fold holds it (the mutation and the CLI) instead of skipping (cron).
   * Either way, at most one fold batch runs at a time across all instances.
   */
  wait: boolean;
}

export class FoldError extends Error {
  readonly report: FoldReport;
  constructor(report: FoldReport, cause: unknown) {
    super(`fold interrupted after ${report.folded} rows: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'FoldError';
    this.report = report;
  }
}

/**
 * One fold batch, one statement: take the oldest `batch` inbox rows (skipping rows another transaction
 * holds), delete them, move the rows whose metric is gone or no longer a counter to the dead-letter table,
 * group the rest per key and 15-minute bucket, and add the sums to the exact, per-category and total
 * buckets (15-minute and LIFETIME) with one upsert. It commits with the transaction around it or not at all.
 */
const foldBatchSql = (maxId: number, batch: number) => sql<{ taken: number; dead: number; buckets: number }>`
with batch as (
  delete from metric_inbox where id in (
    select id from metric_inbox where id <= ${maxId} order by id limit ${batch} for update skip locked
  ) returning id, metric_id, object_type, object_id, category, dom_id, amount, occurred_at
),
classified as (
  select b.*, case when m.id is null then 'unknown_metric' when m.kind <> 'COUNTER' then 'not_counter' end as reason
  from batch b left join metric m on m.id = b.metric_id
),
dead as (
  insert into metric_dead_letter (inbox_id, metric_id, object_type, object_id, category, dom_id, amount, occurred_at, reason)
  select id, metric_id, object_type, object_id, category, dom_id, amount, occurred_at, reason
  from classified where reason is not null order by id
  returning 1
),
q as (
  select metric_id, date_bin('15 minutes', occurred_at, timestamptz 'epoch') as start,
         object_type, object_id, category, dom_id, sum(amount)::float8 as v
  from classified where reason is null
  group by 1, 2, 3, 4, 5, 6
),
keyed as (
  select metric_id, 0 as level, object_type, object_id, 'Q15' as period, start, category, dom_id, v from q
  union all
  select metric_id, 0, object_type, object_id, 'LIFETIME', timestamptz 'epoch', category, dom_id, sum(v)
  from q group by metric_id, object_type, object_id, category, dom_id
  union all
  select metric_id, 1, '', '', 'Q15', start, category, '', sum(v) from q group by metric_id, start, category
  union all
  select metric_id, 1, '', '', 'LIFETIME', timestamptz 'epoch', category, '', sum(v) from q group by metric_id, category
  union all
  select metric_id, 2, '', '', 'Q15', start, '', '', sum(v) from q group by metric_id, start
  union all
  select metric_id, 2, '', '', 'LIFETIME', timestamptz 'epoch', '', '', sum(v) from q group by metric_id
),
upserted as (
  insert into metric_statistic as s (metric_id, level, object_type, object_id, period, start, category, dom_id, value)
  select metric_id, level, object_type, object_id, period, start, category, dom_id, v from keyed
  on conflict (metric_id, level, object_type, object_id, period, start, category, dom_id)
  do update set value = s.value + excluded.value
  returning 1
)
select (select count(*) from batch)::int as taken, (select count(*) from dead)::int as dead,
       (select count(*) from upserted)::int as buckets`;

/**
 * Folds the inbox into statistic buckets: every row present when the fold starts, in bounded batches,
 * each batch in its own transaction under a transaction-level advisory lock (so only one batch runs at a
 * time across instances, and a batch that fails rolls back entirely, leaving its rows in the inbox).
 * The same function serves cron, the `foldCounters` mutation and `npm run fold`.
 */
export async function fold(orm: Orm, logger: Logger, options: FoldOptions): Promise<FoldReport> {
  const started = performance.now();
  const report: FoldReport = { folded: 0, buckets: 0, deadLettered: 0, durationMs: 0, batches: 0, skipped: false };
  const finish = () => {
    report.durationMs = Math.round(performance.now() - started);
    return report;
  };
  try {
    const top = await queryOne<{ max_id: string | null }>(orm.em.fork(), sql`select max(id)::text as max_id from metric_inbox`);
    const maxId = Number(top?.max_id ?? 0);
    if (maxId === 0) return finish();
    for (;;) {
      const outcome = await orm.em.fork().transactional(async (em) => {
        if (options.wait) {
          await query(em, sql`select pg_advisory_xact_lock(${FOLD_LOCK_KEY})`);
        } else {
          const lock = await queryOne<{ locked: boolean }>(em, sql`select pg_try_advisory_xact_lock(${FOLD_LOCK_KEY}) as locked`);
          if (!lock?.locked) return null;
        }
        return queryOne(em, foldBatchSql(maxId, options.batchSize));
      });
      if (!outcome) {
        report.skipped = true;
        break;
      }
      report.batches += 1;
      report.folded += outcome.taken - outcome.dead;
      report.deadLettered += outcome.dead;
      report.buckets += outcome.buckets;
      if (outcome.taken < options.batchSize) break;
    }
  } catch (error) {
    const partial = finish();
    logger.error({ err: error, ...partial }, 'metrics fold interrupted; unfolded rows stay in the inbox');
    throw new FoldError(partial, error);
  }
  const done = finish();
  if (done.folded > 0 || done.deadLettered > 0) logger.info({ ...done }, 'metrics fold finished');
  else logger.debug({ ...done }, 'metrics fold: nothing to fold');
  if (done.deadLettered > 0) logger.warn({ deadLettered: done.deadLettered }, 'metrics fold moved rows to the dead-letter table');
  return done;
}
