import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { channels, type FoldEvent, type IncrementsEvent, type WebhookRequestEvent, type WebSocketEvent } from './events.ts';

/**
 * trackql's own Prometheus metrics, in a registry per app (the GraphQL and
 * HTTP metrics of every request go to the same registry, see graphql-metrics.ts).
 *
 * - Values owned by other modules' tables are read with SQL at scrape time (inbox depth, dead letters).
 * - Fold runs, increments and websocket connections arrive as events (events.ts, diagnostics_channel).
 * - Subscriptions are counted by the ops Yoga plugin (every transport goes through Yoga's envelop).
 */
/** What the ops collector reads from the metrics module at scrape time (its service has these). */
export interface MetricsProbe {
  lastFold(): { folded: number; buckets: number; deadLettered: number; durationMs: number } | null;
  inboxStats(): { flushes: number; rows: number; writes: number; queued: number };
}

export class OpsMetrics {
  readonly registry = new Registry();
  readonly subscriptions: Gauge<'transport'>;
  readonly retentionDeleted: Counter<'kind'>;
  readonly retentionRuns: Counter<'result'>;
  readonly retentionLastRun: Gauge;
  readonly #unsubscribe: Array<() => void> = [];

  constructor(orm: Orm, logger: Logger, probe?: MetricsProbe) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry });

    const scrapeErrors = new Counter({
      name: 'trackql_scrape_errors_total',
      help: 'Scrape-time SQL reads that failed (the gauge keeps its previous value).',
      labelNames: ['gauge'],
      registers: [registry],
    });
    const sqlGauge = (name: string, help: string, sql: string) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          try {
            const rows = await orm.em.fork().execute<Array<{ n: string | number }>>(sql);
            this.set(Number(rows[0]?.n ?? 0));
          } catch (error) {
            scrapeErrors.inc({ gauge: name });
            logger.warn({ err: error, gauge: name }, 'metrics scrape: SQL read failed');
          }
        },
      });
    sqlGauge('trackql_inbox_rows', 'Acknowledged increments waiting in the inbox for the next fold.', 'select count(*) as n from metric_inbox');
    sqlGauge(
      'trackql_webhook_deliveries_due',
      'Webhook deliveries due now (pending, next attempt reached).',
      `select count(*) as n from webhook_delivery where status = 'PENDING' and next_attempt_at <= now()`,
    );
    sqlGauge('trackql_webhook_deliveries_failed', 'Webhook deliveries FAILED (retry them with retryWebhookDelivery).', `select count(*) as n from webhook_delivery where status = 'FAILED'`);
    sqlGauge('trackql_dead_letters', 'Inbox rows the fold could not fold, kept in the dead-letter table.', 'select count(*) as n from metric_dead_letter');

    const foldDuration = new Histogram({
      name: 'trackql_fold_duration_seconds',
      help: 'Duration of completed folds.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    const foldRows = new Counter({ name: 'trackql_fold_rows_total', help: 'Inbox rows folded.', registers: [registry] });
    const foldBuckets = new Counter({ name: 'trackql_fold_buckets_total', help: 'Statistic buckets written by folds.', registers: [registry] });
    const foldDead = new Counter({ name: 'trackql_fold_dead_lettered_total', help: 'Inbox rows moved to dead letters by folds.', registers: [registry] });
    const folds = new Counter({ name: 'trackql_folds_total', help: 'Folds run, by result.', labelNames: ['result'], registers: [registry] });
    const lastFold = new Gauge({ name: 'trackql_fold_last_success_timestamp_seconds', help: 'When the last fold completed (unix time).', registers: [registry] });
    folds.inc({ result: 'ok' }, 0);
    folds.inc({ result: 'error' }, 0);

    if (probe) {
      const last = (name: string, help: string, pick: (r: NonNullable<ReturnType<MetricsProbe['lastFold']>>) => number) =>
        new Gauge({
          name,
          help,
          registers: [registry],
          collect() {
            const report = probe.lastFold();
            if (report) this.set(pick(report));
          },
        });
      last('trackql_fold_last_duration_seconds', 'Duration of the last fold run by this instance.', (r) => r.durationMs / 1000);
      last('trackql_fold_last_rows', 'Inbox rows folded by the last fold run by this instance.', (r) => r.folded);
      last('trackql_fold_last_buckets', 'Statistic buckets written by the last fold run by this instance.', (r) => r.buckets);
      last('trackql_fold_last_dead_lettered', 'Rows dead-lettered by the last fold run by this instance.', (r) => r.deadLettered);
      const inboxCounter = (name: string, help: string, pick: (s: ReturnType<MetricsProbe['inboxStats']>) => number) =>
        new Counter({
          name,
          help,
          registers: [registry],
          collect() {
            this.reset();
            this.inc(pick(probe.inboxStats()));
          },
        });
      inboxCounter('trackql_inbox_rows_written_total', 'Increments durably written to the inbox by this instance (accepted increments).', (s) => s.rows);
      inboxCounter('trackql_inbox_commits_total', 'Group-commit INSERTs made by this instance.', (s) => s.flushes);
      new Gauge({
        name: 'trackql_inbox_queued_rows',
        help: 'Increments waiting in this instance’s group-commit queue (not yet acknowledged).',
        registers: [registry],
        collect() {
          this.set(probe.inboxStats().queued);
        },
      });
    }

    const accepted = new Counter({
      name: 'trackql_increments_accepted_total',
      help: 'Increments accepted (durably in the inbox), by entry point.',
      labelNames: ['source'],
      registers: [registry],
    });
    const rejected = new Counter({
      name: 'trackql_increments_rejected_total',
      help: 'Increments rejected, by entry point and reason.',
      labelNames: ['source', 'reason'],
      registers: [registry],
    });
    const websockets = new Gauge({ name: 'trackql_websocket_connections', help: 'Open graphql-ws connections.', registers: [registry] });
    this.subscriptions = new Gauge({
      name: 'trackql_subscriptions',
      help: 'Running GraphQL subscriptions, by transport (ws or sse).',
      labelNames: ['transport'],
      registers: [registry],
    });
    this.subscriptions.set({ transport: 'ws' }, 0);
    this.subscriptions.set({ transport: 'sse' }, 0);

    this.retentionDeleted = new Counter({
      name: 'trackql_retention_rows_total',
      help: 'Rows removed (or compacted away) by the retention job, by kind.',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.retentionRuns = new Counter({ name: 'trackql_retention_runs_total', help: 'Retention runs, by result.', labelNames: ['result'], registers: [registry] });
    this.retentionLastRun = new Gauge({
      name: 'trackql_retention_last_success_timestamp_seconds',
      help: 'When the retention job last completed (unix time).',
      registers: [registry],
    });

    const on = <T>(channel: (typeof channels)[keyof typeof channels], handler: (message: T) => void) => {
      const listener = (message: unknown) => handler(message as T);
      channel.subscribe(listener);
      this.#unsubscribe.push(() => channel.unsubscribe(listener));
    };
    on<FoldEvent>(channels.fold, (e) => {
      folds.inc({ result: 'ok' });
      foldDuration.observe(e.durationMs / 1000);
      foldRows.inc(e.folded);
      foldBuckets.inc(e.buckets);
      foldDead.inc(e.deadLettered);
      lastFold.set(Date.now() / 1000);
    });
    on<unknown>(channels.foldFailed, () => folds.inc({ result: 'error' }));
    on<IncrementsEvent>(channels.increments, (e) => {
      if (e.accepted > 0) accepted.inc({ source: e.source }, e.accepted);
      const byReason = new Map<string, number>();
      for (const r of e.rejected) byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
      for (const [reason, n] of byReason) rejected.inc({ source: e.source, reason }, n);
    });
    on<WebSocketEvent>(channels.websocket, (e) => websockets.inc(e.delta));

    const webhookEvents = new Counter({
      name: 'trackql_webhook_events_total',
      help: 'Webhook events sent by this instance, by outcome of their request (delivered, retried, failed).',
      labelNames: ['outcome'],
      registers: [registry],
    });
    for (const outcome of ['delivered', 'retried', 'failed']) webhookEvents.inc({ outcome }, 0);
    const webhookRequests = new Histogram({
      name: 'trackql_webhook_request_duration_seconds',
      help: 'Duration of webhook requests, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    const webhookLatency = new Histogram({
      name: 'trackql_webhook_delivery_latency_seconds',
      help: 'From an event\u2019s creation (its change committed) to its delivery.',
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400],
      registers: [registry],
    });
    on<WebhookRequestEvent>(channels.webhook, (e) => {
      webhookEvents.inc({ outcome: e.outcome }, e.events);
      webhookRequests.observe({ outcome: e.outcome }, e.durationMs / 1000);
      for (const l of e.latenciesSeconds) webhookLatency.observe(l);
    });
  }

  /** The exposition text (`text/plain; version=0.0.4`). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }
}
