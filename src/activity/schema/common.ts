import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { z } from 'zod';
import { nodeDbId } from '../../schema/node-id.ts';
import type { Context } from '../../server/context.ts';
import { badInput, unauthenticated } from '../../server/errors.ts';
import type { ActionViewer } from '../accessors.ts';
import { decodeCursor, encodeCursor, type Page } from '../cursors.ts';
import type { ActionPage } from '../feed.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type TrackerRecord } from '../model.ts';

/** What the activity schema files share: who a call is about, pagination, id decoding, per-request loaders. */


/**
 * authScopes of the calls about one user's feed or trackers (`user:` / `owner:` arguments): without a name,
 * any signed-in caller (a user means itself); naming a user, a service or that very user (`self`).
 */
export function ownOrService(named: string | number | null | undefined) {
  return named === null || named === undefined ? { authenticated: true } : { service: true, self: String(named) };
}

/**
 * The user whose feed/trackers a call concerns, once authScopes allowed it: a user always itself; a service
 * must name one with `user`/`owner`.
 */
export function whose(ctx: Context, named: string | number | null | undefined, argName: string): string {
  const viewer = ctx.viewer;
  if (viewer.kind === 'anonymous') throw unauthenticated('Authentication required');
  if (viewer.kind === 'user') return viewer.id;
  if (named === null || named === undefined || named === '') throw badInput(`${argName}: required when called by a service`);
  const id = String(named);
  if (id.length > MAX_USER_ID_LENGTH) throw badInput(`${argName}: at most ${MAX_USER_ID_LENGTH} characters`);
  return id;
}

/** At most this many verbs in a `verbs` filter or tracker. */
export const MAX_VERBS = 100;
export const MAX_USER_ID_LENGTH = 256;
/** A user named by a service (eraseUser, exportUser): 1 to MAX_USER_ID_LENGTH characters, as `whose` checks. */
export const userIdSchema = z.string().min(1, 'must not be empty').max(MAX_USER_ID_LENGTH, `at most ${MAX_USER_ID_LENGTH} characters`);
export const MAX_DESCRIPTION_LENGTH = 2000;
export const MAX_GROUPING_DELAY = 31_536_000;
export const verbsSchema = z.array(z.string()).max(MAX_VERBS, `at most ${MAX_VERBS} verbs`);

export function actionViewer(ctx: Context): ActionViewer {
  return { userId: ctx.viewer.kind === 'user' ? ctx.viewer.id : null, userType: ctx.config.userType };
}

/** The page a connection's arguments ask for: `first`/`after` forward, or `last`/`before` backward. */
export function pageFrom(args: { first?: number | null; after?: string | null; last?: number | null; before?: string | null }): Page {
  const hasFirst = args.first !== null && args.first !== undefined;
  const hasLast = args.last !== null && args.last !== undefined;
  if (hasFirst && hasLast) throw badInput('Give first or last, not both');
  const limit = (hasLast ? args.last : args.first) ?? DEFAULT_PAGE_SIZE;
  const name = hasLast ? 'last' : 'first';
  if (limit < 0 || limit > MAX_PAGE_SIZE) throw badInput(`${name}: must be between 0 and ${MAX_PAGE_SIZE}`);
  return {
    limit,
    after: args.after ? decodeCursor(args.after, 'after') : null,
    before: args.before ? decodeCursor(args.before, 'before') : null,
    backward: hasLast,
  };
}

export function connectionFrom(page: ActionPage) {
  const edges = page.actions.map((action, i) => ({ cursor: encodeCursor(page.keys[i]!), node: action }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}

/** A Tracker's database id from its global id; anything else is BAD_USER_INPUT naming `field`. */
export function trackerDbId(raw: string | number, field: string): number {
  return Number(nodeDbId(raw, 'Tracker', field));
}

/** Database ids from Action global ids; anything else is BAD_USER_INPUT. */
export function actionDbIds(ids: readonly (string | number)[]): string[] {
  return ids.map((raw) => nodeDbId(raw, 'Action', 'actionIds'));
}

export const templateLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, string | null>(async (verbs) => {
      const templates = await ctx.services.activity.templates(ctx.em, verbs);
      return verbs.map((v) => templates.get(v) ?? null);
    }),
);

export const trackerLoader = createContextCache(
  (ctx: Context) => new DataLoader<number, TrackerRecord | null>((ids) => ctx.services.activity.trackersByIds(ctx.em, ids)),
);

export function canSeeTracker(ctx: Context, tracker: TrackerRecord): boolean {
  return ctx.viewer.kind === 'service' || (ctx.viewer.kind === 'user' && ctx.viewer.id === tracker.ownerId);
}
