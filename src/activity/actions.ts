import type { Em } from '../db/orm.ts';
import { objectKey, type ObjectRefValue } from '../objects/object-ref.ts';
import { findForgotten } from '../objects/tombstones.ts';
import { atListItem, badInput } from '../server/errors.ts';
import { loadActions, type Row } from './action-store.ts';
import { audienceCtes } from './fan-out.ts';
import { deliverAction, queueLargeFanOut } from './fan-out-queue.ts';
import { snapshotsOf, type PendingFeedEvent } from './feed-events.ts';
import { logActionOnce, type ActionKey } from './idempotency.ts';
import { amendGroupedAction, findGroupableAction, lockGrouping, searchesForGroup, type ActionObjectInput } from './grouping.ts';
import { lockActionObjects } from './object-locks.ts';
import { MAX_MERGED_OBJECTS_PER_ROLE, MAX_OBJECTS_PER_LIST, normaliseVerb, pgTextArray, type ActionRecord, type ActivitySettings } from './model.ts';

/** Logging actions (actrack's `log`): validated, stored (or grouped into a similar one), fanned out. */

export interface LogActionParams {
  actor: ObjectRefValue;
  verb: string;
  targets?: readonly ObjectRefValue[] | null | undefined;
  related?: readonly ObjectRefValue[] | null | undefined;
  data?: unknown;
  level?: number | null | undefined;
  timestamp?: Date | null | undefined;
  groupingDelay?: number | null | undefined;
  /** Ids of the actions logged earlier in the same `logActions` call (grouping with delay 0). */
  sameCall?: readonly string[] | undefined;
  /** The caller (`logActions`) has taken the object locks of every input already, in one statement. */
  objectsLocked?: boolean | undefined;
  /** The caller (`logActions`) holds the grouping locks of every input, taken at this time of the database clock. */
  groupingLockedAt?: Date | undefined;
}

export interface LoggedAction {
  action: ActionRecord;
  events: PendingFeedEvent[];
  /** Its fan-out was queued (fan-out-queue.ts): run it once the transaction commits. */
  fanOutQueued: boolean;
  /** An earlier action was amended (grouping) rather than a new one created. */
  grouped?: boolean;
}

function dedupe(refs: readonly ObjectRefValue[] | null | undefined, field: string): ObjectRefValue[] {
  if (!refs) return [];
  if (refs.length > MAX_OBJECTS_PER_LIST) throw badInput(`${field}: at most ${MAX_OBJECTS_PER_LIST} objects`);
  const seen = new Set<string>();
  const out: ObjectRefValue[] = [];
  for (const ref of refs) {
    const key = objectKey(ref);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ type: ref.type, id: ref.id, label: ref.label ?? null });
  }
  return out;
}

export function describeObjects(refs: ObjectRefValue[]): string {
  return refs.map((r) => `${r.type} ${r.id}`).join(', ');
}

type CheckedAction = ReturnType<typeof checkedAction>;

/** An action's input, checked and normalised (BAD_USER_INPUT naming the field otherwise); nothing is read or written. */
function checkedAction(settings: ActivitySettings, params: LogActionParams) {
  const { config } = settings;
  const verb = normaliseVerb(params.verb);
  const actor: ObjectRefValue = { type: params.actor.type, id: params.actor.id, label: params.actor.label ?? null };
  const targets = dedupe(params.targets, 'targets');
  const related = dedupe(params.related, 'related');
  const level = params.level ?? settings.defaultLevel;
  const data: unknown = params.data ?? null;
  if (data !== null) {
    const size = Buffer.byteLength(JSON.stringify(data), 'utf8');
    if (size > config.activityDataMaxBytes) {
      throw badInput(`data: ${size} bytes, at most ${config.activityDataMaxBytes} allowed`);
    }
  }
  const given = params.timestamp ?? null;
  if (given !== null && Number.isNaN(given.getTime())) throw badInput('timestamp: invalid date');
  const delay = params.groupingDelay ?? config.activityGroupingDelay;
  return { verb, actor, targets, related, level, data, given, delay };
}

/**
 * Logs an action (or amends a similar recent one) and fans it out to the matching trackers' owners. Run
 * inside a transaction; the returned events are published after it commits.
 */
export async function logAction(em: Em, settings: ActivitySettings, params: LogActionParams): Promise<LoggedAction> {
  const { verb, actor, targets, related, level, data, given, delay } = checkedAction(settings, params);

  // Before anything reads trackers or tombstones: a concurrent track, untrack or forgetObject on one of these
  // objects finishes first, or waits for this transaction (object-locks.ts).
  if (!params.objectsLocked) await lockActionObjects(em, [actor, ...targets, ...related]);
  const forgotten = await findForgotten(em, [actor, ...targets, ...related]);
  if (forgotten.length > 0) {
    throw badInput(`Forgotten objects cannot be used in new actions: ${describeObjects(forgotten)}`, {
      forgotten: forgotten.map((f) => ({ type: f.type, id: f.id })),
    });
  }

  const objects: ActionObjectInput[] = [
    ...targets.map((r, i) => ({ role: 'target' as const, type: r.type, id: r.id, label: r.label ?? null, ord: i })),
    ...related.map((r, i) => ({ role: 'related' as const, type: r.type, id: r.id, label: r.label ?? null, ord: i })),
  ];

  // The (actor, verb) grouping lock before the grouping decision; an action the server stamps gets its time once
  // the lock is held (the database's clock): stamped before, a call that waited for a similar one's commit found it
  // a few milliseconds *after* its own time, and two similar actions logged at the same moment were not grouped.
  const searches = searchesForGroup(delay, params.sameCall);
  const lockedAt = params.groupingLockedAt ?? (searches ? await lockGrouping(em, [{ actor, verb }]) : null);
  const timestamp = given ?? lockedAt ?? new Date();
  let actionId = searches ? await findGroupableAction(em, { actor, verb, timestamp, delay, objects, sameCall: params.sameCall }) : undefined;
  const amendment = { timestamp, level, data, actorLabel: actor.label ?? null };
  if (actionId !== undefined && !(await amendGroupedAction(em, actionId, amendment, settings.config.activityDataMaxBytes))) actionId = undefined;
  const grouped = actionId !== undefined;
  if (actionId === undefined) {
    const inserted = await em.execute<Row[]>(
      `insert into activity_action (actor_type, actor_id, actor_label, verb, data, level, "timestamp", grouped_count)
       values (?, ?, ?, ?, ?::jsonb, ?, ?, 1) returning id`,
      [actor.type, actor.id, actor.label ?? null, verb, data === null ? null : JSON.stringify(data), level, timestamp],
    );
    actionId = String(inserted[0]!['id']);
  }
  if (objects.length > 0) await insertActionObjects(em, actionId, objects);
  // A new action is exactly what was inserted; a grouped one is re-read (merged objects, new count).
  const action: ActionRecord | undefined = grouped
    ? (await loadActions(em, [actionId], null))[0]
    : { id: actionId, actor, verb, targets, related, data, level, timestamp, groupedCount: 1, unread: false, unseen: false, trackerIds: [] };
  if (!action) throw new Error(`action ${actionId} vanished`);

  // A large audience is fanned out right after the commit, by the queued fan-out (fan-out-queue.ts). A new
  // action's objects were all checked above (none forgotten): its snapshot needs no tombstone lookup.
  if (await queueLargeFanOut(em, settings, action)) {
    const snapshot = (await snapshotsOf(em, [action], !grouped)).get(action.id)!;
    return { action: { ...action, text: snapshot.text }, events: [], fanOutQueued: true, grouped };
  }
  const delivery = await deliverAction(em, settings, action, grouped, !grouped);
  return { action: { ...action, text: delivery.text }, events: delivery.events, fanOutQueued: false, grouped };
}

/**
 * The counter rows of the users the call's inputs will reach inline, locked in one statement in user order before
 * the first fan-out. Each input's fan-out locks its own receivers in user order, but one after the other they would
 * take the call's rows out of order and deadlock with other writers (a concurrent fan-out holding a row this call
 * wants later while waiting for one it took earlier). Inputs whose audience is queued (larger than
 * ACTIVITY_FANOUT_INLINE_MAX) are fanned out after the commit, by the worker, and left out.
 */
async function lockCallAudience(em: Em, settings: ActivitySettings, inputs: readonly CheckedAction[]): Promise<void> {
  if (inputs.length < 2) return;
  const { inlineMax } = settings.config.activityFanOut;
  const users = new Set<string>();
  for (const input of inputs) {
    const action: ActionRecord = {
      ...input,
      id: '0',
      timestamp: input.given ?? new Date(), // the audience does not depend on it
      data: null,
      groupedCount: 1,
      unread: false,
      unseen: false,
      trackerIds: [],
    };
    const audience = audienceCtes(action, { unmutable: settings.unmutableLevel });
    const rows = await em.execute<Row[]>(`with ${audience.sql} select user_id from matched limit ?`, [...audience.params, inlineMax + 1]);
    if (rows.length > inlineMax) continue;
    for (const r of rows) users.add(String(r['user_id']));
  }
  if (users.size === 0) return;
  await em.execute(`select 1 from activity_unread_counter where user_id = any(?::text[]) order by user_id for update`, [pgTextArray([...users])]);
}

/**
 * Logs several actions in one transaction, in order; with delay 0 similar actions of the call group together
 * (actrack's request queue). Returns one record per input (a grouped input returns the amended action).
 */
export async function logActions(
  em: Em,
  settings: ActivitySettings,
  list: readonly LogActionParams[],
  keys: ReadonlyArray<ActionKey | null> = [],
): Promise<LoggedActions> {
  const ids: string[] = [];
  const actions: ActionRecord[] = [];
  const events: PendingFeedEvent[] = [];
  const logged = new Map<string, ActionRecord>(); // by id: an action amended later in the call keeps its last state
  let fanOutQueued = false;
  // Every input checked before anything is locked or written; a refusal names its input (`inputs.3.verb: …`).
  const inputs = list.map((params, index) => {
    try {
      return checkedAction(settings, params);
    } catch (error) {
      throw atListItem(error, `inputs.${index}`);
    }
  });
  // The object locks of every input at once, in one statement: a bounded number of keys for the whole call
  // (object-locks.ts), where one set per input could hold thousands.
  await lockActionObjects(
    em,
    inputs.flatMap((input) => [input.actor, ...input.targets, ...input.related]),
  );
  // Then, in the order every logAction takes them: the grouping locks of the inputs that group, the receivers' rows.
  const groupingLockedAt =
    (await lockGrouping(
      em,
      inputs.filter((input) => input.delay >= 0),
    )) ?? undefined;
  await lockCallAudience(em, settings, inputs);
  for (const [index, params] of list.entries()) {
    // An input whose idempotency key was used before answers with that action and logs nothing (idempotency.ts);
    // only actions this call created take part in its delay-0 grouping (actrack's unsaved actions: one amended in
    // the database is not in the request queue), in the order they were created.
    const once = await logActionOnce(em, settings, keys[index], () => logAction(em, settings, { ...params, sameCall: ids, objectsLocked: true, groupingLockedAt }));
    if (!once.repeated) {
      if (!once.grouped && !ids.includes(once.action.id)) ids.push(once.action.id);
      logged.delete(once.action.id);
      logged.set(once.action.id, once.action);
    }
    actions.push(once.action);
    events.push(...once.events);
    fanOutQueued ||= once.fanOutQueued;
  }
  return { actions, events, logged: [...logged.values()], fanOutQueued };
}

export interface LoggedActions {
  /** One per input, in order (a repeated idempotency key answers with its earlier action). */
  actions: ActionRecord[];
  events: PendingFeedEvent[];
  /** The actions this call logged or amended, each once. */
  logged: ActionRecord[];
  /** A fan-out of this call was queued (fan-out-queue.ts). */
  fanOutQueued: boolean;
}

/**
 * Stores the targets and related objects of an action; for a grouped action, merges the new ones after the
 * existing ones (positions continue), up to MAX_MERGED_OBJECTS_PER_ROLE per role.
 */
async function insertActionObjects(em: Em, actionId: string, objects: readonly ActionObjectInput[]): Promise<void> {
  await em.execute(
    `insert into activity_action_object (action_id, role, object_type, object_id, label, position)
     select ?, n.role, n.type, n.id, n.label, (coalesce(m.maxpos, -1) + row_number() over (partition by n.role order by n.ord))::smallint
       from jsonb_to_recordset(?::jsonb) as n(role text, type text, id text, label text, ord int)
       left join (select role, max(position) as maxpos, count(*) as n from activity_action_object where action_id = ? group by role) m
         on m.role = n.role
      where coalesce(m.n, 0) < ?
        and not exists (select 1 from activity_action_object o
                         where o.action_id = ? and o.role = n.role and o.object_type = n.type and o.object_id = n.id)
     on conflict do nothing`,
    [actionId, JSON.stringify(objects), actionId, MAX_MERGED_OBJECTS_PER_ROLE, actionId],
  );
}
