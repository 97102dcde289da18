import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import { feedCounts as counterCounts } from './feed.ts';
import { levelName, normaliseVerbs, pgTextArray } from './model.ts';

/**
 * Counts per tab (the inbox): the user's feed entries that are not archived, grouped by a key (verb, object
 * type, tracker, level, actor type), each row with how many are unread, unseen and in total; and unread/unseen
 * counts under filters. Exact and read from maintained counters: the user's cells (feed-cells.ts), one per entry
 * shape (verb, level, actor type, object types, matching trackers), which every write moves by exact deltas in
 * its own statement. A call is one statement over the user's cells (one index range, as many rows as the feed
 * has shapes, not entries): feedCounts groups them by the asked columns in the database and splits the grouped
 * rows per key value here; a filtered unreadCount/unseenCount is one sum. The unseen number of a cell counts
 * only at the user's seen epoch (seen-watermark.ts). Without filters `unreadCount`/`unseenCount` stay one
 * counter row. Nothing is cached: every call reads the database's current state.
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

/** The cell column of each key; OBJECT_TYPE and TRACKER are arrays (an entry counts once per element). */
const KEY_COLUMN: Record<FeedCountKey, string> = {
  VERB: 'verb',
  LEVEL: 'level',
  ACTOR_TYPE: 'actor_type',
  OBJECT_TYPE: 'object_types',
  TRACKER: 'tracker_ids',
};

/**
 * The user's cells (alias `k`) under the filters, and the unseen number of cell `k` valid at the user's epoch
 * (a cell's `unseen` counts only while its `seen_epoch` is the user's; no counter row: epoch 0).
 */
function cellsWhere(userId: string, filters: CountFilters, readableLevel: number): { where: string; unseen: string; params: unknown[] } {
  const where = [`k.user_id = ?`, `k.total > 0`, `k.level >= ?`];
  const params: unknown[] = [userId, filters.minLevel ?? readableLevel];
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
    where: where.join(' and '),
    unseen: `case when k.seen_epoch = coalesce((select u.seen_epoch from activity_unread_counter u where u.user_id = ?), 0) then k.unseen else 0 end`,
    params,
  };
}

/** A JSON value as the driver gives it (node-postgres parses json, PGlite may leave it text). */
function jsonValue<T>(value: unknown, empty: T): T {
  if (value === null || value === undefined) return empty;
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/**
 * Rows per key for each of `by` (in that order; rows of one key by key value), in one statement over the user's
 * cells: one index range and one hash aggregate with at most two grouping sets, (a) the asked columns other than
 * the trackers (few distinct combinations: verbs x levels x actor types x object type lists) and (b) the tracker
 * lists, each set sent back as one JSON list. The split per key value (each verb, level, actor type; each element
 * of the object type and tracker lists) adds up these grouped rows here, in one pass over as many rows as the
 * statement returns. Keys not asked are neither grouped nor sent.
 */
export async function feedCountsBy(
  em: Em,
  userId: string,
  by: readonly FeedCountKey[],
  filters: CountFilters,
  readableLevel: number,
): Promise<FeedCountRow[]> {
  const keys = [...new Set(by)];
  if (keys.length === 0) return [];
  const shapeKeys = keys.filter((k) => k !== 'TRACKER');
  const byTracker = keys.includes('TRACKER');
  const shapeColumns = shapeKeys.map((k) => KEY_COLUMN[k]);
  const sets = [...(shapeColumns.length > 0 ? [`(${shapeColumns.map((c) => `k.${c}`).join(', ')})`] : []), ...(byTracker ? [`(k.tracker_ids)`] : [])];
  const cells = cellsWhere(userId, filters, readableLevel);
  // `tracker_ids` is not null in the table: null in a grouped row means set (a).
  const sums = `g.total, g.unread, g.unseen`;
  const rows = await em.execute<Row[]>(
    `select ${shapeColumns.length > 0 ? `json_agg(json_build_array(${shapeColumns.map((c) => `g.${c}`).join(', ')}, ${sums}))${byTracker ? ` filter (where g.tracker_ids is null)` : ''}` : 'null'} as shapes,
            ${byTracker ? `json_agg(json_build_array(g.tracker_ids, ${sums})) filter (where g.tracker_ids is not null)` : 'null'} as trackers
       from (select ${[...shapeColumns, ...(byTracker ? ['tracker_ids'] : [])].map((c) => `k.${c}`).join(', ')},
                    sum(k.total) as total, sum(k.unread) as unread, sum(${cells.unseen}) as unseen
               from activity_feed_cell k
              where ${cells.where}
              group by grouping sets (${sets.join(', ')})) g`,
    [userId, ...cells.params],
  );
  // Per key, the rows by value; the sums are bigint in SQL, JSON numbers here (exact up to 2^53).
  const perKey = new Map<FeedCountKey, Map<string | number, FeedCountRow>>(keys.map((k) => [k, new Map()]));
  const add = (by: FeedCountKey, counts: Map<string | number, FeedCountRow>, value: string | number, row: unknown[], at: number) => {
    const sum = counts.get(value);
    if (sum) {
      sum.total += row[at] as number;
      sum.unread += row[at + 1] as number;
      sum.unseen += row[at + 2] as number;
    } else {
      const key = by === 'LEVEL' ? levelName(value as number) : String(value);
      counts.set(value, { by, key, unread: row[at + 1] as number, unseen: row[at + 2] as number, total: row[at] as number });
    }
  };
  const at = shapeColumns.length;
  for (const row of jsonValue<unknown[][]>(rows[0]?.['shapes'], [])) {
    for (let i = 0; i < shapeKeys.length; i++) {
      const key = shapeKeys[i]!;
      const counts = perKey.get(key)!;
      if (key === 'OBJECT_TYPE') for (const type of row[i] as string[]) add(key, counts, type, row, at);
      else add(key, counts, row[i] as string | number, row, at);
    }
  }
  const trackerCounts = perKey.get('TRACKER');
  if (trackerCounts) {
    for (const row of jsonValue<unknown[][]>(rows[0]?.['trackers'], [])) for (const id of row[0] as number[]) add('TRACKER', trackerCounts, id, row, 1);
  }
  // Rows of a key by key value (as text: the tracker's database id, the level's name).
  return keys.flatMap((key) => [...perKey.get(key)!.values()].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0)));
}

function hasFilters(filters: CountFilters): boolean {
  return Boolean(normaliseVerbs(filters.verbs) || filters.objectType || filters.minLevel != null || filters.trackerId != null);
}

/** Unread and unseen counts: the counter row without filters; with filters, the sum of the matching cells. */
export async function filteredCounts(em: Em, userId: string, filters: CountFilters, readableLevel: number): Promise<{ unread: number; unseen: number }> {
  if (!hasFilters(filters)) return counterCounts(em, userId);
  const cells = cellsWhere(userId, filters, readableLevel);
  const rows = await em.execute<Row[]>(
    `select coalesce(sum(k.unread), 0) as unread, coalesce(sum(${cells.unseen}), 0) as unseen from activity_feed_cell k where ${cells.where}`,
    [userId, ...cells.params],
  );
  return { unread: Number(rows[0]?.['unread'] ?? 0), unseen: Number(rows[0]?.['unseen'] ?? 0) };
}
