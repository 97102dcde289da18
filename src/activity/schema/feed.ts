import type { FeedMessage } from '../../server/pubsub.ts';
import { handOverFeed } from '../../server/ws-feed.ts';
import { builder } from '../../schema/builder.ts';
import { decodeFeedCursor, encodeFeedCursor } from '../change-stream.ts';
import { actionFromSnapshot } from '../feed-events.ts';
import type { ActionRecord } from '../model.ts';
import { ActionRef, Level } from './action.ts';
import type { EntryFilters } from '../entry-state.ts';
import type { CountFilters } from '../feed-counts.ts';
import { actionDbIds, connectionFrom, ownOrService, pageFrom, trackerDbId, verbsSchema, whose } from './common.ts';

/** The feed: `feed`, `unreadCount`, read marks, and the live `feed` subscription. */

const FeedEventKind = builder.enumType('FeedEventKind', {
  values: {
    ADDED: { description: 'A new action entered the feed.' },
    UPDATED: { description: 'An action of the feed was amended by grouping (and is unread again).' },
    READ: { description: 'Marked read (action null: markAllRead).' },
    UNREAD: { description: 'Marked unread.' },
    SEEN: { description: 'Marked seen (action null: markAllSeen); unseenCount is the new count.' },
    ARCHIVED: { description: 'Archived: left the feed and its counts (action null: archiveAll).' },
    UNARCHIVED: { description: 'Back from the archive into the feed and its counts.' },
    RESET: {
      description:
        '`after` is older than what can be replayed (FEED_REPLAY_MAX, FEED_CHANGE_RETENTION_HOURS): refetch `feed` and `unreadCount`, then continue from this event.',
    },
    REMOVED: {
      description:
        'Entries left the feed (a tracker removed or narrowed, actions of a forgotten object deleted); action null, unreadCount is the new count.',
    },
  } as const,
});

interface FeedEventShape {
  kind: FeedMessage['kind'];
  action: ActionRecord | null;
  unreadCount: number;
  unseenCount: number;
  cursor: string;
}

const FeedEvent = builder.objectRef<FeedEventShape>('FeedEvent').implement({
  description: "A change of the viewer's feed, with the unread and unseen counts after it.",
  fields: (t) => ({
    kind: t.field({ type: FeedEventKind, resolve: (e) => e.kind }),
    action: t.field({ type: ActionRef, nullable: true, resolve: (e) => e.action }),
    unreadCount: t.exposeInt('unreadCount'),
    unseenCount: t.exposeInt('unseenCount'),
    cursor: t.exposeString('cursor', {
      description: "This change's position in the viewer's change stream: pass the last one received as `feed(after:)` to resume.",
    }),
  }),
});

/** A page of the feed, with the position of the change stream it was read at. */
const FeedConnection = builder.connectionObject({
  type: ActionRef,
  name: 'FeedConnection',
  fields: (t) => ({
    syncCursor: t.string({
      description:
        'The position of the change stream at which this page was read: `subscription { feed(after: syncCursor) }` then gives every change since, so nothing falls between the page and the live feed.',
      resolve: (connection) => (connection as unknown as { syncCursor: string }).syncCursor,
    }),
  }),
});

builder.queryFields((t) => ({
  feed: t.connection(
    {
      type: ActionRef,
      description:
        "The actions matching the user's current trackers, newest first by timestamp (keyset cursors over timestamp and id; `first`/`last` at most 100).",
      authScopes: (_root, args) => ownOrService(args.user),
      args: {
        unreadOnly: t.arg.boolean({ required: false }),
        archived: t.arg.boolean({
          required: false,
          defaultValue: false,
          description: 'true: the archived actions only (default: the feed without them).',
        }),
        verbs: t.arg.stringList({ required: false, validate: verbsSchema }),
        minLevel: t.arg({
          type: Level,
          required: false,
          description: 'Lowest level listed; default the readable level (ACTIVITY_READABLE_LEVEL).',
        }),
        includeOwn: t.arg.boolean({
          required: false,
          defaultValue: false,
          description: "Also the user's own actions (actor = the user), as actrack's include_own.",
        }),
        since: t.arg({ type: 'DateTime', required: false, description: 'Only actions with timestamp >= since.' }),
        until: t.arg({ type: 'DateTime', required: false, description: 'Only actions with timestamp <= until.' }),
        user: t.arg.id({ required: false, description: 'Services: whose feed.' }),
      },
      resolve: async (_root, args, ctx) => {
        const userId = whose(ctx, args.user, 'user');
        // Read before the page: a change after it is in the page or replayed after syncCursor (or both: the
        // replay carries current state, so seeing it twice is harmless).
        const position = await ctx.services.activity.feedPosition(ctx.em, userId);
        const page = await ctx.services.activity.feed(
          ctx.em,
          userId,
          {
            unreadOnly: args.unreadOnly,
            archived: args.archived,
            verbs: args.verbs,
            minLevel: args.minLevel,
            includeOwn: args.includeOwn ? { userType: ctx.config.userType } : null,
            since: args.since,
            until: args.until,
          },
          pageFrom(args),
        );
        return { ...connectionFrom(page), syncCursor: encodeFeedCursor(position) };
      },
    },
    FeedConnection,
  ),
  unreadCount: t.int({
    description:
      'Exact number of unread actions in the feed, archived ones excluded (one row read; with filters, one count over the unread entries).',
    authScopes: (_root, args) => ownOrService(args.user),
    args: countFilterArgs,
    resolve: async (_root, args, ctx) =>
      (await ctx.services.activity.filteredCounts(ctx.em, whose(ctx, args.user, 'user'), countFilters(args))).unread,
  }),
  unseenCount: t.int({
    description:
      'Exact number of unseen actions in the feed (the badge), archived ones excluded (one row read; with filters, one count over the unread entries).',
    authScopes: (_root, args) => ownOrService(args.user),
    args: countFilterArgs,
    resolve: async (_root, args, ctx) =>
      (await ctx.services.activity.filteredCounts(ctx.em, whose(ctx, args.user, 'user'), countFilters(args))).unseen,
  }),
}));

/** The filters of unreadCount / unseenCount. */
const countFilterArgs = builder.args((t) => ({
  verbs: t.stringList({ required: false, validate: verbsSchema, description: 'Only these verbs.' }),
  objectType: t.string({ required: false, description: 'Only actions with an object (actor, target or related) of this type.' }),
  minLevel: t.field({ type: Level, required: false, description: 'Lowest level counted; default the readable level.' }),
  tracker: t.id({ required: false, description: 'Only actions this tracker of the user matches.' }),
  user: t.id({ required: false }),
}));

function countFilters(args: {
  verbs?: string[] | null | undefined;
  objectType?: string | null | undefined;
  minLevel?: number | null | undefined;
  tracker?: string | number | null | undefined;
}): CountFilters {
  return {
    verbs: args.verbs,
    objectType: args.objectType,
    minLevel: args.minLevel,
    trackerId: args.tracker === null || args.tracker === undefined ? null : trackerDbId(args.tracker, 'tracker'),
  };
}

/** The filters of the bulk changes (markAllRead, markAllSeen, archiveAll). */
const entryFilterArgs = builder.args((t) => ({
  before: t.field({ type: 'DateTime', required: false, description: 'Only actions with timestamp <= before.' }),
  verbs: t.stringList({ required: false, validate: verbsSchema, description: 'Only these verbs.' }),
  objectType: t.string({ required: false, description: 'Only actions with an object (actor, target or related) of this type.' }),
  tracker: t.id({ required: false, description: 'Only actions this tracker of the user matches.' }),
  user: t.id({ required: false, description: 'Services: whose feed.' }),
}));

function entryFilters(args: {
  before?: Date | null | undefined;
  verbs?: string[] | null | undefined;
  objectType?: string | null | undefined;
  tracker?: string | number | null | undefined;
}): EntryFilters {
  return {
    before: args.before,
    verbs: args.verbs,
    objectType: args.objectType,
    trackerId: args.tracker === null || args.tracker === undefined ? null : trackerDbId(args.tracker, 'tracker'),
  };
}

builder.mutationFields((t) => ({
  markRead: t.int({
    description:
      'Marks actions of the feed read; returns how many changed. Ids not in the feed are skipped (actrack `bulk_mark_read_for`).',
    authScopes: (_root, args) => ownOrService(args.user),
    args: { actionIds: t.arg.idList({ required: true }), user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => {
      const userId = whose(ctx, args.user, 'user');
      return ctx.services.activity.mark(ctx.em, userId, actionDbIds(args.actionIds), false);
    },
  }),
  markUnread: t.int({
    description:
      'Marks actions of the feed unread (those below the readable level stay read; ids not in the feed are skipped); returns how many changed.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: { actionIds: t.arg.idList({ required: true }), user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => {
      const userId = whose(ctx, args.user, 'user');
      return ctx.services.activity.mark(ctx.em, userId, actionDbIds(args.actionIds), true);
    },
  }),
  markAllRead: t.int({
    description:
      'Marks every unread action of the feed (archived ones excepted) that the filters select read; one statement. Returns how many changed.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: entryFilterArgs,
    resolve: (_root, args, ctx) => ctx.services.activity.markAllRead(ctx.em, whose(ctx, args.user, 'user'), entryFilters(args)),
  }),
  markSeen: t.int({
    description: 'Marks actions of the feed seen (they stay unread); returns how many changed. Ids not in the feed are skipped.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: { actionIds: t.arg.idList({ required: true }), user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => ctx.services.activity.markSeen(ctx.em, whose(ctx, args.user, 'user'), actionDbIds(args.actionIds)),
  }),
  markAllSeen: t.int({
    description:
      'Marks every unseen action of the feed (archived ones excepted) that the filters select seen (the badge clears; they stay unread); one statement.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: entryFilterArgs,
    resolve: (_root, args, ctx) => ctx.services.activity.markAllSeen(ctx.em, whose(ctx, args.user, 'user'), entryFilters(args)),
  }),
  archive: t.int({
    description: 'Archives actions of the feed: they leave the feed and its counts (`feed(archived: true)` lists them). Returns how many changed.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: { actionIds: t.arg.idList({ required: true }), user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => ctx.services.activity.archive(ctx.em, whose(ctx, args.user, 'user'), actionDbIds(args.actionIds), true),
  }),
  unarchive: t.int({
    description: 'Brings archived actions back into the feed and its counts (read and seen as they were). Returns how many changed.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: { actionIds: t.arg.idList({ required: true }), user: t.arg.id({ required: false }) },
    resolve: (_root, args, ctx) => ctx.services.activity.archive(ctx.em, whose(ctx, args.user, 'user'), actionDbIds(args.actionIds), false),
  }),
  archiveAll: t.int({
    description: 'Archives every action of the feed that the filters select (`readOnly`: only read ones); one statement.',
    authScopes: (_root, args) => ownOrService(args.user),
    args: {
      ...entryFilterArgs,
      readOnly: t.arg.boolean({ required: false, defaultValue: false, description: 'Only actions already read.' }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.activity.archiveAll(ctx.em, whose(ctx, args.user, 'user'), entryFilters(args), args.readOnly ?? false),
  }),
}));

builder.subscriptionType({});

builder.subscriptionField('feed', (t) =>
  t.field({
    type: FeedEvent,
    description:
      "Live changes of the viewer's feed (a service names the user). Resolved from the published event alone: no database query per subscriber.",
    authScopes: (_root, args) => ownOrService(args.user),
    args: {
      user: t.arg.id({ required: false }),
      after: t.arg.string({
        required: false,
        description:
          'Resume after this cursor (`FeedConnection.syncCursor` or the last `FeedEvent.cursor`): every change since is sent first (current state and counts), then live ones, each once. Too old: a RESET event.',
      }),
    },
    subscribe: (_root, args, ctx) => {
      const userId = whose(ctx, args.user, 'user');
      const after = args.after === null || args.after === undefined ? null : decodeFeedCursor(args.after);
      // Not ctx.em: that would fork an EntityManager for this request and keep it as long as the subscription.
      // Over a websocket the stream is handed to the socket's server, which drives it without this operation's
      // context and envelope (server/ws-feed.ts).
      return handOverFeed(ctx, ctx.services.activity.feedStream(userId, after));
    },
    resolve: (message: FeedMessage & { position: string }): FeedEventShape => ({
      kind: message.kind,
      action: message.action ? actionFromSnapshot(message.action, message.unread ?? false, message.unseen ?? false, message.trackerIds) : null,
      unreadCount: message.unreadCount,
      unseenCount: message.unseenCount,
      cursor: encodeFeedCursor(message.position),
    }),
  }),
);
