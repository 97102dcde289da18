import { describe, expect, it } from 'vitest';
import { applyMigrations, createOrm } from '../../src/db/orm.ts';
import { createTestDatabase } from '../support/database.ts';

// Issue 13, item 7: feed entries and counters written before seen/archived existed migrate as seen = read,
// nothing archived, and the unseen counter equal to the unread one.

const BEFORE = 'Migration20261130071518_idempotency_keys';
const MIGRATION = 'Migration20261130081054_inbox_seen_archived';

describe('migration to the inbox model', () => {
  it('existing entries: unread ones unseen, read ones seen, none archived; unseen counters = unread counters', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    const orm = await createOrm(database.target);
    const run = (statement: string) => orm.em.fork().execute(statement);
    try {
      await orm.migrator.up({ to: BEFORE });
      await run(`insert into activity_action (id, actor_type, actor_id, verb, level, "timestamp") values
        (1, 'Person', 'p', 'a', 30, '2026-01-01T00:00:00Z'),
        (2, 'Person', 'p', 'b', 30, '2026-01-02T00:00:00Z'),
        (3, 'Person', 'p', 'c', 30, '2026-01-03T00:00:00Z')`);
      await run(`insert into activity_feed_entry (user_id, action_id, unread, tracker_ids, action_timestamp) values
        ('alice', 1, true, '{1}', '2026-01-01T00:00:00Z'),
        ('alice', 2, false, '{1}', '2026-01-02T00:00:00Z'),
        ('alice', 3, true, '{1}', '2026-01-03T00:00:00Z'),
        ('bob', 1, false, '{2}', '2026-01-01T00:00:00Z')`);
      await run(`insert into activity_unread_counter (user_id, count) values ('alice', 2), ('bob', 0)`);
      expect(await applyMigrations(orm)).toContain(MIGRATION);
      const rows = await run(`select user_id, action_id::int as action_id, unread, unseen, archived from activity_feed_entry order by user_id, action_id`);
      expect(rows.map((r: Record<string, unknown>) => [r['user_id'], r['action_id'], r['unread'], r['unseen'], r['archived']])).toEqual([
        ['alice', 1, true, true, false],
        ['alice', 2, false, false, false],
        ['alice', 3, true, true, false],
        ['bob', 1, false, false, false],
      ]);
      const counters = await run(`select user_id, count, unseen from activity_unread_counter order by user_id`);
      expect(counters.map((r: Record<string, unknown>) => [r['user_id'], Number(r['count']), Number(r['unseen'])])).toEqual([
        ['alice', 2, 2],
        ['bob', 0, 0],
      ]);
    } finally {
      await orm.close(true);
      await database.drop();
    }
  });

  it('counter cells: each entry in the cell of its shape, the cells equal to counts over the entries', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    const orm = await createOrm(database.target);
    const run = (statement: string) => orm.em.fork().execute(statement);
    try {
      await orm.migrator.up({ to: 'Migration20261130082522_mutes' });
      await run(`insert into activity_action (id, actor_type, actor_id, verb, level, "timestamp") values
        (1, 'Person', 'p', 'a', 30, '2026-01-01T00:00:00Z'),
        (2, 'Person', 'p', 'a', 30, '2026-01-02T00:00:00Z'),
        (3, 'Bot', 'b', 'a', 40, '2026-01-03T00:00:00Z')`);
      await run(`insert into activity_action_object (action_id, role, object_type, object_id, position) values
        (1, 'target', 'Doc', 'd', 0), (2, 'target', 'Doc', 'e', 0), (3, 'target', 'Doc', 'd', 0), (3, 'related', 'Team', 't', 0)`);
      await run(`insert into activity_feed_entry (user_id, action_id, unread, unseen, archived, tracker_ids, action_timestamp) values
        ('alice', 1, true, true, false, '{1}', '2026-01-01T00:00:00Z'),
        ('alice', 2, true, false, false, '{1}', '2026-01-02T00:00:00Z'),
        ('alice', 3, true, true, true, '{1}', '2026-01-03T00:00:00Z'),
        ('bob', 1, false, false, false, '{2,3}', '2026-01-01T00:00:00Z')`);
      expect(await applyMigrations(orm)).toContain('Migration20261130112600_feed_cells');
      const cells = await run(
        `select user_id, verb, level, actor_type, object_types, tracker_ids, total, unread, unseen,
                (select count(*)::int from activity_feed_entry f where f.cell_id = c.id) as entries
           from activity_feed_cell c order by user_id, level`,
      );
      expect(cells.map((r: Record<string, unknown>) => [r['user_id'], r['verb'], r['level'], r['actor_type'], r['object_types'], r['tracker_ids'], r['total'], r['unread'], r['unseen'], r['entries']])).toEqual([
        // alice's actions 1 and 2 share a shape; 3 (archived) has its own, counted nowhere but present
        ['alice', 'a', 30, 'Person', ['Doc', 'Person'], [1], 2, 2, 1, 2],
        ['alice', 'a', 40, 'Bot', ['Bot', 'Doc', 'Team'], [1], 0, 0, 0, 1],
        ['bob', 'a', 30, 'Person', ['Doc', 'Person'], [2, 3], 1, 0, 0, 1],
      ]);
    } finally {
      await orm.close(true);
      await database.drop();
    }
  });
});
