import type { Em } from '../db/orm.ts';

/**
 * Object locks (transaction advisory locks, as grouping.ts takes per (actor, verb)) that keep feeds equal to "the
 * actions matching the current trackers" when tracker changes and new actions race:
 *
 * - **Tracker changes** (`track`, `untrack`, mutes), `forgetObject` and erasure take their object's lock
 *   exclusively (`lockObject`; a whole-type tracker locks (type, '')): on one object they run one after the other,
 *   so a tracker can never be created on an object that a concurrent `forgetObject` has just turned into a tombstone.
 * - **Feed writers** (logAction before it checks and fans out, the queued fan-out before it fans out) take the locks
 *   of the action's objects and their types shared (`lockActionObjects`), before they read any tracker.
 *
 * So a fan-out and a tracker change on one of its objects never overlap: whichever takes its lock second starts its
 * statements after the other committed and sees what it did (the fan-out the tracker gone or new; the untrack the
 * new entries to remove; the backfill the new action). Without it, a fan-out that read the trackers just before an
 * untrack committed wrote entries for the deleted tracker, after the untrack had cleaned the feed.
 *
 * An action can name hundreds of objects (and a grouped one thousands), more locks than PostgreSQL's lock table
 * should hold per transaction, so the locks are hierarchical: a tracker change also takes its type's key shared
 * and the global key shared; a feed writer with more than LOCKED_OBJECTS_MAX objects takes its types' keys
 * exclusively instead of one per object, and one with more than LOCKED_OBJECTS_MAX types the global key
 * exclusively (so one very large action holds tracker changes on its types, or everywhere, while it fans out).
 * `logActions` locks the objects of all its inputs in one set. Each set of keys is taken in one statement, in key
 * order; a transaction that takes a second set later (track with `log` logging "started tracking", a grouped
 * action growing past LOCKED_OBJECTS_MAX objects) can still meet another in the opposite order: PostgreSQL detects
 * the deadlock and the write is retried (service.ts `#write`).
 *
 * A user's erasure deletes trackers on any number of objects: it takes the global key exclusively
 * (`lockForErasure`), which every feed writer and tracker change holds shared.
 */

/** The most objects (and types) a feed writer locks one by one. */
const LOCKED_OBJECTS_MAX = 16;

interface LockKey {
  key: string;
  exclusive: boolean;
}

const objectKeyText = (type: string, id: string) => `o\u0001${type}\u0001${id}`;
/** Every object of a type (not a whole-type tracker: that is objectKeyText(type, '')). */
const typeKeyText = (type: string) => `t\u0001${type}`;
const GLOBAL_KEY = 'g';

async function takeLocks(em: Em, keys: readonly LockKey[]): Promise<void> {
  if (keys.length === 0) return;
  await em.execute(
    `select count(case when x then pg_advisory_xact_lock(k) else pg_advisory_xact_lock_shared(k) end)
       from (select hashtextextended('activity-object' || chr(1) || key, 0) as k, x
               from jsonb_to_recordset(?::jsonb) as r(key text, x boolean) order by 1) ordered`,
    [JSON.stringify(keys.map((k) => ({ key: k.key, x: k.exclusive })))],
  );
}

/** A tracker change, forgetObject or erasure on one object (id '' for a whole-type tracker): see above. */
export async function lockObject(em: Em, type: string, id: string): Promise<void> {
  await takeLocks(em, [
    { key: objectKeyText(type, id), exclusive: true },
    { key: typeKeyText(type), exclusive: false },
    { key: GLOBAL_KEY, exclusive: false },
  ]);
}

/**
 * A user's erasure: everything, exclusively. It deletes the user's trackers on any number of objects, and a fan-out
 * that read one of them must not write the user an entry after the erasure committed; it waits for the feed writers
 * and tracker changes in flight and holds new ones for its duration (a rare, short operation).
 */
export async function lockForErasure(em: Em, userType: string, userId: string): Promise<void> {
  await takeLocks(em, [
    { key: GLOBAL_KEY, exclusive: true },
    { key: objectKeyText(userType, userId), exclusive: true },
  ]);
}

/** A feed writer about to read trackers for an action on `objects` (actor, targets, related): see above. */
export async function lockActionObjects(em: Em, objects: ReadonlyArray<{ type: string; id: string }>): Promise<void> {
  const types = new Set<string>();
  const ids = new Set<string>();
  for (const o of objects) {
    types.add(o.type);
    ids.add(objectKeyText(o.type, o.id));
  }
  if (types.size > LOCKED_OBJECTS_MAX) return takeLocks(em, [{ key: GLOBAL_KEY, exclusive: true }]);
  const keys: LockKey[] = [{ key: GLOBAL_KEY, exclusive: false }]; // erasures
  keys.push(...[...types].map((type) => ({ key: objectKeyText(type, ''), exclusive: false }))); // type trackers
  if (ids.size > LOCKED_OBJECTS_MAX) keys.push(...[...types].map((type) => ({ key: typeKeyText(type), exclusive: true })));
  else keys.push(...[...ids].map((key) => ({ key, exclusive: false })));
  await takeLocks(em, keys);
}
