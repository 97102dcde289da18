import type { Em } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { upsertTombstone } from '../objects/tombstones.ts';
import { lockObject } from './object-locks.ts';

/**
 * Deleted items (actrack's `DeletedItem`): an object deleted in the application becomes a tombstone (objects
 * module) so actions mentioning it stay readable; the trackers on it are removed. Run inside a transaction.
 */
export async function forgetObject(em: Em, ref: ObjectRefValue, description: string | null, serialization: unknown): Promise<ObjectRefValue> {
  await lockObject(em, ref.type, ref.id);
  await upsertTombstone(em, ref, description, serialization);
  await em.execute(`delete from activity_tracker where object_type = ? and object_id = ?`, [ref.type, ref.id]);
  return { type: ref.type, id: ref.id, label: ref.label ?? null };
}
