import { Repeater } from 'graphql-yoga';
import type { Logger } from '../logger.ts';
import { badInput, forbidden, notFound } from '../server/errors.ts';
import type { MetricChange, MetricDefinitionChange, TrackqlPubSub } from '../server/pubsub.ts';
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

/** One subscription of a shared watcher. */
interface Subscriber<T> {
  deliver: (value: T) => void;
  /** Ends the subscription with an error the client receives. */
  end: (error: Error) => void;
  /** A service may watch private metrics. */
  service: boolean;
}

/** Why a subscriber may no longer watch, after a definition change; null when it still may. */
type Refusal = (definition: MetricDefinitionChange, service: boolean) => Error | null;

interface Watcher<T> {
  subscribers: Set<Subscriber<T>>;
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

  /**
   * Announces a metric's new definition (registered again) or its deletion, across instances: its watchers end
   * the streams that may no longer read it (deleted: NOT_FOUND; no longer a counter: BAD_USER_INPUT; made private:
   * FORBIDDEN for callers other than services), at once, without waiting for an increment.
   */
  definitionChanged(metricId: number, definition: MetricDefinitionChange): void {
    try {
      this.#pubsub.publish('metricChanged', String(metricId), { all: true, objects: [], categories: [], definition });
    } catch (error) {
      this.#logger.warn({ err: (error as Error).message }, 'live metrics: definition change not announced');
    }
  }

  /**
   * The metric's total now, then each new total (coalesced) while it changes; until the metric is deleted, stops
   * being a counter, or (for a caller other than a service) stops being public.
   */
  watchTotal(metric: MetricInfo, filter: StatFilter, service: boolean): Repeater<number> {
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
      service,
      (definition, isService) => {
        const name = `Metric "${metric.domain.ref}/${metric.ref}"`;
        if (definition.deleted) return notFound(`${name} was deleted`);
        if (definition.kind !== 'COUNTER') return badInput(`${name} is no longer a counter: live totals are for counters`);
        if (!definition.public && !isService) return forbidden(`${name} is not public`);
        return null;
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
      !publicOnly,
    );
  }

  #watch<T>(
    key: string,
    read: () => Promise<T>,
    source: () => AsyncIterable<unknown>,
    matches: (change: unknown) => boolean,
    service: boolean,
    refusal?: Refusal,
  ): Repeater<T> {
    return new Repeater<T>(async (push, stop) => {
      let watcher = this.#watchers.get(key) as Watcher<T> | undefined;
      if (!watcher) watcher = this.#startWatcher(key, read, source, matches, refusal);
      const subscriber: Subscriber<T> = { deliver: (value) => void push(value).catch(() => {}), end: (error) => stop(error), service };
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

  #startWatcher<T>(
    key: string,
    read: () => Promise<T>,
    source: () => AsyncIterable<unknown>,
    matches: (change: unknown) => boolean,
    refusal: Refusal | undefined,
  ): Watcher<T> {
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
          for (const subscriber of watcher.subscribers) subscriber.deliver(value);
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
        const definition = (next.value as MetricChange | undefined)?.definition;
        if (definition && refusal) {
          for (const subscriber of [...watcher.subscribers]) {
            const error = refusal(definition, subscriber.service);
            if (error) {
              watcher.subscribers.delete(subscriber);
              subscriber.end(error);
            }
          }
        }
        if (!matches(next.value)) continue;
        watcher.dirty = true;
        schedule();
      }
    })();
    this.#watchers.set(key, watcher as Watcher<unknown>);
    return watcher;
  }
}
