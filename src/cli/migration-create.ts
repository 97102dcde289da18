/**
 * `npm run migration:create [name]`: MikroORM's migration generator, run against a throwaway embedded
 * database on which every committed migration has been applied. The diff is therefore exactly "entities
 * minus committed migrations", independent of anyone's local database and with no snapshot file to
 * keep in sync.
 */
import { applyMigrations, createOrm, migrationsPath } from '../db/orm.ts';

const name = process.argv[2];
const orm = await createOrm({ kind: 'embedded', dataDir: 'memory://' });
try {
  await applyMigrations(orm);
  const result = await orm.migrator.create(migrationsPath, false, false, name);
  if (!result.fileName) {
    console.log('No changes: the entities match the committed migrations.');
  } else {
    console.log(`Created migrations/${result.fileName}`);
  }
} finally {
  await orm.close(true);
}
