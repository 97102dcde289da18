import { createContextCache } from '@pothos/core';
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import DataLoader from 'dataloader';
import { z } from 'zod';
import { parseBigintId } from '../db/bigint-id.ts';
import { boundedJsonSchema, checkJsonSize, JSON_MAX_DEPTH } from '../objects/json-bounds.ts';
import { ObjectRef, ObjectRefInput } from '../objects/schema.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { builder } from '../schema/builder.ts';
import type { Context } from '../server/context.ts';
import { badInput, unauthenticated } from '../server/errors.ts';
import type { FeedMessage } from '../server/pubsub.ts';
import {
  DEFAULT_PAGE_SIZE,
  LEVELS,
  MAX_PAGE_SIZE,
  decodeCursor,
  encodeCursor,
  renderTemplate,
  type ActionRecord,
  type TrackerRecord,
} from './model.ts';
import { actionFromSnapshot, type ActionPage } from './service.ts';

// ------------------------------------------------------------------ helpers

/**
 * authScopes of the calls about one user's feed or trackers (`user:` / `owner:` arguments): without a name,
 * any signed-in caller (a user means itself); naming a user, a service or that very user (`self`).
 */
function ownOrService(named: string | number | null | undefined) {
  return named === null || named === undefined ? { authenticated: true } : { service: true, self: String(named) };
}

/**
 * The user whose feed/trackers a call concerns, once authScopes allowed it: a user always itself; a service
 * must name one with `user`/`owner`.
 */
function whose(ctx: Context, named: string | number | null | undefined, argName: string): string {
  const viewer = ctx.viewer;
  if (viewer.kind === 'anonymous') throw unauthenticated('Authentication required');
  if (viewer.kind === 'user') return viewer.id;
  if (named === null || named === undefined || named === '') throw badInput(`${argName}: required when called by a service`);
  const id = String(named);
  if (id.length > MAX_USER_ID_LENGTH) throw badInput(`${argName}: at most ${MAX_USER_ID_LENGTH} characters`);
  return id;
}

/** At most this many verbs in a `verbs` filter or tracker. */
const MAX_VERBS = 100;
const MAX_USER_ID_LENGTH = 256;
const MAX_DESCRIPTION_LENGTH = 2000;
const MAX_GROUPING_DELAY = 31_536_000;
const verbsSchema = z.array(z.string()).max(MAX_VERBS, `at most ${MAX_VERBS} verbs`);

function actionViewer(ctx: Context): { userId: string | null; userType: string } {
  return { userId: ctx.viewer.kind === 'user' ? ctx.viewer.id : null, userType: ctx.config.userType };
}

function pageFrom(args: { first?: number | null; after?: string | null; last?: number | null; before?: string | null }): {
  first: number;
  after: string | null;
} {
  if ((args.last !== null && args.last !== undefined) || (args.before !== null && args.before !== undefined)) {
    throw badInput('Only forward pagination (first/after) is supported');
  }
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  if (first < 0 || first > MAX_PAGE_SIZE) throw badInput(`first: must be between 0 and ${MAX_PAGE_SIZE}`);
  return { first, after: args.after ? decodeCursor(args.after) : null };
}

function connectionFrom(page: ActionPage) {
  const edges = page.actions.map((action) => ({ cursor: encodeCursor(action.id), node: action }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: false,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}

/** Database ids from Action global ids; anything else is BAD_USER_INPUT. */
function actionDbIds(ids: readonly (string | number)[]): string[] {
  return ids.map((raw) => {
    let decoded: { typename: string; id: string };
    try {
      decoded = decodeGlobalID(String(raw));
    } catch {
      throw badInput(`actionIds: "${String(raw)}" is not an Action id`);
    }
    const id = decoded.typename === 'Action' ? parseBigintId(decoded.id) : null;
    if (id === null) throw badInput(`actionIds: "${String(raw)}" is not an Action id`);
    return id;
  });
}

const templateLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, string | null>(async (verbs) => {
      const templates = await ctx.services.activity.templates(ctx.em, verbs);
      return verbs.map((v) => templates.get(v) ?? null);
    }),
);

const trackerLoader = createContextCache(
  (ctx: Context) => new DataLoader<number, TrackerRecord | null>((ids) => ctx.services.activity.trackersByIds(ctx.em, ids)),
);

function canSeeTracker(ctx: Context, tracker: TrackerRecord): boolean {
  return ctx.viewer.kind === 'service' || (ctx.viewer.kind === 'user' && ctx.viewer.id === tracker.ownerId);
}

// ------------------------------------------------------------------ types

const Level = builder.enumType('Level', {
  description: 'Importance of an action (actrack levels). Actions below the readable level (default INFO) are never unread.',
  values: Object.fromEntries(Object.entries(LEVELS).map(([name, value]) => [name, { value }])) as {
    [K in keyof typeof LEVELS]: { value: number };
  },
});

const TrackerRef = builder.objectRef<TrackerRecord>('Tracker');
const ActionRef = builder.objectRef<ActionRecord>('Action');

builder.node(TrackerRef, {
  description: 'A user following an object (or every object of a type), optionally only for some verbs.',
  // Only its owner and services ever see a tracker (lists and node(id:) also filter, so this never fires
  // in practice: it is the rule itself, checked on every tracker that reaches a response).
  authScopes: (tracker) => ({ service: true, self: tracker.ownerId }),
  id: { resolve: (t) => t.id },
  loadMany: async (ids, ctx) => {
    const numeric = ids.map((id) => (/^\d{1,10}$/.test(id) ? Number(id) : -1));
    const trackers = await ctx.services.activity.trackersByIds(ctx.em, numeric);
    return trackers.map((t) => (t && canSeeTracker(ctx, t) ? t : null));
  },
  fields: (t) => ({
    owner: t.exposeID('ownerId', { description: 'The user who owns the tracker.' }),
    object: t.field({
      type: ObjectRef,
      nullable: true,
      description: 'The tracked object; null when the whole type is tracked.',
      resolve: (tr) => (tr.objectId === null ? null : { type: tr.objectType, id: tr.objectId, label: tr.objectLabel }),
    }),
    objectType: t.exposeString('objectType'),
    verbs: t.exposeStringList('verbs', { nullable: true, description: 'null: every verb.' }),
    actorOnly: t.exposeBoolean('actorOnly', {
      description: 'Only actions whose actor is the object (or of the type); otherwise also as target or related object.',
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (tr) => tr.createdAt }),
  }),
});

builder.node(ActionRef, {
  description: 'Something an actor did (a verb), to targets, with related objects and data.',
  id: { resolve: (a) => a.id },
  loadMany: (ids, ctx) => ctx.services.activity.actionsByIds(ctx.em, ids, actionViewer(ctx)),
  fields: (t) => ({
    actor: t.field({ type: ObjectRef, resolve: (a) => a.actor }),
    verb: t.exposeString('verb'),
    targets: t.field({ type: [ObjectRef], resolve: (a) => a.targets }),
    related: t.field({ type: [ObjectRef], resolve: (a) => a.related }),
    data: t.field({ type: 'JSON', nullable: true, resolve: (a) => a.data }),
    level: t.field({ type: Level, resolve: (a) => a.level }),
    timestamp: t.field({ type: 'DateTime', resolve: (a) => a.timestamp }),
    groupedCount: t.exposeInt('groupedCount', { description: 'How many similar actions were grouped into this one.' }),
    unread: t.exposeBoolean('unread', {
      description: "Unread in the viewer's feed (in `feed(user:)`, that user's). False outside a feed.",
    }),
    text: t.string({
      nullable: true,
      description: "Rendered from the verb's registered template (`registerVerb`), or null.",
      // Synchronous for subscription events (text pre-rendered in the published message).
      resolve: (a, _args, ctx) =>
        a.text !== undefined
          ? a.text
          : templateLoader(ctx)
              .load(a.verb)
              .then((template) => (template === null ? null : renderTemplate(template, a))),
    }),
    matchedTrackers: t.field({
      type: [TrackerRef],
      description: 'Why this action is in the feed: the trackers that matched it (those that still exist).',
      resolve: async (a, _args, ctx) => {
        const trackers = await trackerLoader(ctx).loadMany(a.trackerIds);
        return trackers.filter((tr): tr is TrackerRecord => tr !== null && !(tr instanceof Error) && canSeeTracker(ctx, tr));
      },
    }),
  }),
});

const ActionConnection = builder.connectionObject({ type: ActionRef, name: 'ActionConnection' });

const FeedEventKind = builder.enumType('FeedEventKind', {
  values: {
    ADDED: { description: 'A new action entered the feed.' },
    UPDATED: { description: 'An action of the feed was amended by grouping (and is unread again).' },
    READ: { description: 'Marked read (action null: markAllRead).' },
    UNREAD: { description: 'Marked unread.' },
  } as const,
});

interface FeedEventShape {
  kind: FeedMessage['kind'];
  action: ActionRecord | null;
  unreadCount: number;
}

const FeedEvent = builder.objectRef<FeedEventShape>('FeedEvent').implement({
  description: "A change of the viewer's feed, with the unread count after it.",
  fields: (t) => ({
    kind: t.field({ type: FeedEventKind, resolve: (e) => e.kind }),
    action: t.field({ type: ActionRef, nullable: true, resolve: (e) => e.action }),
    unreadCount: t.exposeInt('unreadCount'),
  }),
});

const VerbTemplate = builder.objectRef<{ verb: string; template: string }>('VerbTemplate').implement({
  fields: (t) => ({ verb: t.exposeString('verb'), template: t.exposeString('template') }),
});

const LogActionInput = builder.inputType('LogActionInput', {
  fields: (t) => ({
    actor: t.field({ type: ObjectRefInput, required: true, description: 'A user may only name itself.' }),
    verb: t.string({ required: true }),
    targets: t.field({ type: [ObjectRefInput], required: false }),
    related: t.field({ type: [ObjectRefInput], required: false }),
    data: t.field({
      type: 'JSON',
      required: false,
      validate: boundedJsonSchema,
      description: `Any JSON; size-capped (ACTIVITY_DATA_MAX_BYTES), nested at most ${JSON_MAX_DEPTH} levels.`,
    }),
    level: t.field({ type: Level, required: false }),
    timestamp: t.field({ type: 'DateTime', required: false }),
    groupingDelay: t.int({
      required: false,
      validate: z.number().int().max(MAX_GROUPING_DELAY, `must be at most ${MAX_GROUPING_DELAY} seconds (a year)`),
      description:
        'Seconds: amend a similar action (same actor and verb, a shared target or related object) logged this close; negative disables.',
    }),
  }),
});

const TrackInput = builder.inputType('TrackInput', {
  fields: (t) => ({
    object: t.field({ type: ObjectRefInput, required: false }),
    objectType: t.string({ required: false, description: 'Track every object of this type (instead of `object`).' }),
    verbs: t.stringList({
      required: false,
      validate: verbsSchema,
      description: 'Only these verbs (merged with those already tracked); null = all.',
    }),
    actorOnly: t.boolean({ required: false, defaultValue: true }),
    log: t.boolean({ required: false, defaultValue: false, description: 'Also log a "started tracking" action.' }),
    owner: t.id({ required: false, description: 'Services: the user who tracks.' }),
  }),
});

const UntrackInput = builder.inputType('UntrackInput', {
  fields: (t) => ({
    object: t.field({ type: ObjectRefInput, required: false }),
    objectType: t.string({ required: false }),
    verbs: t.stringList({ required: false, validate: verbsSchema, description: 'Verbs to stop tracking; all when omitted.' }),
    log: t.boolean({ required: false, defaultValue: false, description: 'Also log a "stopped tracking" action.' }),
    owner: t.id({ required: false }),
  }),
});

// ------------------------------------------------------------------ queries

builder.queryFields((t) => ({
  feed: t.connection(
    {
      type: ActionRef,
      description: "The actions matching the user's trackers, newest first (by log order). `first` is at most 100.",
      authScopes: (_root, args) => ownOrService(args.user),
      args: {
        unreadOnly: t.arg.boolean({ required: false }),
        verbs: t.arg.stringList({ required: false, validate: verbsSchema }),
        minLevel: t.arg({ type: Level, required: false }),
        user: t.arg.id({ required: false, description: 'Services: whose feed.' }),
      },
      resolve: async (_root, args, ctx) => {
        const userId = whose(ctx, args.user, 'user');
        const page = await ctx.services.activity.feed(
          ctx.em,
          userId,
          { unreadOnly: args.unreadOnly, verbs: args.verbs, minLevel: args.minLevel },
          pageFrom(args),
        );
        return connectionFrom(page);
      },
    },
    ActionConnection,
  ),
  unreadCount: t.int({
    description: 'Exact number of unread actions in the feed (one row read).',
    authScopes: (_root, args) => ownOrService(args.user),
    args: { user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => ctx.services.activity.unreadCount(ctx.em, whose(ctx, args.user, 'user')),
  }),
  actions: t.connection(
    {
      type: ActionRef,
      description:
        'Actions by object: as actor, target, related, or involving it in any role (filters combine), newest first; `first` is at most 100. Users see only actions of their feed or their own; services all.',
      authScopes: { authenticated: true },
      args: {
        actor: t.arg({ type: ObjectRefInput, required: false }),
        target: t.arg({ type: ObjectRefInput, required: false }),
        related: t.arg({ type: ObjectRefInput, required: false }),
        involving: t.arg({ type: ObjectRefInput, required: false }),
        verbs: t.arg.stringList({ required: false, validate: verbsSchema }),
      },
      resolve: async (_root, args, ctx) => {
        if (!args.actor && !args.target && !args.related && !args.involving) {
          throw badInput('Give at least one of actor, target, related, involving');
        }
        const page = await ctx.services.activity.actions(
          ctx.em,
          { actor: args.actor, target: args.target, related: args.related, involving: args.involving, verbs: args.verbs },
          pageFrom(args),
          actionViewer(ctx),
        );
        return connectionFrom(page);
      },
    },
    ActionConnection,
  ),
  trackers: t.field({
    type: [TrackerRef],
    description: "The viewer's trackers (a service names the user).",
    authScopes: (_root, args) => ownOrService(args.user),
    args: { user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => ctx.services.activity.trackers(ctx.em, whose(ctx, args.user, 'user')),
  }),
  trackersOf: t.field({
    type: [TrackerRef],
    description: 'Trackers following the object (on it or on its type). Services see every owner; users only their own.',
    authScopes: { authenticated: true },
    args: { object: t.arg({ type: ObjectRefInput, required: true }) },
    resolve: (_root, args, ctx) =>
      ctx.services.activity.trackersOf(ctx.em, args.object, ctx.viewer.kind === 'user' ? ctx.viewer.id : null),
  }),
}));

// ------------------------------------------------------------------ mutations

builder.mutationFields((t) => ({
  logAction: t.field({
    type: ActionRef,
    description: 'Logs an action (or amends a similar recent one: grouping) and fans it out to the feeds tracking it.',
    // Services log anything; a user only actions whose actor is itself ({type: USER_TYPE, id: sub}).
    authScopes: (_root, { input }) => ({ service: true, actor: input.actor }),
    args: { input: t.arg({ type: LogActionInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.rateLimiter.consume(ctx, 'logAction', 1);
      return ctx.services.activity.logAction(ctx.em, {
        actor: input.actor,
        verb: input.verb,
        targets: input.targets,
        related: input.related,
        data: input.data,
        level: input.level,
        timestamp: input.timestamp,
        groupingDelay: input.groupingDelay,
      });
    },
  }),
  track: t.field({
    type: TrackerRef,
    description: 'Creates a tracker, or merges the verbs into the existing one.',
    authScopes: (_root, { input }) => ownOrService(input.owner),
    args: { input: t.arg({ type: TrackInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.activity.track(
        ctx.em,
        {
          owner: whose(ctx, input.owner, 'owner'),
          object: input.object,
          objectType: input.objectType,
          verbs: input.verbs,
          actorOnly: input.actorOnly,
          log: input.log,
        },
        ctx.config.userType,
      ),
  }),
  untrack: t.field({
    type: TrackerRef,
    nullable: true,
    description: 'Removes verbs from a tracker (all when none given); null once the tracker has no verbs left.',
    authScopes: (_root, { input }) => ownOrService(input.owner),
    args: { input: t.arg({ type: UntrackInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.activity.untrack(
        ctx.em,
        {
          owner: whose(ctx, input.owner, 'owner'),
          object: input.object,
          objectType: input.objectType,
          verbs: input.verbs,
          log: input.log,
        },
        ctx.config.userType,
      ),
  }),
  markRead: t.int({
    description: "Marks actions of the feed read; returns how many changed. Ids not in the feed: NOT_FOUND, nothing changes.",
    authScopes: (_root, args) => ownOrService(args.user),
    args: { actionIds: t.arg.idList({ required: true }), user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => {
      const userId = whose(ctx, args.user, 'user');
      return ctx.services.activity.mark(ctx.em, userId, actionDbIds(args.actionIds), false);
    },
  }),
  markUnread: t.int({
    description: 'Marks actions of the feed unread (those below the readable level stay read); returns how many changed.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: { actionIds: t.arg.idList({ required: true }), user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => {
      const userId = whose(ctx, args.user, 'user');
      return ctx.services.activity.mark(ctx.em, userId, actionDbIds(args.actionIds), true);
    },
  }),
  markAllRead: t.int({
    description: 'Marks every unread action of the feed read (with `before`: those with timestamp <= before); one statement.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: { before: t.arg({ type: 'DateTime', required: false }), user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => {
      const userId = whose(ctx, args.user, 'user');
      return ctx.services.activity.markAllRead(ctx.em, userId, args.before);
    },
  }),
  registerVerb: t.field({
    type: VerbTemplate,
    description: 'Registers (or replaces) the text template of a verb: {actor} {verb} {targets} {target} {related} {count} {data.KEY}.',
    authScopes: { service: true },
    args: { verb: t.arg.string({ required: true }), template: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.activity.registerVerb(ctx.em, args.verb, args.template),
  }),
  forgetObject: t.field({
    type: ObjectRef,
    description: 'The object was deleted in your application: actions keep showing it as a tombstone; trackers on it are removed.',
    authScopes: { service: true },
    args: {
      object: t.arg({ type: ObjectRefInput, required: true }),
      description: t.arg.string({
        required: false,
        validate: z.string().max(MAX_DESCRIPTION_LENGTH, `must be at most ${MAX_DESCRIPTION_LENGTH} characters`),
      }),
      serialization: t.arg({ type: 'JSON', required: false, validate: boundedJsonSchema }),
    },
    resolve: (_root, args, ctx) => {
      checkJsonSize(args.serialization, 'serialization', ctx.config.activityDataMaxBytes);
      return ctx.services.activity.forgetObject(ctx.em, args.object as ObjectRefValue, args.description ?? null, args.serialization ?? null);
    },
  }),
}));

// ------------------------------------------------------------------ subscription

builder.subscriptionType({});

builder.subscriptionField('feed', (t) =>
  t.field({
    type: FeedEvent,
    description:
      "Live changes of the viewer's feed (a service names the user). Resolved from the published event alone: no database query per subscriber.",
    authScopes: (_root, args) => ownOrService(args.user),
    args: { user: t.arg.id({ required: false }) },
    subscribe: (_root, args, ctx) => ctx.pubsub.subscribe('feed', whose(ctx, args.user, 'user')),
    resolve: (message: FeedMessage): FeedEventShape => ({
      kind: message.kind,
      action: message.action ? actionFromSnapshot(message.action, message.unread ?? false, message.trackerIds) : null,
      unreadCount: message.unreadCount,
    }),
  }),
);

export { encodeGlobalID };
