import type { Em } from '../db/orm.ts';
import { callerScope } from '../server/idempotency.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import type { Row } from './action-store.ts';
import { deleteActionsWhere, forgetLabels, forgetObject } from './deleted-items.ts';
import type { PendingFeedEvent } from './feed-events.ts';
import type { ActivitySettings } from './model.ts';
import { lockForErasure } from './object-locks.ts';

/**
 * Erasure of a user (a data-subject request): everything the activity module stores about the user goes in one
 * transaction. It reuses the deleted-items mechanism (deleted-items.ts): the user becomes a tombstone without a
 * label, its trackers, feed entries and unread counter go (with the trackers others had on it), and, with
 * `DELETE`, the actions where the user is the actor are deleted (every other feed and count updated exactly,
 * REMOVED events). Then the rows keyed by the user that only exist for it: its change stream (its position stays,
 * after one RESET change), its logAction idempotency keys (scope `user:<id>`). Other modules' rows (webhook reminders and deliveries that
 * name the user) go through the write listeners, in the same transaction (`erasedUser`).
 *
 * What stays: with `TOMBSTONE`, the user's actions and the actions of others that mention the user keep the
 * user's id, shown as a tombstone (`deleted: true`, description "Type id"); every label the log had for the
 * user is cleared. With `DELETE`, only the actions of others that mention the user (as target or related
 * object) keep its id, as a tombstone.
 */

export type ErasedActions = 'DELETE' | 'TOMBSTONE';

export interface UserErasure {
  user: string;
  actionsDeleted: number;
  trackersDeleted: number;
  feedEntriesDeleted: number;
}

export interface ErasureResult {
  erasure: UserErasure;
  /** Events for the other users whose feeds changed, and the erased user's RESET (its stream is gone). */
  events: PendingFeedEvent[];
  /** For the write listeners (webhooks): the erased user as an object. */
  erasedUser: ObjectRefValue;
}

/** Erases a user (see above). Run inside a transaction. */
export async function eraseUser(em: Em, settings: ActivitySettings, userId: string, actions: ErasedActions): Promise<ErasureResult> {
  const userType = settings.config.userType;
  // Every feed writer and tracker change in flight finishes first (object-locks.ts): none writes the user again.
  await lockForErasure(em, userType, userId);
  const [before] = await em.execute<Row[]>(
    `select (select count(*) from activity_tracker where owner_id = ?)::int as trackers,
            (select count(*) from activity_feed_entry where user_id = ?)::int as entries`,
    [userId, userId],
  );
  const events: PendingFeedEvent[] = [];
  let actionsDeleted = 0;
  if (actions === 'DELETE') {
    const deleted = await deleteActionsWhere(em, `select a.id from activity_action a where a.actor_type = ? and a.actor_id = ?`, [
      userType,
      userId,
    ]);
    actionsDeleted = deleted.deleted;
    events.push(...deleted.events);
  }
  // Labels are personal data: cleared everywhere before forgetObject, so that its default description (the
  // object's label) finds none and says "Type id".
  await forgetLabels(em, { type: userType, id: userId });
  const ref = { type: userType, id: userId, label: null };
  const forgotten = await forgetObject(em, settings, { ref, description: null, serialization: null, deleteActions: false });
  events.push(...forgotten.events);
  // Its change stream goes; its counter row stays, zeroed by forgetObject: the position never goes back, and one
  // RESET change follows the last one, so an open subscription of the user (or one resuming from a cursor it
  // had) is told to refetch (an empty feed) instead of missing what changed. Before, the row went with the
  // stream: positions restarted at 1 and a subscriber holding a later cursor silently skipped the new changes.
  await em.execute(`delete from activity_feed_change where user_id = ?`, [userId]);
  const [stream] = await em.execute<Row[]>(`select 1 from activity_unread_counter where user_id = ?`, [userId]);
  const ownEvents: PendingFeedEvent[] = stream
    ? [[userId, { kind: 'RESET', action: null, unread: null, unseen: null, trackerIds: [], unreadCount: 0, unseenCount: 0 }]]
    : [];
  await em.execute(`delete from activity_action_key where scope = ?`, [callerScope({ kind: 'user', id: userId })]);
  return {
    erasure: {
      user: userId,
      actionsDeleted,
      trackersDeleted: Number(before?.['trackers'] ?? 0),
      feedEntriesDeleted: Number(before?.['entries'] ?? 0),
    },
    events: [...events.filter(([user]) => user !== userId), ...ownEvents],
    erasedUser: ref,
  };
}
