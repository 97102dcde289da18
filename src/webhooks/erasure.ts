import type { Em } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';

/**
 * A user's erasure (activity's eraseUser), in its transaction: the reminders addressed to the user and every
 * delivery whose payload names the user (as the feed's user, or as an object of the action or statistic:
 * actor, target, related) go, whatever their status. One statement each; the delivery scan reads the whole
 * outbox (there is no index on payloads), which is acceptable for a rare request on a pruned table.
 */
export async function eraseUserRows(em: Em, user: ObjectRefValue): Promise<void> {
  await em.execute(`delete from webhook_reminder where user_id = ?`, [user.id]);
  const object = JSON.stringify({ type: user.type, id: user.id });
  await em.execute(
    `delete from webhook_delivery
      where payload @> jsonb_build_object('user', ?::text)
         or payload->'action'->'actor' @> ?::jsonb
         or payload->'action'->'targets' @> jsonb_build_array(?::jsonb)
         or payload->'action'->'related' @> jsonb_build_array(?::jsonb)
         or payload->'object' @> ?::jsonb`,
    [user.id, object, object, object, object],
  );
}
