import { loadConfigOrExit } from './config.ts';
import { DataDirLockedError } from './db/data-dir-lock.ts';
import { createLogger } from './logger.ts';
import { buildApp } from './server/app.ts';

const config = loadConfigOrExit();

const logger = createLogger(config.logLevel);

try {
  const app = await buildApp(config, { logger });
  const { url } = await app.start();
  logger.info({ url, pubsub: app.pubsub.mode, foldCron: config.foldCron }, `trackql listening on ${url}`);
  // Always printed, whatever LOG_LEVEL: people and process supervisors look for this line.
  const banner = [`trackql is running: ${url}  (GraphiQL in a browser, graphql-ws on the same URL)`];
  if (config.web.demoPage) banner.push(`Demo page: ${new URL('/', url).toString()}`);
  banner.push(`Console (service token): ${new URL('/console', url).toString()}`);
  if (app.generatedSecret) {
    const service = await app.tokens.sign({ sub: 'service', roles: ['service'] });
    const user = await app.tokens.sign({ sub: 'demo-user' });
    banner.push(
      'No JWT_SECRET was set, so one was generated in DATA_DIR. Tokens for exploring:',
      `  service   : Bearer ${service}`,
      `  demo-user : Bearer ${user}`,
      'GraphiQL has a service token pre-filled for local callers; elsewhere paste one as {"Authorization": "Bearer …"}.',
    );
  }
  process.stdout.write(`\n${banner.map((line) => `  ${line}`).join('\n')}\n\n`);

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5_000);
    force.unref();
    app.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (error) {
  if (error instanceof DataDirLockedError) {
    logger.fatal(error.message);
    console.error(error.message);
    process.exit(1);
  }
  logger.fatal({ err: error }, 'trackql failed to start');
  process.exit(1);
}
