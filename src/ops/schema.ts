import { builder } from '../schema/builder.ts';
import type { RetentionReport } from './retention.ts';

const RetentionReportRef = builder.objectRef<RetentionReport>('RetentionReport').implement({
  description: 'What one run of the retention job removed (see RETENTION_* settings).',
  fields: (t) => ({
    ran: t.exposeBoolean('ran', { description: 'False when another instance was running retention (nothing was done).' }),
    // Row counts: Float, since a first run over a long history can pass 2^31.
    statisticsCompacted: t.exposeFloat('statisticsCompacted', {
      description:
        '15-minute counter buckets older than RETENTION_HOUR_DAYS merged into chunks between local midnights of RETENTION_TIMEZONES.',
    }),
    statisticsDeleted: t.exposeFloat('statisticsDeleted', { description: 'Statistic rows past their period\u2019s retention.' }),
    deadLettersDeleted: t.exposeFloat('deadLettersDeleted'),
    idempotencyKeysDeleted: t.exposeFloat('idempotencyKeysDeleted', {
      description: 'Increment ids and logAction idempotency keys older than METRICS_DEDUPE_HOURS / ACTIVITY_DEDUPE_HOURS.',
    }),
    actionsDeleted: t.exposeFloat('actionsDeleted'),
    feedEntriesDeleted: t.exposeFloat('feedEntriesDeleted'),
    durationMs: t.exposeInt('durationMs'),
  }),
});

builder.mutationField('applyRetention', (t) =>
  t.field({
    type: RetentionReportRef,
    description: 'Runs the retention job now (it also runs on RETENTION_CRON). Service only.',
    authScopes: { service: true },
    resolve: (_root, _args, ctx) => ctx.services.ops.retention.run(),
  }),
);
