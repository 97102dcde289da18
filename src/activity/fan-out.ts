import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import type { ActionRecord } from './model.ts';
import { actionShapeSql, shapeKeySql, shapeSql, unseenAfter, upsertCells } from './feed-cells.ts';
import { readUnseenSql } from './seen-watermark.ts';

/**
 * Fan-out on write (see README.md in this folder): when an action is logged or amended by grouping, the
 * feeds of every user whose trackers match it get an entry, in the logging transaction.
 */

/** What the fan-out did for one receiving user. */
export interface FanOutRow {
  userId: string;
  /** The entry's read flag after the fan-out. */
  unread: boolean;
  /** The user's trackers that matched the action. */
  trackerIds: number[];
  /** The user already had the action in the feed (a grouped action): an UPDATED event, not ADDED. */
  existed: boolean;
  /** The user's unread count after the fan-out. */
  unreadCount: number;
  /** The user's unseen count after the fan-out. */
  unseenCount: number;
}

/**
 * Fan-out on write, one statement: every tracker matching the action (object trackers on the actor, or on
 * targets/related objects when not actor-only; type trackers; verb filter) gives its owner a feed entry;
 * existing entries (a grouped action) become unread and unseen again and leave the archive; unread and unseen
 * counters move by the exact delta.
 * Returns, per user, the new read flag, the matched trackers and the new unread count.
 */
export async function fanOut(
  em: Em,
  action: ActionRecord,
  grouped: boolean,
  levels: { readable: number; unmutable: number },
): Promise<FanOutRow[]> {
  const objs = [
    { type: action.actor.type, id: action.actor.id, is_actor: true },
    ...action.targets.map((r) => ({ type: r.type, id: r.id, is_actor: false })),
    ...action.related.map((r) => ({ type: r.type, id: r.id, is_actor: false })),
  ];
  const unread = action.level >= levels.readable;
  // Mutes (mutes.ts) are trackers too: found by the same probes; a user with a matching mute receives nothing,
  // whatever else matches, unless the action's level is at or above the unmutable level.
  const mutesApply = action.level < levels.unmutable;
  // Each object probes the tracker index twice (exact object, whole type): the planner cannot misjudge
  // a lateral index lookup, whereas a join against the JSON set could fall back to a scan of all trackers.
  const matched = `objs as (
       select * from jsonb_to_recordset(?::jsonb) as o(type text, id text, is_actor boolean)
     ),
     hits as (
       select t.owner_id, t.id, t.mute
         from objs o
         cross join lateral (
           select t1.owner_id, t1.id, t1.actor_only, t1.verbs, t1.mute from activity_tracker t1
            where t1.object_type = o.type and t1.object_id = o.id
           union all
           select t2.owner_id, t2.id, t2.actor_only, t2.verbs, t2.mute from activity_tracker t2
            where t2.object_type = o.type and t2.object_id = ''
         ) t
        where (o.is_actor or not t.actor_only)
          and (t.verbs is null or ? = any(t.verbs))
     ),
     muted as (
       select distinct owner_id from hits where mute and ?::boolean
     ),
     matched as (
       select owner_id as user_id, array_agg(distinct id) as tracker_ids from hits
        where not mute and owner_id not in (select owner_id from muted)
        group by owner_id
     )`;
  // The counter cells (feed-cells.ts): each receiving user's one cell for the action's shape, +1 entry (+1 unread
  // and unseen when unread), at the epoch of the user's seen watermark as this statement sees it.
  const newActionCells = `action_shape as (
       select ?::text as verb, ?::int as level, ?::text as actor_type, array(select distinct o.type from objs o order by 1) as object_types
     ),
     cell_src as (
       select m.user_id, m.tracker_ids, n.verb, n.level, n.actor_type, n.object_types,
              ${shapeKeySql('n.key', 'm.tracker_ids')} as shape,
              1 as total, ?::int as unread, ?::int as unseen, coalesce(c.seen_epoch, 0) as epoch
         from matched m
         cross join (select a.*, ${actionShapeSql('a.verb', 'a.level', 'a.actor_type', 'a.object_types')} as key from action_shape a) n
         left join activity_unread_counter c on c.user_id = m.user_id
     ),
     ${upsertCells('cells', 'cell_src', true)}`;
  const newActionCellParams = [action.verb, action.level, action.actor.type, unread ? 1 : 0, unread ? 1 : 0];
  // A grouped action: each candidate's entry leaves its old cell (its counted flags) and enters the cell of the
  // action's new shape (new level and objects, merged trackers) unread and unseen; summed per cell in one upsert.
  // A muted user's existing entry keeps its flags and trackers but follows the action's new shape (`muted_moves`).
  const groupedCells = `new_shape as (
       select ?::text as verb, ?::int as level, ?::text as actor_type, array(select distinct o.type from objs o order by 1) as object_types
     ),
     muted_entries as (
       select p.user_id, p.tracker_ids, p.cell_id, (not p.archived)::int as total, (p.unread and not p.archived)::int as unread,
              (p.unseen and not p.archived)::int as unseen
         from prev p where p.user_id in (select owner_id from muted)
     ),
     cell_src as (
       select s.*, ${shapeSql('s.verb', 's.level', 's.actor_type', 's.object_types', 's.tracker_ids')} as shape
         from (select c.user_id, c.tracker_ids, n.verb, n.level, n.actor_type, n.object_types,
                      1 as total, ?::int as unread, ?::int as unseen, coalesce(w.seen_epoch, 0) as epoch
                 from candidates c cross join new_shape n left join activity_unread_counter w on w.user_id = c.user_id
               union all
               select m.user_id, m.tracker_ids, n.verb, n.level, n.actor_type, n.object_types, m.total, m.unread, m.unseen, coalesce(w.seen_epoch, 0)
                 from muted_entries m cross join new_shape n left join activity_unread_counter w on w.user_id = m.user_id) s
       union all
       select c.user_id, k.tracker_ids, k.verb, k.level, k.actor_type, k.object_types,
              -(not c.was_archived)::int, -c.was_unread::int, -c.was_unseen::int, coalesce(w.seen_epoch, 0), k.shape
         from candidates c join activity_feed_cell k on k.id = c.old_cell left join activity_unread_counter w on w.user_id = c.user_id
       union all
       select m.user_id, k.tracker_ids, k.verb, k.level, k.actor_type, k.object_types, -m.total, -m.unread, -m.unseen, coalesce(w.seen_epoch, 0), k.shape
         from muted_entries m join activity_feed_cell k on k.id = m.cell_id left join activity_unread_counter w on w.user_id = m.user_id
     ),
     ${upsertCells('cells', 'cell_src')},
     muted_moves as (
       update activity_feed_entry f set cell_id = k.id
         from muted_entries m cross join new_shape n join cells k on k.user_id = m.user_id
          and k.shape = ${shapeSql('n.verb', 'n.level', 'n.actor_type', 'n.object_types', 'm.tracker_ids')}
        where f.action_id = ? and f.user_id = m.user_id
       returning 1
     )`;
  const groupedCellParams = [...newActionCellParams, action.id];
  if (grouped) {
    // Lock the action's existing feed entries first (in user order, like every other writer). The
    // statement below then starts with a snapshot taken after any concurrent markRead/markUnread of
    // this action committed, so `was_unread` is current and the counter deltas stay exact.
    await em.execute(`select 1 from activity_feed_entry where action_id = ? order by user_id for update`, [action.id]);
  }
  const rows = grouped
    ? await em.execute<Row[]>(
        `with ${matched},
     prev as (
       select f.user_id, f.unread, ${readUnseenSql('f')} as unseen, f.archived, f.tracker_ids, f.cell_id
         from activity_feed_entry f where f.action_id = ?
     ),
     candidates as (
       select coalesce(m.user_id, p.user_id) as user_id,
              case when p.user_id is null then m.tracker_ids
                   else array(select distinct x from unnest(p.tracker_ids || coalesce(m.tracker_ids, '{}'::int[])) as x order by x) end as tracker_ids,
              coalesce(p.unread and not p.archived, false) as was_unread,
              coalesce(p.unseen and not p.archived, false) as was_unseen,
              (p.user_id is not null) as existed,
              p.archived as was_archived, p.cell_id as old_cell
         from matched m full join prev p on p.user_id = m.user_id
        -- a muted user's existing entry (from before the mute, or grouping added a muted object) stays as it is
        where coalesce(m.user_id, p.user_id) not in (select owner_id from muted)
     ),
     ${groupedCells},
     upserted as (
       insert into activity_feed_entry (user_id, action_id, unread, unseen, tracker_ids, action_timestamp, cell_id, seen_epoch)
       select c.user_id, ?, ?, ?, c.tracker_ids, ?::timestamptz, k.id, s.epoch
         from candidates c join cell_src s on s.user_id = c.user_id and s.total = 1 join cells k on k.user_id = s.user_id and k.shape = s.shape
        order by c.user_id
       on conflict (user_id, action_id) do update
         set unread = excluded.unread,
             unseen = excluded.unseen,
             archived = false,
             tracker_ids = excluded.tracker_ids,
             action_timestamp = excluded.action_timestamp,
             cell_id = excluded.cell_id,
             seen_epoch = excluded.seen_epoch
       returning user_id, unread, unseen, tracker_ids, seen_epoch
     ),
     deltas as (
       select u.user_id, u.unread::int - c.was_unread::int as delta, u.unseen::int - c.was_unseen::int as unseen_delta, u.seen_epoch
         from upserted u join candidates c on c.user_id = u.user_id
     ),
     counted as (
       insert into activity_unread_counter as k (user_id, count, unseen, seen_epoch)
       select user_id, delta, unseen_delta, seen_epoch from deltas where delta <> 0 or unseen_delta <> 0 order by user_id
       on conflict (user_id) do update
         set count = k.count + excluded.count, unseen = ${unseenAfter('k', 'excluded.unseen', 'excluded.seen_epoch')}
       returning user_id, count, unseen
     )
     select u.user_id, u.unread, u.tracker_ids, c.existed,
            coalesce(k.count, old.count, 0) as unread_count, coalesce(k.unseen, old.unseen, 0) as unseen_count
       from upserted u
       join candidates c on c.user_id = u.user_id
       left join counted k on k.user_id = u.user_id
       left join activity_unread_counter old on old.user_id = u.user_id`,
        [JSON.stringify(objs), action.verb, mutesApply, action.id, ...groupedCellParams, action.id, unread, unread, action.timestamp],
      )
    : await em.execute<Row[]>(
        // A new action: plain inserts (no previous entries), counters + 1 when unread.
        `with ${matched},
     ${newActionCells},
     inserted as (
       insert into activity_feed_entry (user_id, action_id, unread, unseen, tracker_ids, action_timestamp, cell_id, seen_epoch)
       select m.user_id, ?, ?, ?, m.tracker_ids, ?::timestamptz, k.id, m.epoch from cell_src m join cells k on k.user_id = m.user_id order by m.user_id
       returning user_id, unread, tracker_ids, seen_epoch
     ),
     counted as (
       insert into activity_unread_counter as c (user_id, count, unseen, seen_epoch)
       select user_id, 1, 1, seen_epoch from inserted where unread order by user_id
       on conflict (user_id) do update set count = c.count + 1, unseen = ${unseenAfter('c', '1', 'excluded.seen_epoch')}
       returning user_id, count, unseen
     )
     select i.user_id, i.unread, i.tracker_ids, false as existed,
            coalesce(k.count, (select c.count from activity_unread_counter c where c.user_id = i.user_id), 0) as unread_count,
            coalesce(k.unseen, (select c.unseen from activity_unread_counter c where c.user_id = i.user_id), 0) as unseen_count
       from inserted i left join counted k on k.user_id = i.user_id`,
        [JSON.stringify(objs), action.verb, mutesApply, ...newActionCellParams, action.id, unread, unread, action.timestamp],
      );
  return rows.map((r) => ({
    userId: String(r['user_id']),
    unread: Boolean(r['unread']),
    trackerIds: ((r['tracker_ids'] as number[] | null) ?? []).map(Number),
    existed: Boolean(r['existed']),
    unreadCount: Number(r['unread_count']),
    unseenCount: Number(r['unseen_count']),
  }));
}
