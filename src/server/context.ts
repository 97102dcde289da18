import type { Config } from '../config.ts';
import type { Em } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import type { Viewer } from './auth.ts';
import type { TrackqlPubSub } from './pubsub.ts';
import type { Services } from './services.ts';
import type { FeedHandover } from './ws-feed.ts';

/** What every resolver receives. `em` is a fork of the ORM's EntityManager made for this request. */
export interface Context {
  viewer: Viewer;
  em: Em;
  pubsub: TrackqlPubSub;
  services: Services;
  config: Config;
  logger: Logger;
  requestId: string;
  /** User-Agent of the HTTP request (or of the websocket upgrade). */
  userAgent: string | null;
  /** Client address: used for rate limits of anonymous callers. */
  clientIp: string | null;
  /**
   * HTTP requests: when the caller's token stops being valid (null: anonymous). An SSE subscription ends then
   * (ws-guard.ts `openStream`); websockets are closed by their own timer instead.
   */
  tokenValidUntil?: Date | null;
  /** Websocket operations only: where the `feed` subscription hands its stream (server/ws-feed.ts). */
  feedHandover?: FeedHandover;
}
