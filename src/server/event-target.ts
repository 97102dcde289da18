import crypto from 'node:crypto';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import type { TypedEventTarget } from '@graphql-yoga/typed-event-target';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';

interface Envelope {
  /** The instance that published the event: it has already delivered it to its own subscribers. */
  o: string;
  d: unknown;
}

/** Time for ioredis to re-subscribe after reconnecting, before listeners are told events may have been lost. */
const RESYNC_DELAY_MS = 300;

export interface LocalFirstRedisEventTarget {
  eventTarget: TypedEventTarget<CustomEvent>;
  close(): Promise<void>;
}

/**
 * Yoga's Redis event target, made local-first: an event is dispatched to this instance's own
 * subscribers at once and published to Redis for the other instances, which ignore their own echoes.
 * So a Redis outage only stops cross-instance delivery (it resumes by itself when Redis is back:
 * ioredis reconnects and re-subscribes), never local delivery; and a publish during the outage fails
 * fast instead of queueing stale events.
 */
export function createLocalFirstRedisEventTarget(redisUrl: string, logger: Logger): LocalFirstRedisEventTarget {
  const instanceId = crypto.randomUUID();
  const publishClient = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true });
  const subscribeClient = new Redis(redisUrl, { maxRetriesPerRequest: null, autoResubscribe: true });
  for (const [role, client] of [
    ['publish', publishClient],
    ['subscribe', subscribeClient],
  ] as const) {
    client.on('error', (error: Error) => logger.warn({ err: error.message, role }, 'redis connection error'));
  }
  const remote = createRedisEventTarget<CustomEvent>({ publishClient, subscribeClient });
  // While the subscription connection was down, other instances' events were lost. Once it is back (ioredis
  // re-subscribes on connect), every local listener gets one event with an undefined detail: "events may have
  // been missed, check your source" (the live feed catches up from its change stream).
  let lostEvents = false;
  subscribeClient.on('close', () => (lostEvents = true));
  subscribeClient.on('ready', () => {
    if (!lostEvents) return;
    lostEvents = false;
    setTimeout(() => {
      for (const type of wrappers.keys()) local.dispatchEvent(new CustomEvent(type, { detail: undefined }));
    }, RESYNC_DELAY_MS).unref();
  });
  const local = new EventTarget();
  // Each local listener gets one wrapper on the Redis side, which drops this instance's own echoes.
  const wrappers = new Map<string, Map<EventListener, EventListener>>();

  const eventTarget: TypedEventTarget<CustomEvent> = {
    addEventListener(type, listener) {
      if (!listener) return;
      const callback = (typeof listener === 'function' ? listener : listener.handleEvent.bind(listener)) as EventListener;
      local.addEventListener(type, callback);
      const remoteCallback: EventListener = (event) => {
        const envelope = (event as CustomEvent<Envelope | null>).detail;
        if (!envelope || envelope.o === instanceId) return;
        callback(new CustomEvent(type, { detail: envelope.d }));
      };
      let byListener = wrappers.get(type);
      if (!byListener) wrappers.set(type, (byListener = new Map()));
      byListener.set(callback, remoteCallback);
      remote.addEventListener(type, remoteCallback);
    },
    removeEventListener(type, listener) {
      if (!listener) return;
      const callback = (typeof listener === 'function' ? listener : listener.handleEvent.bind(listener)) as EventListener;
      local.removeEventListener(type, callback);
      const byListener = wrappers.get(type);
      const remoteCallback = byListener?.get(callback);
      if (byListener && remoteCallback) {
        byListener.delete(callback);
        if (byListener.size === 0) wrappers.delete(type);
        remote.removeEventListener(type, remoteCallback);
      }
    },
    dispatchEvent(event) {
      local.dispatchEvent(new CustomEvent(event.type, { detail: event.detail }));
      if (publishClient.status === 'ready') {
        const envelope: Envelope = { o: instanceId, d: event.detail };
        publishClient
          .publish(event.type, JSON.stringify(envelope))
          .catch((error: Error) => logger.warn({ err: error.message, topic: event.type }, 'redis publish failed'));
      } else {
        logger.warn({ topic: event.type, status: publishClient.status }, 'redis unavailable: event delivered locally only');
      }
      return true;
    },
  };

  return {
    eventTarget,
    async close() {
      await Promise.allSettled([publishClient.quit(), subscribeClient.quit()]);
      publishClient.disconnect();
      subscribeClient.disconnect();
    },
  };
}
