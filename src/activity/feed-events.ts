import type { Em } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { objectKey, type ObjectRefValue } from '../objects/object-ref.ts';
import { loadTombstones, type Tombstone } from '../objects/tombstones.ts';
import type { FeedActionSnapshot, FeedBatch, FeedBatchMessage, FeedMessage, TrackqlPubSub } from '../server/pubsub.ts';
import { objectsOf } from './action-store.ts';
import type { ActionRecord } from './model.ts';
import { renderActions } from './verbs.ts';

/**
 * Live feed events: what a change of a feed tells that feed's subscribers. Events are computed inside the
 * transaction that makes the change (so they carry its exact counts) and published after it commits, one
 * message per write on topic `feed` (a FeedBatch: each action's snapshot once, one entry per receiving user),
 * so that a subscriber resolves its event without a database query and an action reaching 5,000 users is one
 * publish (one Redis message), not 5,000. feed-delivery.ts routes batches to the local subscribers.
 */

export type PendingFeedEvent = [userId: string, message: FeedMessage];

/**
 * `tombstones`: those of the action's forgotten objects, looked up once for every subscriber (so resolving
 * `deleted`/`description` of an event's objects needs no query per subscriber).
 */
export function snapshotOf(action: ActionRecord, text: string | null, tombstones: Map<string, Tombstone>): FeedActionSnapshot {
  const obj = (r: ObjectRefValue) => ({
    type: r.type,
    id: r.id,
    label: r.label ?? null,
    tombstone: tombstones.get(objectKey(r)) ?? null,
  });
  return {
    id: action.id,
    actor: obj(action.actor),
    verb: action.verb,
    targets: action.targets.map(obj),
    related: action.related.map(obj),
    data: action.data ?? null,
    level: action.level,
    timestamp: action.timestamp.toISOString(),
    groupedCount: action.groupedCount,
    text,
  };
}

/**
 * Snapshots of several actions (rendered text and tombstones looked up once for all). `noneForgotten`: the
 * caller has just found, in this transaction, that none of the actions' objects is forgotten (logAction's
 * check of a new action's objects), so there is no tombstone to look up.
 */
export async function snapshotsOf(em: Em, actions: readonly ActionRecord[], noneForgotten = false): Promise<Map<string, FeedActionSnapshot>> {
  const tombstones = noneForgotten ? new Map<string, Tombstone>() : await loadTombstones(em, actions.flatMap(objectsOf));
  // Rendered with the tombstones: a forgotten object's text is its description (rendering.ts).
  const withTombstones = (r: ObjectRefValue): ObjectRefValue => ({ ...r, tombstone: tombstones.get(objectKey(r)) ?? null });
  const texts = await renderActions(
    em,
    actions.map((a) => ({ ...a, actor: withTombstones(a.actor), targets: a.targets.map(withTombstones), related: a.related.map(withTombstones) })),
  );
  return new Map(actions.map((a) => [a.id, snapshotOf(a, texts.get(a.id) ?? null, tombstones)]));
}

/** The ActionRecord a subscriber resolves from a published snapshot. */
export function actionFromSnapshot(snapshot: FeedActionSnapshot, unread: boolean, unseen: boolean, trackerIds: number[]): ActionRecord {
  return {
    id: snapshot.id,
    actor: snapshot.actor,
    verb: snapshot.verb,
    targets: snapshot.targets,
    related: snapshot.related,
    data: snapshot.data,
    level: snapshot.level,
    timestamp: new Date(snapshot.timestamp),
    groupedCount: snapshot.groupedCount,
    unread,
    unseen,
    trackerIds,
    text: snapshot.text,
  };
}

/** The batch that carries `events` (each action's snapshot once). */
export function feedBatchOf(events: readonly PendingFeedEvent[]): FeedBatch {
  const actions: FeedActionSnapshot[] = [];
  const indexOf = new Map<string, number>();
  const batched = events.map(([userId, message]): [string, FeedBatchMessage] => {
    let action: number | null = null;
    if (message.action) {
      action = indexOf.get(message.action.id) ?? null;
      if (action === null) {
        action = actions.push(message.action) - 1;
        indexOf.set(message.action.id, action);
      }
    }
    return [userId, { ...message, action }];
  });
  return { actions, events: batched };
}

/** The message of one entry of a batch. */
export function feedMessageOf(batch: FeedBatch, message: FeedBatchMessage): FeedMessage {
  return { ...message, action: message.action === null ? null : (batch.actions[message.action] ?? null) };
}

/** Publishes events after their transaction committed (one message for all); a failed publish is logged, never thrown. */
export function publishFeedEvents(pubsub: TrackqlPubSub, logger: Logger, events: readonly PendingFeedEvent[]): void {
  if (events.length === 0) return;
  try {
    pubsub.publish('feed', feedBatchOf(events));
  } catch (error) {
    logger.warn({ err: (error as Error).message, users: events.length }, 'feed events not published');
  }
}
