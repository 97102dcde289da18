import type { Em } from '../db/orm.ts';
import { readUnseenSql } from './seen-watermark.ts';
import { ACTION_COLUMNS, hydrateActions, type Row } from './action-store.ts';
import { keyset, sortKeyColumn, type CursorKey, type Page } from './cursors.ts';
import { normaliseVerbs, pgTextArray, type ActionRecord } from './model.ts';

export type { Page } from './cursors.ts';

/**
 * The feed (actrack's `feed()`): the actions matching a user's current trackers (fan-out.ts on write,
 * tracker-feed.ts as trackers change), read as keyset pages of `activity_feed_entry` over (timestamp, action
 * id), newest first, with the exact unread count from `activity_unread_counter`.
 */

export interface FeedFilters {
  unreadOnly?: boolean | null | undefined;
  /** true: the archived entries only; default: the entries that are not archived. */
  archived?: boolean | null | undefined;
  verbs?: readonly string[] | null | undefined;
  /** Lowest level listed; default the readable level (actrack applies `level >= READABLE_LEVEL` to feeds). */
  minLevel?: number | null | undefined;
  /** Also the user's own actions (actor = the user), as actrack's `include_own`. */
  includeOwn?: { userType: string } | null | undefined;
  since?: Date | null | undefined;
  until?: Date | null | undefined;
}

export interface ActionPage {
  actions: ActionRecord[];
  /** The cursor position of each action. */
  keys: CursorKey[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}

/** Rows (newest first after reordering) into a page: one extra row tells there is more in that direction. */
export async function pageOf(em: Em, rows: Row[], page: Page): Promise<ActionPage> {
  const more = rows.length > page.limit;
  const kept = rows.slice(0, page.limit);
  if (page.backward) kept.reverse();
  return {
    actions: await hydrateActions(em, kept),
    keys: kept.map((r) => ({ tsUs: String(r['sort_ts_us']), id: String(r['id']) })),
    hasNextPage: page.backward ? Boolean(page.before) : more,
    hasPreviousPage: page.backward ? more : Boolean(page.after),
  };
}

/** A user's feed, newest first: a range scan of (user_id, action_timestamp, action_id). */
export async function feedPage(em: Em, userId: string, filters: FeedFilters, page: Page, readableLevel: number): Promise<ActionPage> {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const verbs = normaliseVerbs(filters.verbs);
  if (verbs) {
    conditions.push(`a.verb = any(?::text[])`);
    params.push(pgTextArray(verbs));
  }
  conditions.push(`a.level >= ?`);
  params.push(filters.minLevel ?? readableLevel);

  /** One source of rows (feed entries, own actions), its timestamp expression and its own conditions. */
  const branch = (from: string, ts: string, id: string, own: string[], ownParams: unknown[]) => {
    const k = keyset(page, ts, id);
    const where = [...own, ...conditions, ...k.where];
    if (filters.since) where.push(`${ts} >= ?::timestamptz`);
    if (filters.until) where.push(`${ts} <= ?::timestamptz`);
    const sql = `select ${ACTION_COLUMNS}, ${from}
                  where ${where.join(' and ')}
                  order by ${k.orderBy} limit ?`;
    const all = [...ownParams, ...params, ...k.params];
    if (filters.since) all.push(filters.since);
    if (filters.until) all.push(filters.until);
    all.push(page.limit + 1);
    return { sql, params: all, orderBy: k.orderBy };
  };

  const entries = branch(
    `f.unread, ${readUnseenSql('f')} as unseen, f.tracker_ids, ${sortKeyColumn('f.action_timestamp')}
       from activity_feed_entry f join activity_action a on a.id = f.action_id`,
    'f.action_timestamp',
    'f.action_id',
    [`f.user_id = ?`, filters.archived ? `f.archived` : `not f.archived`, ...(filters.unreadOnly ? [`f.unread`] : [])],
    [userId],
  );
  if (!filters.includeOwn || filters.unreadOnly || filters.archived) {
    return pageOf(em, await em.execute<Row[]>(entries.sql, entries.params), page);
  }
  // Own actions that are not also feed entries, merged in the same order.
  const own = branch(
    `false as unread, false as unseen, '{}'::int[] as tracker_ids, ${sortKeyColumn('a."timestamp"')} from activity_action a`,
    'a."timestamp"',
    'a.id',
    [
      `a.actor_type = ? and a.actor_id = ?`,
      `not exists (select 1 from activity_feed_entry f2 where f2.user_id = ? and f2.action_id = a.id)`,
    ],
    [filters.includeOwn.userType, userId, userId],
  );
  const dir = page.backward ? 'asc' : 'desc';
  const rows = await em.execute<Row[]>(
    `select * from ((${entries.sql}) union all (${own.sql})) m
      order by m."timestamp" ${dir}, m.id ${dir} limit ?`,
    [...entries.params, ...own.params, page.limit + 1],
  );
  return pageOf(em, rows, page);
}

export interface FeedCounts {
  unread: number;
  unseen: number;
}

/** Exact numbers of unread and unseen feed entries (archived ones excluded): one row read. */
export async function feedCounts(em: Em, userId: string): Promise<FeedCounts> {
  const rows = await em.execute<Row[]>(`select count, unseen from activity_unread_counter where user_id = ?`, [userId]);
  return rows[0] ? { unread: Number(rows[0]['count']), unseen: Number(rows[0]['unseen']) } : { unread: 0, unseen: 0 };
}

/** Exact number of unread feed entries: one row read. */
export async function unreadCount(em: Em, userId: string): Promise<number> {
  return (await feedCounts(em, userId)).unread;
}
