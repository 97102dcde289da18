/**
 * `npm run fold`: runs the metrics fold once against the configured database (DATABASE_URL, or the
 * embedded one in DATA_DIR when no server holds it), waiting for a fold running elsewhere, and prints
 * the report as JSON. Exit code 1 when the fold was interrupted (what it folded before stays folded).
 */
import { loadConfigOrExit } from '../config.ts';
import { acquireDataDirLock, DataDirLockedError } from '../db/data-dir-lock.ts';
import { applyMigrations, createOrm, databaseTargetFromConfig, describeTarget } from '../db/orm.ts';
import { createLogger } from '../logger.ts';
import { fold, FoldError } from '../metrics/fold.ts';

const config = loadConfigOrExit();

const logger = createLogger(process.env['LOG_LEVEL'] ? config.logLevel : 'warn');
const target = databaseTargetFromConfig(config);
let lock;
try {
  lock = target.kind === 'embedded' ? acquireDataDirLock(config.dataDir, target.dataDir) : undefined;
} catch (error) {
  if (!(error instanceof DataDirLockedError)) throw error;
  // The embedded database belongs to a running server: its cron folds it (or call foldCounters).
  console.error(error.message);
  process.exit(1);
}
let exitCode = 0;
try {
  const orm = await createOrm(target, logger);
  try {
    await applyMigrations(orm);
    const report = await fold(orm, logger, { batchSize: config.metrics.foldBatch, wait: true });
    console.log(JSON.stringify({ database: describeTarget(target), ...report }));
  } catch (error) {
    if (!(error instanceof FoldError)) throw error;
    console.error(JSON.stringify({ database: describeTarget(target), error: error.message, ...error.report }));
    exitCode = 1;
  } finally {
    await orm.close(true);
  }
} finally {
  lock?.release();
}
process.exit(exitCode);
