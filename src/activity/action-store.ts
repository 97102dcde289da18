import type { Em } from '../db/orm.ts';
import { readUnseenSql } from './seen-watermark.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { pgBigintArray, type ActionRecord } from './model.ts';

/**
 * Reading actions back from the log: `activity_action` rows plus their objects (`activity_action_object`),
 * hydrated into ActionRecords. Every concept that returns actions (feeds, accessors, marks, grouping) reads
 * them through here.
 */

export type Row = Record<string, unknown>;

/** The action columns every action query selects (alias `a`). */
export const ACTION_COLUMNS = `a.id, a.actor_type, a.actor_id, a.actor_label, a.verb, a.data, a.level, a."timestamp", a.grouped_count`;

export function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
}

/** The action's objects in every role: actor, targets, related. */
export function objectsOf(action: ActionRecord): ObjectRefValue[] {
  return [action.actor, ...action.targets, ...action.related];
}

/** Actions by database id, in the given order, with the read state of `forUser` (when given). */
export async function loadActions(em: Em, ids: string[], forUser: string | null): Promise<ActionRecord[]> {
  if (ids.length === 0) return [];
  const rows = await em.execute<Row[]>(
    forUser === null
      ? `select ${ACTION_COLUMNS}, false as unread, false as unseen, '{}'::int[] as tracker_ids from activity_action a where a.id = any(?::bigint[])`
      : `select ${ACTION_COLUMNS}, coalesce(f.unread, false) as unread, coalesce(${readUnseenSql('f')}, false) as unseen, coalesce(f.tracker_ids, '{}'::int[]) as tracker_ids
           from activity_action a left join activity_feed_entry f on f.action_id = a.id and f.user_id = ?
          where a.id = any(?::bigint[])`,
    forUser === null ? [pgBigintArray(ids)] : [forUser, pgBigintArray(ids)],
  );
  const hydrated = await hydrateActions(em, rows);
  const byId = new Map(hydrated.map((a) => [a.id, a]));
  return ids.map((id) => byId.get(id)).filter((a): a is ActionRecord => a !== undefined);
}

/** Builds ActionRecords from action rows (one more query for their objects). */
export async function hydrateActions(em: Em, rows: Row[]): Promise<ActionRecord[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => String(r['id']));
  const objectRows = await em.execute<Row[]>(
    `select action_id, role, object_type, object_id, label from activity_action_object
      where action_id = any(?::bigint[]) order by action_id, role, position`,
    [pgBigintArray(ids)],
  );
  const objects = new Map<string, { targets: ObjectRefValue[]; related: ObjectRefValue[] }>();
  for (const id of ids) objects.set(id, { targets: [], related: [] });
  for (const o of objectRows) {
    const entry = objects.get(String(o['action_id']));
    if (!entry) continue;
    const ref = { type: String(o['object_type']), id: String(o['object_id']), label: (o['label'] as string | null) ?? null };
    (o['role'] === 'target' ? entry.targets : entry.related).push(ref);
  }
  return rows.map((r) => {
    const id = String(r['id']);
    const entry = objects.get(id)!;
    return {
      id,
      actor: { type: String(r['actor_type']), id: String(r['actor_id']), label: (r['actor_label'] as string | null) ?? null },
      verb: String(r['verb']),
      targets: entry.targets,
      related: entry.related,
      data: r['data'] ?? null,
      level: Number(r['level']),
      timestamp: toDate(r['timestamp']),
      groupedCount: Number(r['grouped_count']),
      unread: Boolean(r['unread']),
      unseen: Boolean(r['unseen']),
      trackerIds: ((r['tracker_ids'] as number[] | null) ?? []).map(Number),
    };
  });
}
