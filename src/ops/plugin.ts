import crypto from 'node:crypto';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import type { OpsMetrics } from './metrics.ts';

export const METRICS_PATH = '/metrics';

/**
 * Yoga plugins of the ops module:
 * - Yoga's prometheus plugin (GraphQL phases, errors, HTTP durations) on trackql's registry. Labels take only
 *   bounded values (every label combination is a series kept for the life of the process): the operation
 *   type, the phase, the HTTP method and status. Never the client-chosen operation name, the error path
 *   (made of client-chosen aliases and list indices) or the request URL;
 * - a counter of running subscriptions over SSE (websocket ones are counted by the websocket server);
 * - `GET /metrics` serving the registry, behind `Authorization: Bearer <PROMETHEUS_TOKEN>` when one is set.
 */
export function opsPlugins(config: Config, metrics: OpsMetrics): Plugin[] {
  if (!config.prometheus.enabled) return [useSubscriptionGauge(metrics)];
  return [
    usePrometheus({
      registry: metrics.registry,
      endpoint: false,
      labels: { url: false, operationName: false, path: false },
      // What is measured per request, and what it costs: operations and their duration (the histogram's
      // _count counts them), the execute phase, errors, HTTP durations. Not the operation counter (the same
      // as that _count), the parse/validate phases (Yoga caches both per document), the context phase, the
      // request-time summary (a t-digest per observation, the same data as the duration histogram) or the
      // deprecated-field counter (a TypeInfo walk of every document; nothing is deprecated).
      metrics: {
        graphql_envelop_request: false,
        graphql_envelop_request_duration: true,
        graphql_envelop_phase_execute: true,
        graphql_envelop_phase_subscribe: true,
        graphql_envelop_error_result: true,
        graphql_envelop_schema_change: true,
        graphql_yoga_http_duration: true,
        graphql_envelop_request_time_summary: false,
        graphql_envelop_phase_parse: false,
        graphql_envelop_phase_validate: false,
        graphql_envelop_phase_context: false,
        graphql_envelop_deprecated_field: false,
      },
    }),
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

function useMetricsEndpoint(config: Config, metrics: OpsMetrics): Plugin {
  const expected = config.prometheus.token ? `Bearer ${config.prometheus.token}` : undefined;
  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      if (url.pathname !== METRICS_PATH) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        endResponse(new fetchAPI.Response('Method not allowed', { status: 405, headers: { allow: 'GET' } }));
        return;
      }
      if (expected && !sameSecret(request.headers.get('authorization') ?? '', expected)) {
        endResponse(
          new fetchAPI.Response('Unauthorized', { status: 401, headers: { 'www-authenticate': 'Bearer realm="metrics"' } }),
        );
        return;
      }
      try {
        const body = await metrics.metrics();
        endResponse(
          new fetchAPI.Response(body, { headers: { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' } }),
        );
      } catch (error) {
        endResponse(new fetchAPI.Response(`metrics collection failed: ${(error as Error).message}`, { status: 500 }));
      }
    },
  };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
