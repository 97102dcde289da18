import { defineEntity, p } from '@mikro-orm/sql';

/**
 * Webhook tables. The services use SQL on them directly (set-based outbox writes, SKIP LOCKED claims);
 * these definitions are the source of the migrations and document the layout.
 *
 * - `webhook`: a receiver URL, the events it wants, its filter, its signing secret and its reminder delay.
 * - `webhook_delivery`: the outbox: one row per (webhook, event), written in the transaction of the change
 *   that causes it. A row is due when `status = 'PENDING' and next_attempt_at <= now()`; a claim moves
 *   `next_attempt_at` past the request's timeouts (the lease), so a crashed instance's rows come due again.
 *   `batch_id` is the id of the first row of the request the row was first sent in: a retried request holds
 *   the same rows and carries the same `webhook-id` (`msg_<batch_id>`).
 * - `webhook_reminder`: one row per (webhook, user, action) for webhooks with FEED_STILL_UNREAD, due
 *   `remind_after` seconds after the entry arrived; the reminder job deletes it when due (so each entry is
 *   reminded at most once per webhook) and writes a FEED_STILL_UNREAD delivery if the entry is still unread.
 */
export const WebhookSchema = defineEntity({
  name: 'Webhook',
  tableName: 'webhook',
  properties: {
    id: p.integer().primary().autoincrement(),
    url: p.string().length(2048),
    /** WebhookEvent names. */
    events: p.array(),
    /** Filter: only actions with one of these verbs (null: every verb). */
    verbs: p.array().nullable(),
    /** Filter: only actions (or statistics) involving an object of one of these types (null: every type). */
    objectTypes: p.array().nullable(),
    /** Filter: only actions at or above this level (null: every level). */
    minLevel: p.smallint().nullable(),
    secret: p.string().length(128),
    /** FEED_STILL_UNREAD: seconds after an entry arrived (null: no reminders). */
    remindAfter: p.integer().nullable(),
    active: p.boolean().default(true),
    createdAt: p.datetime().defaultRaw('now()'),
    updatedAt: p.datetime().defaultRaw('now()'),
  },
});
export class Webhook extends WebhookSchema.class {}
WebhookSchema.setClass(Webhook);

export const WebhookDeliverySchema = defineEntity({
  name: 'WebhookDelivery',
  tableName: 'webhook_delivery',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    webhookId: p.integer(),
    event: p.string().length(32),
    payload: p.json<unknown>(),
    /** PENDING, DELIVERED or FAILED. */
    status: p.string().length(16).default('PENDING'),
    attempts: p.integer().default(0),
    nextAttemptAt: p.datetime().defaultRaw('now()'),
    batchId: p.bigint('string').nullable(),
    lastError: p.string().length(512).nullable(),
    lastStatusCode: p.smallint().nullable(),
    createdAt: p.datetime().defaultRaw('now()'),
    deliveredAt: p.datetime().nullable(),
  },
  indexes: [
    { name: 'webhook_delivery_due_idx', properties: ['nextAttemptAt', 'id'], where: `status = 'PENDING'` },
    { name: 'webhook_delivery_webhook_idx', properties: ['webhookId', 'id'] },
    { name: 'webhook_delivery_batch_idx', properties: ['batchId'] },
    { name: 'webhook_delivery_delivered_idx', properties: ['deliveredAt'], where: `status = 'DELIVERED'` },
  ],
});
export class WebhookDelivery extends WebhookDeliverySchema.class {}
WebhookDeliverySchema.setClass(WebhookDelivery);

export const WebhookReminderSchema = defineEntity({
  name: 'WebhookReminder',
  tableName: 'webhook_reminder',
  properties: {
    webhookId: p.integer().primary(),
    userId: p.string().length(256).primary(),
    actionId: p.bigint('string').primary(),
    dueAt: p.datetime(),
  },
  indexes: [{ name: 'webhook_reminder_due_idx', properties: ['dueAt'] }],
});
export class WebhookReminder extends WebhookReminderSchema.class {}
WebhookReminderSchema.setClass(WebhookReminder);

export const webhookEntities = [WebhookSchema, WebhookDeliverySchema, WebhookReminderSchema];
