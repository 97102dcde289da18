import { describe, expect, it } from 'vitest';
import { applyMigrations, createOrm } from '../../src/db/orm.ts';
import { headPosition } from '../../src/activity/change-stream.ts';
import { createTestDatabase } from '../support/database.ts';

// The change-stream position moves from activity_feed_position into the user's counter row: existing positions
// are carried over (a cursor handed out before the migration stays valid), counts untouched.

const BEFORE = 'Migration20261130082522_mutes';
const MIGRATION = 'Migration20261130102018_feed_position_in_counter';

describe('migration of change-stream positions into the counter rows', () => {
  it('keeps every position and every count; a user with a position and no counter gets a zero-count row', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    const orm = await createOrm(database.target);
    const run = (statement: string) => orm.em.fork().execute(statement);
    try {
      await orm.migrator.up({ to: BEFORE });
      await run(`insert into activity_unread_counter (user_id, count, unseen) values ('alice', 2, 1), ('bob', 0, 0)`);
      await run(`insert into activity_feed_position (user_id, position) values ('alice', 7), ('carol', 3)`);
      expect(await applyMigrations(orm)).toContain(MIGRATION);
      const rows = await run(`select user_id, count, unseen, position::int as position from activity_unread_counter order by user_id`);
      expect(rows.map((r: Record<string, unknown>) => [r['user_id'], Number(r['count']), Number(r['unseen']), Number(r['position'])])).toEqual([
        ['alice', 2, 1, 7],
        ['bob', 0, 0, 0],
        ['carol', 0, 0, 3],
      ]);
      expect(await headPosition(orm.em.fork(), 'alice')).toBe(7n);
      expect(await headPosition(orm.em.fork(), 'carol')).toBe(3n);
      expect(await headPosition(orm.em.fork(), 'dave')).toBe(0n);
    } finally {
      await orm.close(true);
      await database.drop();
    }
  });
});
