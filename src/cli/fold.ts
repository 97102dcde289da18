/**
 * `npm run fold`: runs the metrics fold once against the configured database (DATABASE_URL, or the
 * embedded one in DATA_DIR when no server holds it), waiting for a fold running elsewhere, and prints
 * the report as JSON. Exit code 1 when the fold was interrupted (what it folded before stays folded).
 */
import { loadConfigOrExit } from '../config.ts';
import { acquireDataDirLock } from '../db/data-dir-lock.ts';
import { applyMigrations, createOrm, databaseTargetFromConfig, describeTarget } from '../db/orm.ts';
import { createLogger } from '../logger.ts';
import { fold, FoldError } from '../metrics/fold.ts';
import { runCli } from './run-cli.ts';

const config = loadConfigOrExit();

const logger = createLogger(process.env['LOG_LEVEL'] ? config.logLevel : 'warn');
const target = databaseTargetFromConfig(config);
await runCli(`npm run fold (${describeTarget(target)})`, async () => {
  // The embedded database may belong to a running server: its cron folds it (or call foldCounters); the lock's
  // refusal says so.
  const lock = target.kind === 'embedded' ? acquireDataDirLock(config.dataDir, target.dataDir) : undefined;
  try {
    const orm = await createOrm(target, logger);
    try {
      await applyMigrations(orm);
      const report = await fold(orm, logger, { batchSize: config.metrics.foldBatch, wait: true });
      console.log(JSON.stringify({ database: describeTarget(target), ...report }));
      return 0;
    } catch (error) {
      if (!(error instanceof FoldError)) throw error;
      console.error(JSON.stringify({ database: describeTarget(target), error: error.message, ...error.report }));
      return 1;
    } finally {
      await orm.close(true);
    }
  } finally {
    lock?.release();
  }
});
