import type { Orm } from '../db/orm.ts';
import { badInput } from '../server/errors.ts';
import type { MetricInfo } from './model.ts';
import { query, sql } from './sql.ts';

/** Most dead letters one retry or purge may name. */
export const DEAD_LETTER_BATCH_MAX = 1000;

/** Dead-letter ids are bigint serials, given as GraphQL IDs. */
function parseIds(ids: ReadonlyArray<string | number>): string[] {
  if (ids.length > DEAD_LETTER_BATCH_MAX) throw badInput(`At most ${DEAD_LETTER_BATCH_MAX} dead letters per call`);
  return ids.map((id, index) => {
    const text = String(id);
    if (!/^[1-9]\d{0,17}$/.test(text)) throw badInput(`ids.${index}: not a dead-letter id`);
    return text;
  });
}

/**
 * What an operator does with increments the fold could not fold (metricDeadLetters lists them): put them back
 * into the inbox for the next fold (optionally aimed at another counter, e.g. a metric that was deleted by
 * mistake and registered again), or drop them. Each call is one statement: rows move or go as a whole.
 */
export class DeadLetters {
  readonly #orm: Orm;

  constructor(orm: Orm) {
    this.#orm = orm;
  }

  /**
   * Moves the dead letters back into the inbox (their metric, or `into`, a counter), keeping amount, object,
   * category, DOM id and time. Rows whose metric is still missing come back at the next fold. Returns how
   * many moved (ids that do not exist are skipped).
   */
  async retry(ids: ReadonlyArray<string | number>, into?: MetricInfo): Promise<number> {
    const list = parseIds(ids);
    if (list.length === 0) return 0;
    if (into && into.kind !== 'COUNTER') {
      throw badInput(`Metric "${into.domain.ref}/${into.ref}" is a GAUGE: dead letters are increments and only go into counters`);
    }
    const target = into ? sql`${into.id}::int` : sql`d.metric_id`;
    const rows = await query<{ n: number }>(
      this.#orm.em.fork(),
      sql`with d as (delete from metric_dead_letter where id = any(${list}::bigint[]) returning *),
          moved as (
            insert into metric_inbox (metric_id, object_type, object_id, category, dom_id, amount, occurred_at)
            select ${target}, d.object_type, d.object_id, d.category, d.dom_id, d.amount, d.occurred_at from d order by d.id
            returning 1)
          select count(*)::int as n from moved`,
    );
    return rows[0]?.n ?? 0;
  }

  /** Deletes the dead letters for good; returns how many were deleted. */
  async purge(ids: ReadonlyArray<string | number>): Promise<number> {
    const list = parseIds(ids);
    if (list.length === 0) return 0;
    const rows = await query<{ n: number }>(
      this.#orm.em.fork(),
      sql`with d as (delete from metric_dead_letter where id = any(${list}::bigint[]) returning 1) select count(*)::int as n from d`,
    );
    return rows[0]?.n ?? 0;
  }
}
