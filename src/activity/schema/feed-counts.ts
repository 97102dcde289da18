import { encodeGlobalID } from '@pothos/plugin-relay';
import { builder } from '../../schema/builder.ts';
import { FEED_COUNT_KEYS, type FeedCountRow } from '../feed-counts.ts';
import { Level } from './action.ts';
import { ownOrService, trackerDbId, verbsSchema, whose } from './common.ts';

/** Counts per tab: `feedCounts(by:)`. */

const FeedCountKeyRef = builder.enumType('FeedCountKey', {
  description: 'What feed counts are grouped by.',
  values: {
    VERB: { description: 'The action verb.' },
    OBJECT_TYPE: { description: 'Each object type of the action (actor, targets, related): an action counts once per type.' },
    TRACKER: { description: 'Each tracker of the user that matches the entry (key: the Tracker id).' },
    LEVEL: { description: 'The action level (key: the Level name).' },
    ACTOR_TYPE: { description: "The actor's object type (people and services in separate tabs, say)." },
  } satisfies Record<(typeof FEED_COUNT_KEYS)[number], { description: string }>,
});

const FeedCount = builder.objectRef<FeedCountRow>('FeedCount').implement({
  description: 'The counts of one tab: the feed entries (not archived) whose `by` is `key`.',
  fields: (t) => ({
    by: t.field({ type: FeedCountKeyRef, resolve: (r) => r.by }),
    key: t.string({
      description: 'The verb, object type, Level name, Tracker id, or actor type.',
      resolve: (r) => (r.by === 'TRACKER' ? encodeGlobalID('Tracker', r.key) : r.key),
    }),
    unread: t.exposeInt('unread'),
    unseen: t.exposeInt('unseen'),
    total: t.exposeInt('total'),
  }),
});

builder.queryFields((t) => ({
  feedCounts: t.field({
    type: [FeedCount],
    description:
      'Counts per tab in one call: for each key of `by`, one row per value with the exact unread, unseen and total numbers of entries (archived excluded), under the same filters as unreadCount. Read from counters maintained per entry shape (verb, level, actor type, object types, trackers) in one statement: its cost follows the number of distinct shapes in the feed, not the number of entries.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: {
      by: t.arg({ type: [FeedCountKeyRef], required: true }),
      verbs: t.arg.stringList({ required: false, validate: verbsSchema }),
      objectType: t.arg.string({ required: false }),
      minLevel: t.arg({ type: Level, required: false, description: 'Lowest level counted; default the readable level.' }),
      tracker: t.arg.id({ required: false }),
      user: t.arg.id({ required: false }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.activity.feedCountsBy(ctx.em, whose(ctx, args.user, 'user'), args.by, {
        verbs: args.verbs,
        objectType: args.objectType,
        minLevel: args.minLevel,
        trackerId: args.tracker === null || args.tracker === undefined ? null : trackerDbId(args.tracker, 'tracker'),
      }),
  }),
}));
