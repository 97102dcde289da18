import { encodeGlobalID } from '@pothos/plugin-relay';
import { levelName } from '../activity/model.ts';
import type { ActivityWrite, ActivityWriteListener } from '../activity/write-listeners.ts';
import type { Em } from '../db/orm.ts';
import type { StatisticRecordedListener } from '../metrics/queries.ts';
import type { StatisticValue } from '../metrics/model.ts';
import type { Row } from '../activity/action-store.ts';
import { eraseUserRows } from './erasure.ts';

/**
 * The durable outbox: webhook deliveries are written by listeners that run inside the transaction of the
 * change causing them (activity's `#write`, recordStatistic), so an action and its events commit together
 * or not at all. Each write is one set-based statement: the candidate events (one per action, one per
 * receiving user of the fan-out, one per read mark) joined with the active webhooks that want them and
 * pass their filters; it also schedules FEED_STILL_UNREAD reminders for new unread entries.
 */

interface ObjectLike {
  type: string;
  id: string;
  label?: string | null | undefined;
}

interface ActionLike {
  id: string;
  actor: ObjectLike;
  verb: string;
  targets: readonly ObjectLike[];
  related: readonly ObjectLike[];
  data: unknown;
  level: number;
  timestamp: Date | string;
  groupedCount: number;
  text?: string | null | undefined;
}

const objectPayload = (o: ObjectLike) => ({ type: o.type, id: o.id, label: o.label ?? null });

/** An action as webhook payloads show it: GraphQL ids and level names, like the API. */
export function actionPayload(a: ActionLike) {
  return {
    id: encodeGlobalID('Action', a.id),
    actor: objectPayload(a.actor),
    verb: a.verb,
    targets: a.targets.map(objectPayload),
    related: a.related.map(objectPayload),
    data: a.data ?? null,
    level: levelName(a.level),
    timestamp: typeof a.timestamp === 'string' ? a.timestamp : a.timestamp.toISOString(),
    groupedCount: a.groupedCount,
    text: a.text ?? null,
  };
}

/** What the filters look at: verb, level, object types of an action. */
interface ActionFacts {
  payload: ReturnType<typeof actionPayload>;
  verb: string;
  level: number;
  types: string[];
}

function factsOf(a: ActionLike): ActionFacts {
  return {
    payload: actionPayload(a),
    verb: a.verb,
    level: a.level,
    types: [...new Set([a.actor, ...a.targets, ...a.related].map((o) => o.type))],
  };
}

/** A candidate event: `data` is merged with `{action}` when it names one. */
interface Candidate {
  event: 'ACTION_LOGGED' | 'FEED_ENTRY_ADDED' | 'FEED_READ' | 'FEED_SEEN';
  user_id: string | null;
  action_id: string | null;
  unread: boolean;
  data: Record<string, unknown>;
}

/**
 * One statement: deliveries for every (candidate, matching webhook), and reminders for new unread entries
 * of webhooks with FEED_STILL_UNREAD. Candidates without an action (mark all read) pass every filter.
 */
const OUTBOX_SQL = `
with acts as (
  select key as action_id, value as a from jsonb_each(?::jsonb)
),
e as (
  select * from jsonb_to_recordset(?::jsonb) as e(event text, user_id text, action_id text, unread boolean, data jsonb)
),
m as (
  select w.id as webhook_id, w.events, w.remind_after, e.event, e.user_id, e.action_id, e.unread, e.data, acts.a
    from e
    left join acts on acts.action_id = e.action_id
    join webhook w on w.active
   where (e.event = any(w.events) or (e.event = 'FEED_ENTRY_ADDED' and 'FEED_STILL_UNREAD' = any(w.events)))
     and (acts.a is null or (
           (w.verbs is null or acts.a->>'verb' = any(w.verbs))
       and (w.min_level is null or (acts.a->>'level')::int >= w.min_level)
       and (w.object_types is null or w.object_types && array(select jsonb_array_elements_text(acts.a->'types')))))
),
d as (
  insert into webhook_delivery (webhook_id, event, payload)
  select webhook_id, event,
         case when a is null then data else data || jsonb_build_object('action', a->'payload') end
    from m where event = any(events)
   order by webhook_id, action_id, user_id
  returning 1
),
r as (
  insert into webhook_reminder (webhook_id, user_id, action_id, due_at)
  select webhook_id, user_id, action_id::bigint, now() + remind_after * interval '1 second'
    from m
   where event = 'FEED_ENTRY_ADDED' and unread and remind_after is not null and 'FEED_STILL_UNREAD' = any(events)
  on conflict do nothing
  returning 1
)
select (select count(*) from d)::int as deliveries, (select count(*) from r)::int as reminders`;

export async function writeActivityEvents(em: Em, write: ActivityWrite): Promise<void> {
  if (write.erasedUser) await eraseUserRows(em, write.erasedUser);
  if (write.actions.length === 0 && write.events.length === 0) return;
  // Which activity events any active webhook wants, read in this transaction (one index-free read of a small
  // table): a write that no webhook listens to costs this read instead of building and shipping a candidate per
  // receiving user (5,000 for a large fan-out). A webhook registered after this read misses this write, as it
  // would with the single statement below (its snapshot is taken at the same point).
  const [wantedRow] = await em.execute<Row[]>(
    `select coalesce(array_agg(distinct e), '{}') as events from webhook w cross join lateral unnest(w.events) as e where w.active`,
  );
  const wanted = new Set((wantedRow?.['events'] as string[] | undefined) ?? []);
  if (![...wanted].some((event) => ACTIVITY_EVENTS.has(event))) return;
  const actions = new Map<string, ActionFacts>();
  const candidates: Candidate[] = [];
  for (const action of write.actions) {
    actions.set(action.id, factsOf(action));
    candidates.push({ event: 'ACTION_LOGGED', user_id: null, action_id: action.id, unread: false, data: {} });
  }
  for (const [userId, message] of write.events) {
    if (message.action && !actions.has(message.action.id)) actions.set(message.action.id, factsOf(message.action));
    if (message.kind === 'ADDED' && message.action) {
      candidates.push({
        event: 'FEED_ENTRY_ADDED',
        user_id: userId,
        action_id: message.action.id,
        unread: message.unread ?? false,
        data: {
          user: userId,
          unread: message.unread ?? false,
          trackerIds: message.trackerIds.map((id) => encodeGlobalID('Tracker', id)),
          unreadCount: message.unreadCount,
        },
      });
    } else if (message.kind === 'READ') {
      candidates.push({
        event: 'FEED_READ',
        user_id: userId,
        action_id: message.action?.id ?? null,
        unread: false,
        data: { user: userId, all: message.action === null, unreadCount: message.unreadCount },
      });
    } else if (message.kind === 'SEEN') {
      candidates.push({
        event: 'FEED_SEEN',
        user_id: userId,
        action_id: message.action?.id ?? null,
        unread: message.unread ?? false,
        data: { user: userId, all: message.action === null, unreadCount: message.unreadCount, unseenCount: message.unseenCount },
      });
    }
  }
  // Only the kinds some webhook wants (a FEED_ENTRY_ADDED candidate also schedules FEED_STILL_UNREAD reminders).
  const kept = candidates.filter((c) => wanted.has(c.event) || (c.event === 'FEED_ENTRY_ADDED' && wanted.has('FEED_STILL_UNREAD')));
  if (kept.length === 0) return;
  await em.execute<Row[]>(OUTBOX_SQL, [JSON.stringify(Object.fromEntries(actions)), JSON.stringify(kept)]);
}

/** A STATISTIC_RECORDED delivery for every active webhook that wants it (object type filter only). */
export async function writeStatisticEvent(em: Em, value: StatisticValue): Promise<void> {
  const payload = {
    domain: value.metric.domain.ref,
    metric: value.metric.ref,
    period: value.period,
    date: value.date,
    start: value.start.toISOString(),
    object: value.object ? objectPayload(value.object) : null,
    value: value.value,
  };
  await em.execute(
    `insert into webhook_delivery (webhook_id, event, payload)
     select w.id, 'STATISTIC_RECORDED', ?::jsonb from webhook w
      where w.active and 'STATISTIC_RECORDED' = any(w.events)
        and (w.object_types is null or ? = any(w.object_types))
      order by w.id`,
    [JSON.stringify(payload), value.object?.type ?? ''],
  );
}

/** The events writeActivityEvents can write (FEED_STILL_UNREAD through the reminders of FEED_ENTRY_ADDED). */
const ACTIVITY_EVENTS = new Set(['ACTION_LOGGED', 'FEED_ENTRY_ADDED', 'FEED_READ', 'FEED_SEEN', 'FEED_STILL_UNREAD']);

export const activityOutbox: ActivityWriteListener = { afterWrite: writeActivityEvents };
export const statisticOutbox: StatisticRecordedListener = { afterRecord: writeStatisticEvent };

/**
 * Reminders that are due, at most `limit`: each is deleted (so reminded at most once per webhook and entry)
 * and, when its feed entry is still unread, becomes a FEED_STILL_UNREAD delivery. One statement; rows locked
 * by another instance's run are skipped. Returns how many reminders were taken.
 */
/** A timestamptz as the other payloads write times (JavaScript's toISOString: UTC, milliseconds, `Z`). */
const ISO_TIME = (expression: string) => `to_char((${expression}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export async function remindStillUnread(em: Em, limit: number): Promise<{ taken: number; reminded: number }> {
  const rows = await em.execute<Row[]>(
    `with due as (
       delete from webhook_reminder r
        where (r.webhook_id, r.user_id, r.action_id) in (
          select webhook_id, user_id, action_id from webhook_reminder
           where due_at <= now() order by due_at limit ? for update skip locked)
       returning r.webhook_id, r.user_id, r.action_id, r.due_at
     ),
     still as (
       select d.webhook_id, d.user_id, d.action_id, d.due_at, w.remind_after, a.verb, a.actor_type, a.actor_id, a.actor_label, a.level, a."timestamp"
         from due d
         join activity_feed_entry f on f.user_id = d.user_id and f.action_id = d.action_id and f.unread
         join webhook w on w.id = d.webhook_id and w.active and 'FEED_STILL_UNREAD' = any(w.events)
         join activity_action a on a.id = d.action_id
     ),
     ins as (
       insert into webhook_delivery (webhook_id, event, payload)
       select webhook_id, 'FEED_STILL_UNREAD',
              jsonb_build_object(
                'user', user_id,
                'remindAfter', remind_after,
                'arrivedAt', ${ISO_TIME('due_at - remind_after * interval \'1 second\'')},
                'unreadCount', coalesce((select c.count from activity_unread_counter c where c.user_id = still.user_id), 0),
                'action', jsonb_build_object(
                  'id', replace(encode(convert_to('Action:' || action_id::text, 'UTF8'), 'base64'), E'\\n', ''),
                  'actor', jsonb_build_object('type', actor_type, 'id', actor_id, 'label', actor_label),
                  'verb', verb,
                  'level', case when level >= 50 then 'ERROR' when level >= 40 then 'WARNING' when level >= 30 then 'INFO'
                                when level >= 20 then 'HIDDEN' when level >= 10 then 'DEBUG' else 'NULL' end,
                  'timestamp', ${ISO_TIME('"timestamp"')}))
         from still order by webhook_id, action_id, user_id
       returning 1
     )
     select (select count(*) from due)::int as taken, (select count(*) from ins)::int as reminded`,
    [limit],
  );
  return { taken: Number(rows[0]?.['taken'] ?? 0), reminded: Number(rows[0]?.['reminded'] ?? 0) };
}
