import crypto from 'node:crypto';
import type { MetricsConfig } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { apiError } from '../server/errors.ts';
import type { InboxRow } from './model.ts';
import type { RawBuilder } from 'kysely';
import type { Em } from '../db/orm.ts';
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
  /** Keyed flushes whose fast statement met a stored key and went through the full statement. */
  keyConflicts: number;
}

/** Keyed flushes that use the full statement directly after the fast one met a stored key. */
const FULL_AFTER_CONFLICT = 16;

/**
 * The fast keyed statement met a key that is stored already (a unique violation on metric_increment_key), or
 * deadlocked waiting for one that a concurrent flush was storing (keys are inserted in hash order, which
 * prevents that between flushes; a deadlock found all the same is handled like a conflict): either way it
 * stored nothing and the full statement decides.
 */
function isKeyConflict(error: unknown): boolean {
  for (let e: unknown = error; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    const { code, constraint, message } = e as { code?: unknown; constraint?: unknown; message?: unknown };
    if (code === '40P01') return true;
    if (code === '23505') return constraint === 'metric_increment_key_pkey' || (typeof message === 'string' && message.includes('metric_increment_key_pkey'));
    if ((e as { cause?: unknown }).cause === e) break;
  }
  return false;
}

/**
 * What is hashed of an idempotency key: the caller scope, length-prefixed (in characters) so that no scope/key
 * pair can pass for another, then the key (columns `scope` and `key` of metric_increment_key).
 */
export function storedKey(scope: string, key: string): string {
  return keyPrefix(scope) + key;
}

/** The part of a stored key before the key: the scope's length in characters (as PostgreSQL counts), `:`, the scope. */
function keyPrefix(scope: string): string {
  return `${[...scope].length}:${scope}`;
}

/**
 * The 64-bit hash of a stored key, the unique column of metric_increment_key: the first 8 bytes of its md5 (the
 * same as the first half of the md5 uuids keys were stored as before, so migrated keys keep their slot). Any
 * function will do for correctness: the statement compares scope and key on a hash match.
 */
export function keyHash(stored: string): bigint {
  return BigInt(keyHashText(stored));
}

/**
 * keyHash as the decimal text the statement sends, computed without Buffer or BigInt (the hot path: md5 as hex
 * is a quarter of the cost of md5 into a Buffer read as a BigInt, measured 1.0 against 3.8 µs per key).
 */
export function keyHashText(stored: string): string {
  const hex = crypto.hash('md5', stored, 'hex');
  return int64Text(parseInt(hex.slice(0, 8), 16), parseInt(hex.slice(8, 16), 16));
}

/** Decimal text of the signed 64-bit integer whose unsigned 32-bit halves are `hi` and `lo` (two's complement). */
export function int64Text(hi: number, lo: number): string {
  const negative = hi >= 0x8000_0000;
  if (negative) {
    lo = (~lo >>> 0) + 1;
    hi = ~hi >>> 0;
    if (lo === 0x1_0000_0000) {
      lo = 0;
      hi = (hi + 1) >>> 0;
    }
  }
  // Long division of four 16-bit limbs by 10^7 (every intermediate stays below 2^53), in locals (no array).
  let a = hi >>> 16;
  let b = hi & 0xffff;
  let c = lo >>> 16;
  let d = lo & 0xffff;
  let text = '';
  for (;;) {
    let rest = a % 10_000_000;
    a = Math.floor(a / 10_000_000);
    let current = rest * 0x1_0000 + b;
    b = Math.floor(current / 10_000_000);
    rest = current % 10_000_000;
    current = rest * 0x1_0000 + c;
    c = Math.floor(current / 10_000_000);
    rest = current % 10_000_000;
    current = rest * 0x1_0000 + d;
    d = Math.floor(current / 10_000_000);
    rest = current % 10_000_000;
    if (a === 0 && b === 0 && c === 0 && d === 0) return (negative ? '-' : '') + String(rest) + text;
    text = String(rest).padStart(7, '0') + text;
  }
}

export interface InboxOptions {
  /** The hash of stored keys (tests choose colliding ones); keyHash by default. */
  keyHash?: (stored: string) => bigint;
}

/** One element of a PostgreSQL text array literal: always quoted, with `"` and `\` escaped. */
function arrayText(value: string): string {
  return /["\\]/.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : `"${value}"`;
}

/** A PostgreSQL array literal of already formatted elements. */
const list = (items: Array<string | number>) => `{${items.join(',')}}`;

/** The inbox columns of the rows of `batch`, in order, as array literals (cheaper than the driver's per-element conversion). */
function columnsOf(batch: ReadonlyArray<{ rows: InboxRow[] }>): RawBuilder<unknown> {
  const metricIds: number[] = [];
  const objectTypes: string[] = [];
  const objectIds: string[] = [];
  const categories: string[] = [];
  const domIds: string[] = [];
  const amounts: number[] = [];
  const times: number[] = [];
  for (const { rows } of batch) {
    for (const row of rows) {
      metricIds.push(row.metricId);
      objectTypes.push(arrayText(row.objectType));
      objectIds.push(arrayText(row.objectId));
      categories.push(arrayText(row.category));
      domIds.push(arrayText(row.domId));
      amounts.push(row.amount);
      times.push(row.occurredAt);
    }
  }
  return sql`${list(metricIds)}::int[], ${list(objectTypes)}::text[], ${list(objectIds)}::text[],
             ${list(categories)}::text[], ${list(domIds)}::text[], ${list(amounts)}::int[], ${list(times)}::bigint[]`;
}

/** The INSERT of inbox rows from `columns` (columnsOf); `extra` adds a column `h` to filter on with `where`. */
function insertRows(columns: RawBuilder<unknown>, extra?: RawBuilder<unknown>, where?: RawBuilder<unknown>): RawBuilder<unknown> {
  return extra
    ? sql`insert into metric_inbox (metric_id, object_type, object_id, category, dom_id, amount, occurred_at)
          select m, ot, oi, c, d, a, to_timestamp(ms / 1000.0)
          from unnest(${columns}${extra}) as u(m, ot, oi, c, d, a, ms, h) ${where ?? sql``}`
    : sql`insert into metric_inbox (metric_id, object_type, object_id, category, dom_id, amount, occurred_at)
          select m, ot, oi, c, d, a, to_timestamp(ms / 1000.0)
          from unnest(${columns}) as u(m, ot, oi, c, d, a, ms)`;
}

/**
 * Group commit into the append-only inbox. `enqueue` resolves once its rows are committed; everything
 * queued within METRICS_FLUSH_DELAY_MS (and everything that arrives while a flush is in flight) goes into
 * one multi-row INSERT, so concurrent requests share one commit. A failed INSERT rejects every waiter of
 * that batch: none of their rows were stored (one statement, one transaction).
 *
 * Rows with an idempotency key (`InboxRow.key`) are de-duplicated in that same statement: their keys go into
 * `metric_increment_key` (64-bit hash and full key) with ON CONFLICT on the hash, and only the rows whose key was
 * new (or older than METRICS_DEDUPE_HOURS) are inserted into the inbox, so a key is stored exactly when its row
 * is. A second transaction inserting the same hash waits for the first one's outcome on the unique index and
 * then sees the committed row, which makes it exact across concurrent flushes and instances. On a hash match the
 * stored key is compared with the event's: only the same key makes a duplicate. A different key (a collision)
 * leaves the stored one in place and the event counts, without its key being remembered (a retry of that one
 * event could count again; with 64-bit hashes per caller that takes billions of ids in one window to happen at
 * all). A repeated key within one batch is a duplicate of its first occurrence, and a second key with the same
 * hash in one batch is such a collision (decided here, before the statement). Batches without keys use the
 * plain INSERT.
 *
 * That full statement is the exact one; a keyed batch first tries a fast one that assumes every key is new (a
 * plain INSERT of keys and rows, no ON CONFLICT): measured against PostgreSQL 15 it costs half of the full
 * statement's extra work per key (speculative insertion, reading back the stored keys and the subplans are the
 * other half). When any key of the batch is stored already (or is being stored by a concurrent flush, which the
 * unique index waits for), the fast statement fails as a whole on the unique index, stores nothing, and the
 * batch goes through the full statement. So a batch is either entirely new keys, stored by one statement, or
 * decided by the full statement, as before.
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
  readonly #stats: InboxStats = { flushes: 0, rows: 0, writes: 0, queued: 0, keyConflicts: 0 };
  readonly #keyHash: (stored: string) => string;
  /** Keyed flushes left that go straight to the full statement (after the fast one met a stored key). */
  #fullStatements = 0;

  constructor(orm: Orm, config: MetricsConfig, logger: Logger, options: InboxOptions = {}) {
    this.#orm = orm;
    this.#config = config;
    this.#logger = logger;
    const chosen = options.keyHash;
    this.#keyHash = chosen ? (stored) => String(chosen(stored)) : keyHashText;
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
    const keyed = batch.some((waiter) => waiter.rows.some((row) => row.key));
    const duplicates: number[][] = batch.map(() => []);
    try {
      const em = this.#orm.em.fork();
      let full = false;
      if (!keyed) {
        await query(em, insertRows(columnsOf(batch)));
      } else if (this.#fullStatements > 0) {
        this.#fullStatements -= 1;
        full = true;
      } else {
        // Fast path: every key is new (the usual case: a retry is the exception), so a plain INSERT of the keys
        // next to the rows, without ON CONFLICT's speculative insertion, reading back what was stored, or
        // de-duplicating the batch here first. A key that is stored already (a duplicate, an expired key, a
        // collision), committed meanwhile by another flush (the unique index waits for it), or present twice in
        // the batch fails the whole statement on the unique index; nothing of it is stored, and the full
        // statement decides those rows exactly. After such a conflict the next keyed flushes go straight to the
        // full statement (retries come in bursts).
        const hashes: string[] = [];
        const keys: string[] = [];
        const scopes: string[] = [];
        const scope = batch[0]!.scope;
        const oneScope = batch.every((waiter) => waiter.scope === scope);
        for (const waiter of batch) {
          const prefix = keyPrefix(waiter.scope);
          const quoted = oneScope ? '' : arrayText(waiter.scope);
          for (const row of waiter.rows) {
            if (row.key) {
              hashes.push(this.#keyHash(prefix + row.key));
              keys.push(arrayText(row.key));
            } else {
              hashes.push('NULL');
              keys.push('""');
            }
            if (!oneScope) scopes.push(quoted);
          }
        }
        // One caller's batch (the usual case) sends its scope once instead of once per row.
        const keyRows = oneScope
          ? sql`select h, ${scope}::text, k from unnest(${list(hashes)}::int8[], ${list(keys)}::text[]) as t(h, k)`
          : sql`select h, s, k from unnest(${list(hashes)}::int8[], ${list(scopes)}::text[], ${list(keys)}::text[]) as t(h, s, k)`;
        try {
          await query(
            em,
            sql`with keys as (
                  insert into metric_increment_key (hash, scope, key)
                  ${keyRows} where h is not null order by h
                )
                ${insertRows(columnsOf(batch))}`,
          );
        } catch (error) {
          if (!isKeyConflict(error)) throw error;
          full = true;
          this.#fullStatements = FULL_AFTER_CONFLICT;
          this.#stats.keyConflicts += 1;
        }
      }
      if (full) await this.#fullStatement(em, batch, duplicates);
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

  /**
   * The exact keyed statement: the batch de-duplicated here (a repeated key is a duplicate of its first
   * occurrence; a second key with the same hash is sent without its hash), then keys with ON CONFLICT and only
   * the rows whose key came back. Adds the positions of the duplicates to `duplicates` (per waiter).
   */
  async #fullStatement(em: Em, batch: Waiter[], duplicates: number[][]): Promise<void> {
    // Each sent row's key hash (NULL: none), scope and key, where it comes from.
    const hashes: string[] = [];
    const scopes: string[] = [];
    const keys: string[] = [];
    const origin: Array<[waiter: number, row: number]> = [];
    /** Stored key by hash, within this batch; and the keys sent without their hash (taken by another key). */
    const seen = new Map<string, string>();
    const collided = new Set<string>();
    const sent = batch.map((waiter, w) => {
      const prefix = keyPrefix(waiter.scope);
      const scope = arrayText(waiter.scope);
      const rows = waiter.rows.filter((row, r) => {
        let hash = 'NULL';
        if (row.key) {
          const stored = prefix + row.key;
          const h = this.#keyHash(stored);
          const other = seen.get(h);
          if (other === stored) return void duplicates[w]!.push(r);
          if (other === undefined) {
            seen.set(h, stored);
            hash = h;
          } else {
            if (collided.has(stored)) return void duplicates[w]!.push(r);
            collided.add(stored);
            this.#logger.warn({ hash: h }, 'metrics inbox: two increment ids with one hash in a batch; the second counts without being remembered');
          }
        }
        hashes.push(hash);
        scopes.push(hash === 'NULL' ? '""' : scope);
        keys.push(hash === 'NULL' ? '""' : arrayText(row.key!));
        origin.push([w, r]);
        return true;
      });
      return { rows };
    });
    // `fresh`: the keys this statement holds now, inserted or taken over from an expired key, and the
    // slots held by another key (a collision: no-op update, so that the held key is read under the row
    // lock, committed by whichever transaction). Events whose hash comes back count; the others are
    // duplicates. Both filters are hashed subplans over `fresh`: no per-row lookups, no join.
    const expired = sql`x.created_at < now() - make_interval(hours => ${this.#config.dedupeHours})`;
    const repeated = await query<{ n: number; counted: boolean }>(
      em,
      sql`with fresh as (
            insert into metric_increment_key as x (hash, scope, key)
            select h, s, k from unnest(${list(hashes)}::int8[], ${list(scopes)}::text[], ${list(keys)}::text[]) as t(h, s, k)
            where h is not null order by h
            on conflict (hash) do update
              set scope = case when ${expired} then excluded.scope else x.scope end,
                  key = case when ${expired} then excluded.key else x.key end,
                  created_at = case when ${expired} then now() else x.created_at end
              where ${expired} or ((x.scope, x.key) <> (excluded.scope, excluded.key)
                and (x.scope, x.key) <> ('', 'md5:' || md5(length(excluded.scope) || ':' || excluded.scope || excluded.key)))
            returning hash, scope, key
          ),
          stored as (
            ${insertRows(columnsOf(sent), sql`, ${list(hashes)}::int8[]`, sql`where h is null or h in (select hash from fresh)`)}
          )
          select n::int as n, h in (select hash from fresh) as counted
          from unnest(${list(hashes)}::int8[], ${list(scopes)}::text[], ${list(keys)}::text[]) with ordinality as u(h, s, k, n)
          where h is not null and (h, s, k) not in (select hash, scope, key from fresh)`,
    );
    for (const { n, counted } of repeated) {
      if (counted) {
        this.#logger.warn({ row: n }, 'metrics inbox: an increment id shares its hash with another stored id; it counts without being remembered');
        continue;
      }
      const [w, r] = origin[Number(n) - 1]!;
      duplicates[w]!.push(r);
    }
  }

  /**
   * Which of `keys` the caller (`scope`) had stored within METRICS_DEDUPE_HOURS: one indexed read, for the keyed
   * events a call rejects (a retry of a stored event that its checks now refuse, e.g. grown too old, or its
   * metric made private, is answered as the duplicate it is). Keys of the first layout (`md5:` of scope and key)
   * count too, as in the keyed statement.
   */
  async storedKeys(scope: string, keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const prefix = keyPrefix(scope);
    const hashes = keys.map((key) => this.#keyHash(prefix + key));
    const em = this.#orm.em.fork();
    const rows = await query<{ key: string }>(
      em,
      sql`select u.k as key
            from unnest(${list(hashes)}::int8[], ${list(keys.map(arrayText))}::text[]) as u(h, k)
            join metric_increment_key x on x.hash = u.h
           where x.created_at >= now() - make_interval(hours => ${this.#config.dedupeHours})
             and ((x.scope, x.key) = (${scope}::text, u.k)
               or (x.scope, x.key) = ('', 'md5:' || md5(length(${scope}::text) || ':' || ${scope}::text || u.k)))`,
    );
    return new Set(rows.map((r) => r.key));
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
