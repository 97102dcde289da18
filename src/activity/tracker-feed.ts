import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import type { PendingFeedEvent } from './feed-events.ts';
import { removedEvents, removeFeedEntries } from './feed-removal.ts';
import { pgBigintArray, pgTextArray, type TrackerRecord } from './model.ts';

/**
 * Feeds follow trackers (actrack computes `feed()` from the current trackers): when a tracker is created or
 * widened, the matching past actions enter the feed as read (backfill, bounded by ACTIVITY_TRACK_BACKFILL);
 * when it is deleted or narrowed, the entries that no remaining tracker of the user matches leave the feed.
 */

/** SQL predicate: tracker `t` matches action `a` (the fan-out's rules, fan-out.ts, for one pair). */
export const TRACKER_MATCHES_ACTION = `(t.verbs is null or a.verb = any(t.verbs)) and (
    (t.object_type = a.actor_type and (t.object_id = '' or t.object_id = a.actor_id))
    or (not t.actor_only and exists (
      select 1 from activity_action_object o
       where o.action_id = a.id and o.object_type = t.object_type and (t.object_id = '' or o.object_id = t.object_id))))`;

/** Does the new definition match something the old one did not (verbs added, actorOnly turned off)? */
export function widens(before: TrackerRecord, after: TrackerRecord): boolean {
  const verbsAdded = before.verbs !== null && (after.verbs === null || after.verbs.some((v) => !before.verbs!.includes(v)));
  return verbsAdded || (before.actorOnly && !after.actorOnly);
}

/** Does the old definition match something the new one does not (verbs removed, actorOnly turned on)? */
export function narrows(before: TrackerRecord, after: TrackerRecord): boolean {
  return widens(after, before);
}

/**
 * Brings the `limit` most recently logged actions that `tracker` matches into its owner's feed, as read, in
 * one INSERT…SELECT from the action log (entries already there only gain the tracker's id); actions one of
 * the owner's mutes matches (below `unmutableLevel`) stay out (mutes.ts). Returns how many rows were written.
 */
export async function backfillTracker(em: Em, tracker: TrackerRecord, limit: number, unmutableLevel: number): Promise<number> {
  if (limit <= 0) return 0;
  const whole = tracker.objectId === null;
  const key: unknown[] = whole ? [tracker.objectType] : [tracker.objectType, tracker.objectId];
  const verbSql = tracker.verbs === null ? '' : 'and a.verb = any(?::text[])';
  const verbParams: unknown[] = tracker.verbs === null ? [] : [pgTextArray(tracker.verbs)];
  // Each source is an index range read backwards from the newest action, cut at `limit`.
  const sources = [
    `(select a.id from activity_action a
       where a.actor_type = ? ${whole ? '' : 'and a.actor_id = ?'} ${verbSql}
       order by a.id desc limit ?)`,
  ];
  const params: unknown[] = [...key, ...verbParams, limit];
  if (!tracker.actorOnly) {
    sources.push(`(select o.action_id from activity_action_object o join activity_action a on a.id = o.action_id
       where o.object_type = ? ${whole ? '' : 'and o.object_id = ?'} ${verbSql}
       order by o.action_id desc limit ?)`);
    params.push(...key, ...verbParams, limit);
  }
  const rows = await em.execute<Row[]>(
    `with candidates as (${sources.join(' union ')}),
     picked as (select c.id from candidates c order by c.id desc limit ?),
     written as (
       insert into activity_feed_entry (user_id, action_id, unread, tracker_ids, action_timestamp)
       select ?, a.id, false, array[?::int], a."timestamp" from picked p join activity_action a on a.id = p.id
        where not exists (
          select 1 from activity_tracker t where t.owner_id = ? and t.mute and a.level < ? and ${TRACKER_MATCHES_ACTION})
        order by a.id
       on conflict (user_id, action_id) do update
         set tracker_ids = array(select distinct x from unnest(activity_feed_entry.tracker_ids || excluded.tracker_ids) as x order by x)
       returning 1
     )
     select count(*)::int as n from written`,
    [...params, limit, tracker.ownerId, tracker.id, tracker.ownerId, unmutableLevel],
  );
  return Number(rows[0]?.['n'] ?? 0);
}

/**
 * After `trackerId` of `ownerId` was deleted or narrowed: every entry that listed it gets its matching
 * trackers recomputed from the user's current trackers; entries that none matches leave the feed (counter
 * exact, one REMOVED event).
 */
export async function dropUnmatchedEntries(em: Em, ownerId: string, trackerId: number): Promise<PendingFeedEvent[]> {
  const rows = await em.execute<Row[]>(
    `with recomputed as (
       select f.action_id,
              array(select t.id from activity_tracker t
                     where t.owner_id = f.user_id and not t.mute and ${TRACKER_MATCHES_ACTION} order by t.id) as ids
         from activity_feed_entry f join activity_action a on a.id = f.action_id
        where f.user_id = ? and ?::int = any(f.tracker_ids)
     )
     update activity_feed_entry f set tracker_ids = r.ids
       from recomputed r
      where f.user_id = ? and f.action_id = r.action_id
     returning f.action_id, cardinality(r.ids) = 0 as orphan`,
    [ownerId, trackerId, ownerId],
  );
  const orphans = rows.filter((r) => r['orphan'] === true).map((r) => String(r['action_id']));
  if (orphans.length === 0) return [];
  const removed = await removeFeedEntries(em, `f.user_id = ? and f.action_id = any(?::bigint[])`, [ownerId, pgBigintArray(orphans)]);
  return removedEvents(removed);
}
