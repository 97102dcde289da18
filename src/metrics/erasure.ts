import type { ActivityWriteListener } from '../activity/write-listeners.ts';
import type { Em } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { callerScope } from '../server/idempotency.ts';

/**
 * A user's erasure (activity's eraseUser), in its transaction: the metrics rows keyed by the user as an object
 * (its per-object statistics, recorded statistics and dead letters; its unfolded increments lose the object). The
 * sums over all objects (statistic levels 1 and 2) keep its past contributions, folded or not: they no longer name it. The increment ids the
 * user sent with a user token (scope `user:<id>`) go too (an unindexed scan of the keys of the last
 * METRICS_DEDUPE_HOURS; keys migrated from the md5-only form have no scope and expire with their window).
 * Increments still buffered in a process when the erasure commits (at most one group-commit interval) may still land.
 */
export async function eraseUserMetrics(em: Em, user: ObjectRefValue): Promise<void> {
  const params = [user.type, user.id];
  await em.execute(`delete from metric_statistic where object_type = ? and object_id = ?`, params);
  await em.execute(`delete from metric_recorded_statistic where object_type = ? and object_id = ?`, params);
  // Its unfolded increments stay counted in the sums over all objects, as its folded ones do: they lose the object
  // (the fold then adds them to the category and overall sums only). Deleting them made a metric's total depend
  // on whether the fold had run before the erasure.
  await em.execute(`update metric_inbox set object_type = '', object_id = '' where object_type = ? and object_id = ?`, params);
  await em.execute(`delete from metric_dead_letter where object_type = ? and object_id = ?`, params);
  await em.execute(`delete from metric_increment_key where scope = ?`, [callerScope({ kind: 'user', id: user.id })]);
}

/** Registered with ActivityService.addWriteListener at composition: acts on erasures only. */
export const metricsErasureListener: ActivityWriteListener = {
  afterWrite: async (em, write) => {
    if (write.erasedUser) await eraseUserMetrics(em, write.erasedUser);
  },
};
