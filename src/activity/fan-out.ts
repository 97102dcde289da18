import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import type { ActionRecord } from './model.ts';

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
       select user_id, unread, unseen, archived from activity_feed_entry where action_id = ?
     ),
     candidates as (
       select coalesce(m.user_id, p.user_id) as user_id,
              coalesce(m.tracker_ids, '{}'::int[]) as tracker_ids,
              coalesce(p.unread and not p.archived, false) as was_unread,
              coalesce(p.unseen and not p.archived, false) as was_unseen,
              (p.user_id is not null) as existed
         from matched m full join prev p on p.user_id = m.user_id
        -- a muted user's existing entry (from before the mute, or grouping added a muted object) stays as it is
        where coalesce(m.user_id, p.user_id) not in (select owner_id from muted)
     ),
     upserted as (
       insert into activity_feed_entry (user_id, action_id, unread, unseen, tracker_ids, action_timestamp)
       select user_id, ?, ?, ?, tracker_ids, ?::timestamptz from candidates order by user_id
       on conflict (user_id, action_id) do update
         set unread = excluded.unread,
             unseen = excluded.unseen,
             archived = false,
             tracker_ids = array(select distinct x from unnest(activity_feed_entry.tracker_ids || excluded.tracker_ids) as x order by x),
             action_timestamp = excluded.action_timestamp
       returning user_id, unread, unseen, tracker_ids
     ),
     deltas as (
       select u.user_id, u.unread::int - c.was_unread::int as delta, u.unseen::int - c.was_unseen::int as unseen_delta
         from upserted u join candidates c on c.user_id = u.user_id
     ),
     counted as (
       insert into activity_unread_counter (user_id, count, unseen)
       select user_id, delta, unseen_delta from deltas where delta <> 0 or unseen_delta <> 0 order by user_id
       on conflict (user_id) do update
         set count = activity_unread_counter.count + excluded.count, unseen = activity_unread_counter.unseen + excluded.unseen
       returning user_id, count, unseen
     )
     select u.user_id, u.unread, u.tracker_ids, c.existed,
            coalesce(k.count, old.count, 0) as unread_count, coalesce(k.unseen, old.unseen, 0) as unseen_count
       from upserted u
       join candidates c on c.user_id = u.user_id
       left join counted k on k.user_id = u.user_id
       left join activity_unread_counter old on old.user_id = u.user_id`,
        [JSON.stringify(objs), action.verb, mutesApply, action.id, action.id, unread, unread, action.timestamp],
      )
    : await em.execute<Row[]>(
        // A new action: plain inserts (no previous entries), counters + 1 when unread.
        `with ${matched},
     inserted as (
       insert into activity_feed_entry (user_id, action_id, unread, unseen, tracker_ids, action_timestamp)
       select user_id, ?, ?, ?, tracker_ids, ?::timestamptz from matched order by user_id
       returning user_id, unread, tracker_ids
     ),
     counted as (
       insert into activity_unread_counter (user_id, count, unseen)
       select user_id, 1, 1 from inserted where unread order by user_id
       on conflict (user_id) do update set count = activity_unread_counter.count + 1, unseen = activity_unread_counter.unseen + 1
       returning user_id, count, unseen
     )
     select i.user_id, i.unread, i.tracker_ids, false as existed,
            coalesce(k.count, (select c.count from activity_unread_counter c where c.user_id = i.user_id), 0) as unread_count,
            coalesce(k.unseen, (select c.unseen from activity_unread_counter c where c.user_id = i.user_id), 0) as unseen_count
       from inserted i left join counted k on k.user_id = i.user_id`,
        [JSON.stringify(objs), action.verb, mutesApply, action.id, unread, unread, action.timestamp],
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
