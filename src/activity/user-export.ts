import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Em } from '../db/orm.ts';
import { badInput } from '../server/errors.ts';
import { loadActions, toDate, type Row } from './action-store.ts';
import { unreadCount } from './feed.ts';
import { levelName, type ActivitySettings } from './model.ts';
import { trackerFromRow } from './trackers.ts';

/**
 * Export of a user (a data-subject access request): everything the activity module stores about the user, as
 * JSON records, in pages: its trackers (mutes included), its feed entries (the state of each: unread, the
 * trackers that matched, the action's time) and its own actions (where it is the actor). Each section is read
 * in primary-key order from a keyset cursor, so a page costs the same at any depth and a large user is
 * exported in as many calls as it takes.
 */

export const EXPORT_SECTIONS = ['tracker', 'feedEntry', 'action'] as const;
type Section = (typeof EXPORT_SECTIONS)[number];

export interface UserExportPage {
  user: string;
  unreadCount: number;
  records: Array<Record<string, unknown>>;
  endCursor: string | null;
  hasNextPage: boolean;
}

interface ExportCursor {
  section: number;
  /** The last key exported in that section (exclusive), as a decimal string. */
  key: string;
}

function encodeExportCursor(c: ExportCursor): string {
  return Buffer.from(`export:${c.section}:${c.key}`, 'utf8').toString('base64url');
}

function decodeExportCursor(cursor: string): ExportCursor {
  const match = /^export:([0-2]):(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw badInput('after: not a cursor returned by exportUser');
  return { section: Number(match[1]), key: match[2]! };
}

const objectJson = (o: { type: string; id: string; label?: string | null | undefined }) => ({ type: o.type, id: o.id, label: o.label ?? null });

/** One section's records after `key`, at most `limit`, with their keys. */
async function readSection(
  em: Em,
  settings: ActivitySettings,
  section: Section,
  userId: string,
  key: string,
  limit: number,
): Promise<Array<{ key: string; record: Record<string, unknown> }>> {
  if (section === 'tracker') {
    const rows = await em.execute<Row[]>(`select * from activity_tracker where owner_id = ? and id > ? order by id limit ?`, [userId, key, limit]);
    return rows.map((r) => {
      const t = trackerFromRow(r);
      return {
        key: String(t.id),
        record: {
          kind: 'tracker',
          id: encodeGlobalID('Tracker', t.id),
          objectType: t.objectType,
          objectId: t.objectId,
          objectLabel: t.objectLabel,
          verbs: t.verbs,
          actorOnly: t.actorOnly,
          mute: Boolean(r['mute']),
          createdAt: t.createdAt.toISOString(),
        },
      };
    });
  }
  if (section === 'feedEntry') {
    const rows = await em.execute<Row[]>(
      `select f.action_id::text as action_id, f.unread, f.tracker_ids, f.action_timestamp from activity_feed_entry f
        where f.user_id = ? and f.action_id > ? order by f.action_id limit ?`,
      [userId, key, limit],
    );
    return rows.map((r) => ({
      key: String(r['action_id']),
      record: {
        kind: 'feedEntry',
        action: encodeGlobalID('Action', String(r['action_id'])),
        unread: Boolean(r['unread']),
        trackers: ((r['tracker_ids'] as number[] | null) ?? []).map((id) => encodeGlobalID('Tracker', Number(id))),
        timestamp: toDate(r['action_timestamp']).toISOString(),
      },
    }));
  }
  const ids = await em.execute<Row[]>(
    `select a.id::text as id from activity_action a where a.actor_type = ? and a.actor_id = ? and a.id > ? order by a.id limit ?`,
    [settings.config.userType, userId, key, limit],
  );
  const actions = await loadActions(
    em,
    ids.map((r) => String(r['id'])),
    null,
  );
  return actions.map((a) => ({
    key: a.id,
    record: {
      kind: 'action',
      id: encodeGlobalID('Action', a.id),
      actor: objectJson(a.actor),
      verb: a.verb,
      targets: a.targets.map(objectJson),
      related: a.related.map(objectJson),
      data: a.data ?? null,
      level: levelName(a.level),
      timestamp: a.timestamp.toISOString(),
      groupedCount: a.groupedCount,
    },
  }));
}

/** A page of the user's export: `first` records after `after` (null: from the start). */
export async function exportUser(em: Em, settings: ActivitySettings, userId: string, first: number, after: string | null): Promise<UserExportPage> {
  let cursor: ExportCursor = after === null ? { section: 0, key: '0' } : decodeExportCursor(after);
  const records: Array<Record<string, unknown>> = [];
  let hasNextPage = false;
  while (cursor.section < EXPORT_SECTIONS.length) {
    const wanted = first - records.length;
    const rows = await readSection(em, settings, EXPORT_SECTIONS[cursor.section]!, userId, cursor.key, wanted + 1);
    for (const row of rows.slice(0, wanted)) {
      records.push(row.record);
      cursor = { section: cursor.section, key: row.key };
    }
    if (rows.length > wanted) {
      hasNextPage = true;
      break;
    }
    cursor = { section: cursor.section + 1, key: '0' };
  }
  return {
    user: userId,
    unreadCount: await unreadCount(em, userId),
    records,
    endCursor: hasNextPage ? encodeExportCursor(cursor) : null,
    hasNextPage,
  };
}
