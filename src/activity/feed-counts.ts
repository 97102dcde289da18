import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import { feedCounts as counterCounts } from './feed.ts';
import { entryFilterSql } from './entry-state.ts';
import { levelName, normaliseVerbs } from './model.ts';

/**
 * Counts per tab (the inbox): the user's feed entries that are not archived, grouped by a key (verb, object
 * type, tracker, level), each row with how many are unread, unseen and in total; and unread/unseen counts
 * under filters. Exact: computed from the entries themselves in one statement per call (a range of the
 * user's entries, joined to their actions), not from an estimate or a capped scan. The cost grows with the
 * number of the user's entries (see README, "Measured"); without filters `unreadCount`/`unseenCount` stay one
 * counter row.
 */

export const FEED_COUNT_KEYS = ['VERB', 'OBJECT_TYPE', 'TRACKER', 'LEVEL'] as const;
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
  /** The verb, object type, level name, or tracker database id. */
  key: string;
  unread: number;
  unseen: number;
  total: number;
}

/** SQL producing the key values of an entry `e` (entry and action columns) for each grouping. */
const KEY_SQL: Record<FeedCountKey, string> = {
  VERB: `select e.verb as key`,
  LEVEL: `select e.level::text as key`,
  TRACKER: `select unnest(e.tracker_ids)::text as key`,
  OBJECT_TYPE: `select e.actor_type as key union select o.object_type from activity_action_object o where o.action_id = e.id`,
};

function filterSql(filters: CountFilters, readableLevel: number): { where: string[]; params: unknown[] } {
  // The entry filters of the bulk changes (entry-state.ts), plus the level the feed lists.
  const entry = entryFilterSql({ verbs: filters.verbs, objectType: filters.objectType, trackerId: filters.trackerId });
  return { where: [`a.level >= ?`, ...entry.where], params: [filters.minLevel ?? readableLevel, ...entry.params] };
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
  const f = filterSql(filters, readableLevel);
  const rows = await em.execute<Row[]>(
    `with e as materialized (
       select f.action_id, f.unread, f.unseen, f.tracker_ids, a.id, a.verb, a.level, a.actor_type
         from activity_feed_entry f join activity_action a on a.id = f.action_id
        where f.user_id = ? and not f.archived and ${f.where.join(' and ')}
     )
     ${keys
       .map(
         (key) => `select '${key}' as dim, k.key, count(*) filter (where e.unread)::int as unread,
                          count(*) filter (where e.unseen)::int as unseen, count(*)::int as total
                     from e cross join lateral (${KEY_SQL[key]}) k
                    group by k.key`,
       )
       .join(' union all ')}`,
    [userId, ...f.params],
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

/** Unread and unseen counts: the counter row without filters; with filters, one count over the unread entries. */
export async function filteredCounts(em: Em, userId: string, filters: CountFilters, readableLevel: number): Promise<{ unread: number; unseen: number }> {
  if (!hasFilters(filters)) return counterCounts(em, userId);
  const f = filterSql(filters, readableLevel);
  const rows = await em.execute<Row[]>(
    `select count(*)::int as unread, count(*) filter (where f.unseen)::int as unseen
       from activity_feed_entry f join activity_action a on a.id = f.action_id
      where f.user_id = ? and f.unread and not f.archived and ${f.where.join(' and ')}`,
    [userId, ...f.params],
  );
  return { unread: Number(rows[0]?.['unread'] ?? 0), unseen: Number(rows[0]?.['unseen'] ?? 0) };
}
