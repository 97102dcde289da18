import { LRUCache } from 'lru-cache';
import type { Em, Orm } from '../db/orm.ts';
import type { Viewer } from '../server/auth.ts';
import { ObjectLabel } from './entities.ts';
import { objectKey, type ObjectRefValue } from './object-ref.ts';

/**
 * Object labels: the latest display label that an authenticated caller (a user or a service) gave each object,
 * with an increment, a recorded statistic or an action. Metrics rows keep no label (a label belongs to the object,
 * not to each count), so metrics results (`top`) take their objects' labels from here; the action log keeps the
 * labels each action was logged with (its history) and does not read these.
 *
 * Anonymous callers' labels are not kept: anyone could otherwise rename any object for everyone who reads a
 * public metric. `forgetObject` deletes an object's label with the rest of what is known of it.
 */

/**
 * How many objects' labels an instance remembers having written, and for how long: the same label sent again
 * within that time writes nothing. The time bounds how long a label deleted elsewhere (forgetObject on another
 * instance, or in a transaction of this one) stays unwritten when a caller sends it again.
 */
const WRITTEN_MAX = 10_000;
const WRITTEN_TTL_MS = 60_000;

export class ObjectLabels {
  readonly #orm: Orm;
  /** The label this instance last wrote per object (`objectKey`). */
  readonly #written = new LRUCache<string, string>({ max: WRITTEN_MAX, ttl: WRITTEN_TTL_MS });

  constructor(orm: Orm) {
    this.#orm = orm;
  }

  /**
   * Keeps the labels that `refs` carry, when `viewer` is authenticated: one statement for the labels this instance
   * has not written already (the last one wins when an object comes twice), in object order (concurrent writers
   * lock rows in the same order). Nothing for anonymous callers or refs without a label.
   */
  async remember(viewer: Viewer, refs: Iterable<ObjectRefValue | null | undefined>): Promise<void> {
    if (viewer.kind === 'anonymous') return;
    const fresh = new Map<string, { type: string; id: string; label: string }>();
    for (const ref of refs) {
      if (!ref || ref.label == null || ref.label === '') continue;
      const key = objectKey(ref);
      if (this.#written.get(key) === ref.label) fresh.delete(key);
      else fresh.set(key, { type: ref.type, id: ref.id, label: ref.label });
    }
    if (fresh.size === 0) return;
    const rows = [...fresh.values()];
    await this.#orm.em.fork().execute(
      `insert into object_label as l (object_type, object_id, label)
       select type, id, label from jsonb_to_recordset(?::jsonb) as u(type text, id text, label text) order by type, id
       on conflict (object_type, object_id) do update set label = excluded.label, updated_at = now()
         where l.label is distinct from excluded.label`,
      [JSON.stringify(rows)],
    );
    for (const [key, row] of fresh) this.#written.set(key, row.label);
  }
}

/** The label kept for an object, or null. */
export async function labelOf(em: Em, ref: Pick<ObjectRefValue, 'type' | 'id'>): Promise<string | null> {
  const row = await em.findOne(ObjectLabel, { objectType: ref.type, objectId: ref.id }, { disableIdentityMap: true });
  return row?.label ?? null;
}

/** Deletes an object's label (forgetObject, in its transaction). */
export async function forgetLabel(em: Em, ref: Pick<ObjectRefValue, 'type' | 'id'>): Promise<void> {
  await em.execute(`delete from object_label where object_type = ? and object_id = ?`, [ref.type, ref.id]);
}

/** `refs` with the labels kept for them (one query); a ref that carries a label keeps its own. */
export async function withKnownLabels<T extends ObjectRefValue>(em: Em, refs: readonly T[]): Promise<T[]> {
  const missing = refs.filter((r) => r.label == null);
  if (missing.length === 0) return [...refs];
  const rows = await em.find(
    ObjectLabel,
    { $or: missing.map((r) => ({ objectType: r.type, objectId: r.id })) },
    { disableIdentityMap: true },
  );
  const byKey = new Map(rows.map((row) => [objectKey({ type: row.objectType, id: row.objectId }), row.label]));
  return refs.map((r) => (r.label == null && byKey.has(objectKey(r)) ? { ...r, label: byKey.get(objectKey(r))! } : r));
}

/**
 * The object's kept label as a section of a user's export (activity's exportUser, whose section shape this has:
 * one record at most, for the user as an object).
 */
export const labelExportSection = {
  kind: 'label',
  async read(em: Em, user: { type: string; id: string }, after: string | null, _limit: number) {
    if (after !== null) return [];
    const label = await labelOf(em, user);
    return label === null ? [] : [{ key: 'label', record: { kind: 'label', label } as Record<string, unknown> }];
  },
};
