import type { RawBuilder } from 'kysely';
import type { MetricsConfig } from '../config.ts';
import type { Em, Orm } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { badInput, notFound } from '../server/errors.ts';
import {
  EPOCH,
  LABELS_DOMAIN,
  QUARTER_HOUR,
  type DeadLetter,
  type LabelStat,
  type MetricInfo,
  type ObjectTotal,
  type Period,
  type Point,
  type StatFilter,
  type StatisticValue,
} from './model.ts';
import { timeZone, type TimeZone } from './calendar.ts';
import { ms, query, queryOne, sql, toDate } from './sql.ts';
import { withKnownLabels } from '../objects/labels.ts';
import { objectKey } from '../objects/object-ref.ts';
import { DATE_TIME_MIN } from '../schema/date-time.ts';

type TimePeriod = Exclude<Period, 'LIFETIME'>;
/** Points returned when `from` is not given. */
const DEFAULT_POINTS: Record<TimePeriod, number> = { HOUR: 24, DAY: 30, WEEK: 26, MONTH: 12, YEAR: 5 };
const DEFAULT_LENGTH_MS: Record<TimePeriod, number> = {
  HOUR: 3_600_000,
  DAY: 86_400_000,
  WEEK: 7 * 86_400_000,
  MONTH: 31 * 86_400_000,
  YEAR: 366 * 86_400_000,
};

/** Instants as a bound timestamptz[] parameter (for `width_bucket`, which finds a row's point by binary search). */
const instants = (bounds: number[]) => sql`${bounds.map((b) => new Date(b).toISOString())}::timestamptz[]`;

/** Rows of the statistic table matching the filter at the right rollup level. */
function statFilter(filter: StatFilter): RawBuilder<unknown> {
  if (filter.object) {
    const byCategory = filter.category != null ? sql`and s.category = ${filter.category}` : sql``;
    return sql`s.level = 0 and s.object_type = ${filter.object.type} and s.object_id = ${filter.object.id} ${byCategory}`;
  }
  if (filter.category != null) return sql`s.level = 1 and s.object_type = '' and s.object_id = '' and s.category = ${filter.category}`;
  return sql`s.level = 2 and s.object_type = '' and s.object_id = ''`;
}

function inboxFilter(filter: StatFilter): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (filter.object) parts.push(sql`and i.object_type = ${filter.object.type} and i.object_id = ${filter.object.id}`);
  if (filter.category != null) parts.push(sql`and i.category = ${filter.category}`);
  return sql.join(parts, sql` `);
}

/** Recorded statistics of one object (or of none); they have no category, so a category filter matches nothing. */
function recordedFilter(filter: StatFilter): RawBuilder<unknown> {
  const noCategory = filter.category != null ? sql`and false` : sql``;
  return sql`r.object_type = ${filter.object?.type ?? ''} and r.object_id = ${filter.object?.id ?? ''} ${noCategory}`;
}

/** A counter's total (folded LIFETIME + inbox) as one SQL expression. */
function counterTotal(metric: MetricInfo, filter: StatFilter): RawBuilder<number> {
  return sql<number>`(coalesce((select sum(s.value) from metric_statistic s where s.metric_id = ${metric.id} and ${statFilter(filter)}
                                and s.period = 'LIFETIME' and s.start = ${EPOCH}), 0)
                    + coalesce((select sum(i.amount) from metric_inbox i where i.metric_id = ${metric.id} ${inboxFilter(filter)}), 0))::float8`;
}

export interface SeriesArgs extends StatFilter {
  period: Period;
  from?: Date | null | undefined;
  to?: Date | null | undefined;
  timezone: string;
}

export interface TopArgs {
  period: Period;
  at?: Date | null | undefined;
  limit: number;
  timezone: string;
  category?: string | null | undefined;
}

export interface LabelStatsArgs {
  domIds: string[];
  period: Period;
  at?: Date | null | undefined;
  timezone: string;
  /** Only labels of public metrics (callers other than services). */
  publicOnly: boolean;
}

export interface RecordArgs {
  value: number;
  period: Period;
  date?: Date | null | undefined;
  object?: ObjectRefValue | null | undefined;
  timezone: string;
}

/**
 * Runs inside recordStatistic's transaction, after the value is stored (the webhooks outbox registers one
 * at composition); a throw rolls the record back.
 */
export interface StatisticRecordedListener {
  afterRecord(em: Em, value: StatisticValue): Promise<void>;
}

/** Read side of the metrics: totals, series, top objects, label stats; recorded statistics (recordStatistic). */
export class MetricsQueries {
  readonly #orm: Orm;
  readonly #config: MetricsConfig;
  readonly #recordListeners: StatisticRecordedListener[] = [];

  /** Registers a listener run inside every recordStatistic transaction. */
  addRecordListener(listener: StatisticRecordedListener): void {
    this.#recordListeners.push(listener);
  }

  constructor(orm: Orm, config: MetricsConfig) {
    this.#orm = orm;
    this.#config = config;
  }

  #em(): Em {
    return this.#orm.em.fork();
  }

  /**
   * Counters: folded LIFETIME value plus the rows still in the inbox, in one statement (one snapshot, so
   * a fold committing meanwhile is counted exactly once). Gauges: the most recent recorded LIFETIME value.
   */
  async total(metric: MetricInfo, filter: StatFilter): Promise<number> {
    if (metric.kind === 'GAUGE') {
      const row = await queryOne<{ v: number }>(
        this.#em(),
        sql`select r.value as v from metric_recorded_statistic r where r.metric_id = ${metric.id} and ${recordedFilter(filter)}
            and r.period = 'LIFETIME' order by r.date desc limit 1`,
      );
      return row?.v ?? 0;
    }
    const row = await queryOne<{ v: number }>(this.#em(), sql`select ${counterTotal(metric, filter)} as v`);
    return row?.v ?? 0;
  }

  /**
   * The requested range: [from, to] with defaults. Its number of points is the calendar's to count (a 30-minute DST
   * shift makes a 30-minute hour, a skipped day a 364-day year): TimeZone.boundaries stops at
   * METRICS_MAX_SERIES_POINTS, so an absurd range costs no more than the largest one allowed.
   */
  #range(period: TimePeriod, args: SeriesArgs): { from: number; to: number } {
    const to = (args.to ?? new Date()).getTime();
    // The default span stops at the first instant DateTime accepts (before it, PostgreSQL reads no year 0000).
    const from = args.from ? args.from.getTime() : Math.max(DATE_TIME_MIN.getTime(), to - (DEFAULT_POINTS[period] - 1) * DEFAULT_LENGTH_MS[period]);
    if (from > to) throw badInput('`from` must not be after `to`');
    return { from, to };
  }

  #tooMany(period: Period) {
    return badInput(`Too many points: at most ${this.#config.maxSeriesPoints} ${period} points per series; narrow from/to or use a longer period`);
  }

  /**
   * Counters: one point per period from the one containing `from` to the one containing `to`, in
   * `timezone`, summing the 15-minute buckets and the unfolded inbox (0 for empty periods); LIFETIME: the
   * running total at the end of each day (trackstats' LIFETIME statistics). Gauges: the values recorded
   * for `period` on the dates of the range, each at the start of its date.
   */
  async series(metric: MetricInfo, args: SeriesArgs): Promise<Point[]> {
    const zone = timeZone(args.timezone);
    if (metric.kind === 'GAUGE') return this.#recordedSeries(metric, args, zone);
    const lifetime = args.period === 'LIFETIME';
    const period: TimePeriod = args.period === 'LIFETIME' ? 'DAY' : args.period;
    const { from, to } = this.#range(period, args);
    const bounds = zone.boundaries(period, from, to, this.#config.maxSeriesPoints);
    if (!bounds) throw this.#tooMany(args.period);
    const lo = new Date(bounds[0]!);
    // LIFETIME reads everything after the range too: a day's running total is the total minus what came later.
    const hi = new Date(bounds[bounds.length - 1]!);
    const statBefore = lifetime ? sql`` : sql`and s.start < ${hi}`;
    const inboxBefore = lifetime ? sql`` : sql`and i.occurred_at < ${hi}`;
    const rows = await query<{ i: number; v: number }>(
      this.#em(),
      sql`with src as (
            select s.start as t, s.value as v from metric_statistic s
            where s.metric_id = ${metric.id} and ${statFilter(args)} and s.period = ${QUARTER_HOUR} and s.start >= ${lo} ${statBefore}
            union all
            select i.occurred_at, i.amount from metric_inbox i
            where i.metric_id = ${metric.id} ${inboxFilter(args)} and i.occurred_at >= ${lo} ${inboxBefore}
          )
          select width_bucket(t, ${instants(bounds)})::int as i, sum(v)::float8 as v from src group by 1
          ${lifetime ? sql`union all select -1, ${counterTotal(metric, args)}` : sql``}`,
    );
    const sums = new Array<number>(bounds.length + 1).fill(0);
    let total = 0;
    for (const row of rows) {
      if (row.i === -1) total = row.v;
      else sums[row.i] = row.v;
    }
    const points: Point[] = [];
    for (let k = 1; k < bounds.length; k++) points.push({ start: new Date(bounds[k - 1]!), value: sums[k]! });
    if (lifetime) {
      // Running total at the end of point k = total - everything at or after its end.
      let later = sums[bounds.length]!;
      for (let k = points.length - 1; k >= 0; k--) {
        const own = points[k]!.value;
        points[k]!.value = total - later;
        later += own;
      }
    }
    return points;
  }

  /** Recorded statistics of a gauge for `period` on the local dates from `from` to `to`. */
  async #recordedSeries(metric: MetricInfo, args: SeriesArgs, zone: TimeZone): Promise<Point[]> {
    const to = (args.to ?? new Date()).getTime();
    const from = args.from ? args.from.getTime() : Math.max(DATE_TIME_MIN.getTime(), to - 29 * 86_400_000);
    if (from > to) throw badInput('`from` must not be after `to`');
    const max = this.#config.maxSeriesPoints;
    const rows = await query<{ d: string; v: number }>(
      this.#em(),
      sql`select to_char(r.date, 'YYYY-MM-DD') as d, r.value as v from metric_recorded_statistic r
          where r.metric_id = ${metric.id} and ${recordedFilter(args)} and r.period = ${args.period}
            and r.date >= ${zone.localDate(from)}::date and r.date <= ${zone.localDate(to)}::date
          order by r.date limit ${max + 1}`,
    );
    if (rows.length > max) throw this.#tooMany(args.period);
    return rows.map((r) => ({ start: new Date(zone.startOfDate(r.d)), value: r.v }));
  }

  /** The objects with the highest value in the period containing `at` (LIFETIME: overall). */
  async top(metric: MetricInfo, args: TopArgs): Promise<ObjectTotal[]> {
    const zone = timeZone(args.timezone);
    if (!Number.isInteger(args.limit) || args.limit < 1 || args.limit > 100) throw badInput('`limit` must be between 1 and 100');
    const at = (args.at ?? new Date()).getTime();
    const category = args.category != null ? sql`and s.category = ${args.category}` : sql``;
    const inboxCategory = args.category != null ? sql`and i.category = ${args.category}` : sql``;
    let statement: RawBuilder<{ object_type: string; object_id: string; v: number }>;
    if (metric.kind === 'GAUGE') {
      const noCategory = args.category != null ? sql`and false` : sql``;
      const date = zone.localDate(at);
      // LIFETIME: each object's most recent cumulative value (as of `at` when given); other periods: the values recorded on the date of `at`.
      statement =
        args.period === 'LIFETIME'
          ? sql`select object_type, object_id, v from (
                  select distinct on (r.object_type, r.object_id) r.object_type, r.object_id, r.value as v
                  from metric_recorded_statistic r
                  where r.metric_id = ${metric.id} and r.period = 'LIFETIME' and r.object_type <> '' ${noCategory}
                    ${args.at ? sql`and r.date <= ${date}::date` : sql``}
                  order by r.object_type, r.object_id, r.date desc
                ) as latest order by v desc, 1, 2 limit ${args.limit}`
          : sql`select r.object_type, r.object_id, r.value as v from metric_recorded_statistic r
                where r.metric_id = ${metric.id} and r.period = ${args.period} and r.date = ${date}::date and r.object_type <> '' ${noCategory}
                order by v desc, 1, 2 limit ${args.limit}`;
    } else if (args.period === 'LIFETIME') {
      statement = sql`select object_type, object_id, sum(v)::float8 as v from (
          select s.object_type, s.object_id, s.value as v from metric_statistic s
          where s.metric_id = ${metric.id} and s.period = 'LIFETIME' and s.start = ${EPOCH} and s.level = 0 and s.object_type <> '' ${category}
          union all
          select i.object_type, i.object_id, i.amount from metric_inbox i
          where i.metric_id = ${metric.id} and i.object_type <> '' ${inboxCategory}
        ) as src group by 1, 2 order by v desc, 1, 2 limit ${args.limit}`;
    } else {
      const startMs = zone.periodStart(args.period, at);
      const start = new Date(startMs);
      const end = new Date(zone.nextStart(args.period, startMs));
      statement = sql`select object_type, object_id, sum(v)::float8 as v from (
          select s.object_type, s.object_id, s.value as v from metric_statistic s
          where s.metric_id = ${metric.id} and s.period = ${QUARTER_HOUR} and s.start >= ${start} and s.start < ${end}
            and s.level = 0 and s.object_type <> '' ${category}
          union all
          select i.object_type, i.object_id, i.amount from metric_inbox i
          where i.metric_id = ${metric.id} and i.occurred_at >= ${start} and i.occurred_at < ${end} and i.object_type <> '' ${inboxCategory}
        ) as src group by 1, 2 order by v desc, 1, 2 limit ${args.limit}`;
    }
    const em = this.#em();
    const rows = await query(em, statement);
    // The objects' labels: the latest an authenticated caller gave (objects/labels.ts; metrics rows keep none).
    const objects = await withKnownLabels(em, rows.map((r) => ({ type: r.object_type, id: r.object_id })));
    return rows.map((r, i) => ({ object: objects[i]!, value: r.v }));
  }

  /**
   * django-tracker's stats by DOM id: count per (domId, label, category) in the `labels` domain, over all
   * time (LIFETIME) or in the period containing `at` (default now) in `timezone`: `period: DAY` is
   * django-tracker's `get_stats` (today's counts).
   */
  async labelStats(args: LabelStatsArgs): Promise<LabelStat[]> {
    const { domIds } = args;
    if (domIds.length > 1000) throw badInput('At most 1000 domIds per call');
    const zone = timeZone(args.timezone);
    if (domIds.length === 0) return [];
    const window =
      args.period === 'LIFETIME' ? null : this.#periodWindow(zone, args.period, (args.at ?? new Date()).getTime());
    return this.#labelCounts({ domIds, window, category: null, publicOnly: args.publicOnly, order: 'domId', limit: null });
  }

  /**
   * The label heat map of one day: every DOM id counted in the `labels` domain during the day containing `day`
   * in `timezone` (folded 15-minute buckets plus the inbox), per (DOM id, label, category), highest first.
   */
  async labelHeatMap(args: { day: Date; timezone: string; category?: string | null | undefined; first: number }): Promise<LabelStat[]> {
    const zone = timeZone(args.timezone);
    if (!Number.isInteger(args.first) || args.first < 1 || args.first > 1000) throw badInput('`first` must be between 1 and 1000');
    return this.#labelCounts({
      domIds: null,
      window: this.#periodWindow(zone, 'DAY', args.day.getTime()),
      category: args.category ?? null,
      publicOnly: false,
      order: 'count',
      limit: args.first,
    });
  }

  /** The period containing `atMs` in `zone`, as [start, end). */
  #periodWindow(zone: TimeZone, period: Exclude<LabelStatsArgs['period'], 'LIFETIME'>, atMs: number): { start: Date; end: Date } {
    const startMs = zone.periodStart(period, atMs);
    return { start: new Date(startMs), end: new Date(zone.nextStart(period, startMs)) };
  }

  /**
   * Counts per (DOM id, label, category) in the `labels` domain: folded buckets (LIFETIME when `window` is
   * null, else 15-minute buckets in it) plus what is still in the inbox; all DOM ids when `domIds` is null.
   */
  async #labelCounts(args: {
    domIds: readonly string[] | null;
    window: { start: Date; end: Date } | null;
    category: string | null;
    publicOnly: boolean;
    order: 'domId' | 'count';
    limit: number | null;
  }): Promise<LabelStat[]> {
    const { domIds, window, category } = args;
    const statWindow = window
      ? sql`s.period = ${QUARTER_HOUR} and s.start >= ${window.start} and s.start < ${window.end}`
      : sql`s.period = 'LIFETIME'`;
    const inboxWindow = window ? sql`and i.occurred_at >= ${window.start} and i.occurred_at < ${window.end}` : sql``;
    const statDomIds = domIds ? sql`and s.dom_id = any(${domIds}::text[])` : sql``;
    const inboxDomIds = domIds ? sql`and i.dom_id = any(${domIds}::text[])` : sql``;
    const statCategory = category !== null ? sql`and s.category = ${category}` : sql``;
    const inboxCategory = category !== null ? sql`and i.category = ${category}` : sql``;
    const order = args.order === 'count' ? sql`order by count desc, 1, 2, 3` : sql`order by 1, 2, 3`;
    const limit = args.limit !== null ? sql`limit ${args.limit}` : sql``;
    const rows = await query<{ dom_id: string; label: string; category: string; count: number }>(
      this.#em(),
      sql`with labels as (
            select m.id, m.ref from metric m join metric_domain d on d.id = m.domain_id where d.ref = ${LABELS_DOMAIN}
              and (m.public or not ${args.publicOnly})
          ),
          src as (
            select s.metric_id, s.dom_id, s.category, s.value as v from metric_statistic s
            where s.dom_id <> '' and s.level = 0 and ${statWindow} ${statDomIds} ${statCategory}
              and s.metric_id in (select id from labels)
            union all
            select i.metric_id, i.dom_id, i.category, i.amount from metric_inbox i
            where i.dom_id <> '' and i.metric_id in (select id from labels) ${inboxWindow} ${inboxDomIds} ${inboxCategory}
          )
          select src.dom_id, labels.ref as label, src.category, sum(src.v)::float8 as count
          from src join labels on labels.id = src.metric_id
          group by 1, 2, 3 ${order} ${limit}`,
    );
    return rows.map((r) => ({ domId: r.dom_id, label: r.label, category: r.category || null, count: r.count }));
  }

  /**
   * trackstats' `record`: sets a gauge's value for (object, period, date), `date` being the local date of
   * the `date` instant (default now) in `timezone`; a later record of the same key replaces the value.
   */
  async recordStatistic(metric: MetricInfo, args: RecordArgs): Promise<StatisticValue> {
    const zone = timeZone(args.timezone);
    if (metric.kind !== 'GAUGE') {
      throw badInput(`Metric "${metric.domain.ref}/${metric.ref}" is a COUNTER: counters are incremented; recordStatistic sets GAUGE values`);
    }
    // One value per local date (trackstats' Statistic.date): an hour has no date of its own.
    if (args.period === 'HOUR') throw badInput('`period`: HOUR is not a period of recorded statistics (one value per local date): use DAY, WEEK, MONTH, YEAR or LIFETIME');
    const date = args.date ?? new Date();
    if (date.getTime() > Date.now() + this.#config.maxSkewSeconds * 1000) throw badInput('`date` must not be in the future');
    const day = zone.localDate(date.getTime());
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw badInput('`date` must be within the years 0001 to 9999');
    return this.#em().transactional(async (em) => {
      // The metric row, held until the value is stored: a deleteMetric in progress is waited for, and a metric it
      // deleted is NOT_FOUND (the insert's foreign key check failed instead: an INTERNAL_SERVER_ERROR).
      const held = await queryOne<{ id: number }>(em, sql`select id from metric where id = ${metric.id} for key share`);
      if (!held) throw notFound(`Unknown metric "${metric.domain.ref}/${metric.ref}"`);
      const row = await queryOne<{ d: string; v: number }>(
        em,
        sql`insert into metric_recorded_statistic as r (metric_id, object_type, object_id, period, date, value, recorded_at)
            values (${metric.id}, ${args.object?.type ?? ''}, ${args.object?.id ?? ''}, ${args.period}, ${day}::date, ${args.value}, now())
            on conflict (metric_id, object_type, object_id, period, date)
            do update set value = excluded.value, recorded_at = excluded.recorded_at
            returning to_char(r.date, 'YYYY-MM-DD') as d, r.value as v`,
      );
      const value: StatisticValue = {
        metric,
        period: args.period,
        date: row!.d,
        start: new Date(zone.startOfDate(row!.d)),
        object: args.object ?? null,
        value: row!.v,
      };
      for (const listener of this.#recordListeners) await listener.afterRecord(em, value);
      return value;
    });
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw badInput('`first` must be between 1 and 1000');
    const em = this.#em();
    const rows = await query<{
      id: string;
      metric_id: number;
      object_type: string;
      object_id: string;
      category: string;
      dom_id: string;
      amount: number;
      occurred: number;
      reason: string;
      dead: number;
    }>(
      em,
      sql`select id::text as id, metric_id, object_type, object_id, category, dom_id, amount, ${ms(sql`occurred_at`)} as occurred,
                 reason, ${ms(sql`dead_at`)} as dead
          from metric_dead_letter d order by d.id desc limit ${limit}`,
    );
    // Their objects with the labels kept for them (as `top`).
    const objects = await withKnownLabels(em, rows.filter((r) => r.object_type).map((r) => ({ type: r.object_type, id: r.object_id })));
    const labelled = new Map(objects.map((o) => [objectKey(o), o]));
    return rows.map((r) => ({
      id: r.id,
      metricId: r.metric_id,
      object: r.object_type ? labelled.get(objectKey({ type: r.object_type, id: r.object_id }))! : null,
      category: r.category || null,
      domId: r.dom_id || null,
      amount: r.amount,
      occurredAt: toDate(r.occurred),
      reason: r.reason,
      deadAt: toDate(r.dead),
    }));
  }

  /** Rows waiting in the inbox and rows in the dead-letter table (estimates would do; these are exact). */
  async backlog(): Promise<{ inboxRows: number; deadLetters: number }> {
    const row = await queryOne<{ inbox: number; dead: number }>(
      this.#em(),
      sql`select (select count(*) from metric_inbox)::float8 as inbox, (select count(*) from metric_dead_letter)::float8 as dead`,
    );
    return { inboxRows: row?.inbox ?? 0, deadLetters: row?.dead ?? 0 };
  }
}
