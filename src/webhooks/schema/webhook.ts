import { z } from 'zod';
import { Level } from '../../activity/schema/action.ts';
import { builder } from '../../schema/builder.ts';
import { nodeDbId } from '../../schema/node-id.ts';
import { badInput, notFound } from '../../server/errors.ts';
import { MAX_FILTER_VALUES, MAX_REMIND_AFTER, MAX_URL_LENGTH, WEBHOOK_EVENTS, type WebhookFilter, type WebhookRecord } from '../model.ts';

/** Webhooks: the Webhook node, its filter, `webhooks`, `registerWebhook`, `updateWebhook`, `deleteWebhook`. Service only. */

export const WebhookEvent = builder.enumType('WebhookEvent', {
  description: 'What a webhook is told about (see the README, "Webhooks", for each payload).',
  values: {
    ACTION_LOGGED: { description: 'An action was logged (or amended by grouping): one event per logAction.' },
    FEED_ENTRY_ADDED: { description: 'An action entered a user\u2019s feed: one event per receiving user, with the trackers that matched.' },
    FEED_READ: { description: 'A user marked an action read (`all: true` for markAllRead).' },
    FEED_SEEN: { description: 'A user marked an action seen (`all: true` for markAllSeen), with the unseen count.' },
    FEED_STILL_UNREAD: { description: 'An entry still unread `remindAfter` seconds after it arrived (at most once per entry and webhook).' },
    STATISTIC_RECORDED: { description: 'A GAUGE value was recorded (recordStatistic).' },
  } satisfies Record<(typeof WEBHOOK_EVENTS)[number], { description: string }>,
});

const WebhookFilterRef = builder.objectRef<WebhookFilter>('WebhookFilter').implement({
  description: 'Which events a webhook receives; every set condition must hold. Statistics only look at objectTypes.',
  fields: (t) => ({
    verbs: t.exposeStringList('verbs', { nullable: true, description: 'Actions with one of these verbs (null: any).' }),
    objectTypes: t.exposeStringList('objectTypes', {
      nullable: true,
      description: 'Actions with an actor, target or related object of one of these types; statistics of an object of one (null: any).',
    }),
    minLevel: t.field({ type: Level, nullable: true, description: 'Actions at or above this level (null: any).', resolve: (f) => f.minLevel }),
  }),
});

export const WebhookFilterInput = builder.inputType('WebhookFilterInput', {
  fields: (t) => ({
    verbs: t.stringList({ required: false, validate: z.array(z.string()).max(MAX_FILTER_VALUES) }),
    objectTypes: t.stringList({ required: false, validate: z.array(z.string()).max(MAX_FILTER_VALUES) }),
    minLevel: t.field({ type: Level, required: false }),
  }),
});

export const WebhookRef = builder.objectRef<WebhookRecord>('Webhook');

builder.node(WebhookRef, {
  description: 'A receiver of signed events (Standard Webhooks). Service only; its secret is shown once, by registerWebhook.',
  authScopes: { service: true },
  id: { resolve: (w) => w.id },
  loadMany: async (ids, ctx) => {
    if (ctx.viewer.kind !== 'service') return ids.map(() => null);
    const all = new Map((await ctx.services.webhooks.list(ctx.em)).map((w) => [String(w.id), w]));
    // Ids are looked up in the (bounded) list of webhooks, never sent to SQL.
    return ids.map((id) => all.get(id) ?? null);
  },
  fields: (t) => ({
    url: t.exposeString('url'),
    events: t.field({ type: [WebhookEvent], resolve: (w) => w.events }),
    filter: t.field({ type: WebhookFilterRef, resolve: (w) => w.filter }),
    remindAfter: t.exposeInt('remindAfter', { nullable: true, description: 'FEED_STILL_UNREAD: seconds after an entry arrived.' }),
    active: t.exposeBoolean('active', { description: 'Inactive webhooks get no new events; their pending deliveries wait.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (w) => w.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (w) => w.updatedAt }),
  }),
});

const RegisteredWebhook = builder.objectRef<{ webhook: WebhookRecord; secret: string }>('RegisteredWebhook').implement({
  fields: (t) => ({
    webhook: t.field({ type: WebhookRef, resolve: (r) => r.webhook }),
    secret: t.exposeString('secret', {
      description: 'The signing secret (whsec_…), shown only here: give it to the receiver to verify webhook-signature.',
    }),
  }),
});

const urlSchema = z.string().max(MAX_URL_LENGTH, `at most ${MAX_URL_LENGTH} characters`);
const remindSchema = z.number().int().min(1).max(MAX_REMIND_AFTER, `at most ${MAX_REMIND_AFTER} seconds`);

/** The database id in a Webhook global id (BAD_USER_INPUT naming `field` when it is not one). */
export function webhookDbId(raw: string | number, field = 'id'): number {
  return Number(nodeDbId(raw, 'Webhook', field));
}

function filterFrom(input: { verbs?: string[] | null; objectTypes?: string[] | null; minLevel?: number | null } | null | undefined): WebhookFilter {
  return { verbs: input?.verbs ?? null, objectTypes: input?.objectTypes ?? null, minLevel: input?.minLevel ?? null };
}

builder.queryField('webhooks', (t) =>
  t.field({
    type: [WebhookRef],
    description: 'Every registered webhook. Service only.',
    authScopes: { service: true },
    resolve: (_root, _args, ctx) => ctx.services.webhooks.list(ctx.em),
  }),
);

builder.mutationFields((t) => ({
  registerWebhook: t.field({
    type: RegisteredWebhook,
    description:
      'Registers a receiver: https, not a private/loopback/link-local address (unless WEBHOOK_ALLOW_PRIVATE). Returns the signing secret, once. Service only.',
    authScopes: { service: true },
    args: {
      url: t.arg.string({ required: true, validate: urlSchema }),
      events: t.arg({ type: [WebhookEvent], required: true }),
      filter: t.arg({ type: WebhookFilterInput, required: false }),
      remindAfter: t.arg.int({ required: false, validate: remindSchema, description: 'Seconds; required with FEED_STILL_UNREAD.' }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.webhooks.register(ctx.em, {
        url: args.url,
        events: args.events,
        filter: filterFrom(args.filter),
        remindAfter: args.remindAfter ?? null,
        active: true,
      }),
  }),
  updateWebhook: t.field({
    type: WebhookRef,
    description: 'Changes a webhook; omitted arguments are kept, a given filter replaces the filter, filter: null and remindAfter: null clear them. Service only.',
    authScopes: { service: true },
    args: {
      id: t.arg.id({ required: true }),
      url: t.arg.string({ required: false, validate: urlSchema }),
      events: t.arg({ type: [WebhookEvent], required: false }),
      filter: t.arg({ type: WebhookFilterInput, required: false }),
      remindAfter: t.arg.int({ required: false, validate: remindSchema }),
      active: t.arg.boolean({ required: false }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.webhooks.update(ctx.em, webhookDbId(args.id), {
        url: args.url ?? undefined,
        events: args.events ?? undefined,
        // Omitted: kept; null clears it (every event passes), as remindAfter: null does.
        filter: args.filter === undefined ? undefined : filterFrom(args.filter),
        remindAfter: args.remindAfter,
        active: args.active ?? undefined,
      }),
  }),
  deleteWebhook: t.field({
    type: 'Boolean',
    description: 'Deletes a webhook with its deliveries (pending ones are not sent) and reminders. Service only.',
    authScopes: { service: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.webhooks.delete(ctx.em, webhookDbId(args.id)),
  }),
}));
