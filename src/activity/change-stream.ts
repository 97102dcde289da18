import type { Em } from '../db/orm.ts';
import { badInput } from '../server/errors.ts';
import type { FeedMessage } from '../server/pubsub.ts';
import type { FeedRouter } from './feed-delivery.ts';
import { loadActions, type Row } from './action-store.ts';
import { snapshotsOf, type PendingFeedEvent } from './feed-events.ts';
import { feedCounts } from './feed.ts';

/**
 * The change stream of a user's feed, so that a subscriber that was away resumes where it left off.
 *
 * Every feed event a write produces gets the next position of its user (monotonic per user) in the write's
 * transaction: the user's row of `activity_unread_counter` holds the last position next to the counts (its row
 * lock, the one every writer of the user's counts takes, orders the positions of concurrent writes, so positions
 * commit in order), `activity_feed_change` one row per change, keyed (user, position). Catching up after
 * position p is one range read of that key.
 *
 * The fan-out (fan-out.ts) bumps the positions and writes the change rows in its own statement, together with
 * the counts (RECORD_CHANGES_FROM); the other writes record their events with recordFeedChanges, in the order of
 * the events, before the transaction commits.
 *
 * `feed(after:)` subscribes live first (buffered), replays the changes after `after` (each with the entry's
 * current state and the current unread count), then continues live, dropping what the replay already gave (by
 * position). A live message whose position skips (a message lost between instances) is caught up the same way.
 */

/** Opaque cursor of a position in a user's change stream. */
export function encodeFeedCursor(position: bigint | string): string {
  return Buffer.from(`feedpos:${position}`, 'utf8').toString('base64url');
}

export function decodeFeedCursor(cursor: string): bigint {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const digits = decoded.startsWith('feedpos:') ? decoded.slice(8) : '';
  if (!/^\d{1,19}$/.test(digits)) throw badInput('after: not a cursor returned by feed (syncCursor or FeedEvent.cursor)');
  return BigInt(digits);
}

/**
 * SQL of the statement part that records change rows: `source` is a relation (CTE) with columns user_id,
 * position, kind and action_id. Used by recordFeedChanges and by the fan-out's statement.
 */
export const RECORD_CHANGES_FROM = (source: string): string =>
  `insert into activity_feed_change (user_id, position, kind, action_id)
   select user_id, position, kind, action_id from ${source}
   returning 1`;

/**
 * Gives each event that has no position yet its position and records it, in the caller's transaction (one
 * statement for all users). Call after the statements that changed the feeds and their counters, in the order
 * of the changes (events already recorded, by the fan-out, are skipped).
 */
export async function recordFeedChanges(em: Em, events: readonly PendingFeedEvent[]): Promise<void> {
  const pending = events.filter(([, message]) => message.position === undefined);
  if (pending.length === 0) return;
  const changes = pending.map(([userId, message], i) => ({ i, user_id: userId, kind: message.kind, action_id: message.action?.id ?? null }));
  const rows = await em.execute<Row[]>(
    `with c as (
       select * from jsonb_to_recordset(?::jsonb) as c(i int, user_id text, kind text, action_id bigint)
     ),
     n as (select user_id, count(*)::bigint as n from c group by user_id),
     bumped as (
       insert into activity_unread_counter as k (user_id, count, unseen, position)
       select user_id, 0, 0, n from n order by user_id
       on conflict (user_id) do update set position = k.position + excluded.position
       returning k.user_id, k.position
     ),
     numbered as (
       select c.i, c.user_id, c.kind, c.action_id,
              b.position - n.n + row_number() over (partition by c.user_id order by c.i) as position
         from c join bumped b on b.user_id = c.user_id join n on n.user_id = c.user_id
     ),
     recorded as (${RECORD_CHANGES_FROM('numbered')})
     select i, position::text as position from numbered`,
    [JSON.stringify(changes)],
  );
  for (const row of rows) pending[Number(row['i'])]![1].position = String(row['position']);
}

/** The position of the user's last change (0 before the first). */
export async function headPosition(em: Em, userId: string): Promise<bigint> {
  const rows = await em.execute<Row[]>(`select position::text as position from activity_unread_counter where user_id = ?`, [userId]);
  return BigInt(String(rows[0]?.['position'] ?? '0'));
}

export type Catchup =
  | { kind: 'changes'; messages: FeedMessage[] }
  /** `after` is older than what can be replayed (or not from this stream): the client must refetch. */
  | { kind: 'reset'; message: FeedMessage };

/**
 * The changes after `after` as messages carrying the current state of their entries and the current unread
 * count: one range read of (user, position), then the actions they name and the count.
 */
export async function changesAfter(em: Em, userId: string, after: bigint, max: number): Promise<Catchup> {
  const rows = await em.execute<Row[]>(
    `select h.position::text as head, c.position::text as position, c.kind, c.action_id::text as action_id
       from (select coalesce((select position from activity_unread_counter where user_id = ?), 0) as position) h
       left join lateral (
         select position, kind, action_id from activity_feed_change
          where user_id = ? and position > ?
          order by position limit ?
       ) c on true
      order by c.position`,
    [userId, userId, after.toString(), max + 1],
  );
  const head = BigInt(String(rows[0]?.['head'] ?? '0'));
  const changes = rows.filter((r) => r['position'] !== null && r['position'] !== undefined);
  if (head === after) return { kind: 'changes', messages: [] };
  const first = changes[0] ? BigInt(String(changes[0]['position'])) : null;
  const counts = await feedCounts(em, userId);
  if (head < after || first !== after + 1n || changes.length > max) {
    const message: FeedMessage = {
      kind: 'RESET',
      action: null,
      unread: null,
      unseen: null,
      trackerIds: [],
      unreadCount: counts.unread,
      unseenCount: counts.unseen,
      position: head.toString(),
    };
    return { kind: 'reset', message };
  }
  const actionIds = [...new Set(changes.map((r) => r['action_id']).filter((id) => id !== null && id !== undefined).map(String))];
  const actions = await loadActions(em, actionIds, userId);
  const snapshots = await snapshotsOf(em, actions);
  const byId = new Map(actions.map((a) => [a.id, a]));
  const messages = changes.map((r): FeedMessage => {
    const id = r['action_id'] === null || r['action_id'] === undefined ? null : String(r['action_id']);
    const action = id === null ? undefined : byId.get(id);
    return {
      kind: String(r['kind']) as FeedMessage['kind'],
      action: action ? snapshots.get(action.id)! : null,
      unread: action ? action.unread : null,
      unseen: action ? action.unseen : null,
      trackerIds: action ? action.trackerIds : [],
      unreadCount: counts.unread,
      unseenCount: counts.unseen,
      position: String(r['position']),
    };
  });
  return { kind: 'changes', messages };
}

/** A catch-up read that fails is tried again this many times, this far apart, before the subscription errors. */
const CATCHUP_ATTEMPTS = 30;
const CATCHUP_RETRY_MS = 1000;
/**
 * Messages a subscription holds for a client that does not read them (beyond the largest replay): past that,
 * they are dropped and read again from the change stream once the client reads (never unbounded memory).
 */
const BUFFER_BEYOND_REPLAY = 1000;

export interface FeedStreamOptions {
  router: FeedRouter;
  /** A fresh EntityManager for each catch-up read. */
  em: () => Em;
  userId: string;
  /** Resume after this position; null: from now on. */
  after: bigint | null;
  replayMax: number;
}

export type FeedStreamMessage = FeedMessage & { position: string };

/**
 * The live feed of one user: the replay after `after` (if given), then live messages, each exactly once and in
 * position order; a skipped position is caught up from the database. Every message carries a position.
 */
export function feedStream(options: FeedStreamOptions): AsyncIterableIterator<FeedStreamMessage> {
  return new FeedStream(options);
}

/**
 * One subscription's state: a plain async iterator fed synchronously by the FeedRouter (no Repeater, no
 * pub/sub listener of its own: a subscriber costs one object and one closure). Live messages that arrive while
 * a read from the database is in progress wait in `#inbox` and are then taken in order, dropping what the read
 * already gave (by position).
 */
class FeedStream implements AsyncIterableIterator<FeedStreamMessage> {
  readonly #options: FeedStreamOptions;
  readonly #unsubscribe: () => void;
  /** Ready for the client, in order. */
  #ready: FeedStreamMessage[] = [];
  #waiter: { resolve: (result: IteratorResult<FeedStreamMessage>) => void; reject: (error: unknown) => void } | null = null;
  /** Live messages received during a read. */
  #inbox: Array<FeedMessage | undefined> = [];
  /** A read from the database is in progress (or due: #overflowed). */
  #reading = true;
  /** The client stopped reading and its backlog was dropped: a catch-up runs at its next read. */
  #overflowed = false;
  /** Position of the last message taken (ready or given). */
  #last = 0n;
  /** Position of the last message given to the client. */
  #given = 0n;
  #closed = false;
  #failure: { error: unknown } | null = null;

  constructor(options: FeedStreamOptions) {
    this.#options = options;
    // Listening from here on: nothing published after this is missed.
    this.#unsubscribe = options.router.add(options.userId, (message) => this.#receive(message));
    const { after } = options;
    void this.#read(async () => {
      if (after === null) this.#last = this.#given = await headPosition(options.em(), options.userId);
      else {
        this.#last = this.#given = after;
        await this.#catchUp(after);
      }
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<FeedStreamMessage>> {
    const value = this.#ready.shift();
    if (value !== undefined) {
      this.#given = BigInt(value.position);
      return Promise.resolve({ value, done: false });
    }
    if (this.#failure) {
      const { error } = this.#failure;
      this.#close();
      return Promise.reject(error);
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    if (this.#overflowed) {
      this.#overflowed = false;
      this.#inbox = [];
      this.#last = this.#given;
      void this.#read(() => this.#catchUp(this.#last));
    }
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<FeedStreamMessage>> {
    this.#close();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(): Promise<IteratorResult<FeedStreamMessage>> {
    return this.return();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#ready = [];
    this.#inbox = [];
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.resolve({ value: undefined, done: true });
  }

  #receive(message: FeedMessage | undefined): void {
    if (this.#closed) return;
    if (this.#reading) {
      // During an overflow the catch-up reads everything anyway: keep nothing.
      if (!this.#overflowed) this.#inbox.push(message);
      if (this.#inbox.length > this.#options.replayMax + BUFFER_BEYOND_REPLAY) this.#inbox = [undefined];
      return;
    }
    this.#take(message);
  }

  /** A live message, in order (no read in progress). */
  #take(message: FeedMessage | undefined): void {
    if (message === undefined) {
      // Redis was back after an outage: changes published meanwhile by other instances were lost.
      this.#startCatchUp(null);
      return;
    }
    if (message.position === undefined) {
      this.#give({ ...message, position: this.#last.toString() });
      return;
    }
    const position = BigInt(message.position);
    if (position <= this.#last) return; // already given (by the replay or a catch-up)
    if (position > this.#last + 1n) {
      // A change was not received (lost between instances): its successors are committed, read them.
      this.#startCatchUp(message);
      return;
    }
    this.#last = position;
    this.#give(message as FeedStreamMessage);
  }

  #give(message: FeedStreamMessage): void {
    if (this.#overflowed) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      this.#given = BigInt(message.position);
      waiter.resolve({ value: message, done: false });
      return;
    }
    this.#ready.push(message);
    if (this.#ready.length > this.#options.replayMax + BUFFER_BEYOND_REPLAY) {
      this.#ready = [];
      this.#overflowed = true;
      this.#reading = true;
      this.#inbox = [];
    }
  }

  #startCatchUp(trigger: FeedMessage | null): void {
    this.#reading = true;
    void this.#read(async () => {
      await this.#catchUp(this.#last);
      // Committed before it was published, so normally read above; if not, it is still the newest known.
      if (trigger && BigInt(trigger.position!) > this.#last && !this.#overflowed) {
        this.#last = BigInt(trigger.position!);
        this.#give(trigger as FeedStreamMessage);
      }
    });
  }

  /** Runs a read (retried while the database is unreachable), then takes the live messages that waited. */
  async #read(read: () => Promise<void>): Promise<void> {
    this.#reading = true;
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        await read();
        break;
      } catch (error) {
        if (attempt >= CATCHUP_ATTEMPTS) return this.#fail(error);
        await new Promise((r) => setTimeout(r, CATCHUP_RETRY_MS));
      }
    }
    if (this.#closed || this.#overflowed) return;
    this.#reading = false;
    while (!this.#reading && this.#inbox.length > 0) this.#take(this.#inbox.shift());
  }

  async #catchUp(after: bigint): Promise<void> {
    const result = await changesAfter(this.#options.em(), this.#options.userId, after, this.#options.replayMax);
    if (this.#closed || this.#overflowed) return;
    if (result.kind === 'reset') {
      this.#last = BigInt(result.message.position!);
      this.#give({ ...result.message, position: this.#last.toString() });
      return;
    }
    for (const message of result.messages) {
      this.#last = BigInt(message.position!);
      this.#give(message as FeedStreamMessage);
    }
  }

  #fail(error: unknown): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      this.#close();
      waiter.reject(error);
    } else this.#failure = { error };
  }
}

/** Deletes the changes recorded before `before` (the retention job); returns how many. */
export async function pruneFeedChanges(em: Em, before: Date): Promise<number> {
  const rows = await em.execute<Row[]>(
    'with d as (delete from activity_feed_change where created_at < ? returning 1) select count(*)::int as n from d',
    [before],
  );
  return Number(rows[0]?.['n'] ?? 0);
}
