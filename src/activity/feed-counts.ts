import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import { feedCounts as counterCounts } from './feed.ts';
import { levelName, normaliseVerbs, pgTextArray } from './model.ts';

/**
 * Counts per tab (the inbox): the user's feed entries that are not archived, grouped by a key (verb, object
 * type, tracker, level, actor type), each row with how many are unread, unseen and in total; and unread/unseen
 * counts under filters. Exact and read from maintained counters: the user's cells (feed-cells.ts), one per entry
 * shape (verb, level, actor type, object types, matching trackers), which every write moves by exact deltas in
 * its own statement. A call reads the user's cells (one index range, as many rows as the feed has shapes, not
 * entries) and adds them up per key; the unseen number of a cell counts only at the user's seen epoch
 * (seen-watermark.ts). Without filters `unreadCount`/`unseenCount` stay one counter row.
 */

export const FEED_COUNT_KEYS = ['VERB', 'OBJECT_TYPE', 'TRACKER', 'LEVEL', 'ACTOR_TYPE'] as const;
export type FeedCountKey = (typeof FEED_COUNT_KEYS)[number];

export interface CountFilters {
  verbs?: readonly string[] | null | undefined;
  objectType?: string | null | undefined;
  /** Lowest level counted; default the readable level (as the feed lists). */
  minLevel?: number | null | undefined;
  trackerId?: number | null | undefined;
}

export interface FeedCountRow {
  by: FeedCountKey;
  /** The verb, object type, level name, tracker database id or actor type. */
  key: string;
  unread: number;
  unseen: number;
  total: number;
}

/**
 * The cell column each key groups by; TRACKER and OBJECT_TYPE group by the whole array first (few distinct
 * arrays), then each array's elements are counted (`unnest`).
 */
const KEY_COLUMN: Record<FeedCountKey, { column: string; array: boolean }> = {
  VERB: { column: 'verb', array: false },
  LEVEL: { column: 'level', array: false },
  ACTOR_TYPE: { column: 'actor_type', array: false },
  TRACKER: { column: 'tracker_ids', array: true },
  OBJECT_TYPE: { column: 'object_types', array: true },
};

/** The user's cells under the filters, with the unseen number valid at the user's epoch: a CTE named `c`. */
function cellsSql(filters: CountFilters, readableLevel: number): { sql: string; params: unknown[] } {
  const where = [`k.user_id = ?`, `k.total > 0`, `k.level >= ?`];
  const params: unknown[] = [filters.minLevel ?? readableLevel];
  const verbs = normaliseVerbs(filters.verbs);
  if (verbs) {
    where.push(`k.verb = any(?::text[])`);
    params.push(pgTextArray(verbs));
  }
  if (filters.objectType) {
    where.push(`?::text = any(k.object_types)`);
    params.push(filters.objectType);
  }
  if (filters.trackerId !== null && filters.trackerId !== undefined) {
    where.push(`?::int = any(k.tracker_ids)`);
    params.push(filters.trackerId);
  }
  return {
    sql: `w as (select coalesce(max(seen_epoch), 0) as epoch from activity_unread_counter where user_id = ?),
     c as (
       select k.verb, k.level, k.actor_type, k.object_types, k.tracker_ids, k.total, k.unread,
              case when k.seen_epoch = w.epoch then k.unseen else 0 end as unseen
         from activity_feed_cell k cross join w
        where ${where.join(' and ')}
     )`,
    params,
  };
}

/** Rows per key for each of `by` (in that order; rows of one key by key value), in one statement. */
export async function feedCountsBy(
  em: Em,
  userId: string,
  by: readonly FeedCountKey[],
  filters: CountFilters,
  readableLevel: number,
): Promise<FeedCountRow[]> {
  const keys = [...new Set(by)];
  if (keys.length === 0) return [];
  const cells = cellsSql(filters, readableLevel);
  // One scan of the cells, one GROUPING SETS aggregate (a set per key); `g` tells which set a row belongs to.
  const columns = keys.map((k) => `c.${KEY_COLUMN[k].column}`);
  const rows = await em.execute<Row[]>(
    `with ${cells.sql},
     g as (
       select grouping(${columns.join(', ')}) as g, ${columns.join(', ')},
              sum(c.unread) as unread, sum(c.unseen) as unseen, sum(c.total) as total
         from c group by grouping sets (${columns.map((col) => `(${col})`).join(', ')})
     )
     ${keys
       .map((key, i) => {
         const { column, array } = KEY_COLUMN[key];
         const bit = 1 << (keys.length - 1 - i);
         const mask = (1 << keys.length) - 1 - bit;
         const value = array ? `unnest(g.${column})::text` : `g.${column}::text`;
         return `select '${key}' as dim, x.key, sum(x.unread)::int as unread, sum(x.unseen)::int as unseen, sum(x.total)::int as total
                   from (select ${value} as key, g.unread, g.unseen, g.total from g where g.g = ${mask}) x
                  group by x.key`;
       })
       .join(' union all ')}`,
    [userId, userId, ...cells.params],
  );
  const order = new Map(keys.map((k, i) => [k, i]));
  return rows
    .map((r) => {
      const key = r['dim'] as FeedCountKey;
      const raw = String(r['key']);
      return {
        by: key,
        key: key === 'LEVEL' ? levelName(Number(raw)) : raw,
        unread: Number(r['unread']),
        unseen: Number(r['unseen']),
        total: Number(r['total']),
      };
    })
    .sort((x, y) => order.get(x.by)! - order.get(y.by)! || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

function hasFilters(filters: CountFilters): boolean {
  return Boolean(normaliseVerbs(filters.verbs) || filters.objectType || filters.minLevel != null || filters.trackerId != null);
}

/** Unread and unseen counts: the counter row without filters; with filters, the sum of the matching cells. */
export async function filteredCounts(em: Em, userId: string, filters: CountFilters, readableLevel: number): Promise<{ unread: number; unseen: number }> {
  if (!hasFilters(filters)) return counterCounts(em, userId);
  const cells = cellsSql(filters, readableLevel);
  const rows = await em.execute<Row[]>(`with ${cells.sql} select coalesce(sum(unread), 0)::int as unread, coalesce(sum(unseen), 0)::int as unseen from c`, [
    userId,
    userId,
    ...cells.params,
  ]);
  return { unread: Number(rows[0]?.['unread'] ?? 0), unseen: Number(rows[0]?.['unseen'] ?? 0) };
}
