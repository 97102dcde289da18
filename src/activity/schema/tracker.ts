import { ObjectRef, ObjectRefInput, objectRefSchema } from '../../objects/schema.ts';
import { builder } from '../../schema/builder.ts';
import type { TrackerRecord } from '../model.ts';
import { canSeeTracker, ownOrService, verbsSchema, whose } from './common.ts';

/** Trackers: the Tracker node, `trackers`, `trackersOf`, `track`, `untrack`. */

export const TrackerRef = builder.objectRef<TrackerRecord>('Tracker');

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
    mute: t.exposeBoolean('mute', {
      description: 'A mute: the actions it matches never enter the feed (below ACTIVITY_UNMUTABLE_LEVEL), whatever else matches.',
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (tr) => tr.createdAt }),
  }),
});

const TrackInput = builder.inputType('TrackInput', {
  fields: (t) => ({
    object: t.field({ type: ObjectRefInput, required: false, validate: objectRefSchema }),
    objectType: t.string({ required: false, description: 'Track every object of this type (instead of `object`).' }),
    verbs: t.stringList({
      required: false,
      validate: verbsSchema,
      description: 'Only these verbs; on an existing tracker they replace its verbs. Omitted, null or empty: every verb (actrack).',
    }),
    actorOnly: t.boolean({
      required: false,
      description:
        'Only actions whose actor is the object. A new tracker defaults to true, a new mute to false; an existing one changes only when given.',
    }),
    mute: t.boolean({
      required: false,
      defaultValue: false,
      description:
        'Create or modify a mute instead: the actions it matches leave the feed and never enter it, whatever other tracker matches (levels at or above ACTIVITY_UNMUTABLE_LEVEL still enter). A user may both track and mute an object.',
    }),
    log: t.boolean({
      required: false,
      defaultValue: false,
      description: 'Also log a "started tracking" action when the tracker is created (charged as a logged action; not for mutes).',
    }),
    owner: t.id({ required: false, description: 'Services: the user who tracks.' }),
  }),
});

const UntrackInput = builder.inputType('UntrackInput', {
  fields: (t) => ({
    object: t.field({ type: ObjectRefInput, required: false, validate: objectRefSchema }),
    objectType: t.string({ required: false }),
    verbs: t.stringList({ required: false, validate: verbsSchema, description: 'Verbs to stop tracking; all when omitted, null or empty (actrack).' }),
    mute: t.boolean({
      required: false,
      defaultValue: false,
      description: 'Remove (verbs from) the mute instead of the tracker. What it kept out does not come back unless `restore`.',
    }),
    restore: t.boolean({
      required: false,
      defaultValue: false,
      description:
        "With `mute`: bring back, as read, the past actions the user's trackers match and no remaining mute does (each tracker's backfill, ACTIVITY_TRACK_BACKFILL).",
    }),
    log: t.boolean({
      required: false,
      defaultValue: false,
      description: 'Also log a "stopped tracking" action when the tracker is deleted (charged as a logged action).',
    }),
    owner: t.id({ required: false }),
  }),
});

builder.queryFields((t) => ({
  trackers: t.field({
    type: [TrackerRef],
    description: "The viewer's trackers (a service names the user).",
    authScopes: (_root, args) => ownOrService(args.user),
    args: { user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => ctx.services.activity.trackers(ctx.em, whose(ctx, args.user, 'user')),
  }),
  mutes: t.field({
    type: [TrackerRef],
    description: "The viewer's mutes (a service names the user).",
    authScopes: (_root, args) => ownOrService(args.user),
    args: { user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => ctx.services.activity.mutes(ctx.em, whose(ctx, args.user, 'user')),
  }),
  trackersOf: t.field({
    type: [TrackerRef],
    description: 'Trackers following the object (on it or on its type). Services see every owner; users only their own.',
    authScopes: { authenticated: true },
    args: { object: t.arg({ type: ObjectRefInput, required: true, validate: objectRefSchema }) },
    resolve: (_root, args, ctx) =>
      ctx.services.activity.trackersOf(ctx.em, args.object, ctx.viewer.kind === 'user' ? ctx.viewer.id : null),
  }),
}));

builder.mutationFields((t) => ({
  track: t.field({
    type: TrackerRef,
    description:
      'Creates a tracker, or modifies the existing one (actrack `track`): `verbs` replaces its verbs, `actorOnly` changes only when given.',
    authScopes: (_root, { input }) => ownOrService(input.owner),
    args: { input: t.arg({ type: TrackInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.activity.track(ctx.em, {
        owner: whose(ctx, input.owner, 'owner'),
        object: input.object,
        objectType: input.objectType,
        verbs: input.verbs,
        actorOnly: input.actorOnly,
        mute: input.mute,
        log: input.log,
        chargeLoggedAction: () => ctx.services.rateLimiter.consume(ctx, 'logAction', 1),
      }),
  }),
  untrack: t.field({
    type: TrackerRef,
    nullable: true,
    description: 'Removes verbs from a tracker (all when none given); null once the tracker has no verbs left.',
    authScopes: (_root, { input }) => ownOrService(input.owner),
    args: { input: t.arg({ type: UntrackInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.activity.untrack(ctx.em, {
        owner: whose(ctx, input.owner, 'owner'),
        object: input.object,
        objectType: input.objectType,
        verbs: input.verbs,
        mute: input.mute,
        restore: input.restore,
        log: input.log,
        chargeLoggedAction: () => ctx.services.rateLimiter.consume(ctx, 'logAction', 1),
      }),
  }),
}));
