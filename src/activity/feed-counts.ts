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

type Sums = [total: number, unread: number, unseen: number];

/**
 * Rows per key for each of `by` (in that order; rows of one key by key value), in one statement over the user's
 * cells: one index range, one hash aggregate with at most two grouping sets, (a) the asked columns other than the
 * trackers (few distinct combinations: verbs x levels x actor types x object type lists) and (b) the tracker
 * lists, sent back as one JSON value. The split per key (each verb, level, actor type; each element of the
 * object type and tracker lists) adds up these grouped rows here, which is a pass over as many rows as the
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
  const columns = [...shapeKeys.map((k) => KEY_COLUMN[k]), ...(byTracker ? [KEY_COLUMN.TRACKER] : [])];
  const sets = [
    ...(shapeKeys.length > 0 ? [`(${shapeKeys.map((k) => `k.${KEY_COLUMN[k]}`).join(', ')})`] : []),
    ...(byTracker ? [`(k.tracker_ids)`] : []),
  ];
  const cells = cellsWhere(userId, filters, readableLevel);
  // A grouped row of set (a) has a null `tracker_ids` (the column is not null in the table), one of set (b) has
  // null in the other columns.
  const rows = await em.execute<Row[]>(
    `select json_agg(json_build_array(${columns.map((c) => `g.${c}`).join(', ')}, g.total, g.unread, g.unseen)) as rows
       from (select ${columns.map((c) => `k.${c}`).join(', ')}, sum(k.total) as total, sum(k.unread) as unread, sum(${cells.unseen}) as unseen
               from activity_feed_cell k
              where ${cells.where}
              group by grouping sets (${sets.join(', ')})) g`,
    [userId, ...cells.params],
  );
  const raw = rows[0]?.['rows'];
  const grouped = (typeof raw === 'string' ? JSON.parse(raw) : (raw ?? [])) as unknown[][];
  const sums = new Map<FeedCountKey, Map<string, Sums>>(keys.map((k) => [k, new Map()]));
  const add = (key: FeedCountKey, value: unknown, n: Sums) => {
    const perKey = sums.get(key)!;
    const name = key === 'LEVEL' ? levelName(Number(value)) : String(value);
    const s = perKey.get(name);
    if (s) {
      s[0] += n[0];
      s[1] += n[1];
      s[2] += n[2];
    } else perKey.set(name, [n[0], n[1], n[2]]);
  };
  const trackerAt = byTracker ? columns.length - 1 : -1;
  for (const row of grouped) {
    const n: Sums = [Number(row[columns.length]), Number(row[columns.length + 1]), Number(row[columns.length + 2])];
    const trackers = byTracker ? (row[trackerAt] as number[] | null) : null;
    if (trackers) {
      for (const id of trackers) add('TRACKER', id, n);
      continue;
    }
    shapeKeys.forEach((key, i) => {
      if (key === 'OBJECT_TYPE') for (const type of row[i] as string[]) add(key, type, n);
      else add(key, row[i], n);
    });
  }
  const out: FeedCountRow[] = [];
  for (const key of keys) {
    const perKey = [...sums.get(key)!].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    for (const [name, [total, unread, unseen]] of perKey) out.push({ by: key, key: name, unread, unseen, total });
  }
  return out;
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
