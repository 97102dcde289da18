import type { Em } from '../db/orm.ts';
import { changeActions, changeAll, type EntryFilters, type StateChange } from './entry-state.ts';

/**
 * Archive (the inbox model): archived entries leave the default feed (`feed(archived: true)` lists them) and
 * every count; they keep their read and seen flags, so unarchiving brings the counts back exactly. A grouped
 * action (new activity on it) leaves the archive, unread again (fan-out.ts).
 */

/** Archives actions of the feed (ids not in it skipped); returns how many changed. */
export function archive(em: Em, userId: string, actionIds: string[]): Promise<StateChange> {
  return changeActions(em, userId, actionIds, 'ARCHIVED', { where: ['not f.archived'], params: [], set: 'archived = true' });
}

/** Brings archived actions back into the feed (and its counts). */
export function unarchive(em: Em, userId: string, actionIds: string[]): Promise<StateChange> {
  return changeActions(em, userId, actionIds, 'UNARCHIVED', { where: ['f.archived'], params: [], set: 'archived = false' });
}

/** Archives every entry selected by the filters (`readOnly`: only read ones) in one statement. */
export function archiveAll(em: Em, userId: string, filters: EntryFilters, readOnly: boolean): Promise<StateChange> {
  return changeAll(em, userId, filters, 'ARCHIVED', {
    where: ['not f.archived', ...(readOnly ? ['not f.unread'] : [])],
    params: [],
    set: 'archived = true',
  });
}
