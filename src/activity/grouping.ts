import type { Em } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import type { Row } from './action-store.ts';
import { pgBigintArray } from './model.ts';

/**
 * Grouping (actrack's GROUPING_DELAY and its default `ActionHandler.group`): an action amends an earlier one
 * instead of being created when both have the same actor and verb, the earlier one's timestamp is at most `delay`
 * seconds before the new one's (never after it), and at least their targets or their related objects are the
 * same sets (so "A edited t1" then "A edited t2", neither with related objects, become "A edited t1 and t2"; an
 * amended action is compared with its merged objects). Delay 0 groups only actions of the same `logActions` call
 * ("grouping occurs only on unsaved actions"), whatever their timestamps.
 */

/** A target or related object of an action being logged, as the SQL statements read it (JSON records). */
export interface ActionObjectInput {
  role: 'target' | 'related';
  type: string;
  id: string;
  label: string | null;
  ord: number;
}

export interface GroupingCandidate {
  actor: ObjectRefValue;
  verb: string;
  timestamp: Date;
  delay: number;
  objects: readonly ActionObjectInput[];
  /**
   * With delay 0 (actrack: "grouping occurs only on unsaved actions"), the candidates are only the actions
   * logged earlier in the same call (`logActions`), whatever their timestamps.
   */
  sameCall?: readonly string[] | undefined;
}

/**
 * The grouping locks of (actor, verb) pairs (transaction advisory locks), in one statement in key order. logActions
 * takes all of its inputs' first, before any counter row: a transaction that held counter rows while waiting for a
 * grouping lock deadlocked with one holding that lock while waiting for the rows (grouping lock, then fan-out).
 */
export async function lockGrouping(em: Em, pairs: ReadonlyArray<{ actor: { type: string; id: string }; verb: string }>): Promise<Date | null> {
  if (pairs.length === 0) return null;
  // Returns the database's clock once the locks are held: the time of an action the server stamps (see logAction).
  const rows = await em.execute<Row[]>(
    `select count(pg_advisory_xact_lock(k)) as n, clock_timestamp() as now
       from (select distinct hashtextextended(t || chr(1) || i || chr(1) || v, 0) as k
               from jsonb_to_recordset(?::jsonb) as r(t text, i text, v text) order by 1) ordered`,
    [JSON.stringify(pairs.map((p) => ({ t: p.actor.type, i: p.actor.id, v: p.verb })))],
  );
  return new Date(rows[0]!['now'] as string | Date);
}

/** Whether `findGroupableAction` would look at all (delay 0 outside a logActions call, or before its first action: no). */
export function searchesForGroup(delay: number, sameCall: readonly string[] | undefined): boolean {
  return delay > 0 || (delay === 0 && (sameCall?.length ?? 0) > 0);
}

/**
 * The id of the similar action to amend, locked, or undefined. The caller holds the transaction advisory lock on
 * (actor, verb) (`lockGrouping`), which serialises grouping decisions: two concurrent similar actions cannot both
 * miss each other.
 */
export async function findGroupableAction(em: Em, candidate: GroupingCandidate): Promise<string | undefined> {
  const { actor, verb, timestamp, delay, objects } = candidate;
  if (!searchesForGroup(delay, candidate.sameCall)) return undefined;
  const sameCall = delay === 0 ? candidate.sameCall! : null;
  // Each role's objects as a sorted set of "type \x01 id", on both sides computed (and so sorted) by PostgreSQL.
  const roleSet = (role: 'target' | 'related', from: string) =>
    `array(select distinct x.object_type || chr(1) || x.object_id from ${from} and x.role = '${role}' order by 1)`;
  const existing = (role: 'target' | 'related') => roleSet(role, 'activity_action_object x where x.action_id = a.id');
  const logged = (role: 'target' | 'related') => roleSet(role, 'n x where true');
  const rows = await em.execute<Row[]>(
    `with n as (select n.role, n.type as object_type, n.id as object_id from jsonb_to_recordset(?::jsonb) as n(role text, type text, id text))
     select a.id from activity_action a
      where a.actor_type = ? and a.actor_id = ? and a.verb = ?
        and ${sameCall === null ? `a."timestamp" between ?::timestamptz - make_interval(secs => ?) and ?::timestamptz` : `a.id = any(?::bigint[])`}
        and (${existing('target')} = ${logged('target')} or ${existing('related')} = ${logged('related')})
      -- The newest similar action in the database (actrack reads them newest first); within a call, the first
      -- one the call created (actrack scans its request queue from the oldest).
      order by ${sameCall === null ? `a."timestamp" desc, a.id desc` : `array_position(?::bigint[], a.id)`}
      limit 1
      for update`,
    [
      JSON.stringify(objects),
      actor.type,
      actor.id,
      verb,
      ...(sameCall === null ? [timestamp, delay, timestamp] : [pgBigintArray(sameCall), pgBigintArray(sameCall)]),
    ],
  );
  return rows[0] ? String(rows[0]['id']) : undefined;
}

/**
 * The data of an amended action, as actrack's `ActionHandler._merge` combines an action's data with a similar
 * one's: keys the action's data lacks are added; a list gains the items it lacks; an object merges the same way;
 * any other value the action has is kept (merged "without overwriting"). Data that is not an object or a list on
 * both sides keeps the action's, unless it has none.
 */
export function mergeActionData(existing: unknown, added: unknown): unknown {
  if (existing === null || existing === undefined) return added ?? null;
  if (added === null || added === undefined) return existing;
  if (Array.isArray(existing) && Array.isArray(added)) {
    // Item by item against the list as it grows, equal as values (objects whatever their keys' order), as
    // Python's `it not in list` compares.
    const merged = [...existing];
    const seen = new Set(existing.map(canonicalJson));
    for (const item of added) {
      const key = canonicalJson(item);
      if (seen.has(key)) continue;
      seen.add(key);
      merged.push(item);
    }
    return merged;
  }
  if (isPlainObject(existing) && isPlainObject(added)) {
    // Own keys only, set as data properties: a key such as "__proto__" or "toString" is data like any other.
    const merged = new Map(Object.entries(existing));
    for (const [key, value] of Object.entries(added)) merged.set(key, Object.hasOwn(existing, key) ? mergeActionData(existing[key], value) : value);
    return Object.fromEntries(merged);
  }
  return existing;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON text of a value with every object's keys sorted: equal values, equal texts. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Amends a grouped action (locked by findGroupableAction): count + 1, timestamp = the newest, level = the highest,
 * data merged (mergeActionData), actor label refreshed when given. (Its new objects are merged by the caller's
 * object insert.) A group is full when its merged data would pass `dataMaxBytes` (ACTIVITY_DATA_MAX_BYTES, the
 * bound of one action's data): nothing is amended and false is returned, so that the caller logs a new action
 * (which later similar ones then group with); otherwise every amendment could grow one action's data without end.
 */
export async function amendGroupedAction(
  em: Em,
  actionId: string,
  amendment: { timestamp: Date; level: number; data: unknown; actorLabel: string | null },
  dataMaxBytes: number,
): Promise<boolean> {
  let merged: string | null = null;
  if (amendment.data !== null && amendment.data !== undefined) {
    const [row] = await em.execute<Row[]>(`select data from activity_action where id = ?`, [actionId]);
    merged = JSON.stringify(mergeActionData(row?.['data'] ?? null, amendment.data));
    if (Buffer.byteLength(merged, 'utf8') > dataMaxBytes) return false;
  }
  await em.execute(
    `update activity_action set grouped_count = grouped_count + 1,
            "timestamp" = greatest("timestamp", ?::timestamptz),
            level = greatest(level, ?),
            data = coalesce(?::jsonb, data),
            actor_label = coalesce(?, actor_label)
      where id = ?`,
    [amendment.timestamp, amendment.level, merged, amendment.actorLabel, actionId],
  );
  return true;
}
