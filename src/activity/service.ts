import { DeadlockException } from '@mikro-orm/core';
import type { Config } from '../config.ts';
import type { Em } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { objectKey, type ObjectRefValue } from '../objects/object-ref.ts';
import { findForgotten, loadTombstones, upsertTombstone, type Tombstone } from '../objects/tombstones.ts';
import { badInput, notFound } from '../server/errors.ts';
import type { FeedActionSnapshot, FeedMessage, TrackqlPubSub } from '../server/pubsub.ts';
import {
  LEVELS,
  MAX_IDS_PER_MARK,
  MAX_MERGED_OBJECTS_PER_ROLE,
  MAX_OBJECTS_PER_LIST,
  MAX_TEMPLATE_LENGTH,
  STARTED_TRACKING,
  STOPPED_TRACKING,
  normaliseVerb,
  normaliseVerbs,
  pgBigintArray,
  pgTextArray,
  renderTemplate,
  type ActionRecord,
  type TrackerRecord,
} from './model.ts';

export interface LogActionParams {
  actor: ObjectRefValue;
  verb: string;
  targets?: readonly ObjectRefValue[] | null | undefined;
  related?: readonly ObjectRefValue[] | null | undefined;
  data?: unknown;
  level?: number | null | undefined;
  timestamp?: Date | null | undefined;
  groupingDelay?: number | null | undefined;
}

export interface TrackParams {
  owner: string;
  object?: ObjectRefValue | null | undefined;
  objectType?: string | null | undefined;
  verbs?: readonly string[] | null | undefined;
  actorOnly?: boolean | null | undefined;
  log?: boolean | null | undefined;
}

export interface UntrackParams {
  owner: string;
  object?: ObjectRefValue | null | undefined;
  objectType?: string | null | undefined;
  verbs?: readonly string[] | null | undefined;
  log?: boolean | null | undefined;
}

export interface ActionFilters {
  actor?: ObjectRefValue | null | undefined;
  target?: ObjectRefValue | null | undefined;
  related?: ObjectRefValue | null | undefined;
  involving?: ObjectRefValue | null | undefined;
  verbs?: readonly string[] | null | undefined;
}

export interface FeedFilters {
  unreadOnly?: boolean | null | undefined;
  verbs?: readonly string[] | null | undefined;
  minLevel?: number | null | undefined;
}

export interface Page {
  /** Rows to return (already capped). */
  first: number;
  /** Database action id to continue after (exclusive), newest first. */
  after?: string | null | undefined;
}

export interface ActionPage {
  actions: ActionRecord[];
  hasNextPage: boolean;
}

type Row = Record<string, unknown>;
type PendingEvent = [userId: string, message: FeedMessage];

interface ObjectInput {
  role: 'target' | 'related';
  type: string;
  id: string;
  label: string | null;
  ord: number;
}

const ACTION_COLUMNS = `a.id, a.actor_type, a.actor_id, a.actor_label, a.verb, a.data, a.level, a."timestamp", a.grouped_count`;

function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
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

function describe(refs: ObjectRefValue[]): string {
  return refs.map((r) => `${r.type} ${r.id}`).join(', ');
}

/**
 * `tombstones`: those of the action's forgotten objects, looked up once for every subscriber (so resolving
 * `deleted`/`description` of an event's objects needs no query per subscriber).
 */
export function snapshotOf(action: ActionRecord, text: string | null, tombstones: Map<string, Tombstone>): FeedActionSnapshot {
  const obj = (r: ObjectRefValue) => ({
    type: r.type,
    id: r.id,
    label: r.label ?? null,
    tombstone: tombstones.get(objectKey(r)) ?? null,
  });
  return {
    id: action.id,
    actor: obj(action.actor),
    verb: action.verb,
    targets: action.targets.map(obj),
    related: action.related.map(obj),
    data: action.data ?? null,
    level: action.level,
    timestamp: action.timestamp.toISOString(),
    groupedCount: action.groupedCount,
    text,
  };
}

function objectsOf(action: ActionRecord): ObjectRefValue[] {
  return [action.actor, ...action.targets, ...action.related];
}

export function actionFromSnapshot(snapshot: FeedActionSnapshot, unread: boolean, trackerIds: number[]): ActionRecord {
  return {
    id: snapshot.id,
    actor: snapshot.actor,
    verb: snapshot.verb,
    targets: snapshot.targets,
    related: snapshot.related,
    data: snapshot.data,
    level: snapshot.level,
    timestamp: new Date(snapshot.timestamp),
    groupedCount: snapshot.groupedCount,
    unread,
    trackerIds,
    text: snapshot.text,
  };
}

function trackerFromRow(row: Row): TrackerRecord {
  const objectId = String(row['object_id']);
  return {
    id: Number(row['id']),
    ownerId: String(row['owner_id']),
    objectType: String(row['object_type']),
    objectId: objectId === '' ? null : objectId,
    objectLabel: (row['object_label'] as string | null) ?? null,
    verbs: (row['verbs'] as string[] | null) ?? null,
    actorOnly: Boolean(row['actor_only']),
    createdAt: toDate(row['created_at']),
  };
}

/**
 * The activity module's service: actions, trackers, feeds, read state, grouping, verb templates and
 * forgotten objects. Every write runs in one transaction; feed events are published after it commits.
 */
export class ActivityService {
  readonly #config: Config;
  readonly #pubsub: TrackqlPubSub;
  readonly #logger: Logger;
  readonly readableLevel: number;
  readonly defaultLevel: number;

  constructor(deps: { config: Config; pubsub: TrackqlPubSub; logger: Logger }) {
    this.#config = deps.config;
    this.#pubsub = deps.pubsub;
    this.#logger = deps.logger;
    this.readableLevel = LEVELS[deps.config.activityReadableLevel];
    this.defaultLevel = LEVELS[deps.config.activityDefaultLevel];
  }

  /**
   * A transaction, retried (up to 3 attempts) when Postgres aborts it as a deadlock victim: fan-outs lock
   * counters in user order, but a grouped fan-out and a markAllRead can still cross on feed entries.
   */
  async #tx<T>(em: Em, work: (tem: Em) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await em.transactional(work);
      } catch (error) {
        if (!(error instanceof DeadlockException) || attempt >= 3) throw error;
        this.#logger.warn({ attempt }, 'activity transaction chosen as deadlock victim; retrying');
      }
    }
  }

  #publish(events: PendingEvent[]): void {
    for (const [userId, message] of events) {
      try {
        this.#pubsub.publish('feed', userId, message);
      } catch (error) {
        this.#logger.warn({ err: (error as Error).message, userId }, 'feed event not published');
      }
    }
  }

  // ---------------------------------------------------------------- actions

  /** Logs an action (or amends a similar recent one), fans it out to the matching trackers' owners. */
  async logAction(em: Em, params: LogActionParams): Promise<ActionRecord> {
    const { action, events } = await this.#tx(em, (tem) => this.#logActionTx(tem, params));
    this.#publish(events);
    return action;
  }

  async #logActionTx(em: Em, params: LogActionParams): Promise<{ action: ActionRecord; events: PendingEvent[] }> {
    const verb = normaliseVerb(params.verb);
    const actor: ObjectRefValue = { type: params.actor.type, id: params.actor.id, label: params.actor.label ?? null };
    const targets = dedupe(params.targets, 'targets');
    const related = dedupe(params.related, 'related');
    const level = params.level ?? this.defaultLevel;
    const data: unknown = params.data ?? null;
    if (data !== null) {
      const size = Buffer.byteLength(JSON.stringify(data), 'utf8');
      if (size > this.#config.activityDataMaxBytes) {
        throw badInput(`data: ${size} bytes, at most ${this.#config.activityDataMaxBytes} allowed`);
      }
    }
    const timestamp = params.timestamp ?? new Date();
    if (Number.isNaN(timestamp.getTime())) throw badInput('timestamp: invalid date');
    const delay = params.groupingDelay ?? this.#config.activityGroupingDelay;

    const forgotten = await findForgotten(em, [actor, ...targets, ...related]);
    if (forgotten.length > 0) {
      throw badInput(`Forgotten objects cannot be used in new actions: ${describe(forgotten)}`, {
        forgotten: forgotten.map((f) => ({ type: f.type, id: f.id })),
      });
    }

    const objects: ObjectInput[] = [
      ...targets.map((r, i) => ({ role: 'target' as const, type: r.type, id: r.id, label: r.label ?? null, ord: i })),
      ...related.map((r, i) => ({ role: 'related' as const, type: r.type, id: r.id, label: r.label ?? null, ord: i })),
    ];
    const objectsJson = JSON.stringify(objects);

    let actionId: string | undefined;
    if (delay >= 0) {
      // Serialises grouping of one (actor, verb): two concurrent similar actions cannot both miss each other.
      await em.execute(`select pg_advisory_xact_lock(hashtextextended(? || chr(1) || ? || chr(1) || ?, 0))`, [
        actor.type,
        actor.id,
        verb,
      ]);
      const candidates = await em.execute<Row[]>(
        `select a.id from activity_action a
          where a.actor_type = ? and a.actor_id = ? and a.verb = ?
            and a."timestamp" between ?::timestamptz - make_interval(secs => ?) and ?::timestamptz + make_interval(secs => ?)
            and (
              (? and not exists (select 1 from activity_action_object o where o.action_id = a.id))
              or exists (
                select 1 from activity_action_object o
                  join jsonb_to_recordset(?::jsonb) as n(role text, type text, id text) on o.role = n.role and o.object_type = n.type and o.object_id = n.id
                 where o.action_id = a.id)
            )
          order by a."timestamp" desc, a.id desc
          limit 1
          for update`,
        [actor.type, actor.id, verb, timestamp, delay, timestamp, delay, objects.length === 0, objectsJson],
      );
      if (candidates[0]) {
        actionId = String(candidates[0]['id']);
        await em.execute(
          `update activity_action set grouped_count = grouped_count + 1,
                  "timestamp" = greatest("timestamp", ?::timestamptz),
                  level = greatest(level, ?),
                  data = coalesce(?::jsonb, data),
                  actor_label = coalesce(?, actor_label)
            where id = ?`,
          [timestamp, level, data === null ? null : JSON.stringify(data), actor.label ?? null, actionId],
        );
      }
    }
    const grouped = actionId !== undefined;
    if (actionId === undefined) {
      const inserted = await em.execute<Row[]>(
        `insert into activity_action (actor_type, actor_id, actor_label, verb, data, level, "timestamp", grouped_count)
         values (?, ?, ?, ?, ?::jsonb, ?, ?, 1) returning id`,
        [actor.type, actor.id, actor.label ?? null, verb, data === null ? null : JSON.stringify(data), level, timestamp],
      );
      actionId = String(inserted[0]!['id']);
    }
    if (objects.length > 0) {
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
        [actionId, objectsJson, actionId, MAX_MERGED_OBJECTS_PER_ROLE, actionId],
      );
    }
    // A new action is exactly what was inserted; a grouped one is re-read (merged objects, new count).
    const action: ActionRecord | undefined = grouped
      ? (await this.#loadActions(em, [actionId], null))[0]
      : { id: actionId, actor, verb, targets, related, data, level, timestamp, groupedCount: 1, unread: false, trackerIds: [] };
    if (!action) throw new Error(`action ${actionId} vanished`);

    const fanout = await this.#fanOut(em, action, grouped);
    const text = await this.#renderText(em, action);
    const snapshot = snapshotOf(action, text, await loadTombstones(em, objectsOf(action)));
    const events: PendingEvent[] = fanout.map((row) => [
      row.userId,
      {
        kind: row.existed ? 'UPDATED' : 'ADDED',
        action: snapshot,
        unread: row.unread,
        trackerIds: row.trackerIds,
        unreadCount: row.unreadCount,
      },
    ]);
    return { action: { ...action, text }, events };
  }

  /**
   * Fan-out on write, one statement: every tracker matching the action (object trackers on the actor, or on
   * targets/related objects when not actor-only; type trackers; verb filter) gives its owner a feed entry;
   * existing entries (a grouped action) become unread again; unread counters move by the exact delta.
   * Returns, per user, the new read flag, the matched trackers and the new unread count.
   */
  async #fanOut(
    em: Em,
    action: ActionRecord,
    grouped: boolean,
  ): Promise<Array<{ userId: string; unread: boolean; trackerIds: number[]; existed: boolean; unreadCount: number }>> {
    const objs = [
      { type: action.actor.type, id: action.actor.id, is_actor: true },
      ...action.targets.map((r) => ({ type: r.type, id: r.id, is_actor: false })),
      ...action.related.map((r) => ({ type: r.type, id: r.id, is_actor: false })),
    ];
    const unread = action.level >= this.readableLevel;
    // Each object probes the tracker index twice (exact object, whole type): the planner cannot misjudge
    // a lateral index lookup, whereas a join against the JSON set could fall back to a scan of all trackers.
    const matched = `objs as (
         select * from jsonb_to_recordset(?::jsonb) as o(type text, id text, is_actor boolean)
       ),
       hits as (
         select t.owner_id, t.id
           from objs o
           cross join lateral (
             select t1.owner_id, t1.id, t1.actor_only, t1.verbs from activity_tracker t1
              where t1.object_type = o.type and t1.object_id = o.id
             union all
             select t2.owner_id, t2.id, t2.actor_only, t2.verbs from activity_tracker t2
              where t2.object_type = o.type and t2.object_id = ''
           ) t
          where (o.is_actor or not t.actor_only)
            and (t.verbs is null or ? = any(t.verbs))
       ),
       matched as (
         select owner_id as user_id, array_agg(distinct id) as tracker_ids from hits group by owner_id
       )`;
    if (grouped) {
      // Lock the action's existing feed entries first (in user order, like every other writer). The
      // statement below then starts with a snapshot taken after any concurrent markRead/markUnread of
      // this action committed, so `was_unread` is current and the counter deltas stay exact.
      await em.execute(`select 1 from activity_feed_entry where action_id = ? order by user_id for update`, [action.id]);
    }
    const rows = grouped
      ? await em.execute<Row[]>(
          `with ${matched},
       prev as (
         select user_id, unread from activity_feed_entry where action_id = ?
       ),
       candidates as (
         select coalesce(m.user_id, p.user_id) as user_id,
                coalesce(m.tracker_ids, '{}'::int[]) as tracker_ids,
                coalesce(p.unread, false) as was_unread,
                (p.user_id is not null) as existed
           from matched m full join prev p on p.user_id = m.user_id
       ),
       upserted as (
         insert into activity_feed_entry (user_id, action_id, unread, tracker_ids)
         select user_id, ?, ?, tracker_ids from candidates order by user_id
         on conflict (user_id, action_id) do update
           set unread = excluded.unread,
               tracker_ids = array(select distinct x from unnest(activity_feed_entry.tracker_ids || excluded.tracker_ids) as x order by x)
         returning user_id, unread, tracker_ids
       ),
       deltas as (
         select u.user_id, u.unread::int - c.was_unread::int as delta
           from upserted u join candidates c on c.user_id = u.user_id
       ),
       counted as (
         insert into activity_unread_counter (user_id, count)
         select user_id, delta from deltas where delta <> 0 order by user_id
         on conflict (user_id) do update set count = activity_unread_counter.count + excluded.count
         returning user_id, count
       )
       select u.user_id, u.unread, u.tracker_ids, c.existed, coalesce(k.count, old.count, 0) as unread_count
         from upserted u
         join candidates c on c.user_id = u.user_id
         left join counted k on k.user_id = u.user_id
         left join activity_unread_counter old on old.user_id = u.user_id`,
          [JSON.stringify(objs), action.verb, action.id, action.id, unread],
        )
      : await em.execute<Row[]>(
          // A new action: plain inserts (no previous entries), counters + 1 when unread.
          `with ${matched},
       inserted as (
         insert into activity_feed_entry (user_id, action_id, unread, tracker_ids)
         select user_id, ?, ?, tracker_ids from matched order by user_id
         returning user_id, unread, tracker_ids
       ),
       counted as (
         insert into activity_unread_counter (user_id, count)
         select user_id, 1 from inserted where unread order by user_id
         on conflict (user_id) do update set count = activity_unread_counter.count + 1
         returning user_id, count
       )
       select i.user_id, i.unread, i.tracker_ids, false as existed,
              coalesce(k.count, (select c.count from activity_unread_counter c where c.user_id = i.user_id), 0) as unread_count
         from inserted i left join counted k on k.user_id = i.user_id`,
          [JSON.stringify(objs), action.verb, action.id, unread],
        );
    return rows.map((r) => ({
      userId: String(r['user_id']),
      unread: Boolean(r['unread']),
      trackerIds: ((r['tracker_ids'] as number[] | null) ?? []).map(Number),
      existed: Boolean(r['existed']),
      unreadCount: Number(r['unread_count']),
    }));
  }

  /** Actions by database id, in the given order, with the read state of `forUser` (when given). */
  async #loadActions(em: Em, ids: string[], forUser: string | null): Promise<ActionRecord[]> {
    if (ids.length === 0) return [];
    const rows = await em.execute<Row[]>(
      forUser === null
        ? `select ${ACTION_COLUMNS}, false as unread, '{}'::int[] as tracker_ids from activity_action a where a.id = any(?::bigint[])`
        : `select ${ACTION_COLUMNS}, coalesce(f.unread, false) as unread, coalesce(f.tracker_ids, '{}'::int[]) as tracker_ids
             from activity_action a left join activity_feed_entry f on f.action_id = a.id and f.user_id = ?
            where a.id = any(?::bigint[])`,
      forUser === null ? [pgBigintArray(ids)] : [forUser, pgBigintArray(ids)],
    );
    const hydrated = await this.#hydrate(em, rows);
    const byId = new Map(hydrated.map((a) => [a.id, a]));
    return ids.map((id) => byId.get(id)).filter((a): a is ActionRecord => a !== undefined);
  }

  /** Builds ActionRecords from action rows (one more query for their objects). */
  async #hydrate(em: Em, rows: Row[]): Promise<ActionRecord[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r['id']));
    const objectRows = await em.execute<Row[]>(
      `select action_id, role, object_type, object_id, label from activity_action_object
        where action_id = any(?::bigint[]) order by action_id, role, position`,
      [pgBigintArray(ids)],
    );
    const objects = new Map<string, { targets: ObjectRefValue[]; related: ObjectRefValue[] }>();
    for (const id of ids) objects.set(id, { targets: [], related: [] });
    for (const o of objectRows) {
      const entry = objects.get(String(o['action_id']));
      if (!entry) continue;
      const ref = { type: String(o['object_type']), id: String(o['object_id']), label: (o['label'] as string | null) ?? null };
      (o['role'] === 'target' ? entry.targets : entry.related).push(ref);
    }
    return rows.map((r) => {
      const id = String(r['id']);
      const entry = objects.get(id)!;
      return {
        id,
        actor: { type: String(r['actor_type']), id: String(r['actor_id']), label: (r['actor_label'] as string | null) ?? null },
        verb: String(r['verb']),
        targets: entry.targets,
        related: entry.related,
        data: r['data'] ?? null,
        level: Number(r['level']),
        timestamp: toDate(r['timestamp']),
        groupedCount: Number(r['grouped_count']),
        unread: Boolean(r['unread']),
        trackerIds: ((r['tracker_ids'] as number[] | null) ?? []).map(Number),
      };
    });
  }

  async #renderText(em: Em, action: ActionRecord): Promise<string | null> {
    const templates = await this.templates(em, [action.verb]);
    const template = templates.get(action.verb);
    return template === undefined ? null : renderTemplate(template, action);
  }

  /**
   * Actions visible to the viewer by database id (node loading). A user sees the actions of its feed and
   * those it performed; a service (userId null, service true) sees all.
   */
  async actionsByIds(em: Em, ids: string[], viewer: { userId: string | null; userType: string }): Promise<Array<ActionRecord | null>> {
    const valid = ids.filter((id) => /^\d{1,19}$/.test(id));
    const loaded = await this.#loadActions(em, valid, viewer.userId);
    const byId = new Map(loaded.map((a) => [a.id, a]));
    return ids.map((id) => {
      const action = byId.get(id);
      if (!action) return null;
      if (viewer.userId === null) return action;
      const own = action.actor.type === viewer.userType && action.actor.id === viewer.userId;
      const inFeed = action.trackerIds.length > 0 || action.unread;
      return own || inFeed ? action : null;
    });
  }

  /** actrack's accessors: as actor / target / related / involving (all), newest first, keyset paginated. */
  async actions(
    em: Em,
    filters: ActionFilters,
    page: Page,
    viewer: { userId: string | null; userType: string },
  ): Promise<ActionPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    const join =
      viewer.userId === null
        ? `false as unread, '{}'::int[] as tracker_ids from activity_action a`
        : `coalesce(f.unread, false) as unread, coalesce(f.tracker_ids, '{}'::int[]) as tracker_ids
             from activity_action a left join activity_feed_entry f on f.action_id = a.id and f.user_id = ?`;
    if (viewer.userId !== null) params.push(viewer.userId);
    if (filters.actor) {
      where.push(`a.actor_type = ? and a.actor_id = ?`);
      params.push(filters.actor.type, filters.actor.id);
    }
    for (const [role, ref] of [
      ['target', filters.target],
      ['related', filters.related],
    ] as const) {
      if (!ref) continue;
      where.push(
        `exists (select 1 from activity_action_object o where o.object_type = ? and o.object_id = ? and o.role = ? and o.action_id = a.id)`,
      );
      params.push(ref.type, ref.id, role);
    }
    if (filters.involving) {
      const ref = filters.involving;
      where.push(
        `a.id in (select a2.id from activity_action a2 where a2.actor_type = ? and a2.actor_id = ?
                  union all select o.action_id from activity_action_object o where o.object_type = ? and o.object_id = ?)`,
      );
      params.push(ref.type, ref.id, ref.type, ref.id);
    }
    const verbs = normaliseVerbs(filters.verbs);
    if (verbs) {
      where.push(`a.verb = any(?::text[])`);
      params.push(pgTextArray(verbs));
    }
    if (viewer.userId !== null) {
      where.push(`(f.user_id is not null or (a.actor_type = ? and a.actor_id = ?))`);
      params.push(viewer.userType, viewer.userId);
    }
    if (page.after) {
      where.push(`a.id < ?`);
      params.push(page.after);
    }
    params.push(page.first + 1);
    const rows = await em.execute<Row[]>(
      `select ${ACTION_COLUMNS}, ${join}
        ${where.length ? `where ${where.join(' and ')}` : ''}
        order by a.id desc limit ?`,
      params,
    );
    const hasNextPage = rows.length > page.first;
    return { actions: await this.#hydrate(em, rows.slice(0, page.first)), hasNextPage };
  }

  /** A user's feed, newest first: a backward range scan of the feed entries' primary key. */
  async feed(em: Em, userId: string, filters: FeedFilters, page: Page): Promise<ActionPage> {
    const where = [`f.user_id = ?`];
    const params: unknown[] = [userId];
    if (filters.unreadOnly) where.push(`f.unread`);
    const verbs = normaliseVerbs(filters.verbs);
    if (verbs) {
      where.push(`a.verb = any(?::text[])`);
      params.push(pgTextArray(verbs));
    }
    if (filters.minLevel !== null && filters.minLevel !== undefined) {
      where.push(`a.level >= ?`);
      params.push(filters.minLevel);
    }
    if (page.after) {
      // Both sides of the join start at the cursor (a merge join would otherwise walk the actions from the newest).
      where.push(`f.action_id < ? and a.id < ?`);
      params.push(page.after, page.after);
    }
    params.push(page.first + 1);
    const rows = await em.execute<Row[]>(
      `select ${ACTION_COLUMNS}, f.unread, f.tracker_ids
         from activity_feed_entry f join activity_action a on a.id = f.action_id
        where ${where.join(' and ')}
        order by f.action_id desc limit ?`,
      params,
    );
    const hasNextPage = rows.length > page.first;
    return { actions: await this.#hydrate(em, rows.slice(0, page.first)), hasNextPage };
  }

  /** Exact number of unread feed entries: one row read. */
  async unreadCount(em: Em, userId: string): Promise<number> {
    const rows = await em.execute<Row[]>(`select count from activity_unread_counter where user_id = ?`, [userId]);
    return rows[0] ? Number(rows[0]['count']) : 0;
  }

  // ---------------------------------------------------------------- read state

  /**
   * Marks actions of `userId`'s feed read (or unread). Every id must be in that feed, otherwise NOT_FOUND and
   * nothing changes. Actions below the readable level stay read. Returns how many entries changed.
   */
  async mark(em: Em, userId: string, actionIds: string[], unread: boolean): Promise<number> {
    const ids = [...new Set(actionIds)];
    if (ids.length > MAX_IDS_PER_MARK) throw badInput(`actionIds: at most ${MAX_IDS_PER_MARK} ids`);
    if (ids.length === 0) return 0;
    const { changed, count, events } = await this.#tx(em, async (tem) => {
      const present = await tem.execute<Row[]>(
        `select action_id from activity_feed_entry where user_id = ? and action_id = any(?::bigint[])`,
        [userId, pgBigintArray(ids)],
      );
      if (present.length !== ids.length) {
        const found = new Set(present.map((r) => String(r['action_id'])));
        const missing = ids.filter((id) => !found.has(id));
        throw notFound(`${missing.length} of the ${ids.length} actions are not in this feed; nothing was changed`);
      }
      const rows = await tem.execute<Row[]>(
        unread
          ? `with changed as (
               update activity_feed_entry f set unread = true
                 from activity_action a
                where f.user_id = ? and f.action_id = any(?::bigint[]) and not f.unread
                  and a.id = f.action_id and a.level >= ?
               returning f.action_id
             ),
             n as (select count(*)::int as n from changed),
             k as (
               insert into activity_unread_counter (user_id, count) select ?, n.n from n where n.n > 0
               on conflict (user_id) do update set count = activity_unread_counter.count + excluded.count
               returning count
             )
             select (select coalesce(array_agg(action_id::text), '{}') from changed) as ids,
                    coalesce((select count from k), (select count from activity_unread_counter where user_id = ?), 0) as count`
          : `with changed as (
               update activity_feed_entry f set unread = false
                where f.user_id = ? and f.action_id = any(?::bigint[]) and f.unread
               returning f.action_id
             ),
             n as (select count(*)::int as n from changed),
             k as (
               update activity_unread_counter c set count = c.count - n.n from n
                where c.user_id = ? and n.n > 0
               returning c.count
             )
             select (select coalesce(array_agg(action_id::text), '{}') from changed) as ids,
                    coalesce((select count from k), (select count from activity_unread_counter where user_id = ?), 0) as count`,
        unread ? [userId, pgBigintArray(ids), this.readableLevel, userId, userId] : [userId, pgBigintArray(ids), userId, userId],
      );
      const changedIds = ((rows[0]?.['ids'] as string[] | null) ?? []).map(String);
      const newCount = Number(rows[0]?.['count'] ?? 0);
      const actions = await this.#loadActions(tem, changedIds, userId);
      const templates = await this.templates(
        tem,
        actions.map((a) => a.verb),
      );
      const tombstones = await loadTombstones(tem, actions.flatMap(objectsOf));
      const pending: PendingEvent[] = actions.map((action) => {
        const template = templates.get(action.verb);
        return [
          userId,
          {
            kind: unread ? 'UNREAD' : 'READ',
            action: snapshotOf(action, template === undefined ? null : renderTemplate(template, action), tombstones),
            unread,
            trackerIds: action.trackerIds,
            unreadCount: newCount,
          },
        ];
      });
      return { changed: changedIds.length, count: newCount, events: pending };
    });
    void count;
    this.#publish(events);
    return changed;
  }

  /** Marks every unread entry of the feed read (only actions with timestamp <= before, when given): one UPDATE. */
  async markAllRead(em: Em, userId: string, before: Date | null | undefined): Promise<number> {
    const { changed, count } = await this.#tx(em, async (tem) => {
      const rows = await tem.execute<Row[]>(
        `with changed as (
           update activity_feed_entry f set unread = false
            where f.user_id = ? and f.unread
              ${before ? `and exists (select 1 from activity_action a where a.id = f.action_id and a."timestamp" <= ?::timestamptz)` : ''}
           returning 1
         ),
         n as (select count(*)::int as n from changed),
         k as (
           update activity_unread_counter c set count = c.count - n.n from n
            where c.user_id = ? and n.n > 0
           returning c.count
         )
         select (select n from n) as changed,
                coalesce((select count from k), (select count from activity_unread_counter where user_id = ?), 0) as count`,
        before ? [userId, before, userId, userId] : [userId, userId, userId],
      );
      return { changed: Number(rows[0]?.['changed'] ?? 0), count: Number(rows[0]?.['count'] ?? 0) };
    });
    if (changed > 0) {
      this.#publish([[userId, { kind: 'READ', action: null, unread: null, trackerIds: [], unreadCount: count }]]);
    }
    return changed;
  }

  // ---------------------------------------------------------------- trackers

  async track(em: Em, params: TrackParams, userType: string): Promise<TrackerRecord> {
    const { tracker, events } = await this.#tx(em, async (tem) => {
      const { type, id, label } = this.#trackedObject(params);
      if (id !== '') {
        const forgotten = await findForgotten(tem, [{ type, id }]);
        if (forgotten.length > 0) throw badInput(`Cannot track a forgotten object: ${describe(forgotten)}`);
      }
      const verbs = normaliseVerbs(params.verbs);
      const rows = await tem.execute<Row[]>(
        `insert into activity_tracker (owner_id, object_type, object_id, object_label, verbs, actor_only)
         values (?, ?, ?, ?, ?::text[], ?)
         on conflict (owner_id, object_type, object_id) do update set
           verbs = case when activity_tracker.verbs is null or excluded.verbs is null then null
                        else array(select distinct v from unnest(activity_tracker.verbs || excluded.verbs) as v order by v) end,
           actor_only = excluded.actor_only,
           object_label = coalesce(excluded.object_label, activity_tracker.object_label)
         returning *`,
        [params.owner, type, id, label, verbs === null ? null : pgTextArray(verbs), params.actorOnly ?? true],
      );
      const tracker = trackerFromRow(rows[0]!);
      let pending: PendingEvent[] = [];
      if (params.log) {
        pending = (await this.#logTrackingAction(tem, STARTED_TRACKING, params.owner, userType, type, id, label)).events;
      }
      return { tracker, events: pending };
    });
    this.#publish(events);
    return tracker;
  }

  /** Removes verbs from a tracker (all when none given); returns null when the tracker was deleted. */
  async untrack(em: Em, params: UntrackParams, userType: string): Promise<TrackerRecord | null> {
    const { tracker, events } = await this.#tx(em, async (tem) => {
      const { type, id, label } = this.#trackedObject(params);
      const verbs = normaliseVerbs(params.verbs);
      const existing = await tem.execute<Row[]>(
        `select * from activity_tracker where owner_id = ? and object_type = ? and object_id = ? for update`,
        [params.owner, type, id],
      );
      if (!existing[0]) throw notFound('No such tracker');
      const current = trackerFromRow(existing[0]);
      let result: TrackerRecord | null;
      const remaining = verbs === null ? [] : current.verbs?.filter((v) => !verbs.includes(v));
      if (remaining === undefined) {
        throw badInput('verbs: this tracker follows every verb; untrack without verbs to remove it, or track again with a verb list');
      }
      if (remaining.length === 0) {
        await tem.execute(`delete from activity_tracker where id = ?`, [current.id]);
        result = null;
      } else {
        const rows = await tem.execute<Row[]>(`update activity_tracker set verbs = ?::text[] where id = ? returning *`, [
          pgTextArray(remaining),
          current.id,
        ]);
        result = trackerFromRow(rows[0]!);
      }
      let pending: PendingEvent[] = [];
      if (params.log) {
        pending = (await this.#logTrackingAction(tem, STOPPED_TRACKING, params.owner, userType, type, id, label ?? current.objectLabel))
          .events;
      }
      return { tracker: result, events: pending };
    });
    this.#publish(events);
    return tracker;
  }

  #trackedObject(params: { object?: ObjectRefValue | null | undefined; objectType?: string | null | undefined }): {
    type: string;
    id: string;
    label: string | null;
  } {
    const hasObject = params.object !== null && params.object !== undefined;
    const hasType = params.objectType !== null && params.objectType !== undefined;
    if (hasObject === hasType) throw badInput('Give exactly one of object or objectType');
    if (hasObject) return { type: params.object!.type, id: params.object!.id, label: params.object!.label ?? null };
    const type = params.objectType!;
    if (!/^[A-Za-z_][A-Za-z0-9_.:-]*$/.test(type) || type.length > 128) {
      throw badInput('objectType: must start with a letter or _ and contain only letters, digits, _ . : - (at most 128)');
    }
    return { type, id: '', label: null };
  }

  async #logTrackingAction(
    em: Em,
    verb: string,
    owner: string,
    userType: string,
    type: string,
    id: string,
    label: string | null,
  ): Promise<{ action: ActionRecord; events: PendingEvent[] }> {
    return this.#logActionTx(em, {
      actor: { type: userType, id: owner },
      verb,
      targets: id === '' ? [] : [{ type, id, label }],
      data: id === '' ? { objectType: type } : null,
      groupingDelay: -1,
    });
  }

  async trackers(em: Em, owner: string): Promise<TrackerRecord[]> {
    const rows = await em.execute<Row[]>(`select * from activity_tracker where owner_id = ? order by id`, [owner]);
    return rows.map(trackerFromRow);
  }

  /** Trackers on the object itself or on its whole type; `owner` restricts to one user's. */
  async trackersOf(em: Em, object: ObjectRefValue, owner: string | null): Promise<TrackerRecord[]> {
    const rows = await em.execute<Row[]>(
      `select * from activity_tracker where object_type = ? and object_id in (?, '') ${owner === null ? '' : 'and owner_id = ?'} order by id`,
      owner === null ? [object.type, object.id] : [object.type, object.id, owner],
    );
    return rows.map(trackerFromRow);
  }

  async trackersByIds(em: Em, ids: readonly number[]): Promise<Array<TrackerRecord | null>> {
    const valid = ids.filter((id) => Number.isSafeInteger(id) && id > 0 && id < 2 ** 31);
    if (valid.length === 0) return ids.map(() => null);
    const rows = await em.execute<Row[]>(`select * from activity_tracker where id = any(?::int[])`, [`{${valid.join(',')}}`]);
    const byId = new Map(rows.map((r) => [Number(r['id']), trackerFromRow(r)]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  // ---------------------------------------------------------------- verbs and deleted items

  async registerVerb(em: Em, verb: string, template: string): Promise<{ verb: string; template: string }> {
    const v = normaliseVerb(verb);
    if (template.trim() === '') throw badInput('template: must not be empty');
    if (template.length > MAX_TEMPLATE_LENGTH) throw badInput(`template: at most ${MAX_TEMPLATE_LENGTH} characters`);
    await em.execute(
      `insert into activity_verb (verb, template, updated_at) values (?, ?, now())
       on conflict (verb) do update set template = excluded.template, updated_at = now()`,
      [v, template],
    );
    return { verb: v, template };
  }

  async templates(em: Em, verbs: readonly string[]): Promise<Map<string, string>> {
    const unique = [...new Set(verbs)];
    if (unique.length === 0) return new Map();
    const rows = await em.execute<Row[]>(`select verb, template from activity_verb where verb = any(?::text[])`, [
      pgTextArray(unique),
    ]);
    return new Map(rows.map((r) => [String(r['verb']), String(r['template'])]));
  }

  /** Turns an object into a tombstone and removes the trackers on it, in one transaction. */
  async forgetObject(em: Em, ref: ObjectRefValue, description: string | null, serialization: unknown): Promise<ObjectRefValue> {
    await this.#tx(em, async (tem) => {
      await upsertTombstone(tem, ref, description, serialization);
      await tem.execute(`delete from activity_tracker where object_type = ? and object_id = ?`, [ref.type, ref.id]);
    });
    return { type: ref.type, id: ref.id, label: ref.label ?? null };
  }
}
