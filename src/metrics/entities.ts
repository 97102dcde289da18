import { defineEntity, p } from '@mikro-orm/sql';

/**
 * Metrics tables. The services use SQL on them (group commit, fold, series); these definitions are the
 * source of the schema and its migrations.
 */

/** A group of metrics with a human-readable reference (trackstats' Domain). */
export const MetricDomainSchema = defineEntity({
  name: 'MetricDomain',
  tableName: 'metric_domain',
  properties: {
    id: p.integer().primary().autoincrement(),
    ref: p.string().length(64).unique(),
    name: p.string().length(256),
    /** Accepts increments for metric refs it has not seen (created on first use). */
    openMetrics: p.boolean().default(false),
    /** Metrics created on first use are public (anyone may increment and read them). */
    publicMetrics: p.boolean().default(false),
    createdAt: p.datetime().defaultRaw('now()'),
  },
});
export class MetricDomain extends MetricDomainSchema.class {}
MetricDomainSchema.setClass(MetricDomain);

/** A counter or gauge of a domain. Deleting a metric deletes its statistics (cascade). */
export const MetricSchema = defineEntity({
  name: 'Metric',
  tableName: 'metric',
  properties: {
    id: p.integer().primary().autoincrement(),
    domain: p.manyToOne(MetricDomainSchema).deleteRule('cascade'),
    ref: p.string().length(128),
    name: p.string().length(256),
    /** COUNTER (incremented, folded) or GAUGE (values set with recordStatistic). */
    kind: p.string().length(8),
    public: p.boolean().default(false),
    /** Accepts `by` <= 0. */
    allowNegative: p.boolean().default(false),
    /** Created on first use in an open domain; a later registerMetric may redefine it once. */
    autoCreated: p.boolean().default(false),
    createdAt: p.datetime().defaultRaw('now()'),
  },
  uniques: [{ properties: ['domain', 'ref'] }],
});
export class Metric extends MetricSchema.class {}
MetricSchema.setClass(Metric);

/**
 * Append-only inbox of acknowledged increments, written by group commit and drained by the fold.
 * No foreign key: a metric deleted meanwhile makes its rows dead letters at fold time instead of
 * blocking inserts. Empty strings stand for "no object / category / dom id".
 */
export const MetricInboxSchema = defineEntity({
  name: 'MetricInbox',
  tableName: 'metric_inbox',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    metricId: p.integer().index(),
    objectType: p.string().length(128).default(''),
    objectId: p.string().length(256).default(''),
    category: p.string().length(128).default(''),
    domId: p.string().length(256).default(''),
    amount: p.integer(),
    occurredAt: p.datetime(),
  },
});
export class MetricInbox extends MetricInboxSchema.class {}
MetricInboxSchema.setClass(MetricInbox);

/**
 * Counter buckets. `period` is Q15 (15-minute UTC buckets) or LIFETIME. `level` 0 holds exact keys (object, category, dom id); counters also keep
 * rollups so that totals and series without an object are one row per bucket: level 1 = per category
 * (objects and dom ids summed), level 2 = everything summed. The primary key is the upsert key.
 */
export const MetricStatisticSchema = defineEntity({
  name: 'MetricStatistic',
  tableName: 'metric_statistic',
  properties: {
    metric: p.manyToOne(MetricSchema).deleteRule('cascade').primary(),
    level: p.smallint().primary(),
    objectType: p.string().length(128).primary(),
    objectId: p.string().length(256).primary(),
    period: p.string().length(8).primary(),
    start: p.datetime().primary(),
    category: p.string().length(128).primary(),
    domId: p.string().length(256).primary(),
    value: p.double(),
  },
  indexes: [
    { properties: ['metric', 'period', 'start'] },
    { properties: ['domId'], where: "dom_id <> ''" },
  ],
});
export class MetricStatistic extends MetricStatisticSchema.class {}
MetricStatisticSchema.setClass(MetricStatistic);

/**
 * Recorded statistics (trackstats' StatisticByDate / StatisticByDateAndObject): one value per metric, object
 * (empty strings: none), period and local date, set with recordStatistic; a later record of the same key
 * replaces the value. A LIFETIME value is the cumulative value as of its date, WEEK the rolling 7 days
 * ending on its date, DAY that date's value.
 */
export const MetricRecordedStatisticSchema = defineEntity({
  name: 'MetricRecordedStatistic',
  tableName: 'metric_recorded_statistic',
  properties: {
    metric: p.manyToOne(MetricSchema).deleteRule('cascade').primary(),
    objectType: p.string().length(128).primary(),
    objectId: p.string().length(256).primary(),
    period: p.string().length(8).primary(),
    date: p.date().primary(),
    value: p.double(),
    recordedAt: p.datetime().defaultRaw('now()'),
  },
  indexes: [{ properties: ['metric', 'period', 'date'] }],
});
export class MetricRecordedStatistic extends MetricRecordedStatisticSchema.class {}
MetricRecordedStatisticSchema.setClass(MetricRecordedStatistic);

/** Inbox rows the fold could not fold (e.g. their metric was deleted), with the reason. */
export const MetricDeadLetterSchema = defineEntity({
  name: 'MetricDeadLetter',
  tableName: 'metric_dead_letter',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    inboxId: p.bigint('number'),
    metricId: p.integer(),
    objectType: p.string().length(128),
    objectId: p.string().length(256),
    category: p.string().length(128),
    domId: p.string().length(256),
    amount: p.integer(),
    occurredAt: p.datetime(),
    reason: p.string().length(64),
    deadAt: p.datetime().defaultRaw('now()').index(),
  },
});
export class MetricDeadLetter extends MetricDeadLetterSchema.class {}
MetricDeadLetterSchema.setClass(MetricDeadLetter);

/**
 * Increment ids already accepted (de-duplication of client retries): written by the group commit in the same
 * statement as the inbox rows, so a key exists exactly when its increment was stored. `scope` is the caller scope
 * (see src/server/idempotency.ts; a user's keys go with eraseUser), `key` the key: `e:<id>` for an `increment`
 * event, `o:<id>#<index>` for an `incrementObjects` object or `l:<id>#<index>` for a `trackLabels` label. `hash`
 * is a 64-bit hash of both (keyHash in inbox.ts), the only indexed column: a compact unique index (16-byte
 * entries) keeps the random insert of each key as cheap as it can be, and scope and key are compared on a hash
 * match, so a collision never makes a distinct event a duplicate. Keys migrated from the md5-only table have an
 * empty scope and `md5:<hex>` as their key. Independent of the inbox, so a key outlives the fold of its row; keys
 * older than METRICS_DEDUPE_HOURS no longer count and the retention job deletes them.
 */
export const MetricIncrementKeySchema = defineEntity({
  name: 'MetricIncrementKey',
  tableName: 'metric_increment_key',
  properties: {
    hash: p.bigint('string').primary().autoincrement(false),
    scope: p.text(),
    key: p.text(),
    createdAt: p.datetime().defaultRaw('now()'),
  },
  // BRIN: rows arrive in created_at order, so retention's range delete needs only a summary per block range,
  // which costs next to nothing on the hot insert path (a btree here would be a second random index write).
  indexes: [{ name: 'metric_increment_key_created_at_brin', properties: ['createdAt'], type: 'brin' }],
});
export class MetricIncrementKey extends MetricIncrementKeySchema.class {}
MetricIncrementKeySchema.setClass(MetricIncrementKey);

export const metricEntities = [
  MetricDomainSchema,
  MetricSchema,
  MetricInboxSchema,
  MetricStatisticSchema,
  MetricRecordedStatisticSchema,
  MetricDeadLetterSchema,
  MetricIncrementKeySchema,
];
