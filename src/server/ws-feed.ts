import { execute, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { CompiledQuery } from 'graphql-jit';
import type { Context } from './context.ts';
import type { JitCompiler } from './jit.ts';
import { releaseRequest } from './request-release.ts';

/**
 * The `feed` subscription over websockets, once established, held by one small object (WsFeed) instead of the
 * operation's envelope.
 *
 * A feed subscription starts like every other operation: Yoga's envelop path with every plugin (rate limit, query
 * limits, input guard, auth scopes, request id, Prometheus' subscribe phase). Its `subscribe` resolver then hands
 * the FeedStream over (`handOverFeed`) when the operation came over a websocket, and returns an inert stream that
 * nothing reads: the operation's Yoga context, its envelop iterator wrappers and their hook closures become
 * garbage. The websocket server (app.ts) drives the FeedStream with a WsFeed, which executes each event's
 * selection set (graphql-jit's compiled operation, or graphql-js) with a context built for that event and masks
 * its errors, as the envelope would have. What a feed subscriber keeps is then its socket, graphql-ws's state,
 * the FeedStream and this object (bench/results.md, "Lean websocket feed").
 *
 * Per-event plugin work that the envelope did is not done for handed-over feeds: Prometheus' error counter does
 * not count errors of their events (a feed event is mapped from the published message alone and has none in
 * practice; a failed stream still reaches the client as an error, and the log).
 */

/** Set in the context of websocket operations: where the `feed` subscription hands its stream. */
export interface FeedHandover {
  stream: AsyncIterableIterator<unknown> | null;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
const asValue = <T>(value: T): IteratorYieldResult<T> => ({ done: false, value });

/** What a handed-over feed's resolver returns to the envelope: ends at once if ever read (nothing reads it). */
const INERT: AsyncIterableIterator<never> = {
  next: () => Promise.resolve(DONE),
  return: () => Promise.resolve(DONE),
  throw: () => Promise.resolve(DONE),
  [Symbol.asyncIterator]() {
    return this;
  },
};

/** The `feed` resolver's return value: the stream, or, over a websocket, an inert stand-in once handed over. */
export function handOverFeed<T>(ctx: Context, stream: AsyncIterableIterator<T>): AsyncIterableIterator<T> {
  const handover = ctx.feedHandover;
  if (!handover) return stream;
  handover.stream = stream;
  return INERT;
}

/** What a websocket feed's events need from its socket (graphql-ws's `extra`, shared by its operations). */
export interface WsFeedSocket {
  viewer?: Context['viewer'];
  clientIp?: string | null;
  userAgent?: string | null;
}

/** Shared by every WsFeed of an app: builds each event's context and masks errors. */
export interface WsFeedRunner {
  jit: JitCompiler | null;
  /** The context of one event (what resolvers of the event's fields get). */
  context(socket: WsFeedSocket, requestId: string): Context;
  /** Masks the errors of one event's result (Yoga's masking, with the request id). */
  mask(result: ExecutionResult, requestId: string): ExecutionResult;
  /** Called once when a feed ends, with how long it ran (its subscribe phase, for the metrics). */
  ended(seconds: number): void;
}

/** One established websocket feed subscription: its stream and what executing an event needs (shared objects). */
export class WsFeed implements AsyncIterableIterator<ExecutionResult> {
  readonly #stream: AsyncIterableIterator<unknown>;
  readonly #runner: WsFeedRunner;
  readonly #schema: GraphQLSchema;
  readonly #document: DocumentNode;
  readonly #operationName: string | null;
  readonly #variables: ExecutionArgs['variableValues'];
  readonly #query: CompiledQuery | null;
  readonly #socket: WsFeedSocket;
  readonly #requestId: string;
  /** performance.now() when the feed started; NaN once its end was reported. */
  #startedAt = performance.now();

  constructor(stream: AsyncIterableIterator<unknown>, runner: WsFeedRunner, args: ExecutionArgs, socket: WsFeedSocket, requestId: string) {
    this.#stream = stream;
    this.#runner = runner;
    this.#schema = args.schema;
    this.#document = args.document;
    this.#operationName = args.operationName ?? null;
    this.#variables = args.variableValues ?? null;
    this.#query = runner.jit?.compiled(args) ?? null;
    this.#socket = socket;
    this.#requestId = requestId;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  // Not an async function: a pending next() (an idle subscriber's state) is then one promise and one reaction,
  // not a suspended frame.
  next(): Promise<IteratorResult<ExecutionResult>> {
    return this.#stream.next().then((next) => (next.done ? this.#end() : this.#run(next.value).then(asValue)));
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    await this.#stream.return?.();
    return this.#end();
  }

  /** Reports the end once (a feed can end by its stream and be returned as well). */
  #end(): IteratorResult<ExecutionResult> {
    if (!Number.isNaN(this.#startedAt)) {
      this.#runner.ended((performance.now() - this.#startedAt) / 1000);
      this.#startedAt = Number.NaN;
    }
    return DONE;
  }

  async throw(): Promise<IteratorResult<ExecutionResult>> {
    return this.return();
  }

  async #run(payload: unknown): Promise<ExecutionResult> {
    const runner = this.#runner;
    const contextValue = runner.context(this.#socket, this.#requestId);
    let result: ExecutionResult;
    try {
      result = this.#query
        ? await runner.jit!.runEvent(this.#query, this.#document, payload, contextValue, this.#variables)
        : await execute({
            schema: this.#schema,
            document: this.#document,
            operationName: this.#operationName,
            variableValues: this.#variables,
            rootValue: payload,
            contextValue,
          });
    } catch (error) {
      result = { errors: [error as never] };
    } finally {
      releaseRequest(contextValue);
    }
    return result.errors?.length ? runner.mask(result, this.#requestId) : result;
  }
}
