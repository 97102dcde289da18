import type { Em } from '../db/orm.ts';
import type { PendingFeedEvent } from './feed-events.ts';
import { removedEvents, removeFeedEntries } from './feed-removal.ts';
import { TRACKER_MATCHES_ACTION } from './tracker-feed.ts';

/**
 * Mutes (negative trackers): a tracker row with `mute = true`, on an object or a whole type, for some verbs or
 * all, as actor only or in any role, like any tracker. An action a user's mute matches never enters that
 * user's feed, whatever other tracker of the user matches (the fan-out statement, fan-out.ts, and the backfill
 * of new trackers, tracker-feed.ts, exclude it), unless its level is at or above ACTIVITY_UNMUTABLE_LEVEL.
 * A mute never appears in `matchedTrackers` nor in `trackers`; `mutes` lists them.
 *
 * The feed follows mutes one way: a mute created or widened removes the entries it matches (counter exact,
 * REMOVED event), so the feed stays what the trackers and mutes define; a mute removed or narrowed brings
 * nothing back from the past (what was muted stays out; new actions enter again) unless asked (`restore`: each
 * of the owner's trackers is backfilled again, as read; trackers.ts).
 */

/** SQL predicate: mute `t` applies to action `a` below the unmutable level (`?`: that level). */
export const MUTE_APPLIES = `t.mute and a.level < ? and ${TRACKER_MATCHES_ACTION}`;

/** Removes from its owner's feed the entries that mute `muteId` matches; one REMOVED event when some went. */
export async function removeMutedEntries(em: Em, ownerId: string, muteId: number, unmutableLevel: number): Promise<PendingFeedEvent[]> {
  const removed = await removeFeedEntries(
    em,
    `f.user_id = ? and exists (
       select 1 from activity_action a join activity_tracker t on t.id = ?
        where a.id = f.action_id and ${MUTE_APPLIES})`,
    [ownerId, muteId, unmutableLevel],
  );
  return removedEvents(removed);
}
