import type { RawBuilder } from 'kysely';
import type { MetricsConfig } from '../config.ts';
import type { Em, Orm } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { badInput } from '../server/errors.ts';
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
import { ms, query, queryOne, sql, toDate } from './sql.ts';

type TimePeriod = Exclude<Period, 'LIFETIME'>;
const UNIT: Record<TimePeriod, string> = { HOUR: 'hour', DAY: 'day', WEEK: 'week', MONTH: 'month', YEAR: 'year' };
/** Shortest possible length of one period (DST days are 23 h), to bound the number of points cheaply. */
const MIN_LENGTH_MS: Record<TimePeriod, number> = {
  HOUR: 3_600_000,
  DAY: 23 * 3_600_000,
  WEEK: 7 * 24 * 3_600_000 - 3_600_000,
  MONTH: 28 * 24 * 3_600_000 - 3_600_000,
  YEAR: 365 * 24 * 3_600_000 - 3_600_000,
};
/** Points returned when `from` is not given. */
const DEFAULT_POINTS: Record<TimePeriod, number> = { HOUR: 24, DAY: 30, WEEK: 26, MONTH: 12, YEAR: 5 };
const DEFAULT_LENGTH_MS: Record<TimePeriod, number> = {
  HOUR: 3_600_000,
  DAY: 86_400_000,
  WEEK: 7 * 86_400_000,
  MONTH: 31 * 86_400_000,
  YEAR: 366 * 86_400_000,
};

const q15 = (t: RawBuilder<unknown>) => sql`date_bin('15 minutes', ${t}, timestamptz 'epoch')`;

/**
 * Start of the period containing instant `t` in time zone `tz`, as an instant. Days, weeks, months and
 * years truncate the local time; hours subtract the local minutes of the 15-minute bucket, which keeps
 * both hours of a DST fall-back night apart and never lands on a local time that does not exist.
 */
function periodStart(period: TimePeriod, t: RawBuilder<unknown>, tz: string): RawBuilder<unknown> {
  if (period === 'HOUR') {
    return sql`(${q15(t)} - make_interval(mins => extract(minute from ${q15(t)} at time zone ${tz})::int))`;
  }
  return sql`(date_trunc(${UNIT[period]}, ${t} at time zone ${tz}) at time zone ${tz})`;
}

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

/** Gauges are recorded per object (or without one), never rolled up. */
function gaugeFilter(filter: StatFilter): RawBuilder<unknown> {
  return sql`s.level = 0 and s.object_type = ${filter.object?.type ?? ''} and s.object_id = ${filter.object?.id ?? ''}
             and s.category = ${filter.category ?? ''}`;
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

export interface RecordArgs {
  value: number;
  period: Period;
  date?: Date | null | undefined;
  object?: ObjectRefValue | null | undefined;
  timezone: string;
}

/** Read side of the metrics: totals, series, top objects, label stats; gauges' recordStatistic. */
export class MetricsQueries {
  readonly #orm: Orm;
  readonly #config: MetricsConfig;
  #timezones: Promise<Set<string>> | undefined;

  constructor(orm: Orm, config: MetricsConfig) {
    this.#orm = orm;
    this.#config = config;
  }

  #em(): Em {
    return this.#orm.em.fork();
  }

  /** Validates an IANA time zone name against the database's own list (loaded once). */
  async checkTimezone(timezone: string): Promise<string> {
    this.#timezones ??= query<{ name: string }>(this.#em(), sql`select name from pg_timezone_names`)
      .then((rows) => new Set(rows.map((r) => r.name)))
      .catch((error: unknown) => {
        this.#timezones = undefined;
        throw error;
      });
    const names = await this.#timezones;
    if (!names.has(timezone)) throw badInput(`Unknown time zone "${timezone}" (use an IANA name such as "Europe/Paris")`);
    return timezone;
  }

  /**
   * Counters: folded LIFETIME value plus the rows still in the inbox, in one statement (one snapshot, so
   * a fold committing meanwhile is counted exactly once). Gauges: the recorded LIFETIME value.
   */
  async total(metric: MetricInfo, filter: StatFilter): Promise<number> {
    if (metric.kind === 'GAUGE') {
      const row = await queryOne<{ v: number }>(
        this.#em(),
        sql`select s.value as v from metric_statistic s where s.metric_id = ${metric.id} and ${gaugeFilter(filter)}
            and s.period = 'LIFETIME' and s.start = ${EPOCH}`,
      );
      return row?.v ?? 0;
    }
    const row = await queryOne<{ v: number }>(
      this.#em(),
      sql`select (coalesce((select sum(s.value) from metric_statistic s where s.metric_id = ${metric.id} and ${statFilter(filter)}
                            and s.period = 'LIFETIME' and s.start = ${EPOCH}), 0)
                + coalesce((select sum(i.amount) from metric_inbox i where i.metric_id = ${metric.id} ${inboxFilter(filter)}), 0))::float8 as v`,
    );
    return row?.v ?? 0;
  }

  /**
   * Points of `period` from the one containing `from` to the one containing `to`, in `timezone`.
   * Counters sum their 15-minute buckets (and the unfolded inbox) per point and return 0 for empty
   * points; gauges return the values recorded for that period. LIFETIME is a single point.
   */
  async series(metric: MetricInfo, args: SeriesArgs): Promise<Point[]> {
    const tz = await this.checkTimezone(args.timezone);
    if (args.period === 'LIFETIME') return [{ start: EPOCH, value: await this.total(metric, args) }];
    const period = args.period;
    const to = args.to ?? new Date();
    const from = args.from ?? new Date(to.getTime() - (DEFAULT_POINTS[period] - 1) * DEFAULT_LENGTH_MS[period]);
    if (from.getTime() > to.getTime()) throw badInput('`from` must not be after `to`');
    const maxPoints = this.#config.maxSeriesPoints;
    if ((to.getTime() - from.getTime()) / MIN_LENGTH_MS[period] + 1 > maxPoints) {
      throw badInput(`Too many points: at most ${maxPoints} ${period} points per series; narrow from/to or use a longer period`);
    }
    const fromStart = periodStart(period, sql`${from}::timestamptz`, tz);
    const toStart = periodStart(period, sql`${to}::timestamptz`, tz);

    if (metric.kind === 'GAUGE') {
      const rows = await query<{ start: number; v: number }>(
        this.#em(),
        sql`select ${ms(sql`s.start`)} as start, s.value as v from metric_statistic s
            where s.metric_id = ${metric.id} and ${gaugeFilter(args)} and s.period = ${period}
              and s.start >= ${fromStart} and s.start <= ${to}::timestamptz
            order by s.start`,
      );
      return rows.map((r) => ({ start: toDate(r.start), value: r.v }));
    }

    // Every point start, as instants: local calendar steps for DAY..YEAR; local whole hours for HOUR.
    const points =
      period === 'HOUR'
        ? sql`select g as p from generate_series(${fromStart}, ${toStart}, interval '15 minutes') as g
              where extract(minute from g at time zone ${tz}) = 0`
        : sql`select (g at time zone ${tz}) as p
              from generate_series(date_trunc(${UNIT[period]}, ${from}::timestamptz at time zone ${tz}),
                                   date_trunc(${UNIT[period]}, ${to}::timestamptz at time zone ${tz}),
                                   ${`1 ${UNIT[period]}`}::interval) as g`;
    // Generous upper bound of the last point's end; rows past the last point are dropped by the join.
    const end = sql`(${toStart} + ${`1 ${UNIT[period]}`}::interval + interval '2 hours')`;
    const rows = await query<{ start: number; v: number }>(
      this.#em(),
      sql`with pts as (${points}),
          src as (
            select s.start as t, s.value as v from metric_statistic s
            where s.metric_id = ${metric.id} and ${statFilter(args)} and s.period = ${QUARTER_HOUR}
              and s.start >= ${fromStart} and s.start < ${end}
            union all
            select i.occurred_at, i.amount from metric_inbox i
            where i.metric_id = ${metric.id} ${inboxFilter(args)} and i.occurred_at >= ${fromStart} and i.occurred_at < ${end}
          ),
          agg as (select ${periodStart(period, sql`t`, tz)} as p, sum(v) as v from src group by 1)
          select ${ms(sql`pts.p`)} as start, coalesce(agg.v, 0)::float8 as v
          from pts left join agg on agg.p = pts.p order by pts.p`,
    );
    return rows.map((r) => ({ start: toDate(r.start), value: r.v }));
  }

  /** The objects with the highest value in the period containing `at` (LIFETIME: overall). */
  async top(metric: MetricInfo, args: TopArgs): Promise<ObjectTotal[]> {
    const tz = await this.checkTimezone(args.timezone);
    if (!Number.isInteger(args.limit) || args.limit < 1 || args.limit > 100) throw badInput('`limit` must be between 1 and 100');
    const at = args.at ?? new Date();
    const category = args.category != null ? sql`and s.category = ${args.category}` : sql``;
    const inboxCategory = args.category != null ? sql`and i.category = ${args.category}` : sql``;
    let statement: RawBuilder<{ object_type: string; object_id: string; v: number }>;
    if (metric.kind === 'GAUGE') {
      const start = args.period === 'LIFETIME' ? sql`${EPOCH}::timestamptz` : periodStart(args.period, sql`${at}::timestamptz`, tz);
      statement = sql`select s.object_type, s.object_id, sum(s.value)::float8 as v from metric_statistic s
        where s.metric_id = ${metric.id} and s.level = 0 and s.object_type <> '' and s.period = ${args.period}
          and s.start = ${start} ${category}
        group by 1, 2 order by v desc, 1, 2 limit ${args.limit}`;
    } else if (args.period === 'LIFETIME') {
      statement = sql`select object_type, object_id, sum(v)::float8 as v from (
          select s.object_type, s.object_id, s.value as v from metric_statistic s
          where s.metric_id = ${metric.id} and s.period = 'LIFETIME' and s.start = ${EPOCH} and s.level = 0 and s.object_type <> '' ${category}
          union all
          select i.object_type, i.object_id, i.amount from metric_inbox i
          where i.metric_id = ${metric.id} and i.object_type <> '' ${inboxCategory}
        ) as src group by 1, 2 order by v desc, 1, 2 limit ${args.limit}`;
    } else {
      const start = periodStart(args.period, sql`${at}::timestamptz`, tz);
      const end =
        args.period === 'HOUR'
          ? sql`(${start} + interval '1 hour')`
          : sql`((date_trunc(${UNIT[args.period]}, ${at}::timestamptz at time zone ${tz}) + ${`1 ${UNIT[args.period]}`}::interval) at time zone ${tz})`;
      statement = sql`select object_type, object_id, sum(v)::float8 as v from (
          select s.object_type, s.object_id, s.value as v from metric_statistic s
          where s.metric_id = ${metric.id} and s.period = ${QUARTER_HOUR} and s.start >= ${start} and s.start < ${end}
            and s.level = 0 and s.object_type <> '' ${category}
          union all
          select i.object_type, i.object_id, i.amount from metric_inbox i
          where i.metric_id = ${metric.id} and i.occurred_at >= ${start} and i.occurred_at < ${end} and i.object_type <> '' ${inboxCategory}
        ) as src group by 1, 2 order by v desc, 1, 2 limit ${args.limit}`;
    }
    const rows = await query(this.#em(), statement);
    return rows.map((r) => ({ object: { type: r.object_type, id: r.object_id }, value: r.v }));
  }

  /** django-tracker's stats by DOM id: count per (domId, label, category) in the `labels` domain (`publicOnly`: of public label metrics). */
  async labelStats(domIds: string[], publicOnly = false): Promise<LabelStat[]> {
    if (domIds.length > 1000) throw badInput('At most 1000 domIds per call');
    if (domIds.length === 0) return [];
    const rows = await query<{ dom_id: string; label: string; category: string; count: number }>(
      this.#em(),
      sql`with labels as (
            select m.id, m.ref from metric m join metric_domain d on d.id = m.domain_id where d.ref = ${LABELS_DOMAIN}
              and (m.public or not ${publicOnly})
          ),
          src as (
            select s.metric_id, s.dom_id, s.category, s.value as v from metric_statistic s
            where s.dom_id = any(${domIds}::text[]) and s.dom_id <> '' and s.level = 0 and s.period = 'LIFETIME'
              and s.metric_id in (select id from labels)
            union all
            select i.metric_id, i.dom_id, i.category, i.amount from metric_inbox i
            where i.dom_id = any(${domIds}::text[]) and i.metric_id in (select id from labels)
          )
          select src.dom_id, labels.ref as label, src.category, sum(src.v)::float8 as count
          from src join labels on labels.id = src.metric_id
          group by 1, 2, 3 order by 1, 2, 3`,
    );
    return rows.map((r) => ({ domId: r.dom_id, label: r.label, category: r.category || null, count: r.count }));
  }

  /**
   * The label heat map of one day: every DOM id counted in the `labels` domain during the day containing `day`
   * in `timezone` (folded 15-minute buckets plus the inbox), per (DOM id, label, category), highest first.
   */
  async labelHeatMap(args: { day: Date; timezone: string; category?: string | null | undefined; first: number }): Promise<LabelStat[]> {
    const tz = await this.checkTimezone(args.timezone);
    if (!Number.isInteger(args.first) || args.first < 1 || args.first > 1000) throw badInput('`first` must be between 1 and 1000');
    const start = periodStart('DAY', sql`${args.day}::timestamptz`, tz);
    const end = sql`((date_trunc('day', ${args.day}::timestamptz at time zone ${tz}) + interval '1 day') at time zone ${tz})`;
    const category = args.category != null ? sql`and s.category = ${args.category}` : sql``;
    const inboxCategory = args.category != null ? sql`and i.category = ${args.category}` : sql``;
    const rows = await query<{ dom_id: string; label: string; category: string; count: number }>(
      this.#em(),
      sql`with labels as (
            select m.id, m.ref from metric m join metric_domain d on d.id = m.domain_id where d.ref = ${LABELS_DOMAIN}
          ),
          src as (
            select s.metric_id, s.dom_id, s.category, s.value as v from metric_statistic s
            where s.metric_id in (select id from labels) and s.period = ${QUARTER_HOUR} and s.start >= ${start} and s.start < ${end}
              and s.level = 0 and s.dom_id <> '' ${category}
            union all
            select i.metric_id, i.dom_id, i.category, i.amount from metric_inbox i
            where i.metric_id in (select id from labels) and i.occurred_at >= ${start} and i.occurred_at < ${end}
              and i.dom_id <> '' ${inboxCategory}
          )
          select src.dom_id, labels.ref as label, src.category, sum(src.v)::float8 as count
          from src join labels on labels.id = src.metric_id
          group by 1, 2, 3 order by count desc, 1, 2, 3 limit ${args.first}`,
    );
    return rows.map((r) => ({ domId: r.dom_id, label: r.label, category: r.category || null, count: r.count }));
  }

  /**
   * trackstats' `record`: sets the value of a gauge's bucket for `period` (its start is the start of the
   * period containing `date` in `timezone`; LIFETIME has one bucket), replacing an earlier value.
   */
  async recordStatistic(metric: MetricInfo, args: RecordArgs): Promise<StatisticValue> {
    const tz = await this.checkTimezone(args.timezone);
    if (metric.kind !== 'GAUGE') {
      throw badInput(`Metric "${metric.domain.ref}/${metric.ref}" is a COUNTER: counters are incremented; recordStatistic sets GAUGE values`);
    }
    const date = args.date ?? new Date();
    if (date.getTime() > Date.now() + this.#config.maxSkewSeconds * 1000) throw badInput('`date` must not be in the future');
    const start = args.period === 'LIFETIME' ? sql`${EPOCH}::timestamptz` : periodStart(args.period, sql`${date}::timestamptz`, tz);
    const row = await queryOne<{ start: number; v: number }>(
      this.#em(),
      sql`insert into metric_statistic as s (metric_id, level, object_type, object_id, period, start, category, dom_id, value)
          values (${metric.id}, 0, ${args.object?.type ?? ''}, ${args.object?.id ?? ''}, ${args.period}, ${start}, '', '', ${args.value})
          on conflict (metric_id, level, object_type, object_id, period, start, category, dom_id)
          do update set value = excluded.value
          returning ${ms(sql`s.start`)} as start, s.value as v`,
    );
    return { metric, period: args.period, start: toDate(row!.start), object: args.object ?? null, value: row!.v };
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw badInput('`first` must be between 1 and 1000');
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
      this.#em(),
      sql`select id::text as id, metric_id, object_type, object_id, category, dom_id, amount, ${ms(sql`occurred_at`)} as occurred,
                 reason, ${ms(sql`dead_at`)} as dead
          from metric_dead_letter d order by d.id desc limit ${limit}`,
    );
    return rows.map((r) => ({
      id: r.id,
      metricId: r.metric_id,
      object: r.object_type ? { type: r.object_type, id: r.object_id } : null,
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
