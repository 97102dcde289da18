import type { Em } from '../db/orm.ts';
import { badInput } from '../server/errors.ts';
import { loadActions, type Row } from './action-store.ts';
import { snapshotsOf, type PendingFeedEvent } from './feed-events.ts';
import { MAX_IDS_PER_MARK, normaliseVerbs, pgBigintArray, pgTextArray } from './model.ts';
import type { FeedMessage } from '../server/pubsub.ts';
import { applyCellDeltas } from './feed-cells.ts';
import { lockUserState, unseenSql } from './seen-watermark.ts';

/**
 * The state of a feed entry for its user (the inbox model): `unread`, `unseen` (unseen implies unread: read
 * implies seen) and `archived`. `activity_unread_counter` holds per user `count` (unread and not archived) and
 * `unseen` (unseen and not archived). Every change of these flags is one statement that locks the entries it
 * changes (`for update`: their current state, whatever committed just before), updates them, and moves both
 * counters by the exact delta computed from the old and new flags of exactly those rows, and the counter cells
 * (feed-cells.ts) by the same deltas per cell. `unseen` is read through the seen watermark (seen-watermark.ts).
 */

/** Which entries a bulk change applies to (`markAllRead`, `markAllSeen`, `archiveAll`). */
export interface EntryFilters {
  verbs?: readonly string[] | null | undefined;
  /** Actions with an object (actor, target or related) of this type. */
  objectType?: string | null | undefined;
  /** Entries this tracker of the user matches (database id). */
  trackerId?: number | null | undefined;
  /** Actions whose timestamp is <= before. */
  before?: Date | null | undefined;
}

/** SQL conditions over `f` (entry) and `a` (action) for the filters. */
export function entryFilterSql(filters: EntryFilters): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const verbs = normaliseVerbs(filters.verbs);
  if (verbs) {
    where.push(`a.verb = any(?::text[])`);
    params.push(pgTextArray(verbs));
  }
  if (filters.objectType) {
    where.push(`(a.actor_type = ? or exists (select 1 from activity_action_object o where o.action_id = a.id and o.object_type = ?))`);
    params.push(filters.objectType, filters.objectType);
  }
  if (filters.trackerId !== null && filters.trackerId !== undefined) {
    where.push(`?::int = any(f.tracker_ids)`);
    params.push(filters.trackerId);
  }
  if (filters.before) {
    where.push(`f.action_timestamp <= ?::timestamptz`);
    params.push(filters.before);
  }
  return { where, params };
}

export interface Transition {
  /** Which entries change (SQL over `f` and `a`), beyond the user: must select only entries that change. */
  where: string[];
  params: unknown[];
  /** The SET clause (columns of activity_feed_entry). */
  set: string;
}

export interface TransitionResult {
  changed: number;
  /** The changed actions' ids (only when asked). */
  ids: string[];
  unreadCount: number;
  unseenCount: number;
}

/** In a Transition's `where`, stands for the entry's effective unseen flag (seen-watermark.ts). */
export const UNSEEN = '$unseen';

/**
 * Applies `transition` to `userId`'s entries in one statement with exact counter deltas: the user's counter row
 * locked first (seen-watermark.ts), then the entries, their cells (feed-cells.ts) and the counter moved by the
 * deltas of exactly the rows changed. Every changed entry is written with its effective unseen flag at the
 * current epoch. Run inside a transaction.
 */
export async function applyTransition(em: Em, userId: string, transition: Transition, withIds: boolean): Promise<TransitionResult> {
  const { epoch } = await lockUserState(em, userId);
  const e = String(epoch);
  const unseen = unseenSql(e);
  const where = transition.where.map((w) => w.split(UNSEEN).join(unseen));
  // The action is only read when a condition needs it (verbs, object type, level).
  const join = where.some((w) => /\ba\./.test(w)) ? 'join activity_action a on a.id = f.action_id' : '';
  const setsUnseen = /\bunseen\s*=/.test(transition.set);
  const rows = await em.execute<Row[]>(
    `with prev as (
       select f.action_id, f.cell_id, f.unread, ${unseen} as unseen, f.archived
         from activity_feed_entry f ${join}
        where f.user_id = ? and ${where.join(' and ')}
        order by f.action_id
        for update of f
     ),
     changed as (
       update activity_feed_entry f set ${transition.set}${setsUnseen ? '' : ', unseen = prev.unseen'}, seen_epoch = ${e}
         from prev where f.user_id = ? and f.action_id = prev.action_id
       returning f.action_id, f.cell_id,
                 (not f.archived)::int - (not prev.archived)::int as dt,
                 (f.unread and not f.archived)::int - (prev.unread and not prev.archived)::int as du,
                 (f.unseen and not f.archived)::int - (prev.unseen and not prev.archived)::int as ds
     ),
     per_cell as (
       select cell_id, sum(dt)::int as total, sum(du)::int as unread, sum(ds)::int as unseen from changed group by cell_id
     ),
     ${applyCellDeltas('cells', 'per_cell', e)},
     d as (
       select count(*)::int as n, coalesce(sum(du), 0)::int as du, coalesce(sum(ds), 0)::int as ds from changed
     ),
     k as (
       update activity_unread_counter c set count = c.count + d.du, unseen = c.unseen + d.ds
         from d where c.user_id = ? and (d.du <> 0 or d.ds <> 0)
       returning c.count, c.unseen
     )
     select d.n,
            ${withIds ? `(select coalesce(array_agg(action_id::text order by action_id), '{}') from changed)` : `'{}'::text[]`} as ids,
            coalesce((select count from k), (select count from activity_unread_counter where user_id = ?), 0) as unread_count,
            coalesce((select unseen from k), (select unseen from activity_unread_counter where user_id = ?), 0) as unseen_count
       from d`,
    [userId, ...transition.params, userId, userId, userId, userId],
  );
  const row = rows[0] ?? {};
  return {
    changed: Number(row['n'] ?? 0),
    ids: ((row['ids'] as string[] | null) ?? []).map(String),
    unreadCount: Number(row['unread_count'] ?? 0),
    unseenCount: Number(row['unseen_count'] ?? 0),
  };
}

export interface StateChange {
  /** How many entries changed. */
  changed: number;
  events: PendingFeedEvent[];
}

/** Distinct ids, at most MAX_IDS_PER_MARK. */
export function markableIds(actionIds: readonly string[]): string[] {
  const ids = [...new Set(actionIds)];
  if (ids.length > MAX_IDS_PER_MARK) throw badInput(`actionIds: at most ${MAX_IDS_PER_MARK} ids`);
  return ids;
}

/**
 * Changes the named actions of the user's feed (ids not in it are skipped, indistinguishable from unknown
 * ones): one event of `kind` per changed entry, carrying its new state and the counts.
 */
export async function changeActions(
  em: Em,
  userId: string,
  actionIds: readonly string[],
  kind: FeedMessage['kind'],
  transition: Transition,
): Promise<StateChange> {
  const ids = markableIds(actionIds);
  if (ids.length === 0) return { changed: 0, events: [] };
  const result = await applyTransition(
    em,
    userId,
    { ...transition, where: [`f.action_id = any(?::bigint[])`, ...transition.where], params: [pgBigintArray(ids), ...transition.params] },
    true,
  );
  const actions = await loadActions(em, result.ids, userId);
  const snapshots = await snapshotsOf(em, actions);
  const events: PendingFeedEvent[] = actions.map((action) => [
    userId,
    {
      kind,
      action: snapshots.get(action.id)!,
      unread: action.unread,
      unseen: action.unseen,
      trackerIds: action.trackerIds,
      unreadCount: result.unreadCount,
      unseenCount: result.unseenCount,
    },
  ]);
  return { changed: result.changed, events };
}

/** Changes every entry selected by the filters: one statement, one event of `kind` (action null). */
export async function changeAll(em: Em, userId: string, filters: EntryFilters, kind: FeedMessage['kind'], transition: Transition): Promise<StateChange> {
  const f = entryFilterSql(filters);
  const result = await applyTransition(
    em,
    userId,
    { ...transition, where: [...transition.where, ...f.where], params: [...transition.params, ...f.params] },
    false,
  );
  const events: PendingFeedEvent[] =
    result.changed > 0
      ? [[userId, { kind, action: null, unread: null, unseen: null, trackerIds: [], unreadCount: result.unreadCount, unseenCount: result.unseenCount }]]
      : [];
  return { changed: result.changed, events };
}
