import { Repeater } from 'graphql-yoga';
import type { Em } from '../db/orm.ts';
import { badInput } from '../server/errors.ts';
import type { FeedMessage, TrackqlPubSub } from '../server/pubsub.ts';
import { loadActions, type Row } from './action-store.ts';
import { snapshotsOf, type PendingFeedEvent } from './feed-events.ts';
import { feedCounts } from './feed.ts';

/**
 * The change stream of a user's feed, so that a subscriber that was away resumes where it left off.
 *
 * Every feed event a write produces gets the next position of its user (monotonic per user) in the write's
 * transaction: `activity_feed_position` holds each user's last position (its row lock, taken after the unread
 * counters', orders the positions of concurrent writes, so positions commit in order), `activity_feed_change`
 * one row per change, keyed (user, position). Catching up after position p is one range read of that key.
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
 * Gives each event its position and records it, in the caller's transaction (one statement for all users).
 * Call after the statements that changed the feeds and their unread counters.
 */
export async function recordFeedChanges(em: Em, events: readonly PendingFeedEvent[]): Promise<void> {
  if (events.length === 0) return;
  const changes = events.map(([userId, message], i) => ({ i, user_id: userId, kind: message.kind, action_id: message.action?.id ?? null }));
  const rows = await em.execute<Row[]>(
    `with c as (
       select * from jsonb_to_recordset(?::jsonb) as c(i int, user_id text, kind text, action_id bigint)
     ),
     n as (select user_id, count(*)::bigint as n from c group by user_id),
     bumped as (
       insert into activity_feed_position (user_id, position)
       select user_id, n from n order by user_id
       on conflict (user_id) do update set position = activity_feed_position.position + excluded.position
       returning user_id, position
     ),
     numbered as (
       select c.i, c.user_id, c.kind, c.action_id,
              b.position - n.n + row_number() over (partition by c.user_id order by c.i) as position
         from c join bumped b on b.user_id = c.user_id join n on n.user_id = c.user_id
     ),
     recorded as (
       insert into activity_feed_change (user_id, position, kind, action_id)
       select user_id, position, kind, action_id from numbered
       returning 1
     )
     select i, position::text as position from numbered`,
    [JSON.stringify(changes)],
  );
  for (const row of rows) events[Number(row['i'])]![1].position = String(row['position']);
}

/** The position of the user's last change (0 before the first). */
export async function headPosition(em: Em, userId: string): Promise<bigint> {
  const rows = await em.execute<Row[]>(`select position::text as position from activity_feed_position where user_id = ?`, [userId]);
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
       from (select coalesce((select position from activity_feed_position where user_id = ?), 0) as position) h
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

export interface FeedStreamOptions {
  pubsub: TrackqlPubSub;
  /** A fresh EntityManager for each catch-up read. */
  em: () => Em;
  userId: string;
  /** Resume after this position; null: from now on. */
  after: bigint | null;
  replayMax: number;
}

/**
 * The live feed of one user: the replay after `after` (if given), then live messages, each exactly once and in
 * position order; a skipped position is caught up from the database. Every message carries a position.
 */
export function feedStream(options: FeedStreamOptions): Repeater<FeedMessage & { position: string }> {
  const { pubsub, em, userId, replayMax } = options;
  return new Repeater(async (push, stop) => {
    const live = pubsub.subscribe('feed', userId)[Symbol.asyncIterator]();
    // Listening from here on (the first pull starts the subscription): nothing published after this is missed.
    let pending = live.next();
    let stopped = false;
    void stop.then(() => {
      stopped = true;
      void live.return?.();
    });
    let last: bigint = 0n;
    const catchUp = async (after: bigint) => {
      // Nothing after `after` yet: the next live change must still be taken as following it (not as a gap
      // after position 0, which would replay the changes before the cursor).
      if (after > last) last = after;
      const result = await changesAfter(em(), userId, after, replayMax);
      if (result.kind === 'reset') {
        last = BigInt(result.message.position!);
        await push({ ...result.message, position: last.toString() });
        return;
      }
      for (const message of result.messages) {
        last = BigInt(message.position!);
        await push({ ...message, position: message.position! });
      }
    };
    // A failed read (the database unreachable for a moment) is tried again: the subscription stays open.
    const persistently = async (read: () => Promise<void>) => {
      for (let attempt = 0; !stopped; attempt++) {
        try {
          return await read();
        } catch (error) {
          if (attempt >= CATCHUP_ATTEMPTS) throw error;
          await new Promise((r) => setTimeout(r, CATCHUP_RETRY_MS));
        }
      }
    };
    try {
      if (options.after === null) await persistently(async () => void (last = await headPosition(em(), userId)));
      else await persistently(() => catchUp(options.after!));
      while (!stopped) {
        const next = await pending;
        if (next.done || stopped) break;
        pending = live.next();
        const message = next.value;
        if (message === undefined || message === null) {
          // Redis was back after an outage: changes published meanwhile by other instances were lost.
          await persistently(() => catchUp(last));
          continue;
        }
        if (message.position === undefined) {
          await push({ ...message, position: last.toString() });
          continue;
        }
        const position = BigInt(message.position);
        if (position <= last) continue; // already given (by the replay or a catch-up)
        if (position > last + 1n) {
          // A change was not received (lost between instances): its successors are committed, read them.
          await persistently(() => catchUp(last));
          if (position <= last) continue;
        }
        last = position;
        await push(message as FeedMessage & { position: string });
      }
    } finally {
      await live.return?.();
    }
    stop();
  });
}

/** Deletes the changes recorded before `before` (the retention job); returns how many. */
export async function pruneFeedChanges(em: Em, before: Date): Promise<number> {
  const rows = await em.execute<Row[]>(
    'with d as (delete from activity_feed_change where created_at < ? returning 1) select count(*)::int as n from d',
    [before],
  );
  return Number(rows[0]?.['n'] ?? 0);
}
