import type { Em } from '../db/orm.ts';
import { changeActions, changeAll, UNSEEN, type EntryFilters, type StateChange } from './entry-state.ts';
import { normaliseVerbs } from './model.ts';
import { moveSeenWatermark } from './seen-watermark.ts';

/**
 * Read and seen marks (actrack's unread/read marks, plus the inbox's seen): each feed entry has `unread` and
 * `unseen` flags, read implies seen, and `activity_unread_counter` holds the exact numbers of unread and
 * unseen entries per user (archived ones excluded), changed by the exact delta in the statement that changes
 * the flags (entry-state.ts). Entries of actions below the readable level are never unread.
 */

export type MarkResult = StateChange;

/**
 * Marks actions of `userId`'s feed read (or unread), as actrack's `bulk_mark_read_for`: ids that are not in
 * that feed (unknown, someone else's, or gone after an untrack) are skipped, indistinguishable from one
 * another. Read implies seen; marking unread leaves the entry seen (no badge for it). Actions below the
 * readable level stay read. Returns how many entries changed. Run inside a transaction.
 */
export function markActions(em: Em, userId: string, actionIds: string[], unread: boolean, readableLevel: number): Promise<MarkResult> {
  return unread
    ? changeActions(em, userId, actionIds, 'UNREAD', { where: ['not f.unread', 'a.level >= ?'], params: [readableLevel], set: 'unread = true' })
    : changeActions(em, userId, actionIds, 'READ', { where: ['f.unread'], params: [], set: 'unread = false, unseen = false' });
}

/** Marks actions of the feed seen (ids not in the feed skipped); they stay unread. */
export function markSeen(em: Em, userId: string, actionIds: string[]): Promise<MarkResult> {
  return changeActions(em, userId, actionIds, 'SEEN', { where: [UNSEEN], params: [], set: 'unseen = false' });
}

/**
 * Marks every unread entry of the feed (archived ones excepted) selected by the filters read: one UPDATE over
 * the partial unread index and one counter update. Run inside a transaction.
 */
export function markAllRead(em: Em, userId: string, filters: EntryFilters): Promise<MarkResult> {
  return changeAll(em, userId, filters, 'READ', { where: ['f.unread', 'not f.archived'], params: [], set: 'unread = false, unseen = false' });
}

/**
 * Marks every unseen entry (archived ones excepted) selected by the filters seen. Without a verb, object type or
 * tracker filter (the badge: "the panel was opened"), the user's seen watermark moves (seen-watermark.ts): O(1),
 * plus the entries after `before` that stay unseen. With one, one set-based statement over the unread index.
 */
export async function markAllSeen(em: Em, userId: string, filters: EntryFilters): Promise<MarkResult> {
  const filtered = normaliseVerbs(filters.verbs) || filters.objectType || (filters.trackerId !== null && filters.trackerId !== undefined);
  if (filtered) return changeAll(em, userId, filters, 'SEEN', { where: ['f.unread', UNSEEN, 'not f.archived'], params: [], set: 'unseen = false' });
  const moved = await moveSeenWatermark(em, userId, filters.before ?? null);
  return {
    changed: moved.changed,
    events:
      moved.changed > 0
        ? [[userId, { kind: 'SEEN', action: null, unread: null, unseen: null, trackerIds: [], unreadCount: moved.unreadCount, unseenCount: moved.unseenCount }]]
        : [],
  };
}
