import { z } from 'zod';
import { builder } from '../../schema/builder.ts';
import type { UserErasure } from '../user-erasure.ts';
import { userIdSchema } from './common.ts';
import type { UserExportPage } from '../user-export.ts';

/** A user's erasure and export (data-subject requests): `eraseUser`, `exportUser`. Services only. */

const ErasedActions = builder.enumType('ErasedActions', {
  description: 'What eraseUser does with the actions where the user is the actor.',
  values: {
    DELETE: { description: 'Delete them; every feed that had them and every count follow (REMOVED events).' },
    TOMBSTONE: { description: 'Keep them, showing the user as a tombstone (deleted, no label).' },
  } as const,
});

const UserErasureRef = builder.objectRef<UserErasure>('UserErasure').implement({
  description: 'What eraseUser removed.',
  fields: (t) => ({
    user: t.exposeID('user'),
    actionsDeleted: t.exposeInt('actionsDeleted', { description: 'Actions of the user deleted (DELETE).' }),
    trackersDeleted: t.exposeInt('trackersDeleted', { description: "The user's own trackers and mutes." }),
    feedEntriesDeleted: t.exposeInt('feedEntriesDeleted', { description: "Entries of the user's feed." }),
  }),
});

const UserExportRef = builder.objectRef<UserExportPage>('UserExport').implement({
  description: 'A page of everything stored about a user: trackers (and mutes), then feed entries, then the actions it is the actor of.',
  fields: (t) => ({
    user: t.exposeID('user'),
    unreadCount: t.exposeInt('unreadCount'),
    records: t.field({
      type: ['JSON'],
      description: 'Each record has `kind`: "tracker", "feedEntry" or "action".',
      resolve: (page) => page.records,
    }),
    endCursor: t.exposeString('endCursor', { nullable: true, description: 'Pass as `after` for the next page.' }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

builder.mutationFields((t) => ({
  eraseUser: t.field({
    type: UserErasureRef,
    description:
      "Erases a user (services only): its trackers, mutes, feed, counts, change stream, idempotency keys and the webhook reminders and deliveries that name it, in one transaction; every label the log had for it is cleared and it becomes a tombstone; `actions` says what happens to the actions it is the actor of.",
    authScopes: { service: true },
    args: {
      user: t.arg.id({ required: true, validate: userIdSchema }),
      actions: t.arg({ type: ErasedActions, required: true }),
    },
    resolve: (_root, args, ctx) => ctx.services.activity.eraseUser(ctx.em, String(args.user), args.actions),
  }),
}));

builder.queryFields((t) => ({
  exportUser: t.field({
    type: UserExportRef,
    description: 'Everything stored about a user, as JSON records, in pages of `first` (at most 1,000). Services only.',
    authScopes: { service: true },
    args: {
      user: t.arg.id({ required: true, validate: userIdSchema }),
      first: t.arg.int({ required: false, defaultValue: 100, validate: z.number().int().min(1, 'must be at least 1').max(1000, 'must be at most 1000') }),
      after: t.arg.string({ required: false }),
    },
    resolve: (_root, args, ctx) => ctx.services.activity.exportUser(ctx.em, String(args.user), args.first ?? 100, args.after ?? null),
  }),
}));
