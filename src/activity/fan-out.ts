import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import { RECORD_CHANGES_FROM } from './change-stream.ts';
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
  /** The position of this change in the user's change stream (change-stream.ts), recorded by the fan-out. */
  position: string;
}

/** A named part of the fan-out statement (one CTE) with the parameters of its `?` placeholders, in order. */
interface Part {
  name: string;
  sql: string;
  params: unknown[];
}

/**
 * `matched`: per receiving user, the trackers that match the action (object trackers on the actor, or on
 * targets/related objects when not actor-only; type trackers; verb filter), users with a matching mute left out
 * (below the unmutable level). `muted`: those users. `objs` and `hits` are its inputs.
 *
 * Each object probes the tracker index twice (exact object, whole type): the planner cannot misjudge a lateral
 * index lookup, whereas a join against the JSON set could fall back to a scan of all trackers. Mutes (mutes.ts)
 * are trackers too, found by the same probes.
 */
function matchedParts(action: ActionRecord, mutesApply: boolean): Part[] {
  const objs = [
    { type: action.actor.type, id: action.actor.id, is_actor: true },
    ...action.targets.map((r) => ({ type: r.type, id: r.id, is_actor: false })),
    ...action.related.map((r) => ({ type: r.type, id: r.id, is_actor: false })),
  ];
  return [
    { name: 'objs', sql: `select * from jsonb_to_recordset(?::jsonb) as o(type text, id text, is_actor boolean)`, params: [JSON.stringify(objs)] },
    {
      name: 'hits',
      sql: `select t.owner_id, t.id, t.mute
         from objs o
         cross join lateral (
           select t1.owner_id, t1.id, t1.actor_only, t1.verbs, t1.mute from activity_tracker t1
            where t1.object_type = o.type and t1.object_id = o.id
           union all
           select t2.owner_id, t2.id, t2.actor_only, t2.verbs, t2.mute from activity_tracker t2
            where t2.object_type = o.type and t2.object_id = ''
         ) t
        where (o.is_actor or not t.actor_only)
          and (t.verbs is null or ? = any(t.verbs))`,
      params: [action.verb],
    },
    { name: 'muted', sql: `select distinct owner_id from hits where mute and ?::boolean`, params: [mutesApply] },
    {
      name: 'matched',
      sql: `select owner_id as user_id, array_agg(distinct id) as tracker_ids from hits
        where not mute and owner_id not in (select owner_id from muted)
        group by owner_id`,
      params: [],
    },
  ];
}

/**
 * `written` for a new action: plain inserts (no previous entries). Columns of `written`, in both cases: user_id,
 * unread, tracker_ids, existed, du and ds (the exact changes of the user's unread and unseen counts).
 */
function insertedParts(action: ActionRecord, unread: boolean): Part[] {
  return [
    {
      name: 'written',
      sql: `insert into activity_feed_entry (user_id, action_id, unread, unseen, tracker_ids, action_timestamp)
       select user_id, ?, ?, ?, tracker_ids, ?::timestamptz from matched order by user_id
       returning user_id, unread, tracker_ids, false as existed, unread::int as du, unseen::int as ds`,
      params: [action.id, unread, unread, action.timestamp],
    },
  ];
}

/**
 * `written` for a grouped action: the matching users' entries are inserted or made unread and unseen again (and
 * leave the archive); users who already had the action keep it (a muted user's existing entry, from before the
 * mute or because grouping added a muted object, stays as it is). The deltas come from the previous flags.
 */
function upsertedParts(action: ActionRecord, unread: boolean): Part[] {
  return [
    { name: 'prev', sql: `select user_id, unread, unseen, archived from activity_feed_entry where action_id = ?`, params: [action.id] },
    {
      name: 'candidates',
      sql: `select coalesce(m.user_id, p.user_id) as user_id,
              coalesce(m.tracker_ids, '{}'::int[]) as tracker_ids,
              coalesce(p.unread and not p.archived, false) as was_unread,
              coalesce(p.unseen and not p.archived, false) as was_unseen,
              (p.user_id is not null) as existed
         from matched m full join prev p on p.user_id = m.user_id
        where coalesce(m.user_id, p.user_id) not in (select owner_id from muted)`,
      params: [],
    },
    {
      name: 'upserted',
      sql: `insert into activity_feed_entry (user_id, action_id, unread, unseen, tracker_ids, action_timestamp)
       select user_id, ?, ?, ?, tracker_ids, ?::timestamptz from candidates order by user_id
       on conflict (user_id, action_id) do update
         set unread = excluded.unread,
             unseen = excluded.unseen,
             archived = false,
             tracker_ids = array(select distinct x from unnest(activity_feed_entry.tracker_ids || excluded.tracker_ids) as x order by x),
             action_timestamp = excluded.action_timestamp
       returning user_id, unread, unseen, tracker_ids`,
      params: [action.id, unread, unread, action.timestamp],
    },
    {
      name: 'written',
      sql: `select u.user_id, u.unread, u.tracker_ids, c.existed,
              u.unread::int - c.was_unread::int as du, u.unseen::int - c.was_unseen::int as ds
         from upserted u join candidates c on c.user_id = u.user_id`,
      params: [],
    },
  ];
}

/**
 * `counted`: each receiving user's row of activity_unread_counter, in user order (every writer locks these rows
 * in user order), gets the exact count deltas and the next change-stream position: one row and one row lock
 * per user for both (the lock orders the positions of concurrent writes, so they commit in order).
 * `recorded`: that change in the user's change stream (ADDED, or UPDATED for an entry the user already had).
 */
function countedParts(action: ActionRecord): Part[] {
  return [
    {
      name: 'counted',
      sql: `insert into activity_unread_counter as k (user_id, count, unseen, position)
       select user_id, du, ds, 1 from written order by user_id
       on conflict (user_id) do update
         set count = k.count + excluded.count, unseen = k.unseen + excluded.unseen, position = k.position + excluded.position
       returning k.user_id, k.count, k.unseen, k.position`,
      params: [],
    },
    {
      name: 'changes',
      sql: `select k.user_id, k.position, case when w.existed then 'UPDATED' else 'ADDED' end as kind, ?::bigint as action_id
         from counted k join written w on w.user_id = k.user_id`,
      params: [action.id],
    },
    { name: 'recorded', sql: RECORD_CHANGES_FROM('changes'), params: [] },
  ];
}

/** `with` over the parts, then `select`: one statement, parameters in placeholder order. */
function statement(parts: readonly Part[], select: string): { sql: string; params: unknown[] } {
  return {
    sql: `with ${parts.map((p) => `${p.name} as (\n${p.sql}\n)`).join(',\n')}\n${select}`,
    params: parts.flatMap((p) => p.params),
  };
}

/**
 * Fan-out on write, one statement of named parts: `matched` (the trackers that match the action, minus muted
 * users), `written` (the feed entries: inserted for a new action; inserted or made unread, unseen and not
 * archived again for a grouped one), `counted` (unread and unseen counters by the exact delta, and the next
 * change-stream position, in one counter row per user), `recorded` (the change rows). Returns, per user, the
 * new read flag, the matched trackers, the counts after and the change's position.
 */
export async function fanOut(
  em: Em,
  action: ActionRecord,
  grouped: boolean,
  levels: { readable: number; unmutable: number },
): Promise<FanOutRow[]> {
  const unread = action.level >= levels.readable;
  // A user with a matching mute receives nothing, whatever else matches, unless the action's level is at or
  // above the unmutable level.
  const mutesApply = action.level < levels.unmutable;
  if (grouped) {
    // Lock the action's existing feed entries first (in user order, like every other writer). The
    // statement below then starts with a snapshot taken after any concurrent markRead/markUnread of
    // this action committed, so `was_unread` is current and the counter deltas stay exact.
    await em.execute(`select 1 from activity_feed_entry where action_id = ? order by user_id for update`, [action.id]);
  }
  const parts = [
    ...matchedParts(action, mutesApply),
    ...(grouped ? upsertedParts(action, unread) : insertedParts(action, unread)),
    ...countedParts(action),
  ];
  const { sql, params } = statement(
    parts,
    `select w.user_id, w.unread, w.tracker_ids, w.existed, k.count as unread_count, k.unseen as unseen_count, k.position::text as position
       from written w join counted k on k.user_id = w.user_id`,
  );
  const rows = await em.execute<Row[]>(sql, params);
  return rows.map((r) => ({
    userId: String(r['user_id']),
    unread: Boolean(r['unread']),
    trackerIds: ((r['tracker_ids'] as number[] | null) ?? []).map(Number),
    existed: Boolean(r['existed']),
    unreadCount: Number(r['unread_count']),
    unseenCount: Number(r['unseen_count']),
    position: String(r['position']),
  }));
}
