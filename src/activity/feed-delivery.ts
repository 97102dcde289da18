import type { Logger } from '../logger.ts';
import type { FeedBatch, FeedMessage, TrackqlPubSub } from '../server/pubsub.ts';
import { feedMessageOf } from './feed-events.ts';

/**
 * Routes published feed batches (feed-events.ts: one message per write) to this instance's live feed
 * subscriptions: one pub/sub subscription (one Redis channel) per instance, whatever the number of subscribers,
 * and a map from user to that user's subscriptions. A user without a subscription here costs a map lookup;
 * a message is built only for the users that have one.
 *
 * `undefined` (pub/sub lost messages while Redis was away: server/event-target.ts) is passed to every sink, which
 * catches up from its change stream.
 */
export type FeedSink = (message: FeedMessage | undefined) => void;

export class FeedRouter {
  readonly #pubsub: TrackqlPubSub;
  readonly #logger: Logger;
  /** A user's sink, or a set of them when the user has several subscriptions (the common case is one). */
  readonly #sinks = new Map<string, FeedSink | Set<FeedSink>>();
  #source: AsyncIterator<FeedBatch | null | undefined> | null = null;

  constructor(pubsub: TrackqlPubSub, logger: Logger) {
    this.#pubsub = pubsub;
    this.#logger = logger;
  }

  /** Number of users with at least one subscription on this instance. */
  get users(): number {
    return this.#sinks.size;
  }

  /** Sends the user's feed messages published from now on to `sink` until the returned function is called. */
  add(userId: string, sink: FeedSink): () => void {
    const current = this.#sinks.get(userId);
    if (current === undefined) this.#sinks.set(userId, sink);
    else if (typeof current === 'function') this.#sinks.set(userId, new Set([current, sink]));
    else current.add(sink);
    this.#listen();
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const now = this.#sinks.get(userId);
      if (now === sink) this.#sinks.delete(userId);
      else if (typeof now === 'object') {
        now.delete(sink);
        if (now.size === 1) this.#sinks.set(userId, now.values().next().value!);
      }
      if (this.#sinks.size === 0) this.#unlisten();
    };
  }

  #listen(): void {
    if (this.#source) return;
    const source = this.#pubsub.subscribe('feed')[Symbol.asyncIterator]();
    this.#source = source;
    // The first pull starts the pub/sub subscription, synchronously: nothing published after add() is missed.
    void this.#pump(source);
  }

  #unlisten(): void {
    const source = this.#source;
    this.#source = null;
    void source?.return?.();
  }

  async #pump(source: AsyncIterator<FeedBatch | null | undefined>): Promise<void> {
    try {
      for (;;) {
        const next = await source.next();
        if (next.done || this.#source !== source) return;
        this.#route(next.value);
      }
    } catch (error) {
      this.#logger.error({ err: error }, 'feed delivery: pub/sub subscription failed');
      if (this.#source === source) {
        this.#source = null;
        if (this.#sinks.size > 0) {
          this.#listen();
          this.#route(undefined); // what was published meanwhile is caught up from the change streams
        }
      }
    }
  }

  #route(batch: FeedBatch | null | undefined): void {
    if (batch === undefined || batch === null) {
      for (const sinks of [...this.#sinks.values()]) this.#send(sinks, undefined);
      return;
    }
    for (const [userId, entry] of batch.events) {
      const sinks = this.#sinks.get(userId);
      if (sinks !== undefined) this.#send(sinks, feedMessageOf(batch, entry));
    }
  }

  #send(sinks: FeedSink | Set<FeedSink>, message: FeedMessage | undefined): void {
    if (typeof sinks === 'function') return this.#call(sinks, message);
    for (const sink of [...sinks]) this.#call(sink, message);
  }

  #call(sink: FeedSink, message: FeedMessage | undefined): void {
    try {
      sink(message);
    } catch (error) {
      this.#logger.error({ err: error }, 'feed delivery: a subscription failed to take a message');
    }
  }
}
