import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import type { TrackqlPubSub } from './pubsub.ts';

/** Long-lived collaborators built once per app (not per request) and closed on shutdown. */
export interface Services {
  /** Starts background work (cron jobs); called once the server listens. */
  start(): void;
  /** Stops background work and flushes buffers; called on shutdown before the ORM closes. */
  close(): Promise<void>;
}

export interface ServiceDeps {
  config: Config;
  orm: Orm;
  logger: Logger;
  pubsub: TrackqlPubSub;
}

export function createServices(_deps: ServiceDeps): Services {
  return {
    start() {},
    async close() {},
  };
}
