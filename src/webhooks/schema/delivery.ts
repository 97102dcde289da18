import { builder } from '../../schema/builder.ts';
import { badInput } from '../../server/errors.ts';
import { parseBigintId } from '../../db/bigint-id.ts';
import { DELIVERY_STATUSES, messageId, type DeliveryRecord } from '../model.ts';
import { nodeDbId } from '../../schema/node-id.ts';
import { webhookDbId, WebhookEvent, WebhookRef } from './webhook.ts';

/** Deliveries: the WebhookDelivery node, `webhookDeliveries`, `retryWebhookDelivery`. Service only. */

const DeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  description: 'PENDING: due or waiting for a retry. DELIVERED: a 2xx answer. FAILED: WEBHOOK_MAX_ATTEMPTS attempts failed.',
  values: DELIVERY_STATUSES,
});

export const WebhookDeliveryRef = builder.objectRef<DeliveryRecord>('WebhookDelivery');

const MAX_DELIVERY_PAGE = 100;

builder.node(WebhookDeliveryRef, {
  description: 'One event for one webhook, in the outbox: written with the change that caused it, then delivered.',
  authScopes: { service: true },
  id: { resolve: (d) => d.id },
  // Read with webhookDeliveries; node(id:) does not load deliveries.
  loadMany: async (ids) => ids.map(() => null),
  fields: (t) => ({
    webhook: t.field({ type: WebhookRef, nullable: true, resolve: (d, _a, ctx) => ctx.services.webhooks.list(ctx.em).then((l) => l.find((w) => w.id === d.webhookId) ?? null) }),
    event: t.field({ type: WebhookEvent, resolve: (d) => d.event }),
    eventId: t.string({ description: 'The event\u2019s id in the request body (evt_…).', resolve: (d) => `evt_${d.id}` }),
    messageId: t.string({
      nullable: true,
      description: 'The webhook-id header of the request carrying it (stable across retries); null before the first attempt.',
      resolve: (d) => (d.batchId ? messageId(d.batchId) : null),
    }),
    payload: t.field({ type: 'JSON', resolve: (d) => d.payload }),
    status: t.field({ type: DeliveryStatusEnum, resolve: (d) => d.status }),
    attempts: t.exposeInt('attempts'),
    nextAttemptAt: t.field({ type: 'DateTime', resolve: (d) => d.nextAttemptAt }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true, description: 'The last failure, with a short excerpt of the response.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => d.createdAt }),
    deliveredAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.deliveredAt }),
  }),
});

const cursorOf = (id: string) => Buffer.from(`delivery:${id}`, 'utf8').toString('base64url');
function idFromCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = decoded.startsWith('delivery:') ? parseBigintId(decoded.slice(9)) : null;
  if (id === null) throw badInput('after: not a cursor returned by webhookDeliveries');
  return id;
}

builder.queryFields((t) => ({
  webhookDeliveries: t.connection({
    type: WebhookDeliveryRef,
    description: `A webhook's deliveries, newest first, optionally of one status; \`first\` is at most ${MAX_DELIVERY_PAGE}. Service only.`,
    authScopes: { service: true },
    args: {
      webhook: t.arg.id({ required: true }),
      status: t.arg({ type: DeliveryStatusEnum, required: false }),
    },
    resolve: async (_root, args, ctx) => {
      if (args.last != null || args.before != null) throw badInput('Only forward pagination (first/after) is supported');
      const first = args.first ?? 20;
      if (first < 0 || first > MAX_DELIVERY_PAGE) throw badInput(`first: must be between 0 and ${MAX_DELIVERY_PAGE}`);
      const page = await ctx.services.webhooks.deliveries(ctx.em, webhookDbId(args.webhook, 'webhook'), args.status ?? null, {
        first,
        after: args.after ? idFromCursor(args.after) : null,
      });
      const edges = page.deliveries.map((d) => ({ cursor: cursorOf(d.id), node: d }));
      return {
        edges,
        pageInfo: {
          hasNextPage: page.hasNextPage,
          hasPreviousPage: false,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges[edges.length - 1]?.cursor ?? null,
        },
      };
    },
  }),
}));

builder.mutationField('retryWebhookDelivery', (t) =>
  t.field({
    type: WebhookDeliveryRef,
    description: 'Makes a FAILED delivery due now (attempts reset), with the other events of its request. Service only.',
    authScopes: { service: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => {
      return ctx.services.webhooks.retry(ctx.em, nodeDbId(args.id, 'WebhookDelivery', 'id'));
    },
  }),
);
