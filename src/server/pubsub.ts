import { createPubSub, type PubSub } from 'graphql-yoga';
import type { Logger } from '../logger.ts';
import { createLocalFirstRedisEventTarget } from './event-target.ts';

/** What a feed subscriber is told; serialised as JSON when it crosses Redis. */
export interface FeedMessage {
  kind: 'ADDED' | 'UPDATED' | 'READ' | 'UNREAD';
  /** The action concerned, or null for bulk changes (mark all read). */
  actionId: string | null;
  unreadCount: number;
}

/** Every topic trackql publishes on: `[routing id, payload]`. */
export type Topics = {
  feed: [userId: string, message: FeedMessage];
};

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
