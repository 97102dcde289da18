import type { Em } from '../db/orm.ts';

/**
 * Per-object serialisation of tracker changes and forgetting (a transaction advisory lock, as grouping.ts
 * takes per (actor, verb)): `track`, `untrack` and `forgetObject` on one object run one after the other, so a
 * tracker can never be created on an object that a concurrent `forgetObject` has just turned into a tombstone.
 * A whole-type tracker locks (type, '').
 */
export async function lockObject(em: Em, type: string, id: string): Promise<void> {
  await em.execute(`select pg_advisory_xact_lock(hashtextextended('activity-object' || chr(1) || ? || chr(1) || ?, 0))`, [type, id]);
}
