import type { Em } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { findForgotten } from '../objects/tombstones.ts';
import { badInput } from '../server/errors.ts';
import { toDate, type Row } from './action-store.ts';
import { describeObjects, logAction, type LoggedAction } from './actions.ts';
import { recordFeedChanges } from './change-stream.ts';
import type { PendingFeedEvent } from './feed-events.ts';
import { lockObject } from './object-locks.ts';
import { removeMutedEntries } from './mutes.ts';
import { lockUserState } from './seen-watermark.ts';
import { backfillTracker, dropUnmatchedEntries, narrows, widens } from './tracker-feed.ts';
import {
  STARTED_TRACKING,
  STOPPED_TRACKING,
  normaliseVerbs,
  pgTextArray,
  type ActionRecord,
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
  /** A mute (mutes.ts): the actions it matches never enter the owner's feed. */
  mute?: boolean | null | undefined;
  log?: boolean | null | undefined;
  /**
   * Called inside the transaction just before a "started tracking" action is logged (only when the tracker is
   * created and `log` is set): the rate limit of logged actions. Throwing rolls the whole change back.
   */
  chargeLoggedAction?: (() => Promise<unknown>) | undefined;
}

export interface UntrackParams {
  owner: string;
  object?: ObjectRefValue | null | undefined;
  objectType?: string | null | undefined;
  verbs?: readonly string[] | null | undefined;
  /** Remove (verbs from) the owner's mute on the object instead of its tracker. */
  mute?: boolean | null | undefined;
  /** With `mute`: bring back what the owner's trackers match and no remaining mute does (their backfill, as read). */
  restore?: boolean | null | undefined;
  log?: boolean | null | undefined;
  /** As TrackParams.chargeLoggedAction, before a "stopped tracking" action (only when the tracker is deleted). */
  chargeLoggedAction?: (() => Promise<unknown>) | undefined;
}

export interface TrackerChange<T> {
  tracker: T;
  events: PendingFeedEvent[];
  /** The "started/stopped tracking" action, when one was logged. */
  logged: ActionRecord[];
  /** That action's fan-out was queued (fan-out-queue.ts). */
  fanOutQueued?: boolean;
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
    mute: Boolean(row['mute']),
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

/** The owner's tracker (or mute) on (type, id), locked for the rest of the transaction, or undefined. */
async function lockedTracker(em: Em, owner: string, type: string, id: string, mute: boolean): Promise<TrackerRecord | undefined> {
  const rows = await em.execute<Row[]>(
    `select * from activity_tracker where owner_id = ? and object_type = ? and object_id = ? and mute = ? for update`,
    [owner, type, id, mute],
  );
  return rows[0] ? trackerFromRow(rows[0]) : undefined;
}

/**
 * The verbs of a `track` or `untrack` call, null for every verb. An empty list means every verb too, as in
 * actrack (`to_set([])` is empty, and a tracker with no verbs follows them all; `untrack` with none removes the
 * tracker), where a filter's empty list (feed, counts) is refused as a likely mistake.
 */
function trackerVerbs(verbs: readonly string[] | null | undefined): string[] | null {
  return verbs?.length === 0 ? null : normaliseVerbs(verbs);
}

/**
 * Creates or modifies a tracker (actrack's `track`): on an existing tracker `verbs` replaces the verb set
 * (omitted or null: every verb) and `actorOnly` changes only when given (a new tracker defaults to true).
 * `log` logs "started tracking" only when the tracker is created. Run inside a transaction.
 */
export async function track(em: Em, settings: ActivitySettings, params: TrackParams): Promise<TrackerChange<TrackerRecord>> {
  const { type, id, label } = trackedObject(params);
  const verbs = trackerVerbs(params.verbs);
  await lockObject(em, type, id);
  if (id !== '') {
    const forgotten = await findForgotten(em, [{ type, id }]);
    if (forgotten.length > 0) throw badInput(`Cannot track a forgotten object: ${describeObjects(forgotten)}`);
  }
  const mute = params.mute ?? false;
  // A mute takes the owner's counter row before it exists: a backfill of the owner's (holding that row while it
  // writes entries read from an older snapshot) commits first and the mute then removes what it brought, or reads
  // the mute after it (a backfill that had not seen the mute brought in a muted action).
  if (mute) await lockUserState(em, params.owner);
  const previous = await lockedTracker(em, params.owner, type, id, mute);
  const verbsParam = verbs === null ? null : pgTextArray(verbs);
  const rows = previous
    ? await em.execute<Row[]>(
        `update activity_tracker set verbs = ?::text[], actor_only = coalesce(?::boolean, actor_only),
                object_label = coalesce(?, object_label)
          where id = ? returning *`,
        [verbsParam, params.actorOnly ?? null, label, previous.id],
      )
    : await em.execute<Row[]>(
        `insert into activity_tracker (owner_id, object_type, object_id, object_label, verbs, actor_only, mute)
         values (?, ?, ?, ?, ?::text[], ?, ?) returning *`,
        // A new mute defaults to any role (a muted thread is mostly a target); a tracker to actor only.
        [params.owner, type, id, label, verbsParam, params.actorOnly ?? !mute, mute],
      );
  const tracker = trackerFromRow(rows[0]!);
  const events: PendingFeedEvent[] = [];
  // A mute created or widened takes what it matches out of the feed; nothing is backfilled or logged (mutes.ts).
  if (mute) {
    if (!previous || widens(previous, tracker)) {
      events.push(...(await removeMutedEntries(em, params.owner, tracker.id, settings.unmutableLevel)));
    }
    return { tracker, events, logged: [] };
  }
  // The feed follows the tracker (tracker-feed.ts): narrowed, entries it alone matched leave; created or
  // widened, the matching past actions enter as read.
  if (previous && narrows(previous, tracker)) events.push(...(await dropUnmatchedEntries(em, params.owner, tracker.id)));
  if (!previous || widens(previous, tracker)) await backfillTracker(em, tracker, settings.config.activityTrackBackfill, settings.unmutableLevel);
  if (!previous && params.log) {
    await params.chargeLoggedAction?.();
    const started = await logTrackingAction(em, settings, events, STARTED_TRACKING, params.owner, type, id, label);
    events.push(...started.events);
    return { tracker, events, logged: [started.action], fanOutQueued: started.fanOutQueued };
  }
  return { tracker, events, logged: [] };
}

/**
 * Removes verbs from a tracker (all when none given); the tracker is null when it was deleted, or when there was
 * none. `log` logs "stopped tracking" only when the tracker is deleted. Run inside a transaction.
 */
export async function untrack(em: Em, settings: ActivitySettings, params: UntrackParams): Promise<TrackerChange<TrackerRecord | null>> {
  const { type, id, label } = trackedObject(params);
  const verbs = trackerVerbs(params.verbs);
  await lockObject(em, type, id);
  const mute = params.mute ?? false;
  if (params.restore && !mute) throw badInput('restore: only when removing a mute (mute: true)');
  const current = await lockedTracker(em, params.owner, type, id, mute);
  // Nothing to remove: nothing happens, as actrack's `untrack` (an unfollow sent twice is not an error).
  if (!current) return { tracker: null, events: [], logged: [] };
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
  // A mute removed or narrowed brings nothing back unless asked (mutes.ts); entries never list a mute.
  if (mute) {
    if (params.restore) await restoreFeed(em, settings, params.owner);
    return { tracker, events: [], logged: [] };
  }
  // The feed follows: entries that no remaining tracker matches leave it (tracker-feed.ts).
  const events: PendingFeedEvent[] = await dropUnmatchedEntries(em, params.owner, current.id);
  if (tracker === null && params.log) {
    await params.chargeLoggedAction?.();
    const stopped = await logTrackingAction(em, settings, events, STOPPED_TRACKING, params.owner, type, id, label ?? current.objectLabel);
    events.push(...stopped.events);
    return { tracker, events, logged: [stopped.action], fanOutQueued: stopped.fanOutQueued };
  }
  return { tracker, events, logged: [] };
}

/**
 * Runs the backfill of each of the owner's trackers again (after a mute went): what no mute matches comes back, as
 * read. The owner's counter row first (every writer of the feed takes it first), then the trackers, read after it:
 * a concurrent untrack or narrowing of another tracker (which holds that row while it recomputes the entries) has
 * committed by then, so no tracker is backfilled as it was before (a deleted one came back as a phantom tab).
 */
async function restoreFeed(em: Em, settings: ActivitySettings, owner: string): Promise<void> {
  await lockUserState(em, owner);
  for (const tr of await trackersOfOwner(em, owner)) await backfillTracker(em, tr, settings.config.activityTrackBackfill, settings.unmutableLevel);
}

/**
 * actrack's "started tracking" / "stopped tracking" actions, logged by the user on the object (or type). The
 * fan-out records its changes in the users' change streams as it writes them: the feed changes the tracker
 * change made before (`earlier`) are recorded first, so that positions follow the order of the changes.
 */
async function logTrackingAction(
  em: Em,
  settings: ActivitySettings,
  earlier: readonly PendingFeedEvent[],
  verb: string,
  owner: string,
  type: string,
  id: string,
  label: string | null,
): Promise<LoggedAction> {
  await recordFeedChanges(em, earlier);
  return logAction(em, settings, {
    actor: { type: settings.config.userType, id: owner },
    verb,
    targets: id === '' ? [] : [{ type, id, label }],
    data: id === '' ? { objectType: type } : null,
    groupingDelay: -1,
  });
}

/** The owner's trackers, or (`mutes`) its mutes. */
export async function trackersOfOwner(em: Em, owner: string, mutes = false): Promise<TrackerRecord[]> {
  const rows = await em.execute<Row[]>(`select * from activity_tracker where owner_id = ? and mute = ? order by id`, [owner, mutes]);
  return rows.map(trackerFromRow);
}

/** Trackers on the object itself or on its whole type; `owner` restricts to one user's. */
export async function trackersOfObject(em: Em, object: ObjectRefValue, owner: string | null): Promise<TrackerRecord[]> {
  const rows = await em.execute<Row[]>(
    `select * from activity_tracker where object_type = ? and object_id in (?, '') and not mute ${owner === null ? '' : 'and owner_id = ?'} order by id`,
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
