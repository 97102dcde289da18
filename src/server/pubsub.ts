import { createPubSub, type PubSub } from 'graphql-yoga';
import type { Logger } from '../logger.ts';
import { createLocalFirstRedisEventTarget } from './event-target.ts';

/** An object as it appears in a feed message (tombstone fields filled when it was forgotten). */
export interface FeedObjectSnapshot {
  type: string;
  id: string;
  label: string | null;
  /** Null when the object was not forgotten at publish time. */
  tombstone: { label: string | null; description: string | null; serialization: unknown } | null;
}

/**
 * Everything a subscriber needs to resolve an Action without touching the database: the fan-out computes
 * it once per logged action and every subscriber's event is resolved from it.
 */
export interface FeedActionSnapshot {
  /** Database id of the action (the GraphQL id is the global id built from it). */
  id: string;
  actor: FeedObjectSnapshot;
  verb: string;
  targets: FeedObjectSnapshot[];
  related: FeedObjectSnapshot[];
  data: unknown;
  /** Numeric level (0, 10, 20, 30, 40, 50). */
  level: number;
  /** ISO 8601. */
  timestamp: string;
  groupedCount: number;
  /** Rendered verb template, or null when the verb has none. */
  text: string | null;
}

/** What a feed subscriber is told; serialised as JSON when it crosses Redis. */
export interface FeedMessage {
  /** RESET: only sent to a subscriber whose `after` cursor is older than what can be replayed. */
  kind: 'ADDED' | 'UPDATED' | 'READ' | 'UNREAD' | 'SEEN' | 'ARCHIVED' | 'UNARCHIVED' | 'REMOVED' | 'RESET';
  /** The action concerned, or null for bulk changes (mark all read, entries removed). */
  action: FeedActionSnapshot | null;
  /** The action's read flag for this user after the change (null for bulk changes). */
  unread: boolean | null;
  /** The action's unseen flag for this user after the change (null for bulk changes). */
  unseen: boolean | null;
  /** Ids of this user's trackers that matched the action (empty for READ/UNREAD). */
  trackerIds: number[];
  /** The user's exact unread count after the change (archived entries excluded). */
  unreadCount: number;
  /** The user's exact unseen count after the change (archived entries excluded). */
  unseenCount: number;
  /**
   * The change's position in the user's change stream (activity/change-stream.ts), a bigint as a string;
   * absent on messages that are not changes of the stream (retention's count updates).
   */
  position?: string;
}

/** A FeedMessage as it travels in a FeedBatch: its action is an index into the batch's `actions`. */
export type FeedBatchMessage = Omit<FeedMessage, 'action'> & { action: number | null };

/** The feed changes of one write: each action's snapshot once, then one entry per (user, change). */
export interface FeedBatch {
  actions: FeedActionSnapshot[];
  events: Array<[userId: string, message: FeedBatchMessage]>;
}

/**
 * Every topic trackql publishes on: `[routing id, payload]`. With Redis, a subscriber also receives `undefined`
 * once Redis is back after an outage (events from other instances may have been lost meanwhile: event-target.ts).
 */
export type Topics = {
  /**
   * The feed changes of one write (or one retention pass), for every user concerned: one message per write,
   * whatever the number of receiving users (activity/feed-delivery.ts routes it to the local subscribers).
   */
  feed: [batch: FeedBatch | undefined];
  /** Increments of a metric were committed (metrics/live.ts). */
  metricChanged: [metricId: string, change: MetricChange | undefined];
  /** Increments carrying DOM ids (labels) were committed. */
  labelsChanged: [change: { domIds: string[] } | undefined];
};

/** What committed increments of one metric touched; `all` when too much to list. */
export interface MetricChange {
  all: boolean;
  /** `type\u0000id` of the objects ('' for none). */
  objects: string[];
  categories: string[];
  /** The metric's definition changed (registerMetric) or it was deleted: who may still watch it. */
  definition?: MetricDefinitionChange;
}

export type MetricDefinitionChange = { deleted: true } | { deleted: false; public: boolean; kind: string };

export type TrackqlPubSub = PubSub<Topics>;

export interface PubSubHandle {
  pubsub: TrackqlPubSub;
  mode: 'memory' | 'redis';
  close(): Promise<void>;
}

/**
 * In-process pub/sub by default; with `REDIS_URL`, Yoga's Redis event target (made local-first, see
 * event-target.ts) so that an event published on one instance reaches subscribers on every instance.
 */
export function createPubSubHandle(redisUrl: string | undefined, logger: Logger): PubSubHandle {
  if (!redisUrl) {
    return { pubsub: createPubSub<Topics>(), mode: 'memory', close: async () => {} };
  }
  const { eventTarget, close } = createLocalFirstRedisEventTarget(redisUrl, logger);
  return { pubsub: createPubSub<Topics>({ eventTarget }), mode: 'redis', close };
}
