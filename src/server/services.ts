import { metricsErasureListener } from '../metrics/erasure.ts';
import { metricsExportSections } from '../metrics/user-export.ts';
import { ActivityService } from '../activity/service.ts';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { createMetricsServices, type MetricsServices } from '../metrics/service.ts';
import { labelExportSection, ObjectLabels } from '../objects/labels.ts';
import { createOpsService, type OpsService } from '../ops/service.ts';
import { WebhookService } from '../webhooks/service.ts';
import type { TrackqlPubSub } from './pubsub.ts';
import { RateLimiter } from './rate-limit.ts';

/** Long-lived collaborators built once per app (not per request) and closed on shutdown. */
export interface Services {
  /** Per-client rate limits: `await ctx.services.rateLimiter.consume(ctx, 'increment', n)` (server/rate-limit.ts). */
  rateLimiter: RateLimiter;
  /** Activity: actions, trackers, feeds, read state (activity/service.ts). */
  activity: ActivityService;
  /** Metrics: catalog, group-commit inbox, increments, fold (+ cron), queries (metrics/service.ts). */
  metrics: MetricsServices;
  /** Ops: Prometheus registry and collectors, retention job (ops/service.ts). */
  ops: OpsService;
  /** Webhooks: registry, outbox listeners, delivery worker (webhooks/service.ts). */
  webhooks: WebhookService;
  /** The latest label authenticated callers gave each object, shown by metrics results (objects/labels.ts). */
  objectLabels: ObjectLabels;
  /** Starts background work (cron jobs); called once the server listens. */
  start(): void;
  /** Stops background work and flushes buffers; called on shutdown before the ORM closes. */
  close(): Promise<void>;
}

export interface ServiceDeps {
  config: Config;
  orm: Orm;
  logger: Logger;
  pubsub: TrackqlPubSub;
}

export function createServices(_deps: ServiceDeps): Services {
  const rateLimiter = new RateLimiter(_deps.config, _deps.logger);
  const objectLabels = new ObjectLabels(_deps.orm, { userType: _deps.config.userType, logger: _deps.logger.child({ module: 'objects' }) });
  const activity = new ActivityService({
    config: _deps.config,
    pubsub: _deps.pubsub,
    logger: _deps.logger,
    fork: () => _deps.orm.em.fork(),
  });
  const metrics = createMetricsServices({ config: _deps.config, orm: _deps.orm, logger: _deps.logger, pubsub: _deps.pubsub, objectLabels });
  const ops = createOpsService({ ..._deps, metrics });
  const webhooks = new WebhookService({ config: _deps.config, orm: _deps.orm, logger: _deps.logger });
  // The outbox writes its rows inside the transactions of the changes that cause them.
  activity.addWriteListener(webhooks.activityListener);
  metrics.queries.addRecordListener(webhooks.statisticListener);
  // A user's erasure removes the metrics rows keyed by the user in the same transaction; its export lists them.
  activity.addWriteListener(metricsErasureListener);
  for (const section of [...metricsExportSections, labelExportSection]) activity.addExportSection(section);
  return {
    rateLimiter,
    activity,
    metrics,
    ops,
    webhooks,
    objectLabels,
    start() {
      activity.start();
      metrics.start();
      ops.start();
      webhooks.start();
    },
    async close() {
      await activity.close();
      await webhooks.close();
      await ops.close();
      await metrics.close();
      await rateLimiter.close();
    },
  };
}
