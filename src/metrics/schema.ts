import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { z } from 'zod';
import { reportIncrements } from '../ops/events.ts';
import { OBJECT_ID_MAX, isValidObjectRef, objectRefSchema } from '../objects/object-ref.ts';
import { ObjectRef, ObjectRefInput } from '../objects/schema.ts';
import { builder, validationFailure, type ValidationIssue } from '../schema/builder.ts';
import { Viewer } from '../schema/system.ts';
import type { Context } from '../server/context.ts';
import { apiError, badInput, forbidden, notFound } from '../server/errors.ts';
import { IDEMPOTENCY_KEY_MAX, idempotencyKeyProblem, idempotencyKeySchema } from '../server/idempotency.ts';
import { DEAD_LETTER_BATCH_MAX } from './dead-letters.ts';
import { FoldError } from './fold.ts';
import { checkLabelCount, checkObjectCount, objectIncrements, type ObjectIncrements } from './increments.ts';
import {
  CATEGORY_MAX,
  DOM_ID_MAX,
  DOMAIN_REF_MAX,
  METRIC_REF_MAX,
  incrementKey,
  PAGE_TYPE,
  PERIODS,
  categorySchema,
  domIdSchema,
  domainRefSchema,
  metricRefLengthSchema,
  nameSchema,
  type DeadLetter,
  type DomainInfo,
  type FoldReport,
  type FoldRun,
  type IncrementOutcome,
  type LabelStat,
  type MetricInfo,
  type ObjectTotal,
  type Point,
  type Rejection,
  type StatisticValue,
} from './model.ts';

// ------------------------------------------------------------------ helpers

const isService = (ctx: Context) => ctx.viewer.kind === 'service';

/** The role rule of metrics: anyone may read a public metric, only services a private one. */
const metricScopes = (metric: Pick<MetricInfo, 'public'>) => (metric.public ? { public: true } : { service: true });

/** Metrics by (domain ref, metric ref), once per request (Domain.metric's authScopes and resolver share it). */
const metricLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, MetricInfo | null>(
      (keys) =>
        Promise.all(
          keys.map((key) => {
            const [domain, ref] = key.split('\u0000') as [string, string];
            return ctx.services.metrics.catalog.getMetric(domain, ref);
          }),
        ),
      { batch: false },
    ),
);
const loadMetric = (ctx: Context, domain: string, ref: string) => metricLoader(ctx).load(`${domain}\u0000${ref}`);

/** Lookups by ref: longer than any valid ref is bad input (never a database lookup). */
const domainLookupSchema = z.string().max(DOMAIN_REF_MAX, `must be at most ${DOMAIN_REF_MAX} characters`);
const metricLookupSchema = z.string().max(METRIC_REF_MAX, `must be at most ${METRIC_REF_MAX} characters`);
const timezoneSchema = z.string().max(64, 'must be at most 64 characters (an IANA name such as "Europe/Paris")');

async function metricOrFail(ctx: Context, domain: string, ref: string): Promise<MetricInfo> {
  const metric = await ctx.services.metrics.catalog.getMetric(domain, ref);
  if (!metric) {
    const known = await ctx.services.metrics.catalog.getDomain(domain);
    throw notFound(known ? `Unknown metric "${ref}" in domain "${domain}"` : `Unknown domain "${domain}"`);
  }
  return metric;
}

// ------------------------------------------------------------------ types

const MetricKindEnum = builder.enumType('MetricKind', {
  description: 'COUNTER: incremented, folded into time series. GAUGE: values set with recordStatistic (follower counts...).',
  values: ['COUNTER', 'GAUGE'] as const,
});

const PeriodEnum = builder.enumType('Period', {
  description:
    'A period of time. Counters keep 15-minute UTC buckets; HOUR..YEAR are derived from them in the requested time zone (weeks start on Monday). LIFETIME is all time (cumulative). Recorded gauge values are kept per period and date.',
  values: PERIODS,
});

const PointRef = builder.objectRef<Point>('Point').implement({
  description: 'One point of a series: the start of its period and its value.',
  fields: (t) => ({
    start: t.field({ type: 'DateTime', resolve: (p) => p.start }),
    value: t.exposeFloat('value'),
  }),
});

const ObjectTotalRef = builder.objectRef<ObjectTotal>('ObjectTotal').implement({
  fields: (t) => ({
    // Public metrics take increments for any {type, id} from anyone, so their rankings must not become a way
    // to read a forgotten object's tombstone (description, serialization): only services see it here.
    object: t.field({
      type: ObjectRef,
      resolve: (o, _args, ctx) => (isService(ctx) ? o.object : { ...o.object, tombstone: null }),
    }),
    value: t.exposeFloat('value'),
  }),
});

const RejectedIncrementRef = builder.objectRef<Rejection>('RejectedIncrement').implement({
  description:
    'An event that was not stored. `index` is its position in the request (for trackLabels: in the `|` list). Reasons: unknown_domain, unknown_metric, not_public, not_counter, by_not_positive, by_too_large, at_in_future, at_too_old, too_many_metrics, bot; labels also empty_label, invalid_label, malformed_label.',
  fields: (t) => ({
    index: t.exposeInt('index'),
    reason: t.exposeString('reason'),
  }),
});

const IncrementResultRef = builder.objectRef<IncrementOutcome>('IncrementResult').implement({
  description: 'The accepted increments are committed (durable) when this is returned.',
  fields: (t) => ({
    accepted: t.exposeInt('accepted', { description: 'Events accepted, including duplicates (accepted before, counted once).' }),
    rejected: t.field({ type: [RejectedIncrementRef], resolve: (r) => r.rejected }),
    duplicates: t.intList({
      description:
        'Positions of accepted events whose id was already accepted from the same caller within METRICS_DEDUPE_HOURS (by an earlier call, or earlier in this one): counted once, not stored again. Retrying with the same ids is safe.',
      resolve: (r) => r.duplicates,
    }),
  }),
});

const FoldReportRef = builder.objectRef<FoldReport>('FoldReport').implement({
  fields: (t) => ({
    // Row counts of one fold can pass 2^31 after a long outage: Float.
    folded: t.exposeFloat('folded', { description: 'Inbox rows added to statistics.' }),
    buckets: t.exposeFloat('buckets', { description: 'Statistic buckets created or updated.' }),
    deadLettered: t.exposeFloat('deadLettered', { description: 'Inbox rows moved to the dead-letter table.' }),
    durationMs: t.exposeInt('durationMs'),
    batches: t.exposeInt('batches', { description: 'Transactions used (METRICS_FOLD_BATCH rows each at most).' }),
    skipped: t.exposeBoolean('skipped', { description: 'True when another fold held the lock and this one did not wait (cron only).' }),
  }),
});

const LabelStatRef = builder.objectRef<LabelStat>('LabelStat').implement({
  description: 'How many times a label was tracked with a DOM id (django-tracker heat maps).',
  fields: (t) => ({
    domId: t.exposeString('domId'),
    label: t.exposeString('label'),
    category: t.exposeString('category', { nullable: true }),
    count: t.exposeFloat('count'),
  }),
});

const DomainRef = builder.objectRef<DomainInfo>('Domain');
const MetricRef = builder.objectRef<MetricInfo>('Metric');

// Domain fields are public: domains only hold names; their private metrics are hidden below.
DomainRef.implement({
  description: 'A group of metrics with a human-readable reference ID.',
  fields: (t) => ({
    ref: t.exposeID('ref'),
    name: t.exposeString('name'),
    openMetrics: t.exposeBoolean('openMetrics', { description: 'Accepts increments of metrics it has not seen (created on first use).' }),
    publicMetrics: t.exposeBoolean('publicMetrics', { description: 'Metrics created on first use are public.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => d.createdAt }),
    metrics: t.field({
      type: [MetricRef],
      // Query cost: a domain may hold many metrics, each able to run queries (total, series, top).
      complexity: { multiplier: 10 },
      description: 'The metrics of the domain (public ones only, unless the caller is a service).',
      resolve: async (domain, _args, ctx) => {
        const metrics = await ctx.services.metrics.catalog.listMetrics(domain);
        return isService(ctx) ? metrics : metrics.filter((m) => m.public);
      },
    }),
    metric: t.field({
      type: MetricRef,
      nullable: true,
      description: 'A metric by ref (null when unknown; FORBIDDEN when private and the caller is not a service).',
      args: { ref: t.arg.id({ required: true, validate: metricLookupSchema }) },
      authScopes: async (domain, args, ctx) => {
        const metric = await loadMetric(ctx, domain.ref, String(args.ref));
        return metric ? metricScopes(metric) : { public: true };
      },
      unauthorizedError: (domain, args) => forbidden(`Metric "${domain.ref}/${String(args.ref)}" is not public`),
      resolve: (domain, args, ctx) => loadMetric(ctx, domain.ref, String(args.ref)),
    }),
  }),
});

MetricRef.implement({
  description: 'A counter or gauge. Counters: `total` is exact right after an increment (folded + still in the inbox).',
  // Every field (total, series, top and its objects) of a private metric: services only, however it was reached.
  authScopes: (metric) => metricScopes(metric),
  fields: (t) => ({
    ref: t.exposeID('ref'),
    name: t.exposeString('name'),
    kind: t.field({ type: MetricKindEnum, resolve: (m) => m.kind }),
    public: t.exposeBoolean('public', { description: 'Anyone may increment and read it.' }),
    allowNegative: t.exposeBoolean('allowNegative', { description: 'Accepts increments with `by` <= 0.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (m) => m.createdAt }),
    domain: t.field({ type: DomainRef, resolve: (m) => m.domain }),
    total: t.float({
      description:
        'Counters: the sum of all increments (of the object and/or category when given; of everything otherwise), folded or not. Gauges: the recorded LIFETIME value (of the object when given, else the one recorded without object), 0 when none.',
      args: {
        object: t.arg({ type: ObjectRefInput, validate: objectRefSchema }),
        category: t.arg.string({ validate: categorySchema }),
      },
      resolve: (metric, args, ctx) => ctx.services.metrics.queries.total(metric, args),
    }),
    series: t.field({
      type: [PointRef],
      complexity: { multiplier: 10 },
      description:
        'Counters: one point per period, from the period containing `from` to the one containing `to` (default: now, and a period-dependent span before it), 0 for empty periods; LIFETIME: the running total at the end of each day. Gauges: the values recorded for `period` on the dates from `from` to `to`, each at the start of its date. An hour starts at every local whole hour and at every change of UTC offset.',
      args: {
        period: t.arg({ type: PeriodEnum, required: true }),
        from: t.arg({ type: 'DateTime' }),
        to: t.arg({ type: 'DateTime' }),
        object: t.arg({ type: ObjectRefInput, validate: objectRefSchema }),
        category: t.arg.string({ validate: categorySchema }),
        timezone: t.arg.string({ defaultValue: 'UTC', validate: timezoneSchema, description: 'IANA time zone of the period boundaries.' }),
      },
      resolve: (metric, args, ctx) =>
        ctx.services.metrics.queries.series(metric, {
          period: args.period,
          from: args.from,
          to: args.to,
          object: args.object,
          category: args.category,
          timezone: args.timezone ?? 'UTC',
        }),
    }),
    top: t.field({
      type: [ObjectTotalRef],
      description: 'The objects with the highest value in the period containing `at` (default now; LIFETIME: all time).',
      args: {
        period: t.arg({ type: PeriodEnum, required: true }),
        at: t.arg({ type: 'DateTime' }),
        limit: t.arg.int({ defaultValue: 10 }),
        category: t.arg.string({ validate: categorySchema }),
        timezone: t.arg.string({ defaultValue: 'UTC', validate: timezoneSchema, description: 'IANA time zone of the period boundaries.' }),
      },
      resolve: (metric, args, ctx) =>
        ctx.services.metrics.queries.top(metric, {
          period: args.period,
          at: args.at,
          limit: args.limit ?? 10,
          category: args.category,
          timezone: args.timezone ?? 'UTC',
        }),
    }),
  }),
});

const StatisticRef = builder.objectRef<StatisticValue>('Statistic').implement({
  fields: (t) => ({
    metric: t.field({ type: MetricRef, resolve: (s) => s.metric }),
    period: t.field({ type: PeriodEnum, resolve: (s) => s.period }),
    date: t.exposeString('date', { description: 'The local date the value is recorded for (YYYY-MM-DD).' }),
    start: t.field({ type: 'DateTime', description: 'The first instant of `date` in the time zone of the request.', resolve: (s) => s.start }),
    object: t.field({ type: ObjectRef, nullable: true, resolve: (s) => s.object }),
    value: t.exposeFloat('value'),
  }),
});

const DeadLetterRef = builder.objectRef<DeadLetter>('MetricDeadLetter').implement({
  description: 'An increment the fold could not fold (e.g. its metric was deleted), kept with the reason.',
  fields: (t) => ({
    id: t.exposeID('id'),
    metricId: t.exposeInt('metricId'),
    object: t.field({ type: ObjectRef, nullable: true, resolve: (d) => d.object }),
    category: t.exposeString('category', { nullable: true }),
    domId: t.exposeString('domId', { nullable: true }),
    amount: t.exposeInt('amount'),
    at: t.field({ type: 'DateTime', resolve: (d) => d.occurredAt }),
    reason: t.exposeString('reason'),
    deadAt: t.field({ type: 'DateTime', resolve: (d) => d.deadAt }),
  }),
});

interface MetricsStatusShape {
  inboxRows: number;
  deadLetters: number;
  flushes: number;
  flushedRows: number;
  acknowledgedWrites: number;
  catalogCacheEntries: number;
  lastFold: FoldReport | null;
  recentFolds: FoldRun[];
}

const FoldRunRef = builder.objectRef<FoldRun>('FoldRun').implement({
  description: 'A fold run by the instance that answers (cron, foldCounters), with the time it finished.',
  fields: (t) => ({
    finishedAt: t.field({ type: 'DateTime', resolve: (r) => r.finishedAt }),
    report: t.field({ type: FoldReportRef, resolve: (r) => r.report }),
  }),
});

const MetricsStatusRef = builder.objectRef<MetricsStatusShape>('MetricsStatus').implement({
  description: 'Health of the metrics pipeline. Counters after `flushes` are those of the instance that answers.',
  fields: (t) => ({
    inboxRows: t.exposeFloat('inboxRows', { description: 'Increments acknowledged and not folded yet.' }),
    deadLetters: t.exposeFloat('deadLetters', { description: 'Rows in the dead-letter table.' }),
    // Counters of a long-running instance pass 2^31: Float, like every count here.
    flushes: t.exposeFloat('flushes', { description: 'Group-commit INSERTs (commits) made by this instance.' }),
    flushedRows: t.exposeFloat('flushedRows', { description: 'Inbox rows written by them.' }),
    acknowledgedWrites: t.exposeFloat('acknowledgedWrites', { description: 'Increment calls they acknowledged.' }),
    catalogCacheEntries: t.exposeInt('catalogCacheEntries', {
      description: 'Domain and metric definitions cached by this instance (at most METRICS_CATALOG_CACHE_MAX of each).',
    }),
    lastFold: t.field({ type: FoldReportRef, nullable: true, resolve: (s) => s.lastFold }),
    recentFolds: t.field({
      type: [FoldRunRef],
      description: 'The last 20 folds of this instance that were not skipped, newest first.',
      resolve: (s) => s.recentFolds,
    }),
  }),
});

const PageViewsInput = builder.inputType('PageViewsInput', {
  description: 'Page views of the /track beacon: one increment of `metric` per page, each page an object of type Page.',
  fields: (t) => ({
    domain: t.id({ required: true, validate: domainLookupSchema }),
    metric: t.id({ required: true, validate: metricLookupSchema }),
    pages: t.idList({ required: true, description: 'Page paths (object ids), e.g. "/pricing".' }),
  }),
});

const IncrementInput = builder.inputType('IncrementInput', {
  description: 'One increment: `by` (default 1) added to a metric, optionally for an object, a category and a DOM id, at `at` (default now).',
  fields: (t) => ({
    domain: t.id({ required: true }),
    metric: t.id({ required: true }),
    // Validated with the whole list by the increment resolver (checkEventObjects), not per object by the plugin.
    object: t.field({ type: ObjectRefInput }),
    by: t.int({ defaultValue: 1 }),
    // Lengths are checked by the increment service (cheaper than per-field validators on hot batches).
    category: t.string({ description: `At most ${CATEGORY_MAX} characters.` }),
    domId: t.string({ description: `At most ${DOM_ID_MAX} characters.` }),
    at: t.field({ type: 'DateTime' }),
    id: t.id({
      description: `Idempotency key chosen by the client (e.g. a UUID), 1 to ${IDEMPOTENCY_KEY_MAX} characters: an event whose id this caller had accepted within METRICS_DEDUPE_HOURS is answered as accepted again (listed in \`duplicates\`) and not counted again, so a call that got no answer can be retried.`,
    }),
  }),
});

const idArgDescription = `Idempotency key of the call (e.g. a UUID), 1 to ${IDEMPOTENCY_KEY_MAX} characters: each item is de-duplicated by this id and its position, within METRICS_DEDUPE_HOURS, per caller, so the same call can be retried safely.`;

// ------------------------------------------------------------------ queries

builder.queryFields((t) => ({
  domains: t.field({
    type: [DomainRef],
    authScopes: { public: true },
    resolve: (_root, _args, ctx) => ctx.services.metrics.catalog.listDomains(),
  }),
  domain: t.field({
    type: DomainRef,
    nullable: true,
    authScopes: { public: true },
    args: { ref: t.arg.id({ required: true, validate: domainLookupSchema }) },
    resolve: (_root, args, ctx) => ctx.services.metrics.catalog.getDomain(String(args.ref)),
  }),
  labelStats: t.field({
    type: [LabelStatRef],
    description: 'Count per (DOM id, label, category) of the `labels` domain, for heat maps.',
    authScopes: { public: true },
    args: {
      domIds: t.arg.stringList({ required: true, validate: z.array(domIdSchema).max(1000, 'at most 1000 domIds') }),
      period: t.arg({
        type: PeriodEnum,
        defaultValue: 'LIFETIME',
        description: 'LIFETIME: all counts. Another period: the counts of the period containing `at` (DAY: django-tracker\'s `get_stats`).',
      }),
      at: t.arg({ type: 'DateTime', description: 'An instant of the period to count (default now).' }),
      timezone: t.arg.string({ defaultValue: 'UTC', validate: timezoneSchema, description: 'IANA time zone of the period boundaries.' }),
    },
    // Labels of private metrics (a service may register one in `labels`) only for services.
    resolve: (_root, args, ctx) =>
      ctx.services.metrics.queries.labelStats({
        domIds: args.domIds,
        period: args.period ?? 'LIFETIME',
        at: args.at,
        timezone: args.timezone ?? 'UTC',
        publicOnly: !isService(ctx),
      }),
  }),
  labelHeatMap: t.field({
    type: [LabelStatRef],
    description:
      'The label heat map of one day (service only): every DOM id tracked in the `labels` domain during the day containing `day` (default today) in `timezone`, per label and category, highest count first.',
    authScopes: { service: true },
    args: {
      day: t.arg({ type: 'DateTime' }),
      timezone: t.arg.string({ defaultValue: 'UTC', validate: timezoneSchema, description: 'IANA time zone of the day boundaries.' }),
      category: t.arg.string({ validate: categorySchema }),
      first: t.arg.int({ defaultValue: 100, description: 'At most 1000.' }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.metrics.queries.labelHeatMap({
        day: args.day ?? new Date(),
        timezone: args.timezone ?? 'UTC',
        category: args.category,
        first: args.first ?? 100,
      }),
  }),
  metricDeadLetters: t.field({
    type: [DeadLetterRef],
    description: 'The most recent dead letters (service only).',
    authScopes: { service: true },
    args: { first: t.arg.int({ defaultValue: 50 }) },
    resolve: (_root, args, ctx) => ctx.services.metrics.queries.deadLetters(args.first ?? 50),
  }),
  metricsStatus: t.field({
    type: MetricsStatusRef,
    authScopes: { service: true },
    resolve: async (_root, _args, ctx) => {
      const backlog = await ctx.services.metrics.queries.backlog();
      const stats = ctx.services.metrics.inboxStats();
      return {
        ...backlog,
        flushes: stats.flushes,
        flushedRows: stats.rows,
        acknowledgedWrites: stats.writes,
        catalogCacheEntries: ctx.services.metrics.catalog.cachedEntries(),
        lastFold: ctx.services.metrics.lastFold(),
        recentFolds: ctx.services.metrics.recentFolds(),
      };
    },
  }),
}));

// ------------------------------------------------------------------ mutations

const NAME_ARG = "Display name. Omitted: an existing one keeps its name, a new one gets an empty name (trackstats' default).";

builder.mutationFields((t) => ({
  registerDomain: t.field({
    type: DomainRef,
    description:
      "Creates the domain, or updates its name and the settings given (trackstats' register: update or create). Omitted settings keep their value (false for a new domain). The built-in domains cannot be redefined.",
    authScopes: { service: true },
    args: {
      ref: t.arg.id({ required: true, validate: domainRefSchema }),
      name: t.arg.string({ required: false, validate: nameSchema, description: NAME_ARG }),
      openMetrics: t.arg.boolean({ description: 'Accepts increments of metrics it has not seen (created on first use). New domains: false.' }),
      publicMetrics: t.arg.boolean({ description: 'Metrics created on first use are public. New domains: false.' }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.metrics.catalog.registerDomain({
        ref: String(args.ref),
        name: args.name?.trim() ?? null,
        openMetrics: args.openMetrics,
        publicMetrics: args.publicMetrics,
      }),
  }),
  registerMetric: t.field({
    type: MetricRef,
    description:
      "Creates the metric, or updates its name and the settings given (trackstats' register: update or create); omitted settings keep their value. Changing the kind of an existing metric is a CONFLICT (its data would not fit), except for a metric created on first use, which its first registration redefines.",
    authScopes: { service: true },
    args: {
      domain: t.arg.id({ required: true, validate: domainLookupSchema }),
      ref: t.arg.id({ required: true, validate: metricRefLengthSchema, description: 'A reference ID; in the `labels` domain, a label (spaces and `+` allowed).' }),
      name: t.arg.string({ required: false, validate: nameSchema, description: NAME_ARG }),
      kind: t.arg({ type: MetricKindEnum, description: 'New metrics: COUNTER (the only kind of the `labels` domain).' }),
      public: t.arg.boolean({ description: 'Anyone may increment and read it. New metrics: false.' }),
      allowNegative: t.arg.boolean({ description: 'Accept increments with `by` <= 0. New metrics: false.' }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.metrics.catalog.registerMetric({
        domain: String(args.domain),
        ref: String(args.ref),
        name: args.name?.trim() ?? null,
        kind: args.kind,
        public: args.public,
        allowNegative: args.allowNegative,
      }),
  }),
  retryMetricDeadLetters: t.int({
    description: `Puts dead letters back into the inbox for the next fold, into their own metric or, with \`domain\` and \`metric\`, into that counter; returns how many moved (unknown ids are skipped). At most ${DEAD_LETTER_BATCH_MAX} ids. Service only.`,
    authScopes: { service: true },
    args: {
      ids: t.arg.idList({ required: true }),
      domain: t.arg.id({ validate: domainLookupSchema }),
      metric: t.arg.id({ validate: metricLookupSchema }),
    },
    resolve: async (_root, args, ctx) => {
      if ((args.domain == null) !== (args.metric == null)) throw badInput('Give both `domain` and `metric`, or neither');
      const into = args.domain != null ? await metricOrFail(ctx, String(args.domain), String(args.metric)) : undefined;
      return ctx.services.metrics.deadLetters.retry(args.ids, into);
    },
  }),
  purgeMetricDeadLetters: t.int({
    description: `Deletes dead letters for good; returns how many were deleted (unknown ids are skipped). At most ${DEAD_LETTER_BATCH_MAX} ids. Service only.`,
    authScopes: { service: true },
    args: { ids: t.arg.idList({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.metrics.deadLetters.purge(args.ids),
  }),
  deleteMetric: t.boolean({
    description:
      'Deletes a metric and its statistics; increments of it not folded yet become dead letters at the next fold. False when it did not exist.',
    authScopes: { service: true },
    args: { domain: t.arg.id({ required: true, validate: domainLookupSchema }), ref: t.arg.id({ required: true, validate: metricLookupSchema }) },
    resolve: (_root, args, ctx) => ctx.services.metrics.catalog.deleteMetric(String(args.domain), String(args.ref)),
  }),
  increment: t.field({
    type: IncrementResultRef,
    description:
      'Adds increments. Anonymous callers and users may increment public metrics; services any. Per-event rejections say why; the accepted ones are durable when this returns.',
    authScopes: { public: true },
    args: { events: t.arg({ type: [IncrementInput], required: true }) },
    resolve: async (_root, args, ctx) => {
      const events = args.events;
      if (events.length > ctx.config.metrics.maxBatch) {
        throw badInput(`Too many events: ${events.length} (at most ${ctx.config.metrics.maxBatch} per call)`);
      }
      checkEventObjects(events);
      checkRefLengths(events);
      checkEventIds(events);
      if (events.length > 0) await ctx.services.rateLimiter.consume(ctx, 'increment', events.length);
      return reported('increment', await ctx.services.metrics.increments.increment(ctx, events.map(toEvent)));
    },
  }),
  incrementObjects: t.field({
    type: IncrementResultRef,
    description:
      'The same increment for many objects of one type (e.g. impressions of every item of a list page): one event per id, `index` = position in `objectIds`. Same rules and durability as `increment`, with a cheaper request for large batches.',
    authScopes: { public: true },
    args: {
      domain: t.arg.id({ required: true, validate: domainLookupSchema }),
      metric: t.arg.id({ required: true, validate: metricLookupSchema }),
      objectType: t.arg.string({ required: true, validate: objectRefSchema.shape.type }),
      objectIds: t.arg.idList({ required: true }),
      by: t.arg.int({ defaultValue: 1 }),
      category: t.arg.string({ validate: categorySchema }),
      domId: t.arg.string({ validate: domIdSchema }),
      at: t.arg({ type: 'DateTime' }),
      id: t.arg.id({ validate: idempotencyKeySchema, description: idArgDescription }),
    },
    resolve: async (_root, args, ctx) => {
      const views = objectIncrementsOf(args);
      const events = objectIncrements(ctx.config.metrics, views, args.id == null ? null : String(args.id));
      if (events.length > 0) await ctx.services.rateLimiter.consume(ctx, 'increment', events.length);
      return reported('incrementObjects', await ctx.services.metrics.increments.increment(ctx, events));
    },
  }),
  trackLabels: t.field({
    type: IncrementResultRef,
    description: 'django-tracker labels "a|b:category:domId" into the built-in open, public `labels` domain (one metric per label).',
    authScopes: { public: true },
    args: {
      labels: t.arg.string({ required: true, validate: z.string().max(65_536, 'at most 65536 characters') }),
      id: t.arg.id({ validate: idempotencyKeySchema, description: idArgDescription }),
    },
    resolve: async (_root, args, ctx) => {
      const parts = args.labels.split('|').length;
      checkLabelCount(ctx.config.metrics, parts);
      await ctx.services.rateLimiter.consume(ctx, 'labels', parts);
      const key = args.id == null ? null : String(args.id);
      return reported('trackLabels', await ctx.services.metrics.increments.trackLabels(ctx, args.labels, key));
    },
  }),
  trackBeacon: t.field({
    type: IncrementResultRef,
    description:
      'What the /track beacon does, in one call: django-tracker `labels` (as trackLabels) and page views (as incrementObjects of objects of type Page), checked together and stored together: a call that fails stores neither. Positions in the result: a label\'s position in the `|` list, then the number of labels plus a page\'s position.',
    authScopes: { public: true },
    args: {
      labels: t.arg.string({ validate: z.string().max(65_536, 'at most 65536 characters') }),
      pageViews: t.arg({ type: PageViewsInput }),
      id: t.arg.id({ validate: idempotencyKeySchema, description: idArgDescription }),
    },
    resolve: async (_root, args, ctx) => {
      const id = args.id == null ? null : String(args.id);
      const labels = args.labels ?? null;
      const pageViews = args.pageViews
        ? objectIncrementsOf({ ...args.pageViews, objectType: PAGE_TYPE, objectIds: args.pageViews.pages }, 'pageViews.pages')
        : null;
      // Every check that fails the whole call comes before anything is charged or stored.
      const pages = pageViews?.objectIds.length ?? 0;
      const parts = labels === null ? 0 : labels.split('|').length;
      checkObjectCount(ctx.config.metrics, pages);
      checkLabelCount(ctx.config.metrics, parts);
      if (parts > 0) await ctx.services.rateLimiter.consume(ctx, 'labels', parts);
      if (pages > 0) await ctx.services.rateLimiter.consume(ctx, 'increment', pages);
      return reported('trackBeacon', await ctx.services.metrics.increments.trackBeacon(ctx, { labels, pageViews, id }));
    },
  }),
  recordStatistic: t.field({
    type: StatisticRef,
    description:
      "Records a GAUGE's value for (period, date, object), as trackstats' record: the date is the local date of `date` (default now) in `timezone`; a later record of the same key replaces the value. LIFETIME: the cumulative value as of that date; WEEK: the rolling 7 days ending on it; DAY: that day's value. HOUR is refused (one value per local date).",
    authScopes: { service: true },
    args: {
      domain: t.arg.id({ required: true, validate: domainLookupSchema }),
      metric: t.arg.id({ required: true, validate: metricLookupSchema }),
      value: t.arg.float({ required: true }),
      period: t.arg({ type: PeriodEnum, required: true }),
      date: t.arg({ type: 'DateTime' }),
      object: t.arg({ type: ObjectRefInput, validate: objectRefSchema }),
      timezone: t.arg.string({ defaultValue: 'UTC', validate: timezoneSchema, description: 'IANA time zone of the period boundaries.' }),
    },
    resolve: async (_root, args, ctx) => {
      const metric = await metricOrFail(ctx, String(args.domain), String(args.metric));
      const recorded = await ctx.services.metrics.queries.recordStatistic(metric, {
        value: args.value,
        period: args.period,
        date: args.date,
        object: args.object,
        timezone: args.timezone ?? 'UTC',
      });
      await ctx.services.objectLabels.remember(ctx.viewer, [args.object]);
      return recorded;
    },
  }),
  foldCounters: t.field({
    type: FoldReportRef,
    description: 'Folds the inbox now (waits for a fold running elsewhere). Service only.',
    authScopes: { service: true },
    resolve: async (_root, _args, ctx) => {
      try {
        return await ctx.services.metrics.fold({ wait: true });
      } catch (error) {
        if (error instanceof FoldError) {
          throw apiError('UNAVAILABLE', `The fold was interrupted after ${error.report.folded} rows; the rest stays in the inbox`, {
            report: error.report,
          });
        }
        throw error;
      }
    },
  }),
}));

/** Counts what an increment entry point accepted and rejected for the Prometheus collector (ops/events.ts). */
function reported(source: string, outcome: IncrementOutcome): IncrementOutcome {
  reportIncrements({ source, accepted: outcome.accepted, rejected: outcome.rejected });
  return outcome;
}

/**
 * incrementObjects' arguments (and the beacon's page views) as ObjectIncrements; every object id 1 to
 * OBJECT_ID_MAX characters. `idsPath`: the argument that holds the ids, as a refusal names it.
 */
function objectIncrementsOf(
  args: {
  domain: string | number;
  metric: string | number;
  objectType: string;
  objectIds: ReadonlyArray<string | number>;
  by?: number | null | undefined;
  category?: string | null | undefined;
  domId?: string | null | undefined;
  at?: Date | null | undefined;
  },
  idsPath = 'objectIds',
): ObjectIncrements {
  const objectIds = args.objectIds.map(String);
  const bad = objectIds.findIndex((id) => id.length === 0 || id.length > OBJECT_ID_MAX);
  if (bad >= 0) throw badInput(`${idsPath}.${bad}: must be 1 to ${OBJECT_ID_MAX} characters`);
  return { ...args, domain: String(args.domain), metric: String(args.metric), objectIds };
}

/**
 * The objects of the events, as the validation plugin would check each ObjectRefInput (objectRefSchema; the same
 * error, `events.3.object.type: ...`, every issue listed), in one pass over the list that allocates nothing for
 * valid objects (isValidObjectRef: the schema only judges the ones that pre-check does not accept).
 */
function checkEventObjects(events: ReadonlyArray<{ object?: { type: string; id: string; label?: string | null | undefined } | null | undefined }>): void {
  let issues: ValidationIssue[] | undefined;
  for (let index = 0; index < events.length; index++) {
    const object = events[index]!.object;
    if (object == null || isValidObjectRef(object)) continue;
    const result = objectRefSchema.safeParse(object);
    if (result.success) continue;
    for (const issue of result.error.issues) (issues ??= []).push({ message: issue.message, path: ['events', index, 'object', ...issue.path] });
  }
  if (issues) throw validationFailure(issues);
}

/** Domain and metric refs longer than any valid ref fail the call (BAD_USER_INPUT naming the event). */
function checkRefLengths(events: ReadonlyArray<{ domain: string | number; metric: string | number }>): void {
  for (let index = 0; index < events.length; index++) {
    const event = events[index]!;
    if (String(event.domain).length > DOMAIN_REF_MAX) {
      throw badInput(`events.${index}.domain: must be at most ${DOMAIN_REF_MAX} characters`);
    }
    if (String(event.metric).length > METRIC_REF_MAX) {
      throw badInput(`events.${index}.metric: must be at most ${METRIC_REF_MAX} characters`);
    }
  }
}

/** Event ids: 1 to IDEMPOTENCY_KEY_MAX characters, no NUL (BAD_USER_INPUT naming the event, nothing stored). */
function checkEventIds(events: ReadonlyArray<{ id?: string | number | null | undefined }>): void {
  for (let index = 0; index < events.length; index++) {
    const id = events[index]!.id;
    if (id == null) continue;
    const problem = idempotencyKeyProblem(String(id));
    if (problem) throw badInput(`events.${index}.id: ${problem}`);
  }
}

function toEvent(input: {
  domain: string;
  metric: string;
  object?: { type: string; id: string; label?: string | null | undefined } | null | undefined;
  by?: number | null | undefined;
  category?: string | null | undefined;
  domId?: string | null | undefined;
  at?: Date | null | undefined;
  id?: string | number | null | undefined;
}) {
  // The service reads the input as it is (missing, null and empty category or domId all mean none); only an
  // id needs a copy, to carry its stored key.
  return input.id == null ? input : { ...input, key: incrementKey.event(String(input.id)) };
}

// ---------------------------------------------------------------- live metrics (live.ts)

function liveMetrics(ctx: Context) {
  const live = ctx.services.metrics.live;
  if (!live) throw apiError('UNAVAILABLE', 'Live metrics are not available on this instance');
  return live;
}

builder.subscriptionField('metric', (t) =>
  t.float({
    description:
      'The total of a counter (of the object and/or category when given) now, then each new total when increments are committed, at most once per LIVE_METRICS_INTERVAL_MS. Private metrics: services only. The stream ends with an error when the metric is deleted (NOT_FOUND), stops being a counter (BAD_USER_INPUT) or, for callers other than services, stops being public (FORBIDDEN).',
    authScopes: { public: true },
    args: {
      domain: t.arg.id({ required: true, validate: domainLookupSchema }),
      metric: t.arg.id({ required: true, validate: metricLookupSchema }),
      object: t.arg({ type: ObjectRefInput, validate: objectRefSchema }),
      category: t.arg.string({ validate: categorySchema }),
    },
    subscribe: async (_root, args, ctx) => {
      const metric = await metricOrFail(ctx, String(args.domain), String(args.metric));
      if (!metric.public && !isService(ctx)) throw forbidden(`Metric "${String(args.domain)}/${String(args.metric)}" is not public`);
      if (metric.kind !== 'COUNTER') throw badInput('metric: live totals are for counters');
      return liveMetrics(ctx).watchTotal(metric, { object: args.object, category: args.category }, isService(ctx));
    },
    resolve: (total: number) => total,
  }),
);

builder.subscriptionField('labelStats', (t) =>
  t.field({
    type: [LabelStatRef],
    description:
      'labelStats(domIds) (LIFETIME) now, then again whenever clicks on those DOM ids are committed, at most once per LIVE_METRICS_INTERVAL_MS: live heat maps.',
    authScopes: { public: true },
    args: {
      domIds: t.arg.stringList({ required: true, validate: z.array(domIdSchema).max(1000, 'at most 1000 domIds') }),
    },
    subscribe: (_root, args, ctx) => liveMetrics(ctx).watchLabelStats(args.domIds, !isService(ctx)),
    resolve: (stats: LabelStat[]) => stats,
  }),
);

builder.objectField(Viewer, 'countedAsBot', (t) =>
  t.boolean({
    description:
      "Whether the bot filter rejects this caller's increments, labels and beacons (its role is in METRICS_BOT_FILTER and its User-Agent is a bot's, e.g. a headless browser): they answer `rejected` with reason `bot` and count nothing. Ask it anonymously for what /track and /trackql.js send.",
    resolve: (_viewer, _args, ctx) => ctx.services.metrics.increments.countsAsBot(ctx),
  }),
);
