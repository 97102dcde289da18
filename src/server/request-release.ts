import { RequestCache } from '@pothos/plugin-scope-auth';
import type { Plugin } from 'graphql-yoga';
import type { Em } from '../db/orm.ts';

/*
 * Lets go of what one query or mutation holds once its result is computed, so that it dies young.
 *
 * Why: V8's young-generation collector (the scavenger) keeps a WeakMap entry's value alive when the value
 * reaches its own key, and only a full collection clears such a cycle. Pothos' per-request caches are WeakMaps
 * keyed by the context whose values reach the context (scope-auth's RequestCache holds it), so every request's
 * context, its EntityManager fork (identity map, unit of work…), its promises and Yoga's request objects survived
 * two scavenges and were promoted: 11–50 KB per request, megabytes per scavenge, 5–20 ms pauses that set the p95 of
 * every request (bench/results.md, "Request tail"). Clearing the entry (Pothos' own `clearForContext`) and
 * dropping the context's EntityManager fork after the execution break the cycle; what is left is collected by
 * the next scavenge.
 *
 * Subscriptions are left alone (they do not run `onExecute`): their context lives as long as the stream; a
 * websocket `feed` releases its own when it hands its stream over (app.ts), and each event's (ws-feed.ts).
 */

/**
 * Defines `em` on the context as a fork made on first use (most requests never touch the database), which
 * `releaseRequest` drops after the execution (assigning `undefined`; a later read forks again). An accessor on the
 * context object itself, its only non-data property: Yoga copies returned fields with Object.assign, which would
 * read a getter at once.
 */
export function defineRequestEm(context: object, fork: () => Em): void {
  let em: Em | undefined;
  Object.defineProperty(context, 'em', {
    get: () => (em ??= fork()),
    set: (value: undefined) => void (em = value),
    enumerable: false,
    configurable: true,
  });
}

/** Clears the context's Pothos scope cache and drops its EntityManager fork: its execution is over. */
export function releaseRequest(context: object): void {
  RequestCache.clearForContext(context);
  if ('em' in context) (context as { em: Em | undefined }).em = undefined;
}

/** Yoga plugin: releases the context after each query or mutation (also used per live feed event, ws-feed.ts). */
export function useRequestRelease(): Plugin {
  return { onExecute: () => ({ onExecuteDone: ({ args }) => releaseRequest(args.contextValue as object) }) };
}
