import type pg from 'pg';
import type { ActionRecord } from '../../src/activity/model.ts';
import type { Em } from '../../src/db/orm.ts';

/**
 * The fan-out statement run directly (src/activity/fan-out.ts `fanOut`), outside a server, for the benches that
 * time or explain it: a pg client standing in for the EntityManager, and a new action to fan out.
 */

/**
 * The part of Em that `fanOut` uses (`execute` with `?` placeholders), on `client()` (read at each call, so a bench
 * can switch clients). With `explainEntries`, the statement that writes feed entries is first run under EXPLAIN
 * (ANALYZE, BUFFERS, WAL) inside a savepoint rolled back (ANALYZE executes it), and its plan handed over.
 */
export function pgEm(client: () => pg.Client, explainEntries?: (plan: string) => void): Em {
  return {
    async execute(sql: string, params: unknown[] = []) {
      let n = 0;
      const text = sql.replace(/\?(?!\|)/g, () => `$${++n}`);
      const c = client();
      if (explainEntries && /insert into activity_feed_entry/.test(sql)) {
        await c.query('savepoint explained');
        const { rows } = await c.query(`explain (analyze, buffers, wal, costs off) ${text}`, params);
        explainEntries(rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n'));
        await c.query('rollback to savepoint explained');
      }
      return (await c.query(text, params)).rows;
    },
  } as unknown as Em;
}

/** Inserts a new 'mentioned' action by user `actorId` on `item` (level INFO) in the client's transaction; its record. */
export async function insertMention(client: pg.Client, actorId: string, item: { type: string; id: string }): Promise<ActionRecord> {
  const { rows } = await client.query(
    `insert into activity_action (actor_type, actor_id, verb, level, "timestamp") values ('User', $1, 'mentioned', 30, now()) returning id`,
    [actorId],
  );
  return {
    id: String(rows[0].id),
    actor: { type: 'User', id: actorId, label: null },
    verb: 'mentioned',
    targets: [{ ...item, label: null }],
    related: [],
    data: null,
    level: 30,
    timestamp: new Date(),
    groupedCount: 1,
    unread: false,
    unseen: false,
    trackerIds: [],
  };
}
