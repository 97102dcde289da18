import crypto from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { GraphqlMetrics } from './graphql-metrics.ts';
import type { OpsMetrics } from './metrics.ts';

export const METRICS_PATH = '/metrics';

/**
 * Yoga plugins of the ops module:
 * - the GraphQL and HTTP metrics of every request (graphql-metrics.ts) on trackql's registry. Labels take only
 *   bounded values (every label combination is a series kept for the life of the process): the operation
 *   type, the phase, the HTTP method and status. Never the client-chosen operation name, the error path
 *   (made of client-chosen aliases and list indices) or the request URL;
 * - a counter of running subscriptions over SSE (websocket ones are counted by the websocket server);
 * - `GET /metrics` serving the registry, behind `Authorization: Bearer <PROMETHEUS_TOKEN>` when one is set;
 * - `/ready`: 200 when the database answers within DB_CONNECT_TIMEOUT_MS, 503 when it does not.
 */
export function opsPlugins(config: Config, metrics: OpsMetrics, orm: Orm, graphql: GraphqlMetrics | null): Plugin[] {
  const ready = useReadinessEndpoint(orm, config.dbConnectTimeoutMs);
  if (!graphql) return [ready, useSubscriptionGauge(metrics)];
  return [
    ready,
    graphql.plugin,
    useSubscriptionGauge(metrics),
    useMetricsEndpoint(config, metrics),
  ];
}

/**
 * Counts running subscriptions over HTTP (SSE). Websocket subscriptions are counted by the websocket server
 * (server/app.ts), which knows when each ends, including the feeds it drives without their envelope
 * (server/ws-feed.ts).
 */
function useSubscriptionGauge(metrics: OpsMetrics): Plugin {
  return {
    onSubscribe({ args }) {
      if ((args.contextValue as { socket?: unknown }).socket) return undefined;
      const transport = 'sse';
      return {
        onSubscribeResult({ result }) {
          if (!result || typeof result !== 'object' || !(Symbol.asyncIterator in result)) return undefined;
          metrics.subscriptions.inc({ transport });
          let ended = false;
          return {
            onEnd() {
              if (ended) return;
              ended = true;
              metrics.subscriptions.dec({ transport });
            },
          };
        },
      };
    },
  };
}

const READY_PATH = '/ready';

/** What Yoga gives an `onRequest` hook. */
type RequestPayload = Parameters<NonNullable<Plugin['onRequest']>>[0];

/**
 * `/ready`: 200 when the database answers a `select 1`, 503 when it does not (load balancers, orchestrators,
 * and the test harness wait on it). Yoga's useReadinessCheck does the same but matches a URLPattern against
 * every request that is not for its endpoint, which cost more than the rest of the routing (CPU profile,
 * bench/results/overhead.md); the path is compared here, as `/metrics` is.
 */
function useReadinessEndpoint(orm: Orm, timeoutMs: number): Plugin {
  return {
    // Not async: every other request passes through synchronously (an async hook would make each a promise).
    onRequest(payload) {
      if (payload.url.pathname !== READY_PATH) return undefined;
      return answerReady(orm, timeoutMs, payload);
    },
  };
}

async function answerReady(orm: Orm, timeoutMs: number, { endResponse, fetchAPI }: RequestPayload): Promise<void> {
  // Not ready either when the database does not answer within DB_CONNECT_TIMEOUT_MS (a stalled database never
  // answers: the probe must not hang with it).
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const answered = orm.em
    .fork()
    .execute('select 1')
    .then(
      () => true,
      () => false,
    );
  const ready = await Promise.race([answered, late]);
  clearTimeout(timer);
  endResponse(new fetchAPI.Response(null, { status: ready ? 200 : 503, headers: { 'cache-control': 'no-store' } }));
}

function useMetricsEndpoint(config: Config, metrics: OpsMetrics): Plugin {
  const expected = config.prometheus.token ? `Bearer ${config.prometheus.token}` : undefined;
  return {
    // Not async, as /ready's.
    onRequest(payload) {
      if (payload.url.pathname !== METRICS_PATH) return undefined;
      return answerMetrics(payload);
    },
  };

  async function answerMetrics({ request, endResponse, fetchAPI }: RequestPayload): Promise<void> {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      endResponse(new fetchAPI.Response('Method not allowed', { status: 405, headers: { allow: 'GET' } }));
      return;
    }
    if (expected && !sameSecret(request.headers.get('authorization') ?? '', expected)) {
      endResponse(new fetchAPI.Response('Unauthorized', { status: 401, headers: { 'www-authenticate': 'Bearer realm="metrics"' } }));
      return;
    }
    try {
      const body = await metrics.metrics();
      endResponse(new fetchAPI.Response(body, { headers: { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' } }));
    } catch (error) {
      endResponse(new fetchAPI.Response(`metrics collection failed: ${(error as Error).message}`, { status: 500 }));
    }
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
