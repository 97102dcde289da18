import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import type { Plugin } from 'graphql-yoga';
import type { TokenService } from '../server/auth.ts';
import type { TrackqlPubSub } from '../server/pubsub.ts';
import { useWeb } from '../web/plugin.ts';
import { createGraphqlMetrics, type GraphqlMetrics } from './graphql-metrics.ts';
import { OpsMetrics, type MetricsProbe } from './metrics.ts';
import { opsPlugins } from './plugin.ts';
import { Retention } from './retention.ts';

/** Operators' services: the Prometheus registry and collectors, and the retention job. */
export interface OpsService {
  metrics: OpsMetrics;
  /** The GraphQL and HTTP metrics of every request; null when PROMETHEUS_ENABLED is off. */
  graphqlMetrics: GraphqlMetrics | null;
  retention: Retention;
  /**
   * The Yoga plugins of the ops and web modules: Prometheus (`/metrics`), readiness (`/ready`), the subscription gauge, the demo
   * page (`/`, `/assets/*`, `/demo/tokens`) and the beacon endpoints (`/track`).
   */
  yogaPlugins(auth: { tokens: TokenService; generatedSecret: boolean }): Plugin[];
  start(): void;
  close(): Promise<void>;
}

export function createOpsService(deps: {
  config: Config;
  orm: Orm;
  logger: Logger;
  pubsub: TrackqlPubSub;
  /** The metrics module's service (last fold, inbox stats), read at scrape time. */
  metrics?: MetricsProbe;
}): OpsService {
  const metrics = new OpsMetrics(deps.orm, deps.logger, deps.metrics);
  const graphqlMetrics = deps.config.prometheus.enabled ? createGraphqlMetrics(metrics.registry) : null;
  const retention = new Retention({
    orm: deps.orm,
    config: deps.config.retention,
    logger: deps.logger.child({ module: 'retention' }),
    pubsub: deps.pubsub,
    metrics,
  });
  return {
    metrics,
    graphqlMetrics,
    retention,
    yogaPlugins: ({ tokens, generatedSecret }) => [
      ...opsPlugins(deps.config, metrics, deps.orm, graphqlMetrics),
      useWeb({ config: deps.config, logger: deps.logger, tokens, generatedSecret }),
    ],
    start() {
      retention.start();
    },
    async close() {
      await retention.close();
      metrics.close();
    },
  };
}
