import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Operational events other modules report, for the Prometheus collector (src/ops/metrics.ts).
 *
 * They go through `node:diagnostics_channel`, so a module only imports these functions and never depends on
 * the ops service being built or wired; publishing costs nothing while no /metrics collector listens.
 * Channels are per process: one trackql app per process is the deployed shape (tests run one per file).
 */

export interface FoldEvent {
  /** Inbox rows folded. */
  folded: number;
  /** Statistic buckets written. */
  buckets: number;
  /** Rows moved to the dead-letter table. */
  deadLettered: number;
  durationMs: number;
}

export interface IncrementsEvent {
  accepted: number;
  /** One entry per rejected event, with its reason (`bot`, `unknown_metric`, …). */
  rejected: ReadonlyArray<{ reason: string }>;
  /** `increment` or `trackLabels` (or another entry point). */
  source: string;
}

export interface WebSocketEvent {
  /** +1 when a graphql-ws connection is accepted, -1 when it closes. */
  delta: 1 | -1;
}

export interface WebhookRequestEvent {
  /** `delivered` (2xx), `retried` (failed, will retry) or `failed` (failed for good). */
  outcome: 'delivered' | 'retried' | 'failed';
  /** Events in the request. */
  events: number;
  /** Request duration. */
  durationMs: number;
  /** Delivered only: seconds from each event's creation to its delivery. */
  latenciesSeconds: readonly number[];
}

export const channels = {
  fold: diagnosticsChannel.channel('trackql:fold'),
  foldFailed: diagnosticsChannel.channel('trackql:fold-failed'),
  increments: diagnosticsChannel.channel('trackql:increments'),
  websocket: diagnosticsChannel.channel('trackql:websocket'),
  webhook: diagnosticsChannel.channel('trackql:webhook'),
};

/** Call after every completed fold (cron, CLI or mutation). */
export function reportFold(event: FoldEvent): void {
  if (channels.fold.hasSubscribers) channels.fold.publish(event);
}

/** Call when a fold fails (the error itself is logged by the caller). */
export function reportFoldFailure(): void {
  if (channels.foldFailed.hasSubscribers) channels.foldFailed.publish({});
}

/** Call once per `increment`/`trackLabels` call with what was accepted and rejected. */
export function reportIncrements(event: IncrementsEvent): void {
  if (channels.increments.hasSubscribers) channels.increments.publish(event);
}

/** Call with +1 when a websocket connection is accepted and -1 when it closes. */
export function reportWebSocket(delta: 1 | -1): void {
  if (channels.websocket.hasSubscribers) channels.websocket.publish({ delta } satisfies WebSocketEvent);
}

/** Call after every webhook request with its outcome. */
export function reportWebhookRequest(event: WebhookRequestEvent): void {
  if (channels.webhook.hasSubscribers) channels.webhook.publish(event);
}
