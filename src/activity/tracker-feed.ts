import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import type { PendingFeedEvent } from './feed-events.ts';
import { removedEvents, removeFeedEntries } from './feed-removal.ts';
import { pgBigintArray, pgTextArray, type TrackerRecord } from './model.ts';
import { actionObjectTypesSql, leaveCellsSql, shapeSql, upsertCells } from './feed-cells.ts';
import { lockUserState, unseenSql } from './seen-watermark.ts';

/** What an entry `s` counts in its cell: total unless archived; unread and unseen unless archived. */
const COUNTED_FLAGS = { total: 'not s.archived', unread: 's.unread and not s.archived', unseen: 's.unseen and not s.archived' };

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
 * one INSERT…SELECT from the action log (entries already there only gain the tracker's id; new ones list every
 * tracker of the owner that matches them); actions one of the owner's mutes matches (below `unmutableLevel`) stay
 * out (mutes.ts), though an entry already in the feed still gains the tracker. Returns how many rows were written.
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
  const { epoch } = await lockUserState(em, tracker.ownerId);
  const e = String(epoch);
  const rows = await em.execute<Row[]>(
    `with candidates as (${sources.join(' union ')}),
     picked as (select c.id from candidates c order by c.id desc limit ?),
     -- The picked actions locked against deletion (deleteActionsWhere: forgetObject with deleteActions, erasure lock them
     -- FOR UPDATE, then delete their entries): one deleted meanwhile is skipped, one about to be deleted waits for
     -- this statement's entries and takes them too (an entry of a deleted action stayed, counted and unseen).
     live as (select a.* from activity_action a where a.id in (select id from picked) for key share),
     src as (
       select a.id, a."timestamp", a.verb, a.level, a.actor_type, f.user_id is not null as existed, f.cell_id as old_cell,
              coalesce(f.unread, false) as unread, coalesce(${unseenSql(e)}, false) as unseen, coalesce(f.archived, false) as archived,
              -- A new entry lists every tracker of the owner that matches it (this one, and any other that did not
              -- bring it in, e.g. while a mute kept it out), as a fan-out would.
              -- Index probes of the owner's trackers on the action's actor and on each of its objects (exact or whole type).
              case when f.user_id is null
                   then array(select distinct m.id from (
                          select t.id, t.verbs, true as on_actor, t.actor_only from activity_tracker t
                           where t.owner_id = ? and t.object_type = a.actor_type and t.object_id in ('', a.actor_id) and not t.mute
                          union all
                          select t.id, t.verbs, false, t.actor_only from activity_action_object o
                            join activity_tracker t on t.owner_id = ? and t.object_type = o.object_type and t.object_id in ('', o.object_id) and not t.mute
                           where o.action_id = a.id) m
                         where (m.verbs is null or a.verb = any(m.verbs)) and (m.on_actor or not m.actor_only) order by 1)
                   else array(select distinct x from unnest(f.tracker_ids || ?::int) as x order by x) end as tracker_ids
         from live a
         left join activity_feed_entry f on f.user_id = ? and f.action_id = a.id
        -- A mute keeps an action out of the feed, not an entry already there from listing the tracker.
        where (f.user_id is not null or not exists (
          select 1 from activity_tracker t where t.owner_id = ? and t.mute and a.level < ? and ${TRACKER_MATCHES_ACTION}))
          and (f.user_id is null or not ?::int = any(f.tracker_ids))
     ),
     shaped as (
       select s.*, ${shapeSql('s.verb', 's.level', 's.actor_type', 's.object_types', 's.tracker_ids')} as shape
         from (select src.*, ${actionObjectTypesSql('src')} as object_types from src) s
     ),
     cell_src as (
       select ?::text as user_id, shape, verb, level, actor_type, object_types, tracker_ids,
              (not archived)::int as total, (unread and not archived)::int as unread, (unseen and not archived)::int as unseen, ${e} as epoch
         from shaped
       union all
       ${leaveCellsSql('shaped', 'old_cell', COUNTED_FLAGS, e)}
     ),
     ${upsertCells('cells', 'cell_src')},
     written as (
       insert into activity_feed_entry (user_id, action_id, unread, tracker_ids, action_timestamp, cell_id, seen_epoch)
       select ?, s.id, false, s.tracker_ids, s."timestamp", k.id, ${e} from shaped s join cells k on k.shape = s.shape
        order by s.id
       on conflict (user_id, action_id) do update set tracker_ids = excluded.tracker_ids, cell_id = excluded.cell_id
       returning 1
     )
     select count(*)::int as n from written`,
    [...params, limit, tracker.ownerId, tracker.ownerId, tracker.id, tracker.ownerId, tracker.ownerId, unmutableLevel, tracker.id, tracker.ownerId, tracker.ownerId],
  );
  return Number(rows[0]?.['n'] ?? 0);
}

/**
 * After `trackerId` of `ownerId` was deleted or narrowed: every entry that listed it gets its matching
 * trackers recomputed from the user's current trackers; entries that none matches leave the feed (counter
 * exact, one REMOVED event), or, with `keepOrphans` (forgetObject: the history stays readable), stay with no
 * tracker listed.
 */
export async function dropUnmatchedEntries(em: Em, ownerId: string, trackerId: number, options: { keepOrphans?: boolean } = {}): Promise<PendingFeedEvent[]> {
  const { epoch } = await lockUserState(em, ownerId);
  const e = String(epoch);
  // Entries still matched move to the cell of their new tracker set (the action part of the shape is the old
  // cell's); orphans keep theirs until removeFeedEntries takes them out of it.
  const rows = await em.execute<Row[]>(
    `with recomputed as (
       select f.action_id, f.cell_id, f.unread, ${unseenSql(e)} as unseen, f.archived,
              array(select t.id from activity_tracker t
                     where t.owner_id = f.user_id and not t.mute and ${TRACKER_MATCHES_ACTION} order by t.id) as ids
         from activity_feed_entry f join activity_action a on a.id = f.action_id
        where f.user_id = ? and ?::int = any(f.tracker_ids)
     ),
     moving as (
       select r.*, k.verb, k.level, k.actor_type, k.object_types, k.shape as old_shape,
              ${shapeSql('k.verb', 'k.level', 'k.actor_type', 'k.object_types', 'r.ids')} as shape
         from recomputed r join activity_feed_cell k on k.id = r.cell_id
        where cardinality(r.ids) > 0 or ?::boolean
     ),
     cell_src as (
       select ?::text as user_id, shape, verb, level, actor_type, object_types, ids as tracker_ids,
              (not archived)::int as total, (unread and not archived)::int as unread, (unseen and not archived)::int as unseen, ${e} as epoch
         from moving
       union all
       ${leaveCellsSql('moving', 'cell_id', COUNTED_FLAGS, e)}
     ),
     ${upsertCells('cells', 'cell_src')},
     moved as (
       update activity_feed_entry f set tracker_ids = m.ids, cell_id = k.id
         from moving m join cells k on k.shape = m.shape
        where f.user_id = ? and f.action_id = m.action_id
       returning 1
     )
     select r.action_id, cardinality(r.ids) = 0 as orphan from recomputed r`,
    [ownerId, trackerId, options.keepOrphans ?? false, ownerId, ownerId],
  );
  const orphans = rows.filter((r) => r['orphan'] === true).map((r) => String(r['action_id']));
  if (orphans.length === 0 || options.keepOrphans) return [];
  const removed = await removeFeedEntries(em, `f.user_id = ? and f.action_id = any(?::bigint[])`, [ownerId, pgBigintArray(orphans)]);
  return removedEvents(removed);
}
