import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';

/**
 * The seen watermark (issue 13: `markAllSeen` over 100,000 unseen entries in O(1)). Each user has a seen epoch
 * (`activity_unread_counter.seen_epoch`); each entry records the epoch at which it was last written
 * (`activity_feed_entry.seen_epoch`). An entry is unseen when
 *
 *     f.unseen and (f.archived or f.seen_epoch >= <the user's epoch>)
 *
 * so bumping the epoch marks every entry in the feed (not archived) seen without touching it. Archived entries
 * keep their flags as written (archiving writes the effective value; unarchiving stamps the current epoch), so
 * `markAllSeen` leaves them alone, as before. Cells (feed-cells.ts) count unseen the same way: a cell's `unseen`
 * holds only while its `seen_epoch` is the user's.
 *
 * Every writer that reads or changes existing entries of a user (entry-state.ts, tracker-feed.ts, feed-removal.ts)
 * first locks the user's counter row (`lockUserState`), which every one of them takes first: the epoch it reads
 * is current and cannot move before it commits, and its next statement sees every write committed before. The
 * fan-out (fan-out.ts) takes it first too, inside its statement: a new action's counter upsert returns the epoch
 * under the lock and stamps the cells and entries with it; a grouped action locks the rows (`locked`) and reads
 * the epoch there. Cells apply unseen deltas with `unseenAfter` whatever the epoch they were judged at.
 *
 * `markAllSeen` without a filter: lock the counter row, then the entries that stay unseen (with `before`: the
 * unseen entries after it, read from the partial unread index, usually the few that arrived since the panel was
 * drawn) are stamped with the next epoch and their cells set to their number at that epoch; then the epoch is
 * bumped and the counter's unseen set to that number. Cost: O(entries that stay unseen), not O(entries seen).
 * With a verb, object type or tracker filter it is the set-based update of entry-state.ts.
 */

/** SQL: the effective unseen flag of entry `f` under epoch `epoch` (SQL). */
export function unseenSql(epoch: string, f = 'f'): string {
  return `(${f}.unseen and (${f}.archived or ${f}.seen_epoch >= ${epoch}))`;
}

/** SQL: the epoch of entry `f`'s user (0 without a counter row), for reads. */
export function userEpochSql(f = 'f'): string {
  return `coalesce((select c.seen_epoch from activity_unread_counter c where c.user_id = ${f}.user_id), 0)`;
}

/** SQL: the effective unseen flag of entry `f`, for reads (pages, replay). */
export function readUnseenSql(f = 'f'): string {
  return unseenSql(userEpochSql(f), f);
}

export interface UserState {
  epoch: number;
  unread: number;
  unseen: number;
}

/**
 * Locks `userId`'s counter row (created when missing, so that it can be locked) and returns the epoch and
 * counts: the first statement of every writer of a user's existing entries. Run inside a transaction.
 */
export async function lockUserState(em: Em, userId: string): Promise<UserState> {
  const rows = await em.execute<Row[]>(
    `insert into activity_unread_counter as c (user_id, count, unseen, seen_epoch) values (?, 0, 0, 0)
     on conflict (user_id) do update set seen_epoch = c.seen_epoch
     returning c.seen_epoch, c.count, c.unseen`,
    [userId],
  );
  const row = rows[0]!;
  return { epoch: Number(row['seen_epoch']), unread: Number(row['count']), unseen: Number(row['unseen']) };
}

export interface MarkAllSeenResult {
  changed: number;
  unreadCount: number;
  unseenCount: number;
}

/**
 * `markAllSeen(before)` without other filters: every unseen entry of the feed (archived ones excepted) whose
 * action is at or before `before` (all without it) becomes seen, by moving the watermark. Run inside a transaction.
 */
export async function moveSeenWatermark(em: Em, userId: string, before: Date | null): Promise<MarkAllSeenResult> {
  const state = await lockUserState(em, userId);
  if (state.unseen === 0) return { changed: 0, unreadCount: state.unread, unseenCount: 0 };
  const next = state.epoch + 1;
  let kept = 0;
  if (before) {
    // The entries that stay unseen (after `before`) move to the next epoch with their cells.
    const rows = await em.execute<Row[]>(
      `with kept as (
         update activity_feed_entry f set seen_epoch = ?
          where f.user_id = ? and f.unread and not f.archived and f.action_timestamp > ?::timestamptz and ${unseenSql(String(state.epoch))}
         returning f.cell_id
       ),
       per_cell as (select cell_id, count(*)::int as n from kept group by cell_id),
       cells as (
         update activity_feed_cell c set unseen = p.n, seen_epoch = ? from per_cell p where c.id = p.cell_id returning 1
       )
       select coalesce(sum(n), 0)::int as n from per_cell`,
      [next, userId, before, next],
    );
    kept = Number(rows[0]?.['n'] ?? 0);
  }
  await em.execute(`update activity_unread_counter set seen_epoch = ?, unseen = ? where user_id = ?`, [next, kept, userId]);
  return { changed: state.unseen - kept, unreadCount: state.unread, unseenCount: kept };
}
