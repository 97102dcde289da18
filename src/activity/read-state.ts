import type { Em } from '../db/orm.ts';
import { badInput } from '../server/errors.ts';
import { loadActions, type Row } from './action-store.ts';
import { snapshotsOf, type PendingFeedEvent } from './feed-events.ts';
import { MAX_IDS_PER_MARK, pgBigintArray } from './model.ts';

/**
 * Read state (actrack's unread/read marks): each feed entry has an `unread` flag and
 * `activity_unread_counter` holds the exact number of unread entries per user, changed by the exact delta in
 * the same statement that changes the flags. Entries of actions below the readable level are never unread.
 */

export interface MarkResult {
  /** How many entries changed. */
  changed: number;
  events: PendingFeedEvent[];
}

/**
 * Marks actions of `userId`'s feed read (or unread), as actrack's `bulk_mark_read_for`: ids that are not in
 * that feed (unknown, someone else's, or gone after an untrack) are skipped, indistinguishable from one
 * another. Actions below the readable level stay read. Returns how many entries changed. Run inside a
 * transaction.
 */
export async function markActions(em: Em, userId: string, actionIds: string[], unread: boolean, readableLevel: number): Promise<MarkResult> {
  const ids = [...new Set(actionIds)];
  if (ids.length > MAX_IDS_PER_MARK) throw badInput(`actionIds: at most ${MAX_IDS_PER_MARK} ids`);
  if (ids.length === 0) return { changed: 0, events: [] };
  const rows = await em.execute<Row[]>(
    unread
      ? `with changed as (
           update activity_feed_entry f set unread = true
             from activity_action a
            where f.user_id = ? and f.action_id = any(?::bigint[]) and not f.unread
              and a.id = f.action_id and a.level >= ?
           returning f.action_id
         ),
         n as (select count(*)::int as n from changed),
         k as (
           insert into activity_unread_counter (user_id, count) select ?, n.n from n where n.n > 0
           on conflict (user_id) do update set count = activity_unread_counter.count + excluded.count
           returning count
         )
         select (select coalesce(array_agg(action_id::text), '{}') from changed) as ids,
                coalesce((select count from k), (select count from activity_unread_counter where user_id = ?), 0) as count`
      : `with changed as (
           update activity_feed_entry f set unread = false
            where f.user_id = ? and f.action_id = any(?::bigint[]) and f.unread
           returning f.action_id
         ),
         n as (select count(*)::int as n from changed),
         k as (
           update activity_unread_counter c set count = c.count - n.n from n
            where c.user_id = ? and n.n > 0
           returning c.count
         )
         select (select coalesce(array_agg(action_id::text), '{}') from changed) as ids,
                coalesce((select count from k), (select count from activity_unread_counter where user_id = ?), 0) as count`,
    unread ? [userId, pgBigintArray(ids), readableLevel, userId, userId] : [userId, pgBigintArray(ids), userId, userId],
  );
  const changedIds = ((rows[0]?.['ids'] as string[] | null) ?? []).map(String);
  const unreadCount = Number(rows[0]?.['count'] ?? 0);
  const actions = await loadActions(em, changedIds, userId);
  const snapshots = await snapshotsOf(em, actions);
  const events: PendingFeedEvent[] = actions.map((action) => [
    userId,
    { kind: unread ? 'UNREAD' : 'READ', action: snapshots.get(action.id)!, unread, trackerIds: action.trackerIds, unreadCount },
  ]);
  return { changed: changedIds.length, events };
}

/**
 * Marks every unread entry of the feed read (only actions with timestamp <= before, when given): one UPDATE
 * over the partial unread index and one counter update. Run inside a transaction.
 */
export async function markAllRead(em: Em, userId: string, before: Date | null | undefined): Promise<MarkResult> {
  const rows = await em.execute<Row[]>(
    `with changed as (
       update activity_feed_entry f set unread = false
        where f.user_id = ? and f.unread
          ${before ? `and exists (select 1 from activity_action a where a.id = f.action_id and a."timestamp" <= ?::timestamptz)` : ''}
       returning 1
     ),
     n as (select count(*)::int as n from changed),
     k as (
       update activity_unread_counter c set count = c.count - n.n from n
        where c.user_id = ? and n.n > 0
       returning c.count
     )
     select (select n from n) as changed,
            coalesce((select count from k), (select count from activity_unread_counter where user_id = ?), 0) as count`,
    before ? [userId, before, userId, userId] : [userId, userId, userId],
  );
  const changed = Number(rows[0]?.['changed'] ?? 0);
  const unreadCount = Number(rows[0]?.['count'] ?? 0);
  const events: PendingFeedEvent[] =
    changed > 0 ? [[userId, { kind: 'READ', action: null, unread: null, trackerIds: [], unreadCount }]] : [];
  return { changed, events };
}
