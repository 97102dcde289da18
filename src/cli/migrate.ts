/** `npm run migrate`: applies pending migrations to the configured database and exits. */
import { loadConfigOrExit } from '../config.ts';
import { applyMigrations, createOrm, databaseTargetFromConfig, describeTarget } from '../db/orm.ts';
import { acquireDataDirLock } from '../db/data-dir-lock.ts';
import { runCli } from './run-cli.ts';

const config = loadConfigOrExit();
const target = databaseTargetFromConfig(config);
await runCli(`npm run migrate (${describeTarget(target)})`, async () => {
  const lock = target.kind === 'embedded' ? acquireDataDirLock(config.dataDir, target.dataDir) : undefined;
  try {
    const orm = await createOrm(target);
    try {
      const applied = await applyMigrations(orm);
      console.log(`${describeTarget(target)}: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}`);
    } finally {
      await orm.close(true);
    }
  } finally {
    lock?.release();
  }
  return 0;
});
