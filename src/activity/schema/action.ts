import { z } from 'zod';
import { boundedJsonSchema, JSON_MAX_DEPTH } from '../../objects/json-bounds.ts';
import type { ObjectRefValue } from '../../objects/object-ref.ts';
import { ObjectRef, ObjectRefInput, objectRefListSchema, objectRefSchema, tombstoneOf } from '../../objects/schema.ts';
import { builder } from '../../schema/builder.ts';
import { badInput } from '../../server/errors.ts';
import { callerScope, IDEMPOTENCY_KEY_MAX, idempotencyKeySchema } from '../../server/idempotency.ts';
import type { LogActionParams } from '../actions.ts';
import { LEVELS, MAX_ACTIONS_PER_CALL, type ActionRecord, type TrackerRecord } from '../model.ts';
import { renderAction, timeInfo } from '../rendering.ts';
import { actionViewer, canSeeTracker, connectionFrom, MAX_GROUPING_DELAY, pageFrom, templateLoader, trackerLoader, verbsSchema } from './common.ts';
import { TrackerRef } from './tracker.ts';

/** Actions: Level, the Action node and its connection, `actions`, `logAction`, verb templates. */

export const Level = builder.enumType('Level', {
  description: 'Importance of an action (actrack levels). Actions below the readable level (default INFO) are never unread.',
  values: Object.fromEntries(Object.entries(LEVELS).map(([name, value]) => [name, { value }])) as {
    [K in keyof typeof LEVELS]: { value: number };
  },
});

export const ActionRef = builder.objectRef<ActionRecord>('Action');

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
    seen: t.boolean({
      description: "Seen in the viewer's feed (the badge: `markSeen`, `markAllSeen`); read implies seen. True outside a feed.",
      resolve: (a) => !a.unseen,
    }),
    text: t.string({
      nullable: true,
      description:
        'Rendered from the verb\'s registered template (`registerVerb`); without one, actrack\'s default "{actor} {verb} {targets}" (+ " in relation to {related}"). Objects render as their label, else "Type id"; a forgotten object as the description given to `forgetObject` (actrack\'s DeletedItem).',
      // Synchronous for subscription events (text pre-rendered in the published message).
      resolve: async (a, _args, ctx) => {
        if (a.text !== undefined && a.text !== null) return a.text;
        // A forgotten object renders as its description: its tombstone, looked up with the request's others.
        const described = async (r: ObjectRefValue): Promise<ObjectRefValue> => ({ ...r, tombstone: await tombstoneOf(r, ctx) });
        const [template, actor, targets, related] = await Promise.all([
          templateLoader(ctx).load(a.verb),
          described(a.actor),
          Promise.all(a.targets.map(described)),
          Promise.all(a.related.map(described)),
        ]);
        return renderAction(template, { ...a, actor, targets, related });
      },
    }),
    timeinfo: t.string({
      description:
        'How long ago, at the time of the response, exactly as actrack\'s `timeinfo` (Django\'s `timesince` + " ago"): the largest unit and the next one when not zero ("1 hour, 5 minutes ago"), "0 minutes ago" under a minute or for a future timestamp; a no-break space (U+00A0) joins each count to its unit, as Django\'s.',
      resolve: (a) => timeInfo(a.timestamp),
    }),
    matchedTrackers: t.field({
      type: [TrackerRef],
      description: 'Why this action is in the feed: the trackers that matched it (those that still exist).',
      resolve: async (a, _args, ctx) => {
        const trackers = await trackerLoader(ctx).loadMany(a.trackerIds);
        return trackers.filter((tr): tr is TrackerRecord => tr !== null && !(tr instanceof Error) && !tr.mute && canSeeTracker(ctx, tr));
      },
    }),
  }),
});

export const ActionConnection = builder.connectionObject({ type: ActionRef, name: 'ActionConnection' });

const VerbTemplate = builder.objectRef<{ verb: string; template: string }>('VerbTemplate').implement({
  fields: (t) => ({ verb: t.exposeString('verb'), template: t.exposeString('template') }),
});

const LogActionInput = builder.inputType('LogActionInput', {
  fields: (t) => ({
    actor: t.field({ type: ObjectRefInput, required: true, validate: objectRefSchema, description: 'A user may only name itself.' }),
    verb: t.string({ required: true }),
    targets: t.field({ type: [ObjectRefInput], required: false, validate: objectRefListSchema }),
    related: t.field({ type: [ObjectRefInput], required: false, validate: objectRefListSchema }),
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
        "Seconds: amend a similar earlier action (actrack's rule: same actor and verb, and the same set of targets or the same set of related objects) at most this much older; 0 groups only with actions created by the same logActions call; negative disables.",
    }),
    idempotencyKey: t.string({
      required: false,
      validate: idempotencyKeySchema,
      description: `Chosen by the client (e.g. a UUID), 1 to ${IDEMPOTENCY_KEY_MAX} characters: a call repeated with the same key by the same caller within ACTIVITY_DEDUPE_HOURS returns the action the first call logged (same id) and changes nothing (no second feed entry or live event), so a call that got no answer can be retried.`,
    }),
  }),
});

builder.queryFields((t) => ({
  actions: t.connection(
    {
      type: ActionRef,
      description:
        'Actions by object: as actor, target, related, or involving it in any role (filters combine), newest first by timestamp; `first`/`last` at most 100. Users see only actions of their feed or their own; services all.',
      authScopes: { authenticated: true },
      args: {
        actor: t.arg({ type: ObjectRefInput, required: false, validate: objectRefSchema }),
        target: t.arg({ type: ObjectRefInput, required: false, validate: objectRefSchema }),
        related: t.arg({ type: ObjectRefInput, required: false, validate: objectRefSchema }),
        involving: t.arg({ type: ObjectRefInput, required: false, validate: objectRefSchema }),
        verbs: t.arg.stringList({ required: false, validate: verbsSchema }),
        since: t.arg({ type: 'DateTime', required: false, description: 'Only actions with timestamp >= since.' }),
        until: t.arg({ type: 'DateTime', required: false, description: 'Only actions with timestamp <= until.' }),
      },
      resolve: async (_root, args, ctx) => {
        if (!args.actor && !args.target && !args.related && !args.involving) {
          throw badInput('Give at least one of actor, target, related, involving');
        }
        const page = await ctx.services.activity.actions(
          ctx.em,
          {
            actor: args.actor,
            target: args.target,
            related: args.related,
            involving: args.involving,
            verbs: args.verbs,
            since: args.since,
            until: args.until,
          },
          pageFrom(args),
          actionViewer(ctx),
        );
        return connectionFrom(page);
      },
    },
    ActionConnection,
  ),
}));

/** What the activity service logs from one LogActionInput (the idempotency key goes separately). */
function logParams(input: typeof LogActionInput.$inferInput): LogActionParams {
  return {
    actor: input.actor,
    verb: input.verb,
    targets: input.targets,
    related: input.related,
    data: input.data,
    level: input.level,
    timestamp: input.timestamp,
    groupingDelay: input.groupingDelay,
  };
}

/** The objects an action input names (actor, targets, related), for the labels they carry (objects/labels.ts). */
function objectsOfInput(input: { actor: ObjectRefValue; targets?: readonly ObjectRefValue[] | null; related?: readonly ObjectRefValue[] | null }): ObjectRefValue[] {
  return [input.actor, ...(input.targets ?? []), ...(input.related ?? [])];
}

builder.mutationFields((t) => ({
  logAction: t.field({
    type: ActionRef,
    description: 'Logs an action (or amends a similar recent one: grouping) and fans it out to the feeds tracking it.',
    // Services log anything; a user only actions whose actor is itself ({type: USER_TYPE, id: sub}).
    authScopes: (_root, { input }) => ({ service: true, actor: input.actor }),
    args: { input: t.arg({ type: LogActionInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.rateLimiter.consume(ctx, 'logAction', 1);
      const key = input.idempotencyKey ? { scope: callerScope(ctx.viewer), key: input.idempotencyKey } : null;
      const action = await ctx.services.activity.logAction(ctx.em, logParams(input), key);
      await ctx.services.objectLabels.remember(ctx.viewer, objectsOfInput(input));
      return action;
    },
  }),
  logActions: t.field({
    type: [ActionRef],
    description: `Logs up to ${MAX_ACTIONS_PER_CALL} actions in one transaction, in order (all or none); an input whose idempotencyKey was used before answers with that action and logs nothing. With groupingDelay 0 (the default ACTIVITY_GROUPING_DELAY), similar actions of the call group together, as actrack's request queue; one Action per input (grouped inputs return the amended action).`,
    authScopes: (_root, { inputs }, ctx) => {
      if (inputs.length === 0) return { authenticated: true };
      // A user may only name itself: the first input naming someone else decides (all or nothing).
      const isSelf = (ref: { type: string; id: string | number }) =>
        ctx.viewer.kind === 'user' && ref.type === ctx.config.userType && String(ref.id) === ctx.viewer.id;
      const other = inputs.find((input) => !isSelf(input.actor)) ?? inputs[0]!;
      return { service: true, actor: other.actor };
    },
    args: {
      inputs: t.arg({
        type: [LogActionInput],
        required: true,
        validate: z.array(z.unknown()).max(MAX_ACTIONS_PER_CALL, `at most ${MAX_ACTIONS_PER_CALL} actions per call`),
      }),
    },
    resolve: async (_root, { inputs }, ctx) => {
      if (inputs.length === 0) return [];
      await ctx.services.rateLimiter.consume(ctx, 'logAction', inputs.length);
      const actions = await ctx.services.activity.logActions(
        ctx.em,
        inputs.map(logParams),
        inputs.map((input) => (input.idempotencyKey ? { scope: callerScope(ctx.viewer), key: input.idempotencyKey } : null)),
      );
      await ctx.services.objectLabels.remember(ctx.viewer, inputs.flatMap(objectsOfInput));
      return actions;
    },
  }),
  registerVerb: t.field({
    type: VerbTemplate,
    description: 'Registers (or replaces) the text template of a verb: {actor} {verb} {targets} {target} {related} {count} {data.KEY}.',
    authScopes: { service: true },
    args: { verb: t.arg.string({ required: true }), template: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.activity.registerVerb(ctx.em, args.verb, args.template),
  }),
}));
