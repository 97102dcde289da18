import { builder } from '../schema/builder.ts';
import type { RetentionReport } from './retention.ts';

const RetentionReportRef = builder.objectRef<RetentionReport>('RetentionReport').implement({
  description: 'What one run of the retention job removed (see RETENTION_* settings).',
  fields: (t) => ({
    ran: t.exposeBoolean('ran', { description: 'False when another instance was running retention (nothing was done).' }),
    statisticsCompacted: t.exposeInt('statisticsCompacted', {
      description: '15-minute counter buckets older than RETENTION_HOUR_DAYS merged into one bucket per UTC day.',
    }),
    statisticsDeleted: t.exposeInt('statisticsDeleted', { description: 'Statistic rows past their period\u2019s retention.' }),
    deadLettersDeleted: t.exposeInt('deadLettersDeleted'),
    actionsDeleted: t.exposeInt('actionsDeleted'),
    feedEntriesDeleted: t.exposeInt('feedEntriesDeleted'),
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
