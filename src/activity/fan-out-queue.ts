import type { Em } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { loadActions, objectsOf, type Row } from './action-store.ts';
import { lockActionObjects } from './object-locks.ts';
import { audienceCtes, fanOut } from './fan-out.ts';
import { snapshotsOf, type PendingFeedEvent } from './feed-events.ts';
import type { ActionRecord, ActivitySettings } from './model.ts';

/**
 * The fan-out manager (Stream-Framework's name for it): an action reaching at most ACTIVITY_FANOUT_INLINE_MAX users
 * is fanned out inside logAction's transaction (the caller's next read sees every feed entry); a larger audience
 * would hold logAction for as long as its feeds take to write (about 80 µs per receiving user here), so its
 * logging transaction stores a fan-out job instead (`activity_fanout_job`, entities.ts) and a worker fans it out
 * right after the commit, in its own transaction, with the same statement and the same live events.
 *
 * Guarantees: the job commits with the action (an acknowledged action reaches its feeds, whatever crashes after);
 * the job is deleted by the transaction that fans it out (a worker dying half-way leaves it to the next); instances
 * claim jobs with SKIP LOCKED (each job once, any instance); the fan-out reads the trackers, mutes and objects
 * current when it runs, as actrack's read-time feed would; an action amended by grouping while its job waits is
 * fanned out once, in its amended state (the amendment sees the pending job and leaves the work to it).
 */

/** Feed entries and events for one action: the fan-out statement, then one event per receiving user. */
export interface ActionDelivery {
  events: PendingFeedEvent[];
  /** The action's rendered text (its snapshot's). */
  text: string | null;
}

/**
 * Fans `action` out now (fan-out.ts) and builds its receivers' live events. `objectsChecked`: the caller has just
 * checked, in this transaction, that none of the action's objects is forgotten (its snapshot needs no lookup).
 */
export async function deliverAction(
  em: Em,
  settings: ActivitySettings,
  action: ActionRecord,
  grouped: boolean,
  objectsChecked: boolean,
): Promise<ActionDelivery> {
  // An amended action has its earlier objects too, which logAction did not lock (object-locks.ts).
  if (grouped) await lockActionObjects(em, objectsOf(action));
  const rows = await fanOut(em, action, grouped, { readable: settings.readableLevel, unmutable: settings.unmutableLevel });
  const snapshot = (await snapshotsOf(em, [action], objectsChecked)).get(action.id)!;
  const events: PendingFeedEvent[] = rows.map((row) => [
    row.userId,
    {
      kind: row.existed ? 'UPDATED' : 'ADDED',
      action: snapshot,
      unread: row.unread,
      unseen: row.unread, // a new or amended entry is unseen exactly when unread
      trackerIds: row.trackerIds,
      unreadCount: row.unreadCount,
      unseenCount: row.unseenCount,
      position: row.position, // recorded by the fan-out's statement (change-stream.ts)
    },
  ]);
  return { events, text: snapshot.text };
}

/**
 * Queues the action's fan-out instead of running it, when its audience is larger than ACTIVITY_FANOUT_INLINE_MAX
 * and fewer than ACTIVITY_FANOUT_QUEUE_MAX fan-outs are queued (beyond that the caller fans out itself: the queue
 * never grows without bound, and a flood of large actions is slowed down as it was without the queue), or when a
 * fan-out of it is already queued (a grouped amendment of a queued action). Returns whether it did.
 */
export async function queueLargeFanOut(em: Em, settings: ActivitySettings, action: ActionRecord): Promise<boolean> {
  // One statement: the audience counted up to the limit (nothing locked), the backlog counted up to its limit, the
  // job inserted when both say so.
  const audience = audienceCtes(action, { unmutable: settings.unmutableLevel });
  const { inlineMax, queueMax } = settings.config.activityFanOut;
  const [row] = await em.execute<Row[]>(
    `with ${audience.sql},
     pending as (select 1 from activity_fanout_job where action_id = ?),
     large as (select count(*) > ? as over from (select 1 from matched limit ?) m),
     backlog as (select count(*) >= ? as at_limit from (select 1 from activity_fanout_job limit ?) j),
     -- A pending job is locked (a no-op update) until this transaction ends: a worker claims jobs with SKIP LOCKED,
     -- so it cannot take this one and fan out the action as it was before this amendment commits (the amendment
     -- would be lost: nothing queues it again). One a worker has claimed already (deleted, not committed) makes
     -- this insert wait for it, and then queue the action anew.
     queued as (
       insert into activity_fanout_job (action_id)
       select ? where exists (select 1 from pending) or ((select over from large) and not (select at_limit from backlog))
       on conflict (action_id) do update set action_id = excluded.action_id
       returning 1
     )
     select exists (select 1 from pending) or exists (select 1 from queued) as queued`,
    [...audience.params, action.id, inlineMax, inlineMax + 1, queueMax, queueMax, action.id],
  );
  return Boolean(row?.['queued']);
}

/** What one queued fan-out did: nothing claimed (the queue is empty for this instance), or the job's events. */
export interface QueuedFanOut {
  claimed: boolean;
  events: PendingFeedEvent[];
}

/**
 * Claims the oldest queued fan-out no other transaction holds, deletes its job and fans the action out, all in the
 * caller's transaction (rolled back together). The action is read back as it is now (grouping may have amended
 * it). An action deleted since
 * (forgetObject with deleteActions, erasure) took its job with it.
 */
export async function runQueuedFanOut(em: Em, settings: ActivitySettings): Promise<QueuedFanOut> {
  const [job] = await em.execute<Row[]>(
    `delete from activity_fanout_job
      where action_id = (select action_id from activity_fanout_job order by action_id limit 1 for update skip locked)
      returning action_id::text as action_id`,
  );
  if (!job) return { claimed: false, events: [] };
  const [action] = await loadActions(em, [String(job['action_id'])], null);
  if (!action) return { claimed: true, events: [] };
  // Before the fan-out reads trackers: tracker changes on its objects finish first or wait (object-locks.ts).
  await lockActionObjects(em, objectsOf(action));
  // No entry of the action yet (the usual case): the plain inserts of a new action. Some already (an amendment by
  // grouping of an action fanned out before, or a tracker's backfill since): the upsert path. A backfill committing
  // in between makes the inserts fail: the transaction rolls back, the job stays and the next run takes the upsert.
  const [existing] = await em.execute<Row[]>(`select 1 from activity_feed_entry where action_id = ? limit 1`, [action.id]);
  return { claimed: true, events: (await deliverAction(em, settings, action, existing !== undefined, false)).events };
}

/**
 * Runs queued fan-outs on this instance: at once when a write of this instance queued one (`kick`), and every
 * ACTIVITY_FANOUT_POLL_MS for jobs queued by instances that stopped before running theirs. `workers` loops run at
 * once, each one job per transaction (`runOne`: true when it claimed one), until none is left (SKIP LOCKED gives
 * each loop its own job; concurrent fan-outs take counter rows in user order, as concurrent logActions do). Never
 * throws; a failing job stays queued and is retried on the next poll.
 */
export class FanOutWorker {
  readonly #pollMs: number;
  readonly #workers: number;
  readonly #logger: Logger;
  readonly #runOne: () => Promise<boolean>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(deps: { pollMs: number; workers: number; logger: Logger; runOne: () => Promise<boolean> }) {
    this.#pollMs = deps.pollMs;
    this.#workers = deps.workers;
    this.#logger = deps.logger;
    this.#runOne = deps.runOne;
  }

  start(): void {
    if (this.#pollMs === 0 || this.#timer || this.#stopped) return;
    const loop = () => {
      this.#timer = setTimeout(() => {
        void this.drain().finally(() => {
          if (!this.#stopped) loop();
        });
      }, this.#pollMs);
      this.#timer.unref();
    };
    loop();
  }

  /** A write of this instance queued a fan-out: run the queue now (unless this instance runs none). */
  kick(): void {
    if (this.#pollMs === 0 || this.#stopped) return;
    void this.drain();
  }

  /** Runs jobs until none is left (a kick during a run makes it look again). */
  drain(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const loop = async () => {
      while (!this.#stopped && (await this.#runOne()));
    };
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          const loops = await Promise.allSettled(Array.from({ length: this.#workers }, loop));
          const failed = loops.find((l): l is PromiseRejectedResult => l.status === 'rejected');
          if (failed) {
            this.#logger.error({ err: failed.reason }, 'queued fan-out failed; it stays queued and is retried on the next poll');
            return;
          }
        } while (this.#again && !this.#stopped);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  /** Stops polling and waits for the jobs in progress. */
  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
