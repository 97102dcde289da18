import { parseBigintId } from '../db/bigint-id.ts';
import { readUnseenSql } from './seen-watermark.ts';
import type { Em } from '../db/orm.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { ACTION_COLUMNS, loadActions, type Row } from './action-store.ts';
import { keyset, sortKeyColumn, type Page } from './cursors.ts';
import { pageOf, type ActionPage } from './feed.ts';
import { normaliseVerbs, pgTextArray, type ActionRecord } from './model.ts';

/** actrack's accessors (`actor_actions`, `target_actions`, `related_actions`, `actions`): the log by object. */

export interface ActionFilters {
  actor?: ObjectRefValue | null | undefined;
  target?: ObjectRefValue | null | undefined;
  related?: ObjectRefValue | null | undefined;
  involving?: ObjectRefValue | null | undefined;
  verbs?: readonly string[] | null | undefined;
  since?: Date | null | undefined;
  until?: Date | null | undefined;
}

/** Who reads: a user (its feed's read state, and only actions of its feed or its own) or a service (userId null). */
export interface ActionViewer {
  userId: string | null;
  userType: string;
}

/**
 * Actions visible to the viewer by database id (node loading). A user sees the actions of its feed and
 * those it performed; a service (userId null, service true) sees all.
 */
export async function actionsByIds(em: Em, ids: string[], viewer: ActionViewer): Promise<Array<ActionRecord | null>> {
  const valid = ids.filter((id) => parseBigintId(id) !== null);
  const loaded = await loadActions(em, valid, viewer.userId);
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

/** actrack's accessors: as actor / target / related / involving (all), newest first (by timestamp), keyset paginated. */
export async function actionsPage(
  em: Em,
  filters: ActionFilters,
  page: Page,
  viewer: ActionViewer,
): Promise<ActionPage> {
  const where: string[] = [];
  const params: unknown[] = [];
  const join =
    viewer.userId === null
      ? `false as unread, false as unseen, '{}'::int[] as tracker_ids, ${sortKeyColumn('a."timestamp"')} from activity_action a`
      : `coalesce(f.unread, false) as unread, coalesce(${readUnseenSql('f')}, false) as unseen, coalesce(f.tracker_ids, '{}'::int[]) as tracker_ids, ${sortKeyColumn('a."timestamp"')}
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
  if (filters.since) {
    where.push(`a."timestamp" >= ?::timestamptz`);
    params.push(filters.since);
  }
  if (filters.until) {
    where.push(`a."timestamp" <= ?::timestamptz`);
    params.push(filters.until);
  }
  const k = keyset(page, 'a."timestamp"', 'a.id');
  where.push(...k.where);
  params.push(...k.params, page.limit + 1);
  const rows = await em.execute<Row[]>(
    `select ${ACTION_COLUMNS}, ${join}
      ${where.length ? `where ${where.join(' and ')}` : ''}
      order by ${k.orderBy} limit ?`,
    params,
  );
  return pageOf(em, rows, page);
}
