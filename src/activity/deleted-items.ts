import type { Em } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { forgetLabel, labelOf } from '../objects/labels.ts';
import { upsertTombstone } from '../objects/tombstones.ts';
import type { Row } from './action-store.ts';
import type { PendingFeedEvent } from './feed-events.ts';
import { removedEvents, removeFeedEntries } from './feed-removal.ts';
import { pgBigintArray, type ActivitySettings } from './model.ts';
import { lockObject } from './object-locks.ts';
import { dropUnmatchedEntries } from './tracker-feed.ts';

/**
 * Deleted items (actrack's `DeletedItem`): an object deleted in the application becomes a tombstone (objects
 * module) so actions mentioning it stay readable, or (`deleteActions`) its actions are deleted outright
 * (actrack `use_del_items=False`; erasure requests). The trackers on it are removed; forgetting a user (of
 * USER_TYPE) also removes that user's trackers, feed and unread counter.
 */

export interface ForgetParams {
  ref: ObjectRefValue;
  /** Default: the object's label (given, or the latest one the log knows), else "Type id" (actrack: `str()`). */
  description: string | null;
  /** Default: `{"type": …, "pk": …}`. */
  serialization: unknown;
  /** Delete the actions involving the object instead of keeping them with a tombstone. */
  deleteActions: boolean;
}

export interface Forgotten {
  object: ObjectRefValue;
  events: PendingFeedEvent[];
}

/**
 * The object's label: the one kept for it (objects/labels.ts), else the latest the activity log knows (as actor,
 * target/related object, or tracked).
 */
async function knownLabel(em: Em, ref: ObjectRefValue): Promise<string | null> {
  const kept = await labelOf(em, ref);
  if (kept !== null) return kept;
  const rows = await em.execute<Row[]>(
    `select coalesce(
       (select actor_label from activity_action where actor_type = ? and actor_id = ? and actor_label is not null order by id desc limit 1),
       (select label from activity_action_object where object_type = ? and object_id = ? and label is not null order by action_id desc limit 1),
       (select object_label from activity_tracker where object_type = ? and object_id = ? and object_label is not null order by id desc limit 1)
     ) as label`,
    [ref.type, ref.id, ref.type, ref.id, ref.type, ref.id],
  );
  return (rows[0]?.['label'] as string | null | undefined) ?? null;
}

/** SQL selecting the ids of the actions involving (type, id) in any role; params: type, id, type, id. */
const INVOLVING_SQL = `select a.id from activity_action a where a.actor_type = ? and a.actor_id = ?
                       union select o.action_id from activity_action_object o where o.object_type = ? and o.object_id = ?`;

/**
 * Deletes the actions whose ids `selection` (SQL with `params`) selects, their objects and every feed entry of
 * them (counters exact, one REMOVED event per affected user). Returns the events and how many actions went.
 */
export async function deleteActionsWhere(
  em: Em,
  selection: string,
  params: readonly unknown[],
): Promise<{ deleted: number; events: PendingFeedEvent[] }> {
  // Lock the actions (grouping amends them under the same row lock), in id order, and keep their ids: the
  // objects go before the actions, after which `selection` might no longer find them.
  const locked = await em.execute<Row[]>(`select id from activity_action where id in (${selection}) order by id for update`, [...params]);
  if (locked.length === 0) return { deleted: 0, events: [] };
  const ids = pgBigintArray(locked.map((r) => String(r['id'])));
  const removed = await removeFeedEntries(em, `f.action_id = any(?::bigint[])`, [ids]);
  await em.execute(`delete from activity_action_object where action_id = any(?::bigint[])`, [ids]);
  await em.execute(`delete from activity_action where id = any(?::bigint[])`, [ids]);
  return { deleted: locked.length, events: removedEvents(removed) };
}

/**
 * A forgotten user's trackers, feed, counter cells and unread counts. The counter row stays, at zero: it also holds
 * the position of the user's change stream, which never goes back (eraseUser deletes the row with the stream), and
 * its seen epoch.
 */
async function forgetUserState(em: Em, userId: string): Promise<PendingFeedEvent[]> {
  await em.execute(`delete from activity_tracker where owner_id = ?`, [userId]);
  const removed = await removeFeedEntries(em, `f.user_id = ?`, [userId]);
  await em.execute(`delete from activity_feed_cell where user_id = ?`, [userId]);
  await em.execute(`update activity_unread_counter set count = 0, unseen = 0 where user_id = ? and (count <> 0 or unseen <> 0)`, [userId]);
  return removedEvents(removed);
}

/**
 * Every label kept for the object goes: the one the objects module keeps (metrics results), and the ones the
 * activity log holds (as actor, target or related object, tracked object). Its actions show it with no label.
 */
export async function forgetLabels(em: Em, ref: ObjectRefValue): Promise<void> {
  await forgetLabel(em, ref);
  await em.execute(`update activity_action set actor_label = null where actor_type = ? and actor_id = ? and actor_label is not null`, [
    ref.type,
    ref.id,
  ]);
  await em.execute(`update activity_action_object set label = null where object_type = ? and object_id = ? and label is not null`, [
    ref.type,
    ref.id,
  ]);
  await em.execute(`update activity_tracker set object_label = null where object_type = ? and object_id = ? and object_label is not null`, [
    ref.type,
    ref.id,
  ]);
}

/** Forgets an object (see above). Run inside a transaction, serialised with `track` on the same object. */
export async function forgetObject(em: Em, settings: ActivitySettings, params: ForgetParams): Promise<Forgotten> {
  const { ref } = params;
  await lockObject(em, ref.type, ref.id);
  const label = ref.label ?? (await knownLabel(em, ref));
  const description = params.description ?? label ?? `${ref.type} ${ref.id}`;
  const serialization = params.serialization ?? { type: ref.type, pk: ref.id };
  // Forgotten means its label goes everywhere it was kept: the tombstone keeps only the description and the
  // serialization (actrack's DeletedItem), and the actions that name it show it with no label from now on
  // (the rendered text uses the description).
  await upsertTombstone(em, { type: ref.type, id: ref.id, label: null }, description, serialization);
  await forgetLabels(em, ref);
  // Its trackers go; the entries they matched stay (the history, with the tombstone) but no longer count for them
  // (matchedTrackers, unreadCount(tracker:), feedCounts by TRACKER), one owner at a time in user order.
  const removedTrackers = await em.execute<Row[]>(
    `delete from activity_tracker where object_type = ? and object_id = ? returning id, owner_id, mute`,
    [ref.type, ref.id],
  );
  const owned = removedTrackers
    .filter((r) => !r['mute'])
    .map((r) => ({ id: Number(r['id']), owner: String(r['owner_id']) }))
    .sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.id - b.id));
  for (const tracker of owned) await dropUnmatchedEntries(em, tracker.owner, tracker.id, { keepOrphans: true });
  const events: PendingFeedEvent[] = [];
  if (params.deleteActions) events.push(...(await deleteActionsWhere(em, INVOLVING_SQL, [ref.type, ref.id, ref.type, ref.id])).events);
  if (ref.type === settings.config.userType) events.push(...(await forgetUserState(em, ref.id)));
  return { object: { type: ref.type, id: ref.id, label: null }, events };
}
