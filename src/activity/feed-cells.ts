/**
 * Maintained counters per tab (issue 13): `activity_feed_cell` holds, per user and entry *shape*, how many of
 * the user's entries of that shape are in the feed (`total`: not archived), unread and unseen (not archived).
 * The shape is everything `feedCounts` groups by and `unreadCount`/`unseenCount` filter on: the action's verb,
 * level, actor type and object types (actor, targets, related; sorted, distinct), and the entry's matching
 * trackers (`tracker_ids`, sorted). `shape` is the SHA-256 of the action part as JSON followed by the tracker
 * array's text (unambiguous: the JSON is self-delimiting; collision-free in practice; a fixed-size key however many
 * trackers or types a shape lists). The fan-out computes the action part once per statement.
 *
 * Every entry points at its cell (`activity_feed_entry.cell_id`). Every statement that adds, removes or changes
 * entries moves the cells by exact deltas in the same statement:
 * - flags only (read, unread, seen, archive; entry-state.ts) and removals (feed-removal.ts): the deltas summed
 *   per `cell_id`, applied to those rows (`applyCellDeltas`);
 * - a new or changed shape (fan-out of a new action, a grouped action whose level, objects or trackers changed,
 *   tracker backfill and untrack recomputing `tracker_ids`): the old cell gets the negative contribution and the
 *   new shape the positive one, summed per (user, shape) in ONE upsert (`upsertCells`), so a cell is written at
 *   most once per statement whatever moves through it; the fan-out writes one cell row per receiving user.
 *
 * `unseen` of a cell counts under the user's seen watermark (seen-watermark.ts): it is the cell's number only when
 * `seen_epoch` equals the user's epoch, else 0 (a `markAllSeen` bumped the epoch after the cell last changed).
 * Writers apply an unseen delta judged at epoch `e` with `unseenAfter`: same epoch, add; the cell is at a newer
 * epoch, the delta concerns entries the watermark already covers, keep; the cell is older, its unseen entries
 * are all covered, start from the delta.
 *
 * Cells are never deleted while the user exists (archived entries still point at a cell whose `total` is 0);
 * their number is the number of distinct shapes of the user's feed, so feedCounts reads a few rows.
 */

/** The action part of a shape (verb, level, actor type, object types) as JSON text: computed once per action. */
export function actionShapeSql(verb: string, level: string, actorType: string, objectTypes: string): string {
  return `json_build_array(${verb}::text, ${level}::int, ${actorType}::text, ${objectTypes}::text[])::text`;
}

/** The SQL of a shape's key from the action part (`actionShapeSql`) and the entry's trackers. */
export function shapeKeySql(actionShape: string, trackerIds: string): string {
  return `encode(sha256(convert_to(${actionShape} || ${trackerIds}::int[]::text, 'UTF8')), 'hex')`;
}

/** The SQL of a shape's key from its column expressions. */
export function shapeSql(verb: string, level: string, actorType: string, objectTypes: string, trackerIds: string): string {
  return shapeKeySql(actionShapeSql(verb, level, actorType, objectTypes), trackerIds);
}

/** The sorted, distinct object types (actor, targets, related) of action alias `a`. */
export function actionObjectTypesSql(a = 'a'): string {
  return `array(select ${a}.actor_type::text union select o.object_type from activity_action_object o where o.action_id = ${a}.id order by 1)`;
}

/** The new unseen of cell (or counter) alias `c` after adding delta `d` judged at epoch `e` (see above). */
export function unseenAfter(c: string, d: string, e: string): string {
  return `case when ${c}.seen_epoch = ${e} then ${c}.unseen + ${d} when ${c}.seen_epoch > ${e} then ${c}.unseen else ${d} end`;
}

/** Columns a source of cell contributions provides to `upsertCells`. */
export const CELL_SOURCE_COLUMNS = 'user_id, shape, verb, level, actor_type, object_types, tracker_ids, total, unread, unseen, epoch';

/**
 * Rows of a cell source (CELL_SOURCE_COLUMNS) taking entries out of the cells they are counted in: for each row of
 * `source` (alias `s`), whose cell id is the column `cellId`, minus its counted flags (`counted`: SQL over `s`, 0/1
 * integers or booleans), judged at `epoch` (SQL; `join` may add the relation it reads, e.g. the user's counter).
 */
export function leaveCellsSql(
  source: string,
  cellId: string,
  counted: { total: string; unread: string; unseen: string },
  epoch: string,
  join = '',
): string {
  return `select k.user_id, k.shape, k.verb, k.level, k.actor_type, k.object_types, k.tracker_ids,
              -(${counted.total})::int, -(${counted.unread})::int, -(${counted.unseen})::int, ${epoch}
         from ${source} s join activity_feed_cell k on k.id = s.${cellId} ${join}`;
}

/**
 * A CTE `name` applying the contributions of `source` (a relation with CELL_SOURCE_COLUMNS, several rows per cell
 * allowed, negative for entries leaving a shape) to the cells, summed per (user, shape), in user order; returns
 * `id, user_id, shape` of every cell written. `onePerCell`: the source has one row per (user, shape) already.
 */
export function upsertCells(name: string, source: string, onePerCell = false): string {
  return `${name} as (${upsertCellsSql(source, onePerCell)})`;
}

/** The statement of `upsertCells` (for the fan-out's named parts). */
export function upsertCellsSql(source: string, onePerCell = false): string {
  // A source with one row per (user, shape) (the fan-out of a new action) skips the aggregate.
  const select = onePerCell
    ? `select s.user_id, s.shape, s.verb, s.level, s.actor_type, s.object_types, s.tracker_ids, s.total, s.unread, s.unseen, s.epoch
         from ${source} s order by s.user_id`
    : `select s.user_id, s.shape, min(s.verb), min(s.level), min(s.actor_type), min(s.object_types), min(s.tracker_ids),
              sum(s.total)::int, sum(s.unread)::int, sum(s.unseen)::int, max(s.epoch)
         from ${source} s
        group by s.user_id, s.shape
        order by s.user_id, s.shape`;
  return `
       insert into activity_feed_cell as c (user_id, shape, verb, level, actor_type, object_types, tracker_ids, total, unread, unseen, seen_epoch)
       ${select}
       on conflict (user_id, shape) do update
         set total = c.total + excluded.total, unread = c.unread + excluded.unread,
             unseen = ${unseenAfter('c', 'excluded.unseen', 'excluded.seen_epoch')},
             seen_epoch = greatest(c.seen_epoch, excluded.seen_epoch)
       returning c.id, c.user_id, c.shape
     `;
}

/**
 * A CTE `name` applying per-cell deltas of `source` (a relation with `cell_id, total, unread, unseen` summed per
 * cell, judged at epoch `epoch`: SQL over `source`'s columns or a literal) to cells whose shape does not change.
 */
export function applyCellDeltas(name: string, source: string, epoch: string): string {
  return `${name} as (
       update activity_feed_cell c
          set total = c.total + s.total, unread = c.unread + s.unread,
              unseen = ${unseenAfter('c', 's.unseen', epoch)}, seen_epoch = greatest(c.seen_epoch, ${epoch})
         from ${source} s
        where c.id = s.cell_id and (s.total <> 0 or s.unread <> 0 or s.unseen <> 0)
       returning c.id
     )`;
}

/**
 * Rebuilds every cell from the entries (the migration, the benchmark's data set): the shapes grouped from the
 * entries and their actions, then each entry pointed at its cell. Unseen entries count at epoch 0 (what the
 * migration and the data set write).
 */
export const REBUILD_CELLS_SQL = [
  `delete from activity_feed_cell`,
  `create temporary table activity_cell_shape on commit drop as
     select a.id as action_id, a.verb, a.level, a.actor_type, ${actionObjectTypesSql()} as object_types
       from activity_action a where exists (select 1 from activity_feed_entry f where f.action_id = a.id)`,
  `insert into activity_feed_cell (user_id, shape, verb, level, actor_type, object_types, tracker_ids, total, unread, unseen, seen_epoch)
   select f.user_id, ${shapeSql('s.verb', 's.level', 's.actor_type', 's.object_types', 'f.tracker_ids')}, s.verb, s.level, s.actor_type, s.object_types, f.tracker_ids,
          (count(*) filter (where not f.archived))::int, (count(*) filter (where f.unread and not f.archived))::int,
          (count(*) filter (where f.unseen and not f.archived))::int, 0
     from activity_feed_entry f join activity_cell_shape s on s.action_id = f.action_id
    group by f.user_id, s.verb, s.level, s.actor_type, s.object_types, f.tracker_ids`,
  `update activity_feed_entry f set cell_id = c.id, seen_epoch = 0
     from activity_cell_shape s, activity_feed_cell c
    where s.action_id = f.action_id and c.user_id = f.user_id
      and c.shape = ${shapeSql('s.verb', 's.level', 's.actor_type', 's.object_types', 'f.tracker_ids')}`,
  `update activity_unread_counter set seen_epoch = 0`,
];
