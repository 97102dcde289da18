import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Em } from '../db/orm.ts';
import { badInput } from '../server/errors.ts';
import { loadActions, toDate, type Row } from './action-store.ts';
import { unreadCount } from './feed.ts';
import { readUnseenSql } from './seen-watermark.ts';
import { levelName, type ActivitySettings } from './model.ts';
import { trackerFromRow } from './trackers.ts';

/**
 * Export of a user (a data-subject access request): everything stored about the user, as JSON records, in pages,
 * section after section. The activity module's sections: its trackers (mutes included), its feed entries (the
 * state of each: unread, the trackers that matched, the action's time) and its own actions (where it is the actor);
 * other modules add theirs (`UserExportSection`, registered at composition: the metrics rows keyed by the user as
 * an object, its kept label). Each section is read in key order from a keyset cursor, so a page costs the same at
 * any depth and a large user is exported in as many calls as it takes.
 */

/** Who is exported: the user, and the user as an object of the application ({type: USER_TYPE, id}). */
export interface ExportedUser {
  id: string;
  type: string;
}

/** One section of a user's export: records of one kind, in the order of their keys (opaque strings). */
export interface UserExportSection {
  kind: string;
  /**
   * At most `limit` records whose keys follow `after` (null: from the first). A key comes back from a client's
   * cursor: a section checks it (`keyError` when it is not one of its keys).
   */
  read(em: Em, user: ExportedUser, after: string | null, limit: number): Promise<Array<{ key: string; record: Record<string, unknown> }>>;
}

export interface UserExportPage {
  user: string;
  unreadCount: number;
  records: Array<Record<string, unknown>>;
  endCursor: string | null;
  hasNextPage: boolean;
}

interface ExportCursor {
  section: number;
  /** The last key exported in that section (exclusive); null: the section starts. */
  key: string | null;
}

function encodeExportCursor(c: ExportCursor): string {
  return Buffer.from(JSON.stringify({ export: c.section, after: c.key }), 'utf8').toString('base64url');
}

/** What a section answers for a key that is not one of its own (a cursor not returned by exportUser). */
export const keyError = () => badInput('after: not a cursor returned by exportUser');

function decodeExportCursor(cursor: string, sections: number): ExportCursor {
  let parsed: unknown;
  try {
    parsed = cursor.length <= 2000 ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  } catch {
    throw keyError();
  }
  const c = parsed as { export?: unknown; after?: unknown } | null;
  if (!c || !Number.isInteger(c.export) || (c.export as number) < 0 || (c.export as number) >= sections) throw keyError();
  if (c.after !== null && typeof c.after !== 'string') throw keyError();
  return { section: c.export as number, key: c.after };
}

/** A decimal id key (bigint range), or keyError. */
export function idKey(key: string | null): string {
  if (key === null) return '0';
  if (!/^\d{1,18}$/.test(key)) throw keyError();
  return key;
}

const objectJson = (o: { type: string; id: string; label?: string | null | undefined }) => ({ type: o.type, id: o.id, label: o.label ?? null });

/** The activity module's sections: trackers, feed entries, own actions (each keyed by its id). */
export function activityExportSections(settings: ActivitySettings): UserExportSection[] {
  return [
    {
      kind: 'tracker',
      async read(em, user, after, limit) {
        const rows = await em.execute<Row[]>(`select * from activity_tracker where owner_id = ? and id > ? order by id limit ?`, [user.id, idKey(after), limit]);
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
      },
    },
    {
      kind: 'feedEntry',
      async read(em, user, after, limit) {
        const rows = await em.execute<Row[]>(
          `select f.action_id::text as action_id, f.unread, ${readUnseenSql('f')} as unseen, f.archived, f.tracker_ids, f.action_timestamp
             from activity_feed_entry f
            where f.user_id = ? and f.action_id > ? order by f.action_id limit ?`,
          [user.id, idKey(after), limit],
        );
        return rows.map((r) => ({
          key: String(r['action_id']),
          record: {
            kind: 'feedEntry',
            action: encodeGlobalID('Action', String(r['action_id'])),
            // The entry's three flags (README "The feed as an inbox"): read, seen, archived.
            unread: Boolean(r['unread']),
            seen: !r['unseen'],
            archived: Boolean(r['archived']),
            trackers: ((r['tracker_ids'] as number[] | null) ?? []).map((id) => encodeGlobalID('Tracker', Number(id))),
            timestamp: toDate(r['action_timestamp']).toISOString(),
          },
        }));
      },
    },
    {
      kind: 'action',
      async read(em, user, after, limit) {
        const ids = await em.execute<Row[]>(
          `select a.id::text as id from activity_action a where a.actor_type = ? and a.actor_id = ? and a.id > ? order by a.id limit ?`,
          [settings.config.userType, user.id, idKey(after), limit],
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
      },
    },
  ];
}

/** A page of the user's export: `first` records after `after` (null: from the start), section after section. */
export async function exportUser(
  em: Em,
  sections: readonly UserExportSection[],
  user: ExportedUser,
  first: number,
  after: string | null,
): Promise<UserExportPage> {
  let cursor: ExportCursor = after === null ? { section: 0, key: null } : decodeExportCursor(after, sections.length);
  const records: Array<Record<string, unknown>> = [];
  let hasNextPage = false;
  while (cursor.section < sections.length) {
    const wanted = first - records.length;
    const rows = await sections[cursor.section]!.read(em, user, cursor.key, wanted + 1);
    for (const row of rows.slice(0, wanted)) {
      records.push(row.record);
      cursor = { section: cursor.section, key: row.key };
    }
    if (rows.length > wanted) {
      hasNextPage = true;
      break;
    }
    cursor = { section: cursor.section + 1, key: null };
  }
  return {
    user: user.id,
    unreadCount: await unreadCount(em, user.id),
    records,
    endCursor: hasNextPage ? encodeExportCursor(cursor) : null,
    hasNextPage,
  };
}
