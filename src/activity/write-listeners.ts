import type { Em } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import type { PendingFeedEvent } from './feed-events.ts';
import type { ActionRecord } from './model.ts';

/**
 * "After write, in the transaction" listeners: other modules (webhooks' outbox) register one at composition
 * to write rows that must commit together with an activity change, or not at all. The activity module
 * knows nothing of them beyond this interface.
 */

/** What one activity write did: the actions it logged and its feed events. */
export interface ActivityWrite {
  /**
   * The actions this write logged or amended by grouping: logAction's, logActions', and the "started/stopped
   * tracking" action of track/untrack with `log`. Not an action answered from an idempotency key.
   */
  actions: readonly ActionRecord[];
  /** Per receiving user: ADDED/UPDATED (fan-out), READ/UNREAD (read state); `action: null` for markAllRead. */
  events: readonly PendingFeedEvent[];
  /** eraseUser: the erased user (type USER_TYPE, id): listeners delete their rows that name it. */
  erasedUser?: ObjectRefValue | undefined;
}

export interface ActivityWriteListener {
  /** Runs inside the write's transaction, after the change; a throw rolls the whole write back. */
  afterWrite(em: Em, write: ActivityWrite): Promise<void>;
}
