import type { Em } from '../db/orm.ts';
import type { Row } from './action-store.ts';
import { RECORD_CHANGES_FROM } from './change-stream.ts';
import type { ActionRecord } from './model.ts';
import { actionShapeSql, leaveCellsSql, shapeKeySql, shapeSql, unseenAfter, upsertCellsSql } from './feed-cells.ts';
import { readUnseenSql } from './seen-watermark.ts';

/** The seen epoch of the user of source row `s`, read from its counter row (`USER_COUNTER`), 0 without one. */
const USER_EPOCH = 'coalesce(w.seen_epoch, 0)';
const USER_COUNTER = 'left join activity_unread_counter w on w.user_id = s.user_id';

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
 * For a new action, the receiving users' counter rows come first (`counted`): one upsert in user order, the row
 * lock every writer of a feed takes first (seen-watermark.ts `lockUserState`; taking the cells first deadlocked
 * against markAllRead & co, commit 42cca3d). The deltas of a new entry are known before it is written (+1 unread
 * and unseen when unread), so the upsert applies them at once and returns the counts after, the next change-stream
 * position and the user's current seen epoch (read under the lock: a concurrent markAllSeen committed before, or
 * waits for this transaction), which the cell and the entry are stamped with. No separate locking pass.
 */
function newActionCountedParts(action: ActionRecord, unread: boolean): Part[] {
  return [
    {
      name: 'counted',
      sql: `insert into activity_unread_counter as k (user_id, count, unseen, position, seen_epoch)
       select user_id, ?::int, ?::int, 1, 0 from matched order by user_id
       on conflict (user_id) do update
         set count = k.count + excluded.count, unseen = k.unseen + excluded.unseen, position = k.position + excluded.position
       returning k.user_id, k.count, k.unseen, k.position, k.seen_epoch`,
      params: [unread ? 1 : 0, unread ? 1 : 0],
    },
    {
      name: 'changes',
      sql: `select k.user_id, k.position, 'ADDED' as kind, ?::bigint as action_id from counted k`,
      params: [action.id],
    },
    { name: 'recorded', sql: RECORD_CHANGES_FROM('changes'), params: [] },
  ];
}

/**
 * `cells` for a new action (feed-cells.ts): each receiving user's one counter cell for the action's shape (the
 * action part computed once), +1 entry (+1 unread and unseen when unread), at the user's seen epoch read under
 * the counter-row lock (`counted`), stamped on the entry too. Cells that exist are updated (`cells_updated`: one
 * heap update each, no separate row-lock record: the user's counter row, taken first, already serialises every
 * writer of the user's cells, so their order does not matter); the shapes new to a user are inserted
 * (`cells_inserted`, on conflict: one committed after this statement's snapshot).
 */
function newActionCellParts(action: ActionRecord, unread: boolean): Part[] {
  return [
    {
      name: 'action_shape',
      sql: `select ?::text as verb, ?::int as level, ?::text as actor_type, array(select distinct o.type from objs o order by 1) as object_types`,
      params: [action.verb, action.level, action.actor.type],
    },
    {
      name: 'cell_src',
      sql: `select m.user_id, m.tracker_ids, n.verb, n.level, n.actor_type, n.object_types,
              ${shapeKeySql('n.key', 'm.tracker_ids')} as shape,
              1 as total, ?::int as unread, ?::int as unseen, c.seen_epoch as epoch
         from matched m
         join counted c on c.user_id = m.user_id
         cross join (select a.*, ${actionShapeSql('a.verb', 'a.level', 'a.actor_type', 'a.object_types')} as key from action_shape a) n`,
      params: [unread ? 1 : 0, unread ? 1 : 0],
    },
    {
      name: 'cells_updated',
      sql: `update activity_feed_cell c
          set total = c.total + s.total, unread = c.unread + s.unread,
              unseen = ${unseenAfter('c', 's.unseen', 's.epoch')}, seen_epoch = greatest(c.seen_epoch, s.epoch)
         from cell_src s
        where c.user_id = s.user_id and c.shape = s.shape
       returning c.id, c.user_id`,
      params: [],
    },
    {
      name: 'cells_inserted',
      sql: upsertCellsSql('(select * from cell_src s where s.user_id not in (select user_id from cells_updated))', true),
      params: [],
    },
    {
      name: 'cells',
      sql: `select id, user_id from cells_updated union all select id, user_id from cells_inserted`,
      params: [],
    },
  ];
}

/** The `cells` part: `upsertCells` (feed-cells.ts) over `source`. */
function upsertCellsPart(source: string, onePerCell = false): Part {
  return { name: 'cells', sql: upsertCellsSql(source, onePerCell), params: [] };
}

/**
 * A new action: `counted` (the counter rows, first), `cells`, then `written`: plain inserts (no previous
 * entries), each in its cell, at the epoch read under the counter-row lock.
 */
function insertedParts(action: ActionRecord, unread: boolean): Part[] {
  return [
    ...newActionCountedParts(action, unread),
    ...newActionCellParts(action, unread),
    {
      name: 'written',
      sql: `insert into activity_feed_entry (user_id, action_id, unread, unseen, tracker_ids, action_timestamp, cell_id, seen_epoch)
       select m.user_id, ?, ?, ?, m.tracker_ids, ?::timestamptz, k.id, m.epoch from cell_src m join cells k on k.user_id = m.user_id
        order by m.user_id
       returning user_id`,
      params: [action.id, unread, unread, action.timestamp],
    },
  ];
}

/**
 * `written` for a grouped action: the matching users' entries are inserted or made unread and unseen again (and
 * leave the archive); users who already had the action and whom it does not reach keep it as it is (a muted
 * user's existing entry, from before the mute or because grouping added a muted object; an entry forgetObject
 * kept with no tracker: see `muted_entries`). The deltas come from the previous flags.
 * Columns of `written`: user_id, unread, tracker_ids, existed, du and ds (the exact changes of the user's unread and
 * unseen counts) and seen_epoch (the epoch they were judged at), which `counted` applies.
 */
function upsertedParts(action: ActionRecord, unread: boolean): Part[] {
  return [
    // The counter rows of every user the statement writes for (the matched users, and those who have the action:
    // muted ones whose entry moves, ones no tracker matches any more), locked in user order before any cell or
    // entry of theirs: every writer of a user's feed takes that row first (seen-watermark.ts lockUserState);
    // taking the cells first deadlocked against markAllRead & co. The epoch read here is the current one (a lock
    // waits for a concurrent markAllSeen): each entry and cell is judged at it (a muted user's moved entry was
    // judged at epoch 0, and its new cell lost the unseen entry).
    {
      name: 'locked',
      sql: `select c.user_id, c.seen_epoch from activity_unread_counter c
        where c.user_id in (select user_id from matched union select user_id from activity_feed_entry where action_id = ?)
        order by c.user_id for update`,
      params: [action.id],
    },
    {
      name: 'prev',
      sql: `select f.user_id, f.unread, ${readUnseenSql('f')} as unseen, f.archived, f.tracker_ids, f.cell_id
         from activity_feed_entry f where f.action_id = ?`,
      params: [action.id],
    },
    {
      name: 'candidates',
      sql: `select coalesce(m.user_id, p.user_id) as user_id,
              case when p.user_id is null then m.tracker_ids
                   else array(select distinct x from unnest(p.tracker_ids || coalesce(m.tracker_ids, '{}'::int[])) as x order by x) end as tracker_ids,
              coalesce(p.unread and not p.archived, false) as was_unread,
              coalesce(p.unseen and not p.archived, false) as was_unseen,
              (p.user_id is not null) as existed,
              p.archived as was_archived, p.cell_id as old_cell
         from matched m left join prev p on p.user_id = m.user_id`,
      params: [],
    },
    ...groupedCellParts(action, unread),
    {
      name: 'upserted',
      sql: `insert into activity_feed_entry (user_id, action_id, unread, unseen, tracker_ids, action_timestamp, cell_id, seen_epoch)
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
       returning user_id, unread, unseen, tracker_ids, seen_epoch`,
      params: [action.id, unread, unread, action.timestamp],
    },
    {
      name: 'written',
      sql: `select u.user_id, u.unread, u.tracker_ids, c.existed,
              u.unread::int - c.was_unread::int as du, u.unseen::int - c.was_unseen::int as ds, u.seen_epoch
         from upserted u join candidates c on c.user_id = u.user_id`,
      params: [],
    },
  ];
}

/**
 * `cells` for a grouped action (feed-cells.ts): each candidate's entry leaves its old cell (its counted flags) and
 * enters the cell of the action's new shape (new level and objects, merged trackers) unread and unseen, summed per
 * cell in one upsert. A muted user's existing entry keeps its flags but follows the action's new shape, its new
 * timestamp and the trackers that now match it (`muted_moves`).
 */
function groupedCellParts(action: ActionRecord, unread: boolean): Part[] {
  return [
    {
      name: 'new_shape',
      sql: `select ?::text as verb, ?::int as level, ?::text as actor_type, array(select distinct o.type from objs o order by 1) as object_types`,
      params: [action.verb, action.level, action.actor.type],
    },
    {
      // The entries of users the amended action does not reach: a mute matches it, or no tracker of theirs does
      // (an entry forgetObject kept after removing its tracker). They stay as they are, read or not: only the
      // users whose trackers match now get it unread again. Such an entry lists every tracker of the user that
      // matches the amended action (grouping adds objects, so the ones listed still match): the mute keeps the
      // entry from coming back unread, not from being counted.
      name: 'muted_entries',
      sql: `select p.user_id, p.cell_id, (not p.archived)::int as total, (p.unread and not p.archived)::int as unread,
              array(select distinct x from unnest(p.tracker_ids || array(select h.id from hits h where h.owner_id = p.user_id and not h.mute)) as x
                     order by x) as tracker_ids,
              (p.unseen and not p.archived)::int as unseen
         from prev p where p.user_id not in (select user_id from matched)`,
      params: [],
    },
    {
      name: 'cell_src',
      sql: `select s.user_id, ${shapeSql('s.verb', 's.level', 's.actor_type', 's.object_types', 's.tracker_ids')} as shape,
              s.verb, s.level, s.actor_type, s.object_types, s.tracker_ids, s.total, s.unread, s.unseen, s.epoch
         from (select c.user_id, c.tracker_ids, n.verb, n.level, n.actor_type, n.object_types,
                      1 as total, ?::int as unread, ?::int as unseen, coalesce(w.seen_epoch, 0) as epoch
                 from candidates c cross join new_shape n left join locked w on w.user_id = c.user_id
               union all
               select m.user_id, m.tracker_ids, n.verb, n.level, n.actor_type, n.object_types, m.total, m.unread, m.unseen, coalesce(w.seen_epoch, 0)
                 from muted_entries m cross join new_shape n left join locked w on w.user_id = m.user_id) s
       union all
       ${leaveCellsSql('candidates', 'old_cell', { total: 'not s.was_archived', unread: 's.was_unread', unseen: 's.was_unseen' }, USER_EPOCH, USER_COUNTER)}
       union all
       ${leaveCellsSql('muted_entries', 'cell_id', { total: 's.total', unread: 's.unread', unseen: 's.unseen' }, USER_EPOCH, USER_COUNTER)}`,
      params: [unread ? 1 : 0, unread ? 1 : 0],
    },
    upsertCellsPart('cell_src'),
    {
      // The entry also takes the action's new timestamp: it is the feed's order and what `before`/`since` filter on.
      name: 'muted_moves',
      sql: `update activity_feed_entry f set cell_id = k.id, action_timestamp = ?::timestamptz, tracker_ids = m.tracker_ids
         from muted_entries m cross join new_shape n join cells k on k.user_id = m.user_id
          and k.shape = ${shapeSql('n.verb', 'n.level', 'n.actor_type', 'n.object_types', 'm.tracker_ids')}
        where f.action_id = ? and f.user_id = m.user_id
       returning 1`,
      params: [action.timestamp, action.id],
    },
  ];
}

/**
 * `counted`: each receiving user's row of activity_unread_counter, in user order (every writer locks these rows
 * in user order), gets the exact count deltas (the unseen one only while the epoch the entries were judged at is
 * still the user's: seen-watermark.ts) and the next change-stream position: one row and one row lock
 * per user for both (the lock orders the positions of concurrent writes, so they commit in order).
 * `recorded`: that change in the user's change stream (ADDED, or UPDATED for an entry the user already had).
 */
function countedParts(action: ActionRecord): Part[] {
  return [
    {
      name: 'counted',
      sql: `insert into activity_unread_counter as k (user_id, count, unseen, position, seen_epoch)
       select user_id, du, ds, 1, seen_epoch from written order by user_id
       on conflict (user_id) do update
         set count = k.count + excluded.count, unseen = ${unseenAfter('k', 'excluded.unseen', 'excluded.seen_epoch')},
             position = k.position + excluded.position
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

/**
 * The CTEs that find who would receive the action (`objs`, `hits`, `muted`, `matched`: the trackers that match it,
 * minus muted users), without locking or writing anything, as SQL to put after `with`, with their parameters.
 * fan-out-queue.ts counts `matched` to send large audiences to the queued fan-out.
 */
export function audienceCtes(action: ActionRecord, levels: { unmutable: number }): { sql: string; params: unknown[] } {
  const parts = matchedParts(action, action.level < levels.unmutable);
  return { sql: parts.map((p) => `${p.name} as (\n${p.sql}\n)`).join(',\n'), params: parts.flatMap((p) => p.params) };
}

/** `with` over the parts, then `select`: one statement, parameters in placeholder order. */
function statement(parts: readonly Part[], select: string, selectParams: readonly unknown[] = []): { sql: string; params: unknown[] } {
  return {
    sql: `with ${parts.map((p) => `${p.name} as (\n${p.sql}\n)`).join(',\n')}\n${select}`,
    params: [...parts.flatMap((p) => p.params), ...selectParams],
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
    // Lock the counter rows of the users who have the action, then its feed entries (in user order, like every
    // other writer: counter row first). The statement below then starts with a snapshot taken after any
    // concurrent markRead/markUnread of this action committed, so `was_unread` is current and the counter
    // deltas stay exact.
    // The receivers' rows too (the audience as the statement below will find it), in the same statement: the
    // counter rows of both sets locked in one user order, never one set after the other.
    const audience = audienceCtes(action, { unmutable: levels.unmutable });
    await em.execute(
      `with ${audience.sql}
       select 1 from activity_unread_counter
        where user_id in (select user_id from activity_feed_entry where action_id = ? union select user_id from matched)
        order by user_id for update`,
      [...audience.params, action.id],
    );
    await em.execute(`select 1 from activity_feed_entry where action_id = ? order by user_id for update`, [action.id]);
  }
  const { sql, params } = grouped
    ? statement(
        [...matchedParts(action, mutesApply), ...upsertedParts(action, unread), ...countedParts(action)],
        `select w.user_id, w.unread, w.tracker_ids, w.existed, k.count as unread_count, k.unseen as unseen_count, k.position::text as position
           from written w join counted k on k.user_id = w.user_id`,
      )
    : statement(
        [...matchedParts(action, mutesApply), ...insertedParts(action, unread)],
        `select k.user_id, ?::boolean as unread, m.tracker_ids, false as existed, k.count as unread_count, k.unseen as unseen_count,
                k.position::text as position
           from counted k join matched m on m.user_id = k.user_id`,
        [unread],
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
