import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { applyMigrations, createOrm } from '../../src/db/orm.ts';
import { createLogger } from '../../src/logger.ts';
import { Inbox, keyHash, storedKey } from '../../src/metrics/inbox.ts';
import type { InboxRow } from '../../src/metrics/model.ts';
import { createTestDatabase } from '../support/database.ts';

// Issue 10, item 8: recorded (gauge) statistics are now kept per (metric, object, period, date). Values
// recorded before the change, kept at the start of their period in metric_statistic, must migrate.

const BEFORE = 'Migration20261123183124_metrics';
const MIGRATION = 'Migration20261130034043_recorded_statistics';

describe('migration of recorded statistics', () => {
  it('moves gauge values to their dates (LIFETIME: today; several hours of one day: the latest) and leaves counters alone', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    const orm = await createOrm(database.target);
    const run = (statement: string) => orm.em.fork().execute(statement);
    try {
      await orm.migrator.up({ to: BEFORE });
      await run(`insert into metric_domain (id, ref, name) values (1, 'd', 'D')`);
      await run(`insert into metric (id, domain_id, ref, name, kind) values (1, 1, 'followers', 'F', 'GAUGE'), (2, 1, 'views', 'V', 'COUNTER')`);
      await run(`insert into metric_statistic (metric_id, level, object_type, object_id, period, start, category, dom_id, value) values
        (1, 0, 'Account', 'a', 'LIFETIME', 'epoch', '', '', 120),
        (1, 0, '', '', 'LIFETIME', 'epoch', '', '', 5000),
        (1, 0, 'Account', 'a', 'DAY', '2024-03-01T05:00:00Z', '', '', 95),    -- 1 March in New York
        (1, 0, 'Account', 'a', 'DAY', '2024-02-29T23:00:00Z', '', '', 80),    -- 1 March in Paris
        (1, 0, 'Account', 'a', 'HOUR', '2024-03-02T10:00:00Z', '', '', 1),
        (1, 0, 'Account', 'a', 'HOUR', '2024-03-02T11:00:00Z', '', '', 2),
        (2, 0, 'Page', 'p', 'Q15', '2024-03-02T10:15:00Z', '', '', 7),
        (2, 2, '', '', 'LIFETIME', 'epoch', '', '', 7)`);
      expect(await applyMigrations(orm)).toContain(MIGRATION);
      const rows = await run(`select metric_id, object_type, object_id, period, to_char(date, 'YYYY-MM-DD') as date, value,
          date = (now() at time zone 'UTC')::date as today
        from metric_recorded_statistic order by object_type, period, date`);
      expect(rows.map((r: Record<string, unknown>) => [r['object_type'], r['period'], r['period'] === 'LIFETIME' ? r['today'] : r['date'], Number(r['value'])])).toEqual([
        ['', 'LIFETIME', true, 5000],
        ['Account', 'DAY', '2024-03-01', 95], // both day starts are 1 March (UTC + 12 h): the later start's value
        ['Account', 'HOUR', '2024-03-02', 2],
        ['Account', 'LIFETIME', true, 120],
      ]);
      const left = await run(`select metric_id, period, value from metric_statistic order by metric_id, period`);
      expect(left.map((r: Record<string, unknown>) => [r['metric_id'], r['period'], Number(r['value'])])).toEqual([
        [2, 'LIFETIME', 7],
        [2, 'Q15', 7],
      ]);
    } finally {
      await orm.close(true);
      await database.drop();
    }
  });
});

// Issue 17: increment keys were stored as md5 uuids only; they become a 64-bit hash plus the scope and key. Keys
// accepted before the change must still make their retries duplicates.
describe('migration of increment keys', () => {
  it('keeps every stored md5 key: a retry of an id accepted before the migration is a duplicate', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    const orm = await createOrm(database.target);
    const run = (statement: string, params: unknown[] = []) => orm.em.fork().execute(statement, params);
    const inbox = new Inbox(orm, loadConfig({}).metrics, createLogger('silent'));
    const scope = 'service:svc-é'; // a non-ASCII scope: the length prefix counts characters, as PostgreSQL's length() did
    const row = (key: string): InboxRow => ({ metricId: 1, objectType: '', objectId: '', category: '', domId: '', amount: 1, occurredAt: Date.now(), key });
    try {
      await orm.migrator.up({ to: 'Migration20261130082522_mutes' });
      // The old statement's stored form: md5(length(scope) || ':' || scope || key)::uuid.
      for (const key of ['e:old', 'o:call#0']) {
        await run(`insert into metric_increment_key (hash) values (md5(length(?) || ':' || ? || ?)::uuid)`, [scope, scope, key]);
      }
      expect(await applyMigrations(orm)).toContain('Migration20261130102907_increment_key_hash');
      const rows = await run(`select hash::text as hash, scope, key from metric_increment_key order by key`);
      const md5 = async (text: string) => (await run(`select md5(?) as m`, [text]))[0]!['m'];
      expect(rows).toEqual(
        await Promise.all(
          ['e:old', 'o:call#0'].map(async (key) => ({ hash: String(keyHash(storedKey(scope, key))), scope: '', key: `md5:${await md5(storedKey(scope, key))}` })),
        ).then((expected) => expected.sort((a, b) => a.key.localeCompare(b.key))),
      );
      // Retries of the migrated keys are duplicates; a new key is not; another caller's same key is not.
      expect(await inbox.enqueue([row('e:old'), row('e:new'), row('o:call#0')], scope)).toEqual([0, 2]);
      expect(await inbox.enqueue([row('e:old')], 'service:other')).toEqual([]);
      expect(Number((await run(`select count(*) as n from metric_inbox`))[0]!['n'])).toBe(2);
    } finally {
      await inbox.close();
      await orm.close(true);
      await database.drop();
    }
  });
});
