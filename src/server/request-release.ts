import { RequestCache } from '@pothos/plugin-scope-auth';
import type { Plugin } from 'graphql-yoga';
import type { Em } from '../db/orm.ts';

/**
 * Lets go of what one query or mutation holds once its result is computed, so that it dies young.
 *
 * Why: V8's young-generation collector (the scavenger) keeps a WeakMap entry's value alive when the value
 * reaches its own key, and only a full collection clears such a cycle. Pothos' per-request caches are WeakMaps
 * keyed by the context whose values reach the context (scope-auth's RequestCache holds it), so every request's
 * context, its EntityManager fork (identity map, unit of work…), its promises and Yoga's request objects survived
 * two scavenges and were promoted: ~11 KB per request, megabytes per scavenge, 5–20 ms pauses that set the p95 of
 * every request (bench/results.md, "Request tail"). Clearing the entry (Pothos' own `clearForContext`) and
 * dropping the context's EntityManager fork after the execution break the cycle; what is left is collected by
 * the next scavenge.
 *
 * Subscriptions are left alone (they do not run `onExecute`): their context lives as long as the stream.
 */
const releaseEm = Symbol('trackql.releaseEm');

interface ReleasableContext {
  [releaseEm]?: () => void;
}

/**
 * Defines `em` on the context as a fork made on first use (most requests never touch the database), which
 * `useRequestRelease` drops after the execution. A getter on the context object itself: Yoga copies returned
 * fields with Object.assign, which would read it at once.
 */
export function defineRequestEm(context: object, fork: () => Em): void {
  let em: Em | undefined;
  Object.defineProperty(context, 'em', { get: () => (em ??= fork()), enumerable: false, configurable: true });
  Object.defineProperty(context, releaseEm, { value: () => void (em = undefined), enumerable: false });
}

/** Clears the context's Pothos scope cache and drops its EntityManager fork: its execution is over. */
export function releaseRequest(context: object): void {
  RequestCache.clearForContext(context);
  (context as ReleasableContext)[releaseEm]?.();
}

/** Yoga plugin: releases the context after each query or mutation (also used per live feed event, ws-feed.ts). */
export function useRequestRelease(): Plugin {
  return { onExecute: () => ({ onExecuteDone: ({ args }) => releaseRequest(args.contextValue as object) }) };
}
