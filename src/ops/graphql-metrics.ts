import { getOperationAST, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The GraphQL and HTTP metrics of every request, under the names and labels that @envelop/prometheus and
 * @graphql-yoga/plugin-prometheus give them (dashboards and alerts keep working):
 * - `graphql_envelop_phase_execute` and `graphql_envelop_request_duration` {operationType}: the execute phase
 *   (for a query or mutation the library's "request duration" is the same measurement);
 * - `graphql_envelop_phase_subscribe` and `graphql_envelop_request_duration` {operationType}: a subscription,
 *   from subscribe to the end of its stream;
 * - `graphql_envelop_error_result` {operationType, phase}: one per error, phase parse, validate, context,
 *   execute or subscribe;
 * - `graphql_envelop_schema_change`;
 * - `graphql_yoga_http_duration` {method, statusCode, operationType}: every GraphQL HTTP request whose parameters
 *   were read, from then to its response (those refused before: CSRF, body size, method, are not timed: no
 *   per-request work is added for them on every request's path).
 * Labels take only bounded values: the operation type ("unknown" when the document did not parse), the HTTP
 * method and status. Never the client-chosen operation name, error path or URL.
 *
 * Written here instead of using those two plugins (measured in bench/results/overhead.md, issue 16): with them
 * trackql spent ~150 µs of server CPU per trivial request in metrics alone, about 40 % of it, more than a whole
 * bare Yoga request. They rebuild label objects per request and per metric (`Object.fromEntries` over filtered
 * entries), filter their handler lists per request, keep per-request state in three WeakMaps, and prom-client
 * then hashes each label object to find its series. Here each series' child is bound once (a handful per
 * process: the label values are bounded) and a request keeps one small record.
 */
export interface GraphqlMetrics {
  /** The Yoga plugin that records every request's metrics. */
  plugin: Plugin;
  /**
   * A subscription driven without its GraphQL envelope once started (the websocket `feed`, server/ws-feed.ts)
   * ended after `seconds`: its subscribe phase, which the plugin's hooks never see end.
   */
  subscriptionEnded(seconds: number): void;
}

export function createGraphqlMetrics(registry: Registry): GraphqlMetrics {
  const registers = [registry];
  /** A histogram per operation type, as @envelop/prometheus names and describes it. */
  const byOperationType = (name: string, help: string) => new Histogram({ name, help, labelNames: ['operationType'], registers });
  const execute = byOperationType('graphql_envelop_phase_execute', 'Time spent on running the GraphQL "execute" function');
  const subscribe = byOperationType('graphql_envelop_phase_subscribe', 'Time spent on running the GraphQL "subscribe" function');
  const request = byOperationType('graphql_envelop_request_duration', 'Time spent on running the GraphQL operation from parse to execute');
  const errors = new Counter({
    name: 'graphql_envelop_error_result',
    help: 'Counts the amount of errors reported from all phases',
    labelNames: ['operationType', 'phase'],
    registers,
  });
  const schemaChanges = new Counter({
    name: 'graphql_envelop_schema_change',
    help: 'Counts the amount of schema changes',
    registers,
  });
  const http = new Histogram({
    name: 'graphql_yoga_http_duration',
    help: 'Time spent on HTTP connection',
    labelNames: ['method', 'statusCode', 'operationType'],
    registers,
  });

  /** Children bound once per label value (operation types and phases are few). */
  const bound = <T>(make: (key: string) => T) => {
    const children = new Map<string, T>();
    return (key: string): T => {
      let child = children.get(key);
      if (!child) children.set(key, (child = make(key)));
      return child;
    };
  };
  const executeOf = bound((type) => execute.labels(type));
  const subscribeOf = bound((type) => subscribe.labels(type));
  const requestOf = bound((type) => request.labels(type));
  const errorsOf = bound((key) => {
    const [type = UNKNOWN, phase = UNKNOWN] = key.split(' ');
    return errors.labels(type, phase);
  });
  // Methods that reach GraphQL are GET and POST, statuses a few dozen at most: bounded.
  const httpOf = bound((key) => {
    const [method = UNKNOWN, status = UNKNOWN, type = UNKNOWN] = key.split(' ');
    return http.labels(method, status, type);
  });

  /** The operation type of a parsed document, per document (Yoga's parse cache hands out the same one). */
  const types = new WeakMap<DocumentNode, string>();
  const typeOf = (document: DocumentNode, operationName: string | null | undefined): string => {
    if (operationName) return getOperationAST(document, operationName)?.operation ?? UNKNOWN;
    let type = types.get(document);
    if (type === undefined) types.set(document, (type = getOperationAST(document)?.operation ?? UNKNOWN));
    return type;
  };

  /** What a GraphQL HTTP request keeps until its response: when it arrived and what it turned out to be. */
  interface Timing {
    start: number;
    operationType: string;
  }
  const timings = new WeakMap<Request, Timing>();
  const timingOf = (context: unknown): Timing | undefined => {
    const req = (context as { request?: Request } | undefined)?.request;
    return req ? timings.get(req) : undefined;
  };
  const seconds = (since: number) => (performance.now() - since) / 1000;
  const countErrors = (result: ExecutionResult, type: string, phase: string) => {
    const n = result.errors?.length ?? 0;
    if (n > 0) errorsOf(`${type} ${phase}`).inc(n);
  };

  const phaseOf = { execute: executeOf, subscribe: subscribeOf };
  /**
   * One execute or subscribe phase, started now: `done` takes its result, counts its errors and observes its
   * duration when it is over (for a stream, when the stream ends).
   */
  const phase = (args: { document: DocumentNode; operationName?: string | null }, name: keyof typeof phaseOf) => {
    const type = typeOf(args.document, args.operationName);
    const start = performance.now();
    const over = () => {
      const elapsed = seconds(start);
      phaseOf[name](type).observe(elapsed);
      requestOf(type).observe(elapsed);
    };
    const done = ({ result }: { result: ExecutionResult | AsyncIterable<ExecutionResult> }) => {
      if (isAsyncIterable(result)) return { onNext: ({ result: r }: { result: ExecutionResult }) => countErrors(r, type, name), onEnd: over };
      countErrors(result, type, name);
      over();
      return undefined;
    };
    return { type, done };
  };

  const plugin: Plugin = {
    onSchemaChange() {
      schemaChanges.inc();
    },
    onParams({ request: req }) {
      timings.set(req, { start: performance.now(), operationType: UNKNOWN });
    },
    onParse({ context }) {
      return ({ result }) => {
        if (result instanceof Error || result === null) {
          errorsOf(`${UNKNOWN} parse`).inc();
          return;
        }
        const timing = timingOf(context);
        if (timing) timing.operationType = typeOf(result, (context as { params?: { operationName?: string | null } }).params?.operationName);
      };
    },
    onValidate({ context, params }) {
      return ({ valid }) => {
        if (!valid) errorsOf(`${timingOf(context)?.operationType ?? typeOf(params.documentAST, undefined)} validate`).inc();
      };
    },
    onPluginInit({ registerContextErrorHandler }) {
      registerContextErrorHandler(({ context }) => {
        errorsOf(`${timingOf(context)?.operationType ?? UNKNOWN} context`).inc();
      });
    },
    onExecute({ args }) {
      return { onExecuteDone: phase(args, 'execute').done };
    },
    onSubscribe({ args }) {
      const { type, done } = phase(args, 'subscribe');
      return {
        onSubscribeResult: done,
        onSubscribeError() {
          errorsOf(`${type} subscribe`).inc();
        },
      };
    },
    onResponse({ request: req, response }) {
      const timing = timings.get(req);
      if (!timing) return;
      httpOf(`${req.method} ${response.status} ${timing.operationType}`).observe(seconds(timing.start));
    },
  };
  return {
    plugin,
    subscriptionEnded(elapsed) {
      subscribeOf(SUBSCRIPTION).observe(elapsed);
      requestOf(SUBSCRIPTION).observe(elapsed);
    },
  };
}

const UNKNOWN = 'unknown';
const SUBSCRIPTION = 'subscription';

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
