import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import type { PendingFeedEvent } from './feed-events.ts';
import { applyCellDeltas } from './feed-cells.ts';
import { readUnseenSql, userEpochSql } from './seen-watermark.ts';

/**
 * Removing entries from feeds (a tracker deleted or narrowed, a forgotten object's actions deleted, a
 * forgotten user): the entries go in one statement and each owner's unread counter drops by exactly the
 * unread entries removed; each affected user gets one REMOVED event with the new count.
 */

/** Per user: how many entries left the feed and the unread count after. */
export interface RemovedFromFeed {
  userId: string;
  removed: number;
  unreadCount: number;
  unseenCount: number;
}

/**
 * Deletes the feed entries selected by `condition` (SQL over alias `f`, with `params`) and moves the
 * counters by the exact number of unread (unseen) entries removed, archived ones excepted, and their cells
 * (feed-cells.ts) likewise. The counters are locked first in user order, as every other writer locks them, so the
 * seen epochs read are current (seen-watermark.ts). Run inside a transaction.
 */
export async function removeFeedEntries(em: Em, condition: string, params: readonly unknown[]): Promise<RemovedFromFeed[]> {
  await em.execute(
    `select 1 from activity_unread_counter
      where user_id in (select distinct f.user_id from activity_feed_entry f where ${condition})
      order by user_id for update`,
    [...params],
  );
  const rows = await em.execute<Row[]>(
    `with removed as (
       delete from activity_feed_entry f where ${condition}
       returning f.user_id, f.cell_id, f.unread, ${readUnseenSql('f')} as unseen, f.archived, ${userEpochSql('f')} as epoch
     ),
     per_cell as (
       select cell_id, max(epoch) as epoch, -(count(*) filter (where not archived))::int as total,
              -(count(*) filter (where unread and not archived))::int as unread,
              -(count(*) filter (where unseen and not archived))::int as unseen
         from removed group by cell_id
     ),
     ${applyCellDeltas('cells', 'per_cell', 's.epoch')},
     per_user as (
       select user_id, count(*)::int as removed,
              (count(*) filter (where unread and not archived))::int as unread_removed,
              (count(*) filter (where unseen and not archived))::int as unseen_removed
         from removed group by user_id
     ),
     counted as (
       update activity_unread_counter c set count = c.count - p.unread_removed, unseen = c.unseen - p.unseen_removed
         from per_user p
        where c.user_id = p.user_id and (p.unread_removed > 0 or p.unseen_removed > 0)
       returning c.user_id, c.count, c.unseen
     )
     select p.user_id, p.removed,
            coalesce(k.count, (select c.count from activity_unread_counter c where c.user_id = p.user_id), 0) as unread_count,
            coalesce(k.unseen, (select c.unseen from activity_unread_counter c where c.user_id = p.user_id), 0) as unseen_count
       from per_user p left join counted k on k.user_id = p.user_id
      order by p.user_id`,
    [...params],
  );
  return rows.map((r) => ({ userId: String(r['user_id']), removed: Number(r['removed']), unreadCount: Number(r['unread_count']), unseenCount: Number(r['unseen_count']) }));
}

/** One REMOVED event per user whose feed lost entries (action null: the client refetches its page). */
export function removedEvents(removed: readonly RemovedFromFeed[]): PendingFeedEvent[] {
  return removed.map((r) => [r.userId, { kind: 'REMOVED', action: null, unread: null, unseen: null, trackerIds: [], unreadCount: r.unreadCount, unseenCount: r.unseenCount }]);
}
