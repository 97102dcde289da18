import { defineEntity, p } from '@mikro-orm/sql';

/**
 * Activity tables. The services use SQL on them directly (set-based fan-out); these definitions are the
 * source of the migrations and document the layout.
 *
 * - `activity_action`: one row per action (grouped actions are amended in place).
 * - `activity_action_object`: the targets and related objects of an action, indexed by object.
 * - `activity_tracker`: a user's tracker on one object, or on a whole type (`object_id = ''`).
 * - `activity_feed_entry`: fan-out on write: one row per (user, action) that entered the user's feed, with
 *   the read flag, the trackers that match and the action's timestamp. Feed pages are a backward range scan of
 *   (user_id, action_timestamp, action_id).
 * - `activity_unread_counter`: one row per user holding the exact numbers of unread (`count`) and unseen
 *   (`unseen`) feed entries, archived entries excluded, kept in the same transaction as every change of
 *   `unread`, `unseen` or `archived` of `activity_feed_entry` (entry-state.ts), and the position of the user's
 *   last feed change (`position`, change-stream.ts): one row (and one row lock) per user for everything a feed
 *   change moves. Stored with fillfactor 50 (migration fanout_indexes; not expressible here) so that these
 *   frequent updates stay on their page (HOT).
 *   `seen_epoch` is the user's seen watermark (seen-watermark.ts).
 * - `activity_feed_cell`: the same numbers per (user, entry shape), for feedCounts (feed-cells.ts).
 * - `activity_verb`: text templates per verb.
 */
export const ActionSchema = defineEntity({
  name: 'ActivityAction',
  tableName: 'activity_action',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    actorType: p.string().length(128),
    actorId: p.string().length(256),
    actorLabel: p.string().length(256).nullable(),
    verb: p.string().length(128),
    data: p.json<unknown>().nullable(),
    level: p.smallint(),
    timestamp: p.datetime(),
    groupedCount: p.integer().default(1),
    createdAt: p.datetime().defaultRaw('now()'),
  },
  indexes: [
    { name: 'activity_action_actor_idx', properties: ['actorType', 'actorId', 'id'] },
    { name: 'activity_action_grouping_idx', properties: ['actorType', 'actorId', 'verb', 'timestamp'] },
  ],
});
export class ActivityAction extends ActionSchema.class {}
ActionSchema.setClass(ActivityAction);

export const ActionObjectSchema = defineEntity({
  name: 'ActivityActionObject',
  tableName: 'activity_action_object',
  properties: {
    actionId: p.bigint('string').primary(),
    /** 'target' or 'related'. */
    role: p.string().length(8).primary(),
    objectType: p.string().length(128).primary(),
    objectId: p.string().length(256).primary(),
    label: p.string().length(256).nullable(),
    /** Order of the object in its list (objects merged by grouping come after). */
    position: p.smallint(),
  },
  indexes: [{ name: 'activity_action_object_object_idx', properties: ['objectType', 'objectId', 'role', 'actionId'] }],
});
export class ActivityActionObject extends ActionObjectSchema.class {}
ActionObjectSchema.setClass(ActivityActionObject);

export const TrackerSchema = defineEntity({
  name: 'ActivityTracker',
  tableName: 'activity_tracker',
  properties: {
    id: p.integer().primary().autoincrement(),
    ownerId: p.string().length(256),
    objectType: p.string().length(128),
    /** '' for a tracker on the whole type. */
    objectId: p.string().length(256),
    objectLabel: p.string().length(256).nullable(),
    /** null = every verb. */
    verbs: p.array().nullable(),
    actorOnly: p.boolean(),
    /** A mute: the actions it matches never enter the owner's feed (a user may both track and mute an object). */
    mute: p.boolean().default(false),
    createdAt: p.datetime().defaultRaw('now()'),
  },
  uniques: [{ name: 'activity_tracker_owner_object_uniq', properties: ['ownerId', 'objectType', 'objectId', 'mute'] }],
  indexes: [{ name: 'activity_tracker_object_idx', properties: ['objectType', 'objectId'] }],
});
export class ActivityTracker extends TrackerSchema.class {}
TrackerSchema.setClass(ActivityTracker);

export const FeedEntrySchema = defineEntity({
  name: 'ActivityFeedEntry',
  tableName: 'activity_feed_entry',
  properties: {
    userId: p.string().length(256).primary(),
    actionId: p.bigint('string').primary(),
    unread: p.boolean(),
    /** Not yet seen (the badge). Read implies seen: `unseen` implies `unread`. */
    unseen: p.boolean().default(false),
    /** Archived: out of the default feed and of every count; `feed(archived: true)` lists them. */
    archived: p.boolean().default(false),
    /** The trackers of this user that match the action (kept current as trackers change). */
    trackerIds: p.array<number>((v) => Number(v), (v) => String(v)).columnType('int[]'),
    /** The action's timestamp (copied, kept by grouping): feeds are ordered by (timestamp, action id). */
    actionTimestamp: p.datetime(),
    /** The entry's counter cell (feed-cells.ts): its user and shape (verb, level, types, trackers). */
    cellId: p.bigint('string'),
    /** The user's seen epoch when the entry was last written (seen-watermark.ts). */
    seenEpoch: p.integer().default(0),
  },
  indexes: [
    { name: 'activity_feed_entry_time_idx', properties: ['userId', 'actionTimestamp', 'actionId'] },
    { name: 'activity_feed_entry_unread_time_idx', properties: ['userId', 'actionTimestamp', 'actionId'], where: 'unread' },
    { name: 'activity_feed_entry_archived_time_idx', properties: ['userId', 'actionTimestamp', 'actionId'], where: 'archived' },
    { name: 'activity_feed_entry_action_idx', properties: ['actionId'] },
  ],
});
export class ActivityFeedEntry extends FeedEntrySchema.class {}
FeedEntrySchema.setClass(ActivityFeedEntry);

export const UnreadCounterSchema = defineEntity({
  name: 'ActivityUnreadCounter',
  tableName: 'activity_unread_counter',
  properties: {
    userId: p.string().length(256).primary(),
    /** Unread entries that are not archived. */
    count: p.integer(),
    /** Unseen entries that are not archived. */
    unseen: p.integer().default(0),
    /** The seen watermark (seen-watermark.ts): entries written at an older epoch and not archived are seen. */
    seenEpoch: p.integer().default(0),
    /** Position of the user's last feed change (change-stream.ts); 0 before the first. Never goes back. */
    position: p.bigint('string').default(0),
  },
});
export class ActivityUnreadCounter extends UnreadCounterSchema.class {}
UnreadCounterSchema.setClass(ActivityUnreadCounter);

/**
 * Maintained counters per tab (feed-cells.ts): per user and entry shape (verb, level, actor type, object types,
 * matching trackers), the numbers of entries not archived, unread and unseen; `feedCounts` and filtered
 * `unreadCount`/`unseenCount` add up the user's cells.
 */
export const FeedCellSchema = defineEntity({
  name: 'ActivityFeedCell',
  tableName: 'activity_feed_cell',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    userId: p.string().length(256),
    /** SHA-256 (hex) of the shape columns as JSON. */
    shape: p.string().length(64),
    verb: p.string().length(128),
    level: p.smallint(),
    actorType: p.string().length(128),
    objectTypes: p.array().columnType('text[]'),
    trackerIds: p.array<number>((v) => Number(v), (v) => String(v)).columnType('int[]'),
    /** Entries not archived. */
    total: p.integer(),
    /** Unread entries not archived. */
    unread: p.integer(),
    /** Unseen entries not archived, valid while seenEpoch is the user's (seen-watermark.ts). */
    unseen: p.integer(),
    seenEpoch: p.integer().default(0),
  },
  uniques: [{ name: 'activity_feed_cell_user_shape_uniq', properties: ['userId', 'shape'] }],
});
export class ActivityFeedCell extends FeedCellSchema.class {}
FeedCellSchema.setClass(ActivityFeedCell);

/**
 * The change stream of each user's feed (change-stream.ts): `activity_unread_counter.position` holds the position
 * of the user's last change, `activity_feed_change` one row per change (kind, action), so that a subscriber
 * resuming after position p reads (user, > p) as one range of the primary key. Pruned by the retention job.
 */
export const FeedChangeSchema = defineEntity({
  name: 'ActivityFeedChange',
  tableName: 'activity_feed_change',
  properties: {
    userId: p.string().length(256).primary(),
    position: p.bigint('string').primary(),
    /** The FeedEvent kind (ADDED, UPDATED, READ, UNREAD, …). */
    kind: p.string().length(16),
    /** Null for bulk changes (markAllRead). */
    actionId: p.bigint('string').nullable(),
    createdAt: p.datetime().defaultRaw('now()'),
  },
  // BRIN: rows arrive in created_at order, so the retention prune by created_at reads few block ranges, and the
  // fan-out's N change rows cost no btree insertion each.
  indexes: [{ name: 'activity_feed_change_created_idx', properties: ['createdAt'], type: 'brin' }],
});
export class ActivityFeedChange extends FeedChangeSchema.class {}
FeedChangeSchema.setClass(ActivityFeedChange);

export const VerbSchema = defineEntity({
  name: 'ActivityVerb',
  tableName: 'activity_verb',
  properties: {
    verb: p.string().length(128).primary(),
    template: p.text(),
    updatedAt: p.datetime().defaultRaw('now()'),
  },
});
export class ActivityVerb extends VerbSchema.class {}
VerbSchema.setClass(ActivityVerb);

/**
 * logAction idempotency keys (src/activity/idempotency.ts): the action the first call with a key created, per
 * caller scope. Written in the logging transaction, so a key exists exactly when its action does; keys older
 * than ACTIVITY_DEDUPE_HOURS no longer count and the retention job deletes them.
 */
export const ActionKeySchema = defineEntity({
  name: 'ActivityActionKey',
  tableName: 'activity_action_key',
  properties: {
    scope: p.string().length(300).primary(),
    key: p.string().length(300).primary(),
    /** Set in the same transaction once the action is logged; the key goes with its action. */
    action: p.manyToOne(ActionSchema).deleteRule('cascade').nullable().index(),
    createdAt: p.datetime().defaultRaw('now()').index(),
  },
});
export class ActivityActionKey extends ActionKeySchema.class {}
ActionKeySchema.setClass(ActivityActionKey);

/**
 * Queued fan-outs (fan-out-queue.ts): an action whose audience is larger than ACTIVITY_FANOUT_INLINE_MAX gets a
 * row here in its logging transaction (an acknowledged action always reaches its feeds, across crashes), and the
 * transaction that fans it out deletes the row. One row per action; it goes with its action.
 */
export const FanOutJobSchema = defineEntity({
  name: 'ActivityFanOutJob',
  tableName: 'activity_fanout_job',
  properties: {
    action: p.manyToOne(ActionSchema).primary().deleteRule('cascade'),
    queuedAt: p.datetime().defaultRaw('now()'),
  },
});
export class ActivityFanOutJob extends FanOutJobSchema.class {}
FanOutJobSchema.setClass(ActivityFanOutJob);

export const activityEntities = [
  ActionSchema,
  ActionObjectSchema,
  TrackerSchema,
  FeedEntrySchema,
  UnreadCounterSchema,
  FeedCellSchema,
  VerbSchema,
  FeedChangeSchema,
  ActionKeySchema,
  FanOutJobSchema,
];
