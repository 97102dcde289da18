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
 * One fold batch, one statement: delete the inbox rows with ids in (lo, hi] (an index range; the caller
 * picks hi so that the range holds at most `batch` rows), move the rows whose metric is gone or no longer a
 * counter to the dead-letter table, group the rest per key and 15-minute bucket, and add the sums to the
 * exact, per-category and total buckets (15-minute and LIFETIME) with one upsert. It commits with the
 * transaction around it or not at all. DELETE ... RETURNING makes it exactly-once even without the lock:
 * a row deleted by a concurrent fold is skipped, never returned twice.
 */
const foldBatchSql = (lo: number, hi: number) => sql<{ taken: number; dead: number; buckets: number }>`
with batch as (
  delete from metric_inbox where id > ${lo} and id <= ${hi}
  returning id, metric_id, object_type, object_id, category, dom_id, amount, occurred_at
),
grouped as (
  select metric_id, date_bin('15 minutes', occurred_at, timestamptz 'epoch') as start,
         object_type, object_id, category, dom_id, sum(amount)::float8 as v
  from batch group by 1, 2, 3, 4, 5, 6
),
unfoldable as (
  select g.metric_id, min(case when m.id is null then 'unknown_metric' else 'not_counter' end) as reason
  from (select distinct metric_id from grouped) as g left join metric m on m.id = g.metric_id
  where m.id is null or m.kind <> 'COUNTER'
  group by g.metric_id
),
dead as (
  insert into metric_dead_letter (inbox_id, metric_id, object_type, object_id, category, dom_id, amount, occurred_at, reason)
  select b.id, b.metric_id, b.object_type, b.object_id, b.category, b.dom_id, b.amount, b.occurred_at, u.reason
  from batch b join unfoldable u on u.metric_id = b.metric_id order by b.id
  returning 1
),
q as (
  select * from grouped where metric_id not in (select metric_id from unfoldable)
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
    // Rows present when the fold starts: ids <= maxId. A row with a smaller id committed later (ids are
    // taken before commit) is left for the next fold, which starts from the beginning again.
    let lo = 0;
    for (;;) {
      const outcome = await orm.em.fork().transactional(async (em) => {
        // Big aggregates, for this transaction only: hash aggregation (the planner's group-count estimate
        // for a DELETE ... RETURNING is far too high and makes it sort a million rows by text keys instead;
        // hash aggregation spills to disk past work_mem anyway), no JIT (costs more than it saves here), and
        // room for a big batch under load (the request-sized DB_STATEMENT_TIMEOUT_MS would roll it back again
        // and again; and the lock wait below, which may last as long as another instance's batch).
        await query(
          em,
          sql`select set_config('jit', 'off', true), set_config('work_mem', '64MB', true),
                     set_config('enable_sort', 'off', true), set_config('statement_timeout', '300s', true)`,
        );
        if (options.wait) {
          await query(em, sql`select pg_advisory_xact_lock(${FOLD_LOCK_KEY})`);
        } else {
          const lock = await queryOne<{ locked: boolean }>(em, sql`select pg_try_advisory_xact_lock(${FOLD_LOCK_KEY}) as locked`);
          if (!lock?.locked) return null;
        }
        // The id of the batchSize-th row after lo (ordered by the bigint column, not its text alias).
        const edge = await queryOne<{ edge: string }>(
          em,
          sql`select i.id::text as edge from metric_inbox i where i.id > ${lo} and i.id <= ${maxId}
              order by i.id offset ${options.batchSize - 1} limit 1`,
        );
        const hi = edge ? Number(edge.edge) : maxId;
        const result = await queryOne(em, foldBatchSql(lo, hi));
        return result ? { ...result, hi } : undefined;
      });
      if (!outcome) {
        report.skipped = true;
        break;
      }
      report.batches += 1;
      report.folded += outcome.taken - outcome.dead;
      report.deadLettered += outcome.dead;
      report.buckets += outcome.buckets;
      lo = outcome.hi;
      if (lo >= maxId) break;
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
