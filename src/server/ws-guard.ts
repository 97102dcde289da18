import type { GraphQLError } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { TOKEN_EXPIRED_MESSAGE } from './auth.ts';

/**
 * Subscription limits, per instance: open websocket connections per client (user/service id, or IP for
 * anonymous callers), subscriptions per connection, and subscriptions per client across its websockets and
 * its HTTP (SSE) streams. Refused connections are closed with 4429; refused subscriptions get a
 * RATE_LIMITED error for that operation only.
 *
 * It also holds the running SSE streams, so that shutdown ends them at once (each client gets Yoga's
 * `event: complete` and the response ends) as graphql-ws closes websockets with 1001, instead of letting
 * them hold the HTTP server open until SHUTDOWN_TIMEOUT_MS.
 */

export const TOO_MANY_CONNECTIONS = 4429;

export interface WsConnection {
  key: string;
  /**
   * Ids of this connection's subscription operations: true once its stream runs (counted in the
   * `trackql_subscriptions{transport="ws"}` gauge), false while it starts.
   */
  subscriptions: Map<string, boolean>;
  /** Request id per running operation (for errors and logs). */
  requestIds: Map<string, string>;
}

export class WsGuard {
  readonly #limits: Config['ws'];
  readonly #byClient = new Map<string, Set<WsConnection>>();
  /** Running subscriptions over HTTP (server-sent events) per client. */
  readonly #streams = new Map<string, number>();
  /** How to end each running SSE stream (shutdown). */
  readonly #stoppers = new Set<() => void>();
  #closing = false;

  constructor(limits: Config['ws']) {
    this.#limits = limits;
  }

  /** Registers a connection of `key`, or returns null when the client already has too many. */
  admit(key: string): WsConnection | null {
    const connections = this.#byClient.get(key) ?? new Set<WsConnection>();
    if (connections.size >= this.#limits.maxConnectionsPerClient) return null;
    const connection: WsConnection = { key, subscriptions: new Map(), requestIds: new Map() };
    connections.add(connection);
    this.#byClient.set(key, connections);
    return connection;
  }

  /** Forgets the connection; returns how many of its subscriptions were running (see `running`). */
  release(connection: WsConnection): number {
    let running = 0;
    for (const live of connection.subscriptions.values()) if (live) running++;
    connection.subscriptions.clear();
    connection.requestIds.clear();
    const connections = this.#byClient.get(connection.key);
    connections?.delete(connection);
    if (connections?.size === 0) this.#byClient.delete(connection.key);
    return running;
  }

  connectionsOf(key: string): number {
    return this.#byClient.get(key)?.size ?? 0;
  }

  subscriptionsOf(key: string): number {
    let total = this.#streams.get(key) ?? 0;
    for (const connection of this.#byClient.get(key) ?? []) total += connection.subscriptions.size;
    return total;
  }

  /** Starts counting subscription `id`, or returns the error refusing it. */
  startSubscription(connection: WsConnection, id: string): GraphQLError | null {
    const { maxSubscriptionsPerConnection, maxSubscriptionsPerClient } = this.#limits;
    if (connection.subscriptions.size >= maxSubscriptionsPerConnection) {
      return tooMany(`Too many subscriptions on this connection: at most ${maxSubscriptionsPerConnection}`);
    }
    if (this.subscriptionsOf(connection.key) >= maxSubscriptionsPerClient) {
      return tooMany(`Too many subscriptions for this client: at most ${maxSubscriptionsPerClient} across its connections`);
    }
    connection.subscriptions.set(id, false);
    return null;
  }

  /** Starts counting an HTTP (SSE) subscription of `key`, or returns the error refusing it. */
  startStream(key: string): GraphQLError | null {
    const max = this.#limits.maxSubscriptionsPerClient;
    if (this.subscriptionsOf(key) >= max) {
      return tooMany(`Too many subscriptions for this client: at most ${max} across its connections`);
    }
    this.#streams.set(key, (this.#streams.get(key) ?? 0) + 1);
    return null;
  }

  endStream(key: string): void {
    const left = (this.#streams.get(key) ?? 1) - 1;
    if (left > 0) this.#streams.set(key, left);
    else this.#streams.delete(key);
  }

  /** Subscription `id` of the connection has its stream running; false if it is no longer counted (ended meanwhile). */
  running(connection: WsConnection, id: string): boolean {
    if (!connection.subscriptions.has(id)) return false;
    connection.subscriptions.set(id, true);
    return true;
  }

  /** Operation `id` ended; returns whether it was a running subscription. */
  endOperation(connection: WsConnection, id: string): boolean {
    const running = connection.subscriptions.get(id) === true;
    connection.subscriptions.delete(id);
    connection.requestIds.delete(id);
    return running;
  }

  /**
   * The event stream of an SSE subscription, registered so that `closeStreams` can end it. With `expiry`, the
   * stream ends when the caller's token expires, after one last event `expiry.last` (the websocket transport
   * closes the socket with 4419 at that instant instead): a stream never outlives the token that opened it. With
   * `signal` (the HTTP request's), the stream ends as soon as the client goes away: the response would otherwise
   * notice only on its next write, i.e. never on a topic that stays quiet, and the stream, its pub/sub listener and
   * its request would be held for as long as the token lives (for ever for an anonymous caller).
   */
  openStream<T>(source: AsyncIterable<T>, expiry?: { at: Date; last: T } | null, signal?: AbortSignal): AsyncIterableIterator<T> {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => stop();
    const { stream, stop } = stoppable(source, () => {
      this.#stoppers.delete(stop);
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
    this.#stoppers.add(stop);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (this.#closing || signal?.aborted) stop();
    else if (expiry && Number.isFinite(expiry.at.getTime())) {
      // Re-armed until the instant: setTimeout takes at most ~24.8 days, tokens may live longer.
      const arm = () => {
        const wait = expiry.at.getTime() - Date.now();
        if (wait <= 0) return stop(expiry.last);
        timer = setTimeout(arm, Math.min(wait, MAX_TIMER_MS));
        timer.unref();
      };
      arm();
    }
    return stream;
  }

  /** Shutdown: ends every running SSE stream now, and every one opened from now on. */
  closeStreams(): void {
    this.#closing = true;
    for (const stop of [...this.#stoppers]) stop();
  }
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
/** The longest delay setTimeout takes (2^31 - 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * `source` with a `stop(last?)` that ends it at once: a pending `next()` resolves as done (or with `last`, then the
 * next one as done) and the source is returned (which lets go of its pub/sub listener). Written out rather than
 * with Promise.race, whose reactions on a never-settling "stopped" promise would pile up with every event of a
 * long-lived stream.
 */
function stoppable<T>(source: AsyncIterable<T>, onEnd: () => void): { stream: AsyncIterableIterator<T>; stop: (last?: T) => void } {
  const iterator = source[Symbol.asyncIterator]();
  let ended = false;
  let settlePending: ((result: IteratorResult<T>) => void) | null = null;
  /** The last event given to `stop` while no `next()` was waiting: the next `next()` returns it. */
  let lastEvent: IteratorYieldResult<T> | null = null;
  const end = async (last?: IteratorYieldResult<T>) => {
    if (ended) return;
    ended = true;
    onEnd();
    if (settlePending) settlePending(last ?? DONE);
    else if (last) lastEvent = last;
    settlePending = null;
    try {
      await iterator.return?.();
    } catch {
      // The stream is being abandoned anyway.
    }
  };
  const stream: AsyncIterableIterator<T> = {
    next: () => {
      if (ended) {
        const last = lastEvent;
        lastEvent = null;
        return Promise.resolve(last ?? DONE);
      }
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        settlePending = resolve;
        iterator.next().then(
          (result) => {
            settlePending = null;
            if (result.done) void end();
            resolve(result);
          },
          (error: unknown) => {
            settlePending = null;
            void end();
            reject(error);
          },
        );
      });
    },
    return: async () => {
      lastEvent = null;
      await end();
      return DONE;
    },
    throw: async (error?: unknown) => {
      await end();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return { stream, stop: (last?: T) => void end(last === undefined ? undefined : { done: false, value: last }) };
}

/** The last event of an SSE stream whose token expired (the same error as a stream refused for an expired token). */
function tokenExpiredResult(): unknown {
  return { errors: [createGraphQLError(TOKEN_EXPIRED_MESSAGE, { extensions: { code: 'UNAUTHENTICATED', tokenExpired: true } })] };
}

function tooMany(message: string): GraphQLError {
  return createGraphQLError(message, { extensions: { code: 'RATE_LIMITED' } });
}

/**
 * Envelop plugin: applies the per-client subscription limit to subscriptions over HTTP (SSE); websocket
 * operations (marked `transport: 'ws'` in their context) are counted by the websocket server instead.
 */
export function useStreamLimit(
  guard: WsGuard,
  keyOf: (context: Record<string, unknown>) => string | null,
  tokenValidUntil: (context: Record<string, unknown>) => Date | null,
): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const context = args.contextValue as unknown as Record<string, unknown>;
      if (context['transport'] === 'ws') return undefined;
      const validUntil = tokenValidUntil(context);
      const closable = {
        onSubscribeResult({ result, setResult }: { result: unknown; setResult: (result: never) => void }) {
          if (!isAsyncIterable(result)) return;
          const signal = (context['request'] as Request | undefined)?.signal;
          setResult(guard.openStream(result, validUntil ? { at: validUntil, last: tokenExpiredResult() } : null, signal) as never);
        },
      };
      const key = keyOf(context);
      if (key === null) return closable;
      const refusal = guard.startStream(key);
      if (refusal) {
        setResultAndStopExecution({ errors: [refusal] });
        return undefined;
      }
      let ended = false;
      const end = () => {
        if (!ended) guard.endStream(key);
        ended = true;
      };
      // The stream only notices a vanished client on its next write; the request signal knows at once.
      (context['request'] as Request | undefined)?.signal?.addEventListener('abort', end, { once: true });
      return {
        onSubscribeResult(payload) {
          if (!isAsyncIterable(payload.result)) {
            end();
            return undefined;
          }
          closable.onSubscribeResult(payload);
          return { onEnd: end };
        },
        onSubscribeError: end,
      };
    },
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
