import type { Em } from '../db/orm.ts';
import { loadActions, type Row } from './action-store.ts';
import type { LoggedAction } from './actions.ts';
import type { ActivitySettings } from './model.ts';

/**
 * logAction idempotency keys (Stripe's Idempotency-Key): a call repeated with the same key, by the same caller,
 * within ACTIVITY_DEDUPE_HOURS returns the action the first call created (same id) without logging, fanning out
 * or publishing anything again.
 *
 * The key row is inserted first, in the logging transaction: a concurrent call with the same key waits on the
 * primary key until the first transaction ends, then finds the committed key (and its action) or, if the first
 * one rolled back, logs the action itself. So exactly one action exists per key, across instances. The key
 * goes with its action (foreign key, cascade) when retention deletes the action.
 */

export interface ActionKey {
  /** The caller's namespace (src/server/idempotency.ts `callerScope`): keys of other callers are never seen. */
  scope: string;
  /** The client's key, checked at the edge. */
  key: string;
}

/** Runs `log` once per key: the first time inside this transaction, later answering with the stored action. */
export async function logActionOnce(
  em: Em,
  settings: ActivitySettings,
  key: ActionKey | null | undefined,
  log: () => Promise<LoggedAction>,
): Promise<LoggedAction & { repeated: boolean }> {
  if (!key) return { ...(await log()), repeated: false };
  const claimed = await em.execute<Row[]>(
    `insert into activity_action_key as k (scope, key) values (?, ?)
     on conflict (scope, key) do update set created_at = now(), action_id = null
       where k.created_at < now() - make_interval(hours => ?)
     returning 1 as claimed`,
    [key.scope, key.key, settings.config.activityDedupeHours],
  );
  if (claimed.length > 0) {
    const logged = await log();
    await em.execute('update activity_action_key set action_id = ? where scope = ? and key = ?', [logged.action.id, key.scope, key.key]);
    return { ...logged, repeated: false };
  }
  const [stored] = await em.execute<Row[]>('select action_id::text as action_id from activity_action_key where scope = ? and key = ?', [
    key.scope,
    key.key,
  ]);
  const actionId = stored?.['action_id'];
  const [action] = typeof actionId === 'string' ? await loadActions(em, [actionId], null) : [];
  if (!action) throw new Error(`idempotency key without its action (scope ${key.scope})`);
  return { action, events: [], fanOutQueued: false, repeated: true };
}
