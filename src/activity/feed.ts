import type { Em } from '../db/orm.ts';
import { ACTION_COLUMNS, hydrateActions, type Row } from './action-store.ts';
import { normaliseVerbs, pgTextArray, type ActionRecord } from './model.ts';

/**
 * The feed (actrack's `feed()`): the actions that entered a user's feed through its trackers (fan-out.ts),
 * read as keyset pages of `activity_feed_entry`, with the exact unread count from `activity_unread_counter`.
 */

export interface FeedFilters {
  unreadOnly?: boolean | null | undefined;
  verbs?: readonly string[] | null | undefined;
  minLevel?: number | null | undefined;
}

export interface Page {
  /** Rows to return (already capped). */
  first: number;
  /** Database action id to continue after (exclusive), newest first. */
  after?: string | null | undefined;
}

export interface ActionPage {
  actions: ActionRecord[];
  hasNextPage: boolean;
}

/** A user's feed, newest first: a backward range scan of the feed entries' primary key. */
export async function feedPage(em: Em, userId: string, filters: FeedFilters, page: Page): Promise<ActionPage> {
  const where = [`f.user_id = ?`];
  const params: unknown[] = [userId];
  if (filters.unreadOnly) where.push(`f.unread`);
  const verbs = normaliseVerbs(filters.verbs);
  if (verbs) {
    where.push(`a.verb = any(?::text[])`);
    params.push(pgTextArray(verbs));
  }
  if (filters.minLevel !== null && filters.minLevel !== undefined) {
    where.push(`a.level >= ?`);
    params.push(filters.minLevel);
  }
  if (page.after) {
    // Both sides of the join start at the cursor (a merge join would otherwise walk the actions from the newest).
    where.push(`f.action_id < ? and a.id < ?`);
    params.push(page.after, page.after);
  }
  params.push(page.first + 1);
  const rows = await em.execute<Row[]>(
    `select ${ACTION_COLUMNS}, f.unread, f.tracker_ids
       from activity_feed_entry f join activity_action a on a.id = f.action_id
      where ${where.join(' and ')}
      order by f.action_id desc limit ?`,
    params,
  );
  const hasNextPage = rows.length > page.first;
  return { actions: await hydrateActions(em, rows.slice(0, page.first)), hasNextPage };
}

/** Exact number of unread feed entries: one row read. */
export async function unreadCount(em: Em, userId: string): Promise<number> {
  const rows = await em.execute<Row[]>(`select count from activity_unread_counter where user_id = ?`, [userId]);
  return rows[0] ? Number(rows[0]['count']) : 0;
}
