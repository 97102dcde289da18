import type { Em } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { findForgotten } from '../objects/tombstones.ts';
import { badInput, notFound } from '../server/errors.ts';
import { toDate, type Row } from './action-store.ts';
import { describeObjects, logAction } from './actions.ts';
import type { PendingFeedEvent } from './feed-events.ts';
import {
  STARTED_TRACKING,
  STOPPED_TRACKING,
  normaliseVerbs,
  pgTextArray,
  type ActivitySettings,
  type TrackerRecord,
} from './model.ts';

/**
 * Trackers (actrack's `Tracker`, `track`, `untrack`): a user follows an object, or every object of a type
 * (`object_id = ''`), for some verbs or all, as actor only or in any role. Fan-out (fan-out.ts) matches
 * actions against them.
 */

export interface TrackParams {
  owner: string;
  object?: ObjectRefValue | null | undefined;
  objectType?: string | null | undefined;
  verbs?: readonly string[] | null | undefined;
  actorOnly?: boolean | null | undefined;
  log?: boolean | null | undefined;
}

export interface UntrackParams {
  owner: string;
  object?: ObjectRefValue | null | undefined;
  objectType?: string | null | undefined;
  verbs?: readonly string[] | null | undefined;
  log?: boolean | null | undefined;
}

export interface TrackerChange<T> {
  tracker: T;
  events: PendingFeedEvent[];
}

export function trackerFromRow(row: Row): TrackerRecord {
  const objectId = String(row['object_id']);
  return {
    id: Number(row['id']),
    ownerId: String(row['owner_id']),
    objectType: String(row['object_type']),
    objectId: objectId === '' ? null : objectId,
    objectLabel: (row['object_label'] as string | null) ?? null,
    verbs: (row['verbs'] as string[] | null) ?? null,
    actorOnly: Boolean(row['actor_only']),
    createdAt: toDate(row['created_at']),
  };
}

/** The tracked object of a track/untrack call: `object`, or `objectType` (stored with object id ''). */
function trackedObject(params: { object?: ObjectRefValue | null | undefined; objectType?: string | null | undefined }): {
  type: string;
  id: string;
  label: string | null;
} {
  const hasObject = params.object !== null && params.object !== undefined;
  const hasType = params.objectType !== null && params.objectType !== undefined;
  if (hasObject === hasType) throw badInput('Give exactly one of object or objectType');
  if (hasObject) return { type: params.object!.type, id: params.object!.id, label: params.object!.label ?? null };
  const type = params.objectType!;
  if (!/^[A-Za-z_][A-Za-z0-9_.:-]*$/.test(type) || type.length > 128) {
    throw badInput('objectType: must start with a letter or _ and contain only letters, digits, _ . : - (at most 128)');
  }
  return { type, id: '', label: null };
}

/** Creates a tracker, or merges the verbs into the existing one. Run inside a transaction. */
export async function track(em: Em, settings: ActivitySettings, params: TrackParams): Promise<TrackerChange<TrackerRecord>> {
  const { type, id, label } = trackedObject(params);
  if (id !== '') {
    const forgotten = await findForgotten(em, [{ type, id }]);
    if (forgotten.length > 0) throw badInput(`Cannot track a forgotten object: ${describeObjects(forgotten)}`);
  }
  const verbs = normaliseVerbs(params.verbs);
  const rows = await em.execute<Row[]>(
    `insert into activity_tracker (owner_id, object_type, object_id, object_label, verbs, actor_only)
     values (?, ?, ?, ?, ?::text[], ?)
     on conflict (owner_id, object_type, object_id) do update set
       verbs = case when activity_tracker.verbs is null or excluded.verbs is null then null
                    else array(select distinct v from unnest(activity_tracker.verbs || excluded.verbs) as v order by v) end,
       actor_only = excluded.actor_only,
       object_label = coalesce(excluded.object_label, activity_tracker.object_label)
     returning *`,
    [params.owner, type, id, label, verbs === null ? null : pgTextArray(verbs), params.actorOnly ?? true],
  );
  const tracker = trackerFromRow(rows[0]!);
  const events = params.log ? await logTrackingAction(em, settings, STARTED_TRACKING, params.owner, type, id, label) : [];
  return { tracker, events };
}

/**
 * Removes verbs from a tracker (all when none given); the tracker is null when it was deleted. Run inside a
 * transaction.
 */
export async function untrack(em: Em, settings: ActivitySettings, params: UntrackParams): Promise<TrackerChange<TrackerRecord | null>> {
  const { type, id, label } = trackedObject(params);
  const verbs = normaliseVerbs(params.verbs);
  const existing = await em.execute<Row[]>(`select * from activity_tracker where owner_id = ? and object_type = ? and object_id = ? for update`, [
    params.owner,
    type,
    id,
  ]);
  if (!existing[0]) throw notFound('No such tracker');
  const current = trackerFromRow(existing[0]);
  let tracker: TrackerRecord | null;
  const remaining = verbs === null ? [] : current.verbs?.filter((v) => !verbs.includes(v));
  if (remaining === undefined) {
    throw badInput('verbs: this tracker follows every verb; untrack without verbs to remove it, or track again with a verb list');
  }
  if (remaining.length === 0) {
    await em.execute(`delete from activity_tracker where id = ?`, [current.id]);
    tracker = null;
  } else {
    const rows = await em.execute<Row[]>(`update activity_tracker set verbs = ?::text[] where id = ? returning *`, [
      pgTextArray(remaining),
      current.id,
    ]);
    tracker = trackerFromRow(rows[0]!);
  }
  const events = params.log
    ? await logTrackingAction(em, settings, STOPPED_TRACKING, params.owner, type, id, label ?? current.objectLabel)
    : [];
  return { tracker, events };
}

/** actrack's "started tracking" / "stopped tracking" actions, logged by the user on the object (or type). */
async function logTrackingAction(
  em: Em,
  settings: ActivitySettings,
  verb: string,
  owner: string,
  type: string,
  id: string,
  label: string | null,
): Promise<PendingFeedEvent[]> {
  const logged = await logAction(em, settings, {
    actor: { type: settings.config.userType, id: owner },
    verb,
    targets: id === '' ? [] : [{ type, id, label }],
    data: id === '' ? { objectType: type } : null,
    groupingDelay: -1,
  });
  return logged.events;
}

export async function trackersOfOwner(em: Em, owner: string): Promise<TrackerRecord[]> {
  const rows = await em.execute<Row[]>(`select * from activity_tracker where owner_id = ? order by id`, [owner]);
  return rows.map(trackerFromRow);
}

/** Trackers on the object itself or on its whole type; `owner` restricts to one user's. */
export async function trackersOfObject(em: Em, object: ObjectRefValue, owner: string | null): Promise<TrackerRecord[]> {
  const rows = await em.execute<Row[]>(
    `select * from activity_tracker where object_type = ? and object_id in (?, '') ${owner === null ? '' : 'and owner_id = ?'} order by id`,
    owner === null ? [object.type, object.id] : [object.type, object.id, owner],
  );
  return rows.map(trackerFromRow);
}

export async function trackersByIds(em: Em, ids: readonly number[]): Promise<Array<TrackerRecord | null>> {
  const valid = ids.filter((id) => Number.isSafeInteger(id) && id > 0 && id < 2 ** 31);
  if (valid.length === 0) return ids.map(() => null);
  const rows = await em.execute<Row[]>(`select * from activity_tracker where id = any(?::int[])`, [`{${valid.join(',')}}`]);
  const byId = new Map(rows.map((r) => [Number(r['id']), trackerFromRow(r)]));
  return ids.map((id) => byId.get(id) ?? null);
}
