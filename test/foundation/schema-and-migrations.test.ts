import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyMigrations, createOrm, pendingMigrations } from '../../src/db/orm.ts';
import { schema } from '../../src/schema/index.ts';
import { printSchemaFile } from '../../src/schema/print.ts';
import { createTestDatabase } from '../support/database.ts';

describe('committed artefacts', () => {
  it('schema.graphql is the printed schema of the server (run `npm run schema` when this fails)', () => {
    const committed = fs.readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(printSchemaFile(schema));
  });

  it('the committed migrations create exactly the schema the entities describe (run `npm run migration:create`)', async () => {
    const database = await createTestDatabase();
    const orm = await createOrm(database.target);
    try {
      const applied = await applyMigrations(orm);
      expect(applied.length).toBeGreaterThan(0);
      expect(await pendingMigrations(orm)).toEqual([]);
      const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false, safe: false, dropTables: true });
      expect(diff.trim()).toBe('');
    } finally {
      await orm.close(true);
      await database.drop();
    }
  });
});
