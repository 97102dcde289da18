import { DeadlockException } from '@mikro-orm/core';
import type { Config } from '../config.ts';
import type { Em } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import type { TrackqlPubSub } from '../server/pubsub.ts';
import { actionsByIds, actionsPage, type ActionFilters, type ActionViewer } from './accessors.ts';
import { feedStream, headPosition, recordFeedChanges } from './change-stream.ts';
import { FeedRouter } from './feed-delivery.ts';
import { logAction, logActions, type LogActionParams } from './actions.ts';
import { forgetObject, type ForgetParams } from './deleted-items.ts';
import { logActionOnce, type ActionKey } from './idempotency.ts';
import { archive, archiveAll, unarchive } from './archive.ts';
import type { EntryFilters } from './entry-state.ts';
import { feedCountsBy, filteredCounts, type CountFilters, type FeedCountKey, type FeedCountRow } from './feed-counts.ts';
import { feedCounts, feedPage, type ActionPage, type FeedCounts, type FeedFilters, type Page } from './feed.ts';
import { publishFeedEvents, type PendingFeedEvent } from './feed-events.ts';
import { FanOutWorker, runQueuedFanOut } from './fan-out-queue.ts';
import { activitySettings, type ActionRecord, type ActivitySettings, type TrackerRecord } from './model.ts';
import { markActions, markAllRead, markAllSeen, markSeen } from './read-state.ts';
import {
  track,
  trackersByIds,
  trackersOfObject,
  trackersOfOwner,
  untrack,
  type TrackParams,
  type UntrackParams,
} from './trackers.ts';
import { eraseUser, type ErasedActions, type UserErasure } from './user-erasure.ts';
import { activityExportSections, exportUser, type UserExportPage, type UserExportSection } from './user-export.ts';
import { registerVerb, templatesOf, type VerbTemplate } from './verbs.ts';
import type { ActivityWrite, ActivityWriteListener } from './write-listeners.ts';

/**
 * The activity module's entry point for resolvers: one method per operation. Each concept lives in its own
 * file (actions, grouping, fan-out, feed, read state, trackers, verbs, deleted items, feed events); this
 * class runs every write in one transaction and publishes its feed events after the commit.
 */
/**
 * How many times a write chosen as a deadlock victim is attempted. Writers lock users' counter rows in user order
 * within each statement, but a transaction of several statements (a grouped amendment, logActions, tracker
 * changes) can still meet another in the opposite order; PostgreSQL aborts one, which is retried.
 */
const WRITE_ATTEMPTS = 6;

export class ActivityService {
  readonly #pubsub: TrackqlPubSub;
  readonly #logger: Logger;
  readonly settings: ActivitySettings;
  readonly #listeners: ActivityWriteListener[] = [];
  /** exportUser's sections: the activity module's, then those other modules add. */
  readonly #exportSections: UserExportSection[] = [];
  readonly #router: FeedRouter;
  readonly #fork: () => Em;
  readonly #fanOutWorker: FanOutWorker;

  /** `fork`: a fresh EntityManager for the live feeds' catch-up reads (not one held per subscription). */
  constructor(deps: { config: Config; pubsub: TrackqlPubSub; logger: Logger; fork: () => Em }) {
    this.#pubsub = deps.pubsub;
    this.#fork = deps.fork;
    this.#logger = deps.logger;
    this.settings = activitySettings(deps.config);
    this.#exportSections.push(...activityExportSections(this.settings));
    this.#router = new FeedRouter(deps.pubsub, deps.logger);
    this.#fanOutWorker = new FanOutWorker({
      pollMs: deps.config.activityFanOut.pollMs,
      workers: deps.config.activityFanOut.workers,
      logger: deps.logger,
      runOne: async () => (await this.#write(this.#fork(), (tem) => runQueuedFanOut(tem, this.settings))).claimed,
    });
  }

  /** Starts the queued fan-out's worker (fan-out-queue.ts); called once the server listens. */
  start(): void {
    this.#fanOutWorker.start();
  }

  /** Runs this instance's queued fan-outs until none is left (fan-out-queue.ts). */
  runQueuedFanOuts(): Promise<void> {
    return this.#fanOutWorker.drain();
  }

  /** Stops the worker after the fan-out in progress; called on shutdown before the ORM closes. */
  async close(): Promise<void> {
    await this.#fanOutWorker.close();
  }

  /** Registers a listener run inside every write's transaction (write-listeners.ts). */
  addWriteListener(listener: ActivityWriteListener): void {
    this.#listeners.push(listener);
  }

  /** Adds another module's records to `exportUser`, after the activity module's (user-export.ts). */
  addExportSection(section: UserExportSection): void {
    this.#exportSections.push(section);
  }

  get readableLevel(): number {
    return this.settings.readableLevel;
  }

  /**
   * Runs `work` in a transaction, retried (WRITE_ATTEMPTS) when Postgres aborts it as a deadlock victim
   * (fan-outs lock counters in user order, but a grouped fan-out and a markAllRead can still cross on feed
   * entries), then publishes the events it produced.
   */
  async #write<T extends { events: PendingFeedEvent[]; logged?: readonly ActionRecord[]; fanOutQueued?: boolean }>(
    em: Em,
    work: (tem: Em) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await em.transactional(async (tem) => {
          const done = await work(tem);
          await recordFeedChanges(tem, done.events); // positions of the events the fan-out did not record (change-stream.ts)
          const erasedUser = 'erasedUser' in done ? (done.erasedUser as ActivityWrite['erasedUser']) : undefined;
          const write: ActivityWrite = { actions: done.logged ?? [], events: done.events, erasedUser };
          for (const listener of this.#listeners) await listener.afterWrite(tem, write);
          return done;
        });
        publishFeedEvents(this.#pubsub, this.#logger, result.events);
        if (result.fanOutQueued) this.#fanOutWorker.kick();
        return result;
      } catch (error) {
        if (!(error instanceof DeadlockException) || attempt >= WRITE_ATTEMPTS) throw error;
        this.#logger.warn({ attempt }, 'activity transaction chosen as deadlock victim; retrying');
        // A random pause before the next attempt, so that the same transactions do not meet again in step.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  // ---------------------------------------------------------------- actions

  /**
   * Logs an action (or amends a similar recent one), fans it out to the matching trackers' owners. With an
   * idempotency key, a repeat returns the first call's action and does nothing else (idempotency.ts).
   */
  async logAction(em: Em, params: LogActionParams, key?: ActionKey | null): Promise<ActionRecord> {
    const once = async (tem: Em) => {
      const done = await logActionOnce(tem, this.settings, key, () => logAction(tem, this.settings, params));
      return { ...done, logged: done.repeated ? [] : [done.action] };
    };
    return (await this.#write(em, once)).action;
  }

  /**
   * Logs several actions in one transaction (grouping within the call with delay 0). `keys[i]` is input i's
   * idempotency key: a key used before answers with its action and logs nothing.
   */
  async logActions(em: Em, list: readonly LogActionParams[], keys: ReadonlyArray<ActionKey | null> = []): Promise<ActionRecord[]> {
    return (await this.#write(em, (tem) => logActions(tem, this.settings, list, keys))).actions;
  }

  actions(em: Em, filters: ActionFilters, page: Page, viewer: ActionViewer): Promise<ActionPage> {
    return actionsPage(em, filters, page, viewer);
  }

  actionsByIds(em: Em, ids: string[], viewer: ActionViewer): Promise<Array<ActionRecord | null>> {
    return actionsByIds(em, ids, viewer);
  }

  // ---------------------------------------------------------------- feed and read state

  feed(em: Em, userId: string, filters: FeedFilters, page: Page): Promise<ActionPage> {
    return feedPage(em, userId, filters, page, this.settings.readableLevel);
  }

  /** The position of the user's last feed change: a page read after it misses nothing before it. */
  feedPosition(em: Em, userId: string): Promise<bigint> {
    return headPosition(em, userId);
  }

  /**
   * Live feed of a user: the changes after `after` (when given), then live ones, each once, in order. Its reads
   * use EntityManagers forked for each read and let go (an idle subscription keeps none).
   */
  feedStream(userId: string, after: bigint | null): ReturnType<typeof feedStream> {
    return feedStream({ router: this.#router, em: this.#fork, userId, after, replayMax: this.settings.config.feedReplay.max });
  }

  /** Marks actions of the feed read (or unread); returns how many entries changed. */
  async mark(em: Em, userId: string, actionIds: string[], unread: boolean): Promise<number> {
    return (await this.#write(em, (tem) => markActions(tem, userId, actionIds, unread, this.settings.readableLevel))).changed;
  }

  async markAllRead(em: Em, userId: string, filters: EntryFilters): Promise<number> {
    return (await this.#write(em, (tem) => markAllRead(tem, userId, filters))).changed;
  }

  /** Exact unread and unseen counts (archived entries excluded). */
  feedCounts(em: Em, userId: string): Promise<FeedCounts> {
    return feedCounts(em, userId);
  }

  /** Counts per tab (feed-counts.ts). */
  feedCountsBy(em: Em, userId: string, by: readonly FeedCountKey[], filters: CountFilters): Promise<FeedCountRow[]> {
    return feedCountsBy(em, userId, by, filters, this.settings.readableLevel);
  }

  /** Unread and unseen counts under filters (none: the counter row). */
  filteredCounts(em: Em, userId: string, filters: CountFilters): Promise<FeedCounts> {
    return filteredCounts(em, userId, filters, this.settings.readableLevel);
  }

  /** Marks actions of the feed seen (they stay unread); returns how many changed. */
  async markSeen(em: Em, userId: string, actionIds: string[]): Promise<number> {
    return (await this.#write(em, (tem) => markSeen(tem, userId, actionIds))).changed;
  }

  async markAllSeen(em: Em, userId: string, filters: EntryFilters): Promise<number> {
    return (await this.#write(em, (tem) => markAllSeen(tem, userId, filters))).changed;
  }

  /** Archives (or unarchives) actions of the feed; returns how many changed. */
  async archive(em: Em, userId: string, actionIds: string[], archived: boolean): Promise<number> {
    return (await this.#write(em, (tem) => (archived ? archive : unarchive)(tem, userId, actionIds))).changed;
  }

  async archiveAll(em: Em, userId: string, filters: EntryFilters, readOnly: boolean): Promise<number> {
    return (await this.#write(em, (tem) => archiveAll(tem, userId, filters, readOnly))).changed;
  }

  // ---------------------------------------------------------------- trackers

  async track(em: Em, params: TrackParams): Promise<TrackerRecord> {
    return (await this.#write(em, (tem) => track(tem, this.settings, params))).tracker;
  }

  /** Removes verbs from a tracker (all when none given); returns null when the tracker was deleted. */
  async untrack(em: Em, params: UntrackParams): Promise<TrackerRecord | null> {
    return (await this.#write(em, (tem) => untrack(tem, this.settings, params))).tracker;
  }

  trackers(em: Em, owner: string): Promise<TrackerRecord[]> {
    return trackersOfOwner(em, owner);
  }

  /** The owner's mutes (mutes.ts). */
  mutes(em: Em, owner: string): Promise<TrackerRecord[]> {
    return trackersOfOwner(em, owner, true);
  }

  trackersOf(em: Em, object: ObjectRefValue, owner: string | null): Promise<TrackerRecord[]> {
    return trackersOfObject(em, object, owner);
  }

  trackersByIds(em: Em, ids: readonly number[]): Promise<Array<TrackerRecord | null>> {
    return trackersByIds(em, ids);
  }

  // ---------------------------------------------------------------- verbs and deleted items

  registerVerb(em: Em, verb: string, template: string): Promise<VerbTemplate> {
    return registerVerb(em, verb, template);
  }

  templates(em: Em, verbs: readonly string[]): Promise<Map<string, string>> {
    return templatesOf(em, verbs);
  }

  /**
   * Turns an object into a tombstone (or deletes its actions) and removes the trackers on it (a user's: also
   * its trackers, feed and counter), in one transaction.
   */
  async forgetObject(em: Em, params: ForgetParams): Promise<ObjectRefValue> {
    return (await this.#write(em, (tem) => forgetObject(tem, this.settings, params))).object;
  }

  // ---------------------------------------------------------------- user erasure and export

  /**
   * Erases everything stored about a user (user-erasure.ts): trackers, feed, counters, change stream, keys,
   * webhook rows naming it; its actions deleted or kept with the user as a tombstone. One transaction.
   */
  async eraseUser(em: Em, userId: string, actions: ErasedActions): Promise<UserErasure> {
    return (await this.#write(em, (tem) => eraseUser(tem, this.settings, userId, actions))).erasure;
  }

  /** A page of everything stored about a user, as JSON records (user-export.ts). */
  exportUser(em: Em, userId: string, first: number, after: string | null): Promise<UserExportPage> {
    return exportUser(em, this.#exportSections, { id: userId, type: this.settings.config.userType }, first, after);
  }
}
