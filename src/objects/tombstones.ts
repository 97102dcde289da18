import DataLoader from 'dataloader';
import type { Em } from '../db/orm.ts';
import { ForgottenObject } from './entities.ts';
import { objectKey, type ObjectRefValue } from './object-ref.ts';

export interface Tombstone {
  label: string | null;
  description: string | null;
  serialization: unknown;
}

/** Batches the "is this object forgotten?" lookups of one request into one query. */
export function createTombstoneLoader(em: Em): DataLoader<ObjectRefValue, Tombstone | null, string> {
  return new DataLoader(
    async (refs) => {
      const rows = await em.find(
        ForgottenObject,
        { $or: refs.map((r) => ({ objectType: r.type, objectId: r.id })) },
        { disableIdentityMap: true },
      );
      const byKey = new Map(rows.map((row) => [objectKey({ type: row.objectType, id: row.objectId }), row]));
      return refs.map((ref) => {
        const row = byKey.get(objectKey(ref));
        return row
          ? { label: row.label ?? null, description: row.description ?? null, serialization: row.serialization ?? null }
          : null;
      });
    },
    { cacheKeyFn: objectKey, maxBatchSize: 500 },
  );
}

/** The tombstones of the forgotten objects among `refs`, by `objectKey` (one query). */
export async function loadTombstones(em: Em, refs: ObjectRefValue[]): Promise<Map<string, Tombstone>> {
  const loaded = new Map<string, Tombstone>();
  if (refs.length === 0) return loaded;
  const rows = await em.find(
    ForgottenObject,
    { $or: refs.map((r) => ({ objectType: r.type, objectId: r.id })) },
    { disableIdentityMap: true },
  );
  for (const row of rows) {
    loaded.set(objectKey({ type: row.objectType, id: row.objectId }), {
      label: row.label ?? null,
      description: row.description ?? null,
      serialization: row.serialization ?? null,
    });
  }
  return loaded;
}

/** Forgotten objects among `refs` (one query). */
export async function findForgotten(em: Em, refs: ObjectRefValue[]): Promise<ObjectRefValue[]> {
  if (refs.length === 0) return [];
  const rows = await em.find(
    ForgottenObject,
    { $or: refs.map((r) => ({ objectType: r.type, objectId: r.id })) },
    { disableIdentityMap: true },
  );
  return rows.map((row) => ({ type: row.objectType, id: row.objectId, label: row.label ?? null }));
}

/** Marks an object as deleted on the client side; returns the tombstone. Idempotent (updates the description). */
export async function upsertTombstone(
  em: Em,
  ref: ObjectRefValue,
  description: string | null,
  serialization: unknown,
): Promise<void> {
  await em.upsert(
    ForgottenObject,
    {
      objectType: ref.type,
      objectId: ref.id,
      label: ref.label ?? null,
      description,
      serialization: serialization ?? null,
      forgottenAt: new Date(),
    },
    { onConflictFields: ['objectType', 'objectId'], onConflictAction: 'merge' },
  );
}
