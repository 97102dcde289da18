import type { MetricsConfig } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { apiError } from '../server/errors.ts';
import type { InboxRow } from './model.ts';
import { query, sql } from './sql.ts';

interface Waiter {
  rows: InboxRow[];
  resolve(): void;
  reject(error: unknown): void;
}

export interface InboxStats {
  /** INSERT statements (commits) made so far by this process. */
  flushes: number;
  /** Rows written by them. */
  rows: number;
  /** Increment calls (enqueue) acknowledged. */
  writes: number;
  /** Rows waiting for a flush right now. */
  queued: number;
}

/** One element of a PostgreSQL text array literal: always quoted, with `"` and `\` escaped. */
function arrayText(value: string): string {
  return /["\\]/.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : `"${value}"`;
}

/**
 * Group commit into the append-only inbox. `enqueue` resolves once its rows are committed; everything
 * queued within METRICS_FLUSH_DELAY_MS (and everything that arrives while a flush is in flight) goes into
 * one multi-row INSERT, so concurrent requests share one commit. A failed INSERT rejects every waiter of
 * that batch: none of their rows were stored (one statement, one transaction).
 */
export class Inbox {
  readonly #orm: Orm;
  readonly #config: MetricsConfig;
  readonly #logger: Logger;
  #queue: Waiter[] = [];
  #queuedRows = 0;
  #timer: NodeJS.Timeout | undefined;
  #inflight = new Set<Promise<void>>();
  #closed = false;
  readonly #stats: InboxStats = { flushes: 0, rows: 0, writes: 0, queued: 0 };

  constructor(orm: Orm, config: MetricsConfig, logger: Logger) {
    this.#orm = orm;
    this.#config = config;
    this.#logger = logger;
  }

  stats(): InboxStats {
    return { ...this.#stats, queued: this.#queuedRows };
  }

  enqueue(rows: InboxRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (this.#closed) return Promise.reject(apiError('UNAVAILABLE', 'The server is shutting down; increments were not stored'));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ rows, resolve, reject });
      this.#queuedRows += rows.length;
      if (this.#queuedRows >= this.#config.flushMaxRows) this.#kick();
      else this.#timer ??= setTimeout(() => this.#kick(), this.#config.flushDelayMs);
    });
  }

  #kick(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#queue.length > 0 && this.#inflight.size < this.#config.flushConcurrency) {
      const batch: Waiter[] = [];
      let count = 0;
      while (this.#queue.length > 0 && (batch.length === 0 || count + this.#queue[0]!.rows.length <= this.#config.flushMaxRows)) {
        const waiter = this.#queue.shift()!;
        batch.push(waiter);
        count += waiter.rows.length;
      }
      this.#queuedRows -= count;
      const flight: Promise<void> = this.#flush(batch, count).finally(() => {
        this.#inflight.delete(flight);
        // Whatever queued meanwhile has waited long enough: flush it now.
        if (this.#queue.length > 0) this.#kick();
      });
      this.#inflight.add(flight);
    }
  }

  async #flush(batch: Waiter[], count: number): Promise<void> {
    // Whole columns as array literals built here (cheaper than the driver's per-element conversion).
    const metricIds: number[] = [];
    const objectTypes: string[] = [];
    const objectIds: string[] = [];
    const categories: string[] = [];
    const domIds: string[] = [];
    const amounts: number[] = [];
    const times: number[] = [];
    for (const waiter of batch) {
      for (const row of waiter.rows) {
        metricIds.push(row.metricId);
        objectTypes.push(arrayText(row.objectType));
        objectIds.push(arrayText(row.objectId));
        categories.push(arrayText(row.category));
        domIds.push(arrayText(row.domId));
        amounts.push(row.amount);
        times.push(row.occurredAt);
      }
    }
    const list = (items: Array<string | number>) => `{${items.join(',')}}`;
    try {
      await query(
        this.#orm.em.fork(),
        sql`insert into metric_inbox (metric_id, object_type, object_id, category, dom_id, amount, occurred_at)
            select m, ot, oi, c, d, a, to_timestamp(ms / 1000.0)
            from unnest(${list(metricIds)}::int[], ${list(objectTypes)}::text[], ${list(objectIds)}::text[],
                        ${list(categories)}::text[], ${list(domIds)}::text[], ${list(amounts)}::int[], ${list(times)}::bigint[])
                 as u(m, ot, oi, c, d, a, ms)`,
      );
    } catch (error) {
      this.#logger.error({ err: error, rows: count, requests: batch.length }, 'metrics inbox: group commit failed');
      const failure = apiError('UNAVAILABLE', 'Increments could not be stored; none of them was accepted. Retry later.');
      for (const waiter of batch) waiter.reject(failure);
      return;
    }
    this.#stats.flushes += 1;
    this.#stats.rows += count;
    this.#stats.writes += batch.length;
    for (const waiter of batch) waiter.resolve();
  }

  /** Flushes everything queued and refuses new rows; resolves when the last INSERT has finished. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#queue.length > 0 || this.#inflight.size > 0) {
      this.#kick();
      await Promise.allSettled([...this.#inflight]);
    }
  }
}
