import type { MetricsConfig } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { apiError } from '../server/errors.ts';
import type { InboxRow } from './model.ts';
import { query, sql } from './sql.ts';

interface Waiter {
  rows: InboxRow[];
  /** Caller scope of the rows' idempotency keys (src/server/idempotency.ts). */
  scope: string;
  /** Resolves with the positions (in `rows`) of the rows whose key was already stored: duplicates, not stored again. */
  resolve(duplicates: number[]): void;
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

/**
 * The stored form of an idempotency key: md5 of the caller scope (length-prefixed, so no scope/key pair can
 * pass for another) and the key, as a uuid. Columns `s` (scope) and `k` (key) of the statement below.
 */
const KEY_HASH = sql`md5(length(s) || ':' || s || k)::uuid`;

/** One element of a PostgreSQL text array literal: always quoted, with `"` and `\` escaped. */
function arrayText(value: string): string {
  return /["\\]/.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : `"${value}"`;
}

/**
 * Group commit into the append-only inbox. `enqueue` resolves once its rows are committed; everything
 * queued within METRICS_FLUSH_DELAY_MS (and everything that arrives while a flush is in flight) goes into
 * one multi-row INSERT, so concurrent requests share one commit. A failed INSERT rejects every waiter of
 * that batch: none of their rows were stored (one statement, one transaction).
 *
 * Rows with an idempotency key (`InboxRow.key`) are de-duplicated in that same statement: their keys go into
 * `metric_increment_key` with ON CONFLICT, and only the rows whose key was new (or older than
 * METRICS_DEDUPE_HOURS) are inserted into the inbox, so a key is stored exactly when its row is. A second
 * transaction inserting the same key waits for the first one's outcome on the unique index, which makes it
 * exact across concurrent flushes and instances. A repeated key within one batch is a duplicate of its first
 * occurrence (decided here, before the statement). Batches without keys use the plain INSERT.
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

  /**
   * Resolves once `rows` are committed, with the positions of the rows that were duplicates (their key had
   * been stored before, by `scope`, within METRICS_DEDUPE_HOURS) and were therefore not stored again.
   */
  enqueue(rows: InboxRow[], scope = ''): Promise<number[]> {
    if (rows.length === 0) return Promise.resolve([]);
    if (this.#closed) return Promise.reject(apiError('UNAVAILABLE', 'The server is shutting down; increments were not stored'));
    return new Promise<number[]>((resolve, reject) => {
      this.#queue.push({ rows, scope, resolve, reject });
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
    // Keyed batches only: the key columns, where each sent row comes from, and the duplicates per waiter.
    const scopes: string[] = [];
    const keys: string[] = [];
    const origin: Array<[waiter: number, row: number]> = [];
    const duplicates: number[][] = batch.map(() => []);
    const keyed = batch.some((waiter) => waiter.rows.some((row) => row.key));
    const seen = keyed ? new Set<string>() : undefined;
    batch.forEach((waiter, w) => {
      waiter.rows.forEach((row, r) => {
        if (seen) {
          if (row.key) {
            const both = `${waiter.scope}\u0000${row.key}`;
            if (seen.has(both)) return void duplicates[w]!.push(r);
            seen.add(both);
          }
          scopes.push(arrayText(row.key ? waiter.scope : ''));
          keys.push(arrayText(row.key ?? ''));
          origin.push([w, r]);
        }
        metricIds.push(row.metricId);
        objectTypes.push(arrayText(row.objectType));
        objectIds.push(arrayText(row.objectId));
        categories.push(arrayText(row.category));
        domIds.push(arrayText(row.domId));
        amounts.push(row.amount);
        times.push(row.occurredAt);
      });
    });
    const list = (items: Array<string | number>) => `{${items.join(',')}}`;
    const columns = sql`${list(metricIds)}::int[], ${list(objectTypes)}::text[], ${list(objectIds)}::text[],
                        ${list(categories)}::text[], ${list(domIds)}::text[], ${list(amounts)}::int[], ${list(times)}::bigint[]`;
    try {
      const em = this.#orm.em.fork();
      if (!keyed) {
        await query(
          em,
          sql`insert into metric_inbox (metric_id, object_type, object_id, category, dom_id, amount, occurred_at)
              select m, ot, oi, c, d, a, to_timestamp(ms / 1000.0)
              from unnest(${columns}) as u(m, ot, oi, c, d, a, ms)`,
        );
      } else {
        // Keyed rows: `k` lists each one's position among the sent rows and its key's hash. Both filters below are
        // hashed subplans over `fresh` (the keys this statement stored): no per-row lookups, no join.
        const repeated = await query<{ n: number }>(
          em,
          sql`with k as (
                select ${KEY_HASH} as h, n
                from unnest(${list(scopes)}::text[], ${list(keys)}::text[]) with ordinality as k(s, k, n) where k <> ''
              ),
              fresh as (
                insert into metric_increment_key as x (hash) select h from k
                on conflict (hash) do update set created_at = now()
                  where x.created_at < now() - make_interval(hours => ${this.#config.dedupeHours})
                returning hash
              ),
              stored as (
                insert into metric_inbox (metric_id, object_type, object_id, category, dom_id, amount, occurred_at)
                select m, ot, oi, c, d, a, to_timestamp(ms / 1000.0)
                from unnest(${columns}, ${list(keys)}::text[]) with ordinality as u(m, ot, oi, c, d, a, ms, k, n)
                where k = '' or n in (select n from k where h in (select hash from fresh))
              )
              select n::int as n from k where h not in (select hash from fresh)`,
        );
        for (const { n } of repeated) {
          const [w, r] = origin[Number(n) - 1]!;
          duplicates[w]!.push(r);
        }
      }
    } catch (error) {
      this.#logger.error({ err: error, rows: count, requests: batch.length }, 'metrics inbox: group commit failed');
      const failure = apiError('UNAVAILABLE', 'Increments could not be stored; none of them was accepted. Retry later.');
      for (const waiter of batch) waiter.reject(failure);
      return;
    }
    this.#stats.flushes += 1;
    this.#stats.rows += count - duplicates.reduce((sum, d) => sum + d.length, 0);
    this.#stats.writes += batch.length;
    batch.forEach((waiter, w) => waiter.resolve(duplicates[w]!.sort((a, b) => a - b)));
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
