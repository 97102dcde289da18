import cron, { type ScheduledTask } from 'node-cron';
import type { RetentionConfig } from '../config.ts';
import { pruneFeedChanges } from '../activity/change-stream.ts';
import { publishFeedEvents } from '../activity/feed-events.ts';
import type { Em, Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import type { TrackqlPubSub } from '../server/pubsub.ts';
import { isoDate, timeZone, type CalendarPeriod } from '../metrics/calendar.ts';
import { FOLD_LOCK_KEY } from '../metrics/fold.ts';
import { QUARTER_HOUR } from '../metrics/model.ts';
import { ms, queryOne, sql } from '../metrics/sql.ts';
import type { OpsMetrics } from './metrics.ts';

/**
 * Retention: removes what operators no longer want to keep, per kind of row, on a cron (RETENTION_CRON).
 *
 * - Counter statistics live in 15-minute UTC buckets (`Q15`) from which HOUR..YEAR series are derived, plus a
 *   LIFETIME row. Each period is kept for its own number of days (RETENTION_HOUR_DAYS … RETENTION_YEAR_DAYS,
 *   0 = forever): history older than a period's days no longer has to answer that period's series, so its
 *   buckets are merged into chunks bounded only by the starts of the periods it still answers, in every zone of
 *   RETENTION_TIMEZONES (#compact; `counterHistory` splits history by age). With the defaults: 15-minute
 *   buckets for 30 days, then chunks between local midnights (DAY…YEAR exact) until 730 days, then chunks
 *   between week and month starts (WEEK, MONTH, YEAR exact) for ever. History that no period keeps any more
 *   (every period with a number of days, all passed) is deleted. LIFETIME is never deleted, so totals survive.
 * - Recorded statistics (gauges) go by the date they are recorded for, per period; LIFETIME ones are kept.
 * - Dead letters older than RETENTION_DEAD_LETTER_DAYS go.
 * - Idempotency keys older than their window (METRICS_DEDUPE_HOURS, ACTIVITY_DEDUPE_HOURS) go; they no longer
 *   count once past it anyway, this only reclaims the space.
 * - With RETENTION_ACTION_DAYS, actions older than that go with their objects and feed entries; unread
 *   counters are decremented in the same statement and subscribers get the new count (a bulk READ event).
 *
 * 0 days means "keep forever". Each step is one transaction holding a Postgres advisory lock, so several
 * instances never run it twice at once (an instance that finds the lock taken skips its run).
 */
export const RETENTION_LOCK_KEY = 727_001_007;
const ACTION_BATCH = 5_000;
const DAY_MS = 86_400_000;

export interface RetentionReport {
  /** 15-minute counter buckets merged into per-day buckets. */
  statisticsCompacted: number;
  /** Statistic rows deleted (counter buckets past RETENTION_DAY_DAYS and gauge rows past their period's retention). */
  statisticsDeleted: number;
  deadLettersDeleted: number;
  /** Increment ids and logAction idempotency keys past their window. */
  idempotencyKeysDeleted: number;
  actionsDeleted: number;
  feedEntriesDeleted: number;
  durationMs: number;
  /** False when another instance held the retention lock (nothing was done). */
  ran: boolean;
}

type Row = Record<string, string | number | null>;
const n = (v: string | number | null | undefined) => Number(v ?? 0);

/** Start of the UTC day `days` days before `now` (cutoffs are whole UTC days). */
function cutoff(now: Date, days: number): Date {
  return new Date(Math.floor((now.getTime() - days * DAY_MS) / DAY_MS) * DAY_MS);
}

/**
 * One age of counter history: buckets starting in [from, before) (from null: since the beginning), and the periods
 * whose series they must still answer exactly (those kept longer than this age).
 */
interface CounterHistory {
  from: Date | null;
  before: Date;
  periods: CalendarPeriod[];
}

/** Each period with the days its statistics are kept (RETENTION_*_DAYS; 0 = for ever). */
function keptDays(c: RetentionConfig): Array<[CalendarPeriod, number]> {
  return [
    ['HOUR', c.hourDays],
    ['DAY', c.dayDays],
    ['WEEK', c.weekDays],
    ['MONTH', c.monthDays],
    ['YEAR', c.yearDays],
  ];
}

/** Counter history split by the ages at which periods stop being kept, newest first (see the module comment). */
export function counterHistory(now: Date, c: RetentionConfig): CounterHistory[] {
  const kept = keptDays(c);
  const ages = [...new Set(kept.map(([, days]) => days).filter((days) => days > 0))].sort((a, b) => a - b);
  return ages.map((age, i) => ({
    before: cutoff(now, age),
    from: i + 1 < ages.length ? cutoff(now, ages[i + 1]!) : null,
    periods: kept.filter(([, days]) => days === 0 || days > age).map(([period]) => period),
  }));
}

export class Retention {
  readonly #orm: Orm;
  readonly #config: RetentionConfig;
  readonly #logger: Logger;
  readonly #pubsub: TrackqlPubSub;
  readonly #metrics: OpsMetrics | undefined;
  #task: ScheduledTask | undefined;
  #running: Promise<RetentionReport> | undefined;

  constructor(deps: { orm: Orm; config: RetentionConfig; logger: Logger; pubsub: TrackqlPubSub; metrics?: OpsMetrics }) {
    this.#orm = deps.orm;
    this.#config = deps.config;
    this.#logger = deps.logger;
    this.#pubsub = deps.pubsub;
    this.#metrics = deps.metrics;
  }

  get settings(): RetentionConfig {
    return this.#config;
  }

  start(): void {
    if (this.#config.cron === 'off' || this.#task) return;
    this.#task = cron.schedule(
      this.#config.cron,
      async () => {
        try {
          await this.run();
        } catch {
          // logged by run()
        }
      },
      { name: 'trackql-retention', noOverlap: true },
    );
  }

  async close(): Promise<void> {
    await this.#task?.stop();
    await this.#task?.destroy();
    this.#task = undefined;
    await this.#running?.catch(() => {});
  }

  /** Applies retention now (cron, the `applyRetention` mutation and tests call this). One run at a time per process. */
  run(now: Date = new Date()): Promise<RetentionReport> {
    this.#running ??= this.#run(now).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** One step in its own transaction under the advisory lock; null when another instance holds it. */
  async #locked<T>(step: (em: Em) => Promise<T>): Promise<T | null> {
    return this.#orm.em.fork().transactional(async (em) => {
      const [lock] = await em.execute<Row[]>('select pg_try_advisory_xact_lock(?) as ok', [RETENTION_LOCK_KEY]);
      if (!lock?.['ok']) return null;
      return step(em);
    });
  }

  async #run(now: Date): Promise<RetentionReport> {
    const started = performance.now();
    const c = this.#config;
    const report: RetentionReport = {
      statisticsCompacted: 0,
      statisticsDeleted: 0,
      deadLettersDeleted: 0,
      idempotencyKeysDeleted: 0,
      actionsDeleted: 0,
      feedEntriesDeleted: 0,
      durationMs: 0,
      ran: true,
    };
    try {
      const statistics = await this.#locked(async (em) => {
        // The fold writes the same counter buckets (metric_statistic): the step waits for a fold batch in progress
        // and holds the next until it commits (the fold's own lock). Side by side they deadlocked whenever the fold
        // wrote buckets older than the compaction cutoff (increments dated back, retried dead letters): the
        // retention step failed, and the fold batch chosen as victim answered UNAVAILABLE.
        await em.execute('select pg_advisory_xact_lock(?)', [FOLD_LOCK_KEY]);
        let deleted = 0;
        let compacted = 0;
        // Counter history, oldest first: deletions before compactions, so that rows about to go are not merged first.
        for (const history of counterHistory(now, c).reverse()) {
          if (history.periods.includes('HOUR')) continue; // HOUR series need the 15-minute buckets as they are
          if (history.periods.length > 0) {
            compacted += await this.#compact(em, history);
            continue;
          }
          const row = await queryOne<{ n: number }>(
            em,
            sql`with d as (delete from metric_statistic where period = ${QUARTER_HOUR} and start < ${history.before} returning 1)
                select count(*)::float8 as n from d`,
          );
          deleted += row?.n ?? 0;
        }
        // Recorded statistics (gauges) by the date they are recorded for; LIFETIME ones are kept.
        for (const [period, days] of keptDays(c)) {
          if (days <= 0) continue;
          const row = await queryOne<{ n: number }>(
            em,
            sql`with d as (delete from metric_recorded_statistic where period = ${period} and date < ${isoDate(cutoff(now, days).getTime())}::date returning 1)
                select count(*)::float8 as n from d`,
          );
          deleted += row?.n ?? 0;
        }
        return { compacted, deleted };
      });
      if (statistics === null) {
        report.ran = false;
        this.#logger.info('retention skipped: another instance holds the retention lock');
        return report;
      }
      report.statisticsCompacted = statistics.compacted;
      report.statisticsDeleted = statistics.deleted;

      if (c.deadLetterDays > 0) {
        const dead = await this.#locked(async (em) => {
          const [row] = await em.execute<Row[]>(
            'with d as (delete from metric_dead_letter where dead_at < ? returning 1) select count(*) as n from d',
            [new Date(now.getTime() - c.deadLetterDays * DAY_MS)],
          );
          return n(row?.['n']);
        });
        report.deadLettersDeleted = dead ?? 0;
      }

      // Feed changes kept for replay (feed(after:)); older cursors get a RESET event.
      const feedChanges = await this.#locked((em) => pruneFeedChanges(em, new Date(now.getTime() - c.feedChangeHours * 3_600_000)));
      const keys = await this.#locked(async (em) => {
        const row = await queryOne<{ n: number }>(
          em,
          sql`with i as (delete from metric_increment_key where created_at < ${new Date(now.getTime() - c.incrementKeyHours * 3_600_000)} returning 1),
                   a as (delete from activity_action_key where created_at < ${new Date(now.getTime() - c.actionKeyHours * 3_600_000)} returning 1)
              select ((select count(*) from i) + (select count(*) from a))::float8 as n`,
        );
        return row?.n ?? 0;
      });
      report.idempotencyKeysDeleted = keys ?? 0;

      if (c.actionDays > 0) {
        const before = new Date(now.getTime() - c.actionDays * DAY_MS);
        for (;;) {
          const batch = await this.#locked((em) => this.#pruneActions(em, before));
          if (batch === null) break;
          report.actionsDeleted += batch.actions;
          report.feedEntriesDeleted += batch.entries;
          await this.#publishCounts(batch.counts);
          if (batch.actions < ACTION_BATCH) break;
        }
      }

      report.durationMs = Math.round(performance.now() - started);
      const m = this.#metrics;
      if (m) {
        m.retentionRuns.inc({ result: 'ok' });
        m.retentionLastRun.set(Date.now() / 1000);
        m.retentionDeleted.inc({ kind: 'statistics_compacted' }, report.statisticsCompacted);
        m.retentionDeleted.inc({ kind: 'statistics' }, report.statisticsDeleted);
        m.retentionDeleted.inc({ kind: 'dead_letters' }, report.deadLettersDeleted);
        m.retentionDeleted.inc({ kind: 'idempotency_keys' }, report.idempotencyKeysDeleted);
        m.retentionDeleted.inc({ kind: 'actions' }, report.actionsDeleted);
        m.retentionDeleted.inc({ kind: 'feed_entries' }, report.feedEntriesDeleted);
      }
      this.#logger.info({ retention: report, feedChangesDeleted: feedChanges ?? 0 }, 'retention applied');
      return report;
    } catch (error) {
      this.#metrics?.retentionRuns.inc({ result: 'error' });
      this.#logger.error({ err: error }, 'retention failed');
      throw error;
    }
  }

  /**
   * Merges the counter buckets of `history` into chunks that no period of `history.periods` straddles in any of
   * the RETENTION_TIMEZONES: a chunk runs from one start of such a period (in any of those zones, or the
   * history's lower edge) to the next, and its sum is kept at its start. Those periods' series in those zones and
   * totals are unchanged; shorter periods, and other zones' series, show each chunk in the period containing its
   * start. UTC is always among the zones and every bound is a start of a period kept longer, so chunks made
   * earlier stay put; a chunk never reaches below the history's lower edge (nothing moves into older history
   * before its age).
   */
  async #compact(em: Em, history: CounterHistory): Promise<number> {
    const lower = history.from ? sql`and start >= ${history.from}` : sql``;
    const oldest = await queryOne<{ t: number | null }>(
      em,
      sql`select ${ms(sql`min(start)`)} as t from metric_statistic where period = ${QUARTER_HOUR} and start < ${history.before} ${lower}`,
    );
    if (oldest?.t == null) return 0;
    const lo = Number(oldest.t);
    const before = history.before.getTime();
    // The shortest periods kept bound the chunks: a day start is also a week, month and year start's candidate.
    const bounding = history.periods.includes('DAY') ? ['DAY' as const] : history.periods.filter((p) => p !== 'YEAR' || !history.periods.includes('MONTH'));
    const starts = this.#config.timezones.flatMap((name) =>
      bounding.flatMap((period) => timeZone(name).boundaries(period, lo, before, Number.MAX_SAFE_INTEGER)!),
    );
    const bounds = [...new Set(history.from ? [...starts, history.from.getTime()] : starts)].sort((a, b) => a - b);
    const chunks = sql`${bounds.map((b) => new Date(b).toISOString())}::timestamptz[]`;
    const row = await queryOne<{ moved: number }>(
      em,
      sql`with b as (select ${chunks} as a),
          moved as (
            delete from metric_statistic s using b
            where s.period = ${QUARTER_HOUR} and s.start >= ${new Date(lo)} and s.start < ${history.before}
              and s.start <> b.a[width_bucket(s.start, b.a)]
            returning s.metric_id, s.level, s.object_type, s.object_id, s.category, s.dom_id, b.a[width_bucket(s.start, b.a)] as chunk, s.value
          ),
          merged as (
            insert into metric_statistic as t (metric_id, level, object_type, object_id, period, start, category, dom_id, value)
            select metric_id, level, object_type, object_id, ${QUARTER_HOUR}, chunk, category, dom_id, sum(value)
            from moved group by metric_id, level, object_type, object_id, category, dom_id, chunk
            on conflict (metric_id, level, object_type, object_id, period, start, category, dom_id)
            do update set value = t.value + excluded.value
            returning 1
          )
          select (select count(*) from moved)::float8 as moved, (select count(*) from merged) as merged`,
    );
    return row?.moved ?? 0;
  }

  /** Deletes up to ACTION_BATCH old actions, their objects and feed entries, keeping unread counters exact. */
  async #pruneActions(em: Em, before: Date) {
    const rows = await em.execute<Row[]>(
      `with doomed as (
         delete from activity_action
         where id in (select id from activity_action where timestamp < ? order by id limit ?)
         returning id
       ), objects as (
         delete from activity_action_object where action_id in (select id from doomed) returning 1
       ), entries as (
         delete from activity_feed_entry where action_id in (select id from doomed) returning user_id, unread, unseen, archived
       ), dec as (
         select user_id, count(*) filter (where unread and not archived) as k, count(*) filter (where unseen and not archived) as s
           from entries where unread and not archived group by user_id
       ), counters as (
         update activity_unread_counter c set count = greatest(0, c.count - dec.k), unseen = greatest(0, c.unseen - dec.s)
         from dec where c.user_id = dec.user_id
         returning c.user_id, c.count, c.unseen
       )
       select 'total' as kind, null as user_id, (select count(*) from doomed) as actions, (select count(*) from entries) as entries
       union all
       select 'counter', user_id, count, unseen from counters`,
      [before, ACTION_BATCH],
    );
    const total = rows.find((r) => r['kind'] === 'total');
    const counts = rows
      .filter((r) => r['kind'] === 'counter')
      .map((r) => ({ userId: String(r['user_id']), unreadCount: n(r['actions']), unseenCount: n(r['entries']) }));
    return { actions: n(total?.['actions']), entries: n(total?.['entries']), counts };
  }

  /** Tells the feed subscribers of the users whose unread count dropped (after commit). */
  async #publishCounts(counts: Array<{ userId: string; unreadCount: number; unseenCount: number }>) {
    publishFeedEvents(
      this.#pubsub,
      this.#logger,
      counts.map(({ userId, unreadCount, unseenCount }) => [
        userId,
        { kind: 'READ', action: null, unread: null, unseen: null, trackerIds: [], unreadCount, unseenCount },
      ]),
    );
  }
}
