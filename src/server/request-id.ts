import { AsyncLocalStorage } from 'node:async_hooks';
import crypto from 'node:crypto';
import type { ExecutionResult, GraphQLError, GraphQLFormattedError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { withExtensions } from './errors.ts';

/**
 * Request ids: every HTTP request and every websocket operation gets one (the caller's `x-request-id` when
 * it is a plausible id, otherwise a new UUID). It is returned in the `x-request-id` response header, put on
 * every GraphQL error as `extensions.requestId`, and attached to the log lines written while handling it.
 */

export const REQUEST_ID_HEADER = 'x-request-id';

const requestScope = new AsyncLocalStorage<{ requestId: string }>();

export function requestIdFrom(header: string | null | undefined): string {
  return header && /^[A-Za-z0-9._:-]{1,64}$/.test(header) ? header : flat(crypto.randomUUID());
}

/**
 * A flat copy of `s`. Node builds randomUUID() by concatenation: a rope of ~16 pieces, ~490 B on the heap
 * against ~65 B flat. Websocket operations keep their request id as long as they run (an idle subscriber's
 * state), so theirs must be flat.
 */
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** The id of the request being handled, when called while handling one. */
export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}

/** Runs `fn` with `requestId` as the current request id (for websocket operations). */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return requestScope.run({ requestId }, fn);
}

/** A copy of `error` whose extensions carry `requestId`. */
export function errorWithRequestId(error: GraphQLError, requestId: string): GraphQLError {
  return withExtensions(error, { ...inputErrorCode(error), ...error.extensions, requestId });
}

/**
 * graphql-js reports variables that do not fit their type (a malformed DateTime, a string for an Int) with
 * no code, and after 50 of them stops with one more error saying so: they are the caller's bad input, so they
 * get BAD_USER_INPUT like every other input refusal.
 */
function inputErrorCode(error: Pick<GraphQLFormattedError, 'message' | 'path'>): { code?: string } {
  if (error.path) return {};
  return error.message.startsWith('Variable "$') || error.message.startsWith('Too many errors processing variables') ? { code: 'BAD_USER_INPUT' } : {};
}

function withIds<T extends ExecutionResult>(result: T, requestId: string): T {
  if (!result.errors?.length) return result;
  return {
    ...result,
    errors: result.errors.map((e) => (isGraphQLError(e) ? errorWithRequestId(e, requestId) : e)),
  };
}

/** `extensions.requestId` on formatted (already serialisable) errors, for graphql-ws messages. */
export function formattedWithRequestId(errors: readonly GraphQLFormattedError[], requestId: string): GraphQLFormattedError[] {
  return errors.map((e) => ({ ...e, extensions: { ...inputErrorCode(e), ...e.extensions, requestId } }));
}

function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

async function* mapResults(
  results: AsyncIterable<ExecutionResult>,
  requestId: string,
): AsyncGenerator<ExecutionResult, void, undefined> {
  for await (const result of results) yield withIds(result, requestId);
}

/** Yoga plugin: assigns the id, scopes the request to it, echoes it in a header and on every error. */
export function useRequestId(): Plugin {
  const ids = new WeakMap<Request, string>();
  const idOf = (request: Request) => {
    let id = ids.get(request);
    if (!id) {
      id = currentRequestId() ?? requestIdFrom(request.headers.get(REQUEST_ID_HEADER));
      ids.set(request, id);
    }
    return id;
  };
  return {
    instrumentation: {
      request({ request }, wrapped) {
        return requestScope.run({ requestId: idOf(request) }, wrapped);
      },
    },
    onResultProcess({ request, result, setResult }) {
      const id = idOf(request);
      if (Array.isArray(result)) setResult(result.map((r) => withIds(r, id)));
      else if (isAsyncIterable(result)) setResult(mapResults(result, id));
      else setResult(withIds(result as ExecutionResult, id));
    },
    onResponse({ request, response }) {
      response.headers.set(REQUEST_ID_HEADER, idOf(request));
    },
  };
}
