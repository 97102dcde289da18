import { LRUCache } from 'lru-cache';
import type { Em, Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import type { Viewer } from '../server/auth.ts';
import { badInput } from '../server/errors.ts';
import { ObjectLabel } from './entities.ts';
import { objectKey, type ObjectRefValue } from './object-ref.ts';

/**
 * Object labels: the latest display label a trusted caller gave each object, with an increment, a recorded statistic
 * or an action. Metrics rows keep no label (a label belongs to the object, not to each count), so metrics results
 * (`top`) take their objects' labels from here; the action log keeps the labels each action was logged with (its
 * history) and does not read these.
 *
 * Trusted: services, for any object; a user, for its own user object only ({type: USER_TYPE, id: its id}). Anyone
 * else could rename any object for everyone who reads a public metric. A forgotten object gets no label again;
 * `forgetObject` deletes an object's label with the rest of what is known of it.
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
  readonly #userType: string;
  readonly #logger: Logger;
  /** The label this instance last wrote per object (`objectKey`). */
  readonly #written = new LRUCache<string, string>({ max: WRITTEN_MAX, ttl: WRITTEN_TTL_MS });

  constructor(orm: Orm, options: { userType: string; logger: Logger }) {
    this.#orm = orm;
    this.#userType = options.userType;
    this.#logger = options.logger;
  }

  /**
   * Keeps the labels that `refs` carry that `viewer` may set (see above): one statement for the labels this
   * instance has not written already (the last one wins when an object comes twice), in object order (concurrent
   * writers lock rows in the same order), none for a forgotten object. Runs after the call that carried them
   * (its own statement): a failure is logged, never the caller's error, since what the call stored is stored.
   */
  async remember(viewer: Viewer, refs: Iterable<ObjectRefValue | null | undefined>): Promise<void> {
    if (viewer.kind === 'anonymous') return;
    const fresh = new Map<string, { type: string; id: string; label: string }>();
    for (const ref of refs) {
      if (!ref || ref.label == null || ref.label === '') continue;
      if (viewer.kind === 'user' && !(ref.type === this.#userType && ref.id === viewer.id)) continue;
      const key = objectKey(ref);
      if (this.#written.get(key) === ref.label) fresh.delete(key);
      else fresh.set(key, { type: ref.type, id: ref.id, label: ref.label });
    }
    if (fresh.size === 0) return;
    const rows = [...fresh.values()];
    try {
      await this.#orm.em.fork().execute(
        `insert into object_label as l (object_type, object_id, label)
         select u.type, u.id, u.label from jsonb_to_recordset(?::jsonb) as u(type text, id text, label text)
          where not exists (select 1 from forgotten_object f where f.object_type = u.type and f.object_id = u.id)
          order by u.type, u.id
         on conflict (object_type, object_id) do update set label = excluded.label, updated_at = now()
           where l.label is distinct from excluded.label`,
        [JSON.stringify(rows)],
      );
      for (const [key, row] of fresh) this.#written.set(key, row.label);
    } catch (error) {
      this.#logger.warn({ err: error, objects: rows.length }, 'object labels not kept');
    }
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
    if (after === 'label') return [];
    if (after !== null) throw badInput('after: not a cursor returned by exportUser');
    const label = await labelOf(em, user);
    return label === null ? [] : [{ key: 'label', record: { kind: 'label', label } as Record<string, unknown> }];
  },
};
