import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, type PubSub } from 'graphql-yoga';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';

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
 * In-process pub/sub by default; with `REDIS_URL`, Yoga's Redis event target so that an event published
 * on one instance reaches subscribers on every instance.
 */
export function createPubSubHandle(redisUrl: string | undefined, logger: Logger): PubSubHandle {
  if (!redisUrl) {
    return { pubsub: createPubSub<Topics>(), mode: 'memory', close: async () => {} };
  }
  const options = { lazyConnect: false, maxRetriesPerRequest: null, enableAutoPipelining: true } as const;
  const publishClient = new Redis(redisUrl, options);
  const subscribeClient = new Redis(redisUrl, options);
  for (const [role, client] of [
    ['publish', publishClient],
    ['subscribe', subscribeClient],
  ] as const) {
    client.on('error', (error: Error) => logger.warn({ err: error.message, role }, 'redis connection error'));
  }
  const eventTarget = createRedisEventTarget({ publishClient, subscribeClient });
  return {
    pubsub: createPubSub<Topics>({ eventTarget }),
    mode: 'redis',
    async close() {
      await Promise.allSettled([publishClient.quit(), subscribeClient.quit()]);
      publishClient.disconnect();
      subscribeClient.disconnect();
    },
  };
}
