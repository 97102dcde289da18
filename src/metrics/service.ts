import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { reportFold, reportFoldFailure } from '../ops/events.ts';
import { MetricsCatalog } from './catalog.ts';
import { DeadLetters } from './dead-letters.ts';
import { fold } from './fold.ts';
import { Inbox, type InboxStats } from './inbox.ts';
import { Increments } from './increments.ts';
import type { FoldReport, FoldRun } from './model.ts';
import { MetricsQueries } from './queries.ts';
import { LiveMetrics } from './live.ts';
import type { TrackqlPubSub } from '../server/pubsub.ts';
import type { ObjectLabels } from '../objects/labels.ts';

export interface MetricsServices {
  catalog: MetricsCatalog;
  inbox: Inbox;
  increments: Increments;
  queries: MetricsQueries;
  /** Live totals and label stats (subscriptions), fed by the increment path (live.ts). */
  live: LiveMetrics | null;
  /** Retry or purge of the dead-letter table. */
  deadLetters: DeadLetters;
  /** The one fold: cron (wait: false), `foldCounters` and `npm run fold` (wait: true). */
  fold(options?: { wait?: boolean }): Promise<FoldReport>;
  /** The last fold this process ran (null before the first). */
  lastFold(): FoldReport | null;
  /** The last folds this process ran that did work or found nothing (not the skipped ones), newest first. */
  recentFolds(): FoldRun[];
  inboxStats(): InboxStats;
  /** Schedules the fold on FOLD_CRON ("off": never). */
  start(): void;
  /** Stops the cron, waits for a running fold, flushes the group commit. */
  close(): Promise<void>;
}

/** How many folds recentFolds() keeps. */
const RECENT_FOLDS = 20;

export function createMetricsServices(deps: {
  config: Config;
  orm: Orm;
  logger: Logger;
  pubsub?: TrackqlPubSub;
  /** Where increments keep the labels of their objects (none: labels are not kept). */
  objectLabels?: ObjectLabels;
}): MetricsServices {
  const { config, orm } = deps;
  const logger = deps.logger.child({ module: 'metrics' });
  const queries = new MetricsQueries(orm, config.metrics);
  const live = deps.pubsub
    ? new LiveMetrics({ pubsub: deps.pubsub, queries, intervalMs: config.metrics.liveIntervalMs, logger })
    : null;
  const catalog = new MetricsCatalog(orm, config.metrics, live ? (metricId, change) => live.definitionChanged(metricId, change) : undefined);
  const inbox = new Inbox(orm, config.metrics, logger);
  const increments = new Increments(catalog, inbox, config.metrics, {
    onCommitted: live ? (rows) => live.committed(rows) : undefined,
    labels: deps.objectLabels,
  });
  let task: ScheduledTask | undefined;
  /** Folds in progress in this process (cron and foldCounters may overlap); close() waits for all. */
  const running = new Set<Promise<FoldReport>>();
  let last: FoldReport | null = null;
  const recent: FoldRun[] = [];

  // Every fold of this process (cron, foldCounters) goes through here: the place to report it to /metrics.
  const runFold = async (wait: boolean): Promise<FoldReport> => {
    let report: FoldReport;
    try {
      report = await fold(orm, logger, { batchSize: config.metrics.foldBatch, wait });
    } catch (error) {
      reportFoldFailure(); // the fold logged the error
      throw error;
    }
    last = report;
    if (!report.skipped) {
      recent.unshift({ finishedAt: new Date(), report });
      recent.length = Math.min(recent.length, RECENT_FOLDS);
      reportFold({ folded: report.folded, buckets: report.buckets, deadLettered: report.deadLettered, durationMs: report.durationMs });
    }
    return report;
  };

  const track = (fold: Promise<FoldReport>): Promise<FoldReport> => {
    running.add(fold);
    const forget = () => running.delete(fold);
    fold.then(forget, forget);
    return fold;
  };

  return {
    catalog,
    inbox,
    increments,
    queries,
    live,
    deadLetters: new DeadLetters(orm),
    fold(options = {}) {
      return track(runFold(options.wait ?? true));
    },
    lastFold: () => last,
    recentFolds: () => [...recent],
    inboxStats: () => inbox.stats(),
    start() {
      if (config.foldCron === 'off' || task) return;
      task = cron.schedule(
        config.foldCron,
        async () => {
          // Overlapping ticks are skipped (noOverlap); a fold holding the lock elsewhere makes this one skip.
          try {
            await track(runFold(false));
          } catch {
            // Logged by the fold; the next tick retries.
          }
        },
        { name: 'trackql-metrics-fold', noOverlap: true },
      );
    },
    async close() {
      if (task) {
        await task.stop();
        await task.destroy();
        task = undefined;
      }
      await Promise.allSettled([...running]);
      await inbox.close();
    },
  };
}
