import { Repeater } from 'graphql-yoga';
import type { Logger } from '../logger.ts';
import type { MetricChange, TrackqlPubSub } from '../server/pubsub.ts';
import type { InboxRow, LabelStat, MetricInfo, StatFilter } from './model.ts';
import type { MetricsQueries } from './queries.ts';

/**
 * Live metrics: `subscription { metric(...) }` and `subscription { labelStats(domIds) }`.
 *
 * The increment path announces, after its group commit, which metrics (objects, categories) and DOM ids it
 * touched (topics `metricChanged:<metricId>` and `labelsChanged`, across instances through Redis). Subscribers
 * asking the same thing share one watcher: on a matching announcement it is marked dirty, and at most once per
 * LIVE_METRICS_INTERVAL_MS it reads the value once and hands it to all of them when it changed. So the database
 * sees one query per watched value per interval, never one per subscriber or per increment.
 */

/** Objects/categories listed per announcement; beyond that it says `all`. */
const CHANGE_LIST_MAX = 200;

interface Watcher<T> {
  subscribers: Set<(value: T) => void>;
  last: T | undefined;
  dirty: boolean;
  timer: NodeJS.Timeout | undefined;
  stop: () => void;
}

export class LiveMetrics {
  readonly #pubsub: TrackqlPubSub;
  readonly #queries: MetricsQueries;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #watchers = new Map<string, Watcher<unknown>>();

  constructor(deps: { pubsub: TrackqlPubSub; queries: MetricsQueries; intervalMs: number; logger: Logger }) {
    this.#pubsub = deps.pubsub;
    this.#queries = deps.queries;
    this.#intervalMs = deps.intervalMs;
    this.#logger = deps.logger;
  }

  /** Announces committed increments (called by the increment path once the group commit is done). */
  committed(rows: readonly InboxRow[]): void {
    const byMetric = new Map<number, { objects: Set<string>; categories: Set<string> }>();
    const domIds = new Set<string>();
    for (const row of rows) {
      let entry = byMetric.get(row.metricId);
      if (!entry) byMetric.set(row.metricId, (entry = { objects: new Set(), categories: new Set() }));
      entry.objects.add(row.objectType ? `${row.objectType}\u0000${row.objectId}` : '');
      entry.categories.add(row.category);
      if (row.domId) domIds.add(row.domId);
    }
    try {
      for (const [metricId, entry] of byMetric) {
        const all = entry.objects.size + entry.categories.size > CHANGE_LIST_MAX;
        const change: MetricChange = all ? { all, objects: [], categories: [] } : { all, objects: [...entry.objects], categories: [...entry.categories] };
        this.#pubsub.publish('metricChanged', String(metricId), change);
      }
      if (domIds.size > 0) this.#pubsub.publish('labelsChanged', { domIds: [...domIds] });
    } catch (error) {
      this.#logger.warn({ err: (error as Error).message }, 'live metrics: change not announced');
    }
  }

  /** The metric's total now, then each new total (coalesced) while it changes. */
  watchTotal(metric: MetricInfo, filter: StatFilter): Repeater<number> {
    const object = filter.object ? `${filter.object.type}\u0000${filter.object.id}` : null;
    const category = filter.category ?? null;
    const key = `total\u0001${metric.id}\u0001${object ?? ''}\u0001${category ?? ''}`;
    return this.#watch<number>(
      key,
      () => this.#queries.total(metric, filter),
      () =>
        this.#pubsub.subscribe('metricChanged', String(metric.id)),
      (change) => {
        const c = change as MetricChange | undefined;
        if (!c || c.all) return true;
        return (object === null || c.objects.includes(object)) && (category === null || c.categories.includes(category));
      },
    );
  }

  /** labelStats(domIds) (LIFETIME) now, then again whenever increments of those DOM ids were committed. */
  watchLabelStats(domIds: string[], publicOnly: boolean): Repeater<LabelStat[]> {
    const sorted = [...new Set(domIds)].sort();
    const wanted = new Set(sorted);
    const key = `labels\u0001${publicOnly}\u0001${sorted.join('\u0000')}`;
    return this.#watch<LabelStat[]>(
      key,
      () => this.#queries.labelStats({ domIds: sorted, period: 'LIFETIME', timezone: 'UTC', publicOnly }),
      () => this.#pubsub.subscribe('labelsChanged'),
      (change) => {
        const c = change as { domIds: string[] } | undefined;
        return !c || c.domIds.some((id) => wanted.has(id));
      },
    );
  }

  #watch<T>(key: string, read: () => Promise<T>, source: () => AsyncIterable<unknown>, matches: (change: unknown) => boolean): Repeater<T> {
    return new Repeater<T>(async (push, stop) => {
      let watcher = this.#watchers.get(key) as Watcher<T> | undefined;
      if (!watcher) watcher = this.#startWatcher(key, read, source, matches);
      const subscriber = (value: T) => void push(value).catch(() => {});
      watcher.subscribers.add(subscriber);
      try {
        if (watcher.last !== undefined) await push(watcher.last);
        else {
          const value = await read();
          if (watcher.last === undefined) watcher.last = value;
          await push(value);
        }
      } catch (error) {
        stop(error);
      }
      await stop;
      watcher.subscribers.delete(subscriber);
      if (watcher.subscribers.size === 0) {
        this.#watchers.delete(key);
        watcher.stop();
      }
    });
  }

  #startWatcher<T>(key: string, read: () => Promise<T>, source: () => AsyncIterable<unknown>, matches: (change: unknown) => boolean): Watcher<T> {
    const iterator = source()[Symbol.asyncIterator]();
    let stopped = false;
    const watcher: Watcher<T> = {
      subscribers: new Set(),
      last: undefined,
      dirty: false,
      timer: undefined,
      stop: () => {
        stopped = true;
        clearTimeout(watcher.timer);
        void iterator.return?.();
      },
    };
    let lastRead = 0;
    // At most one read per interval: the first change after a quiet interval is read at once, the ones that
    // follow are gathered until the interval has passed. The timer stays set while a read runs.
    const schedule = () => {
      if (watcher.timer || stopped) return;
      watcher.timer = setTimeout(() => void flush(), Math.max(0, lastRead + this.#intervalMs - Date.now()));
    };
    const flush = async () => {
      watcher.dirty = false;
      lastRead = Date.now();
      try {
        const value = await read();
        if (!stopped && JSON.stringify(value) !== JSON.stringify(watcher.last)) {
          watcher.last = value;
          for (const subscriber of watcher.subscribers) subscriber(value);
        }
      } catch (error) {
        this.#logger.warn({ err: (error as Error).message }, 'live metrics: read failed; retrying at the next interval');
        watcher.dirty = true;
      }
      watcher.timer = undefined;
      if (watcher.dirty) schedule();
    };
    void (async () => {
      for (;;) {
        const next = await iterator.next();
        if (next.done || stopped) return;
        if (!matches(next.value)) continue;
        watcher.dirty = true;
        schedule();
      }
    })();
    this.#watchers.set(key, watcher as Watcher<unknown>);
    return watcher;
  }
}
