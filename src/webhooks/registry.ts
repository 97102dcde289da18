import type { Row } from '../activity/action-store.ts';
import { pgTextArray } from '../activity/model.ts';
import type { Em } from '../db/orm.ts';
import { badInput, notFound } from '../server/errors.ts';
import {
  MAX_FILTER_VALUES,
  MAX_REMIND_AFTER,
  MAX_WEBHOOKS,
  type DeliveryRecord,
  type DeliveryStatus,
  type WebhookEventName,
  type WebhookFilter,
  type WebhookRecord,
} from './model.ts';
import { newSecret } from './signing.ts';
import { checkResolvedHost, checkWebhookUrl } from './url-safety.ts';

/** Registered webhooks (create, change, delete, list) and their deliveries (pages, retry). */

export interface WebhookInput {
  url: string;
  events: readonly WebhookEventName[];
  filter: WebhookFilter;
  remindAfter: number | null;
  active: boolean;
}

export interface WebhookChanges {
  url?: string | undefined;
  events?: readonly WebhookEventName[] | undefined;
  filter?: WebhookFilter | undefined;
  /** null clears it. */
  remindAfter?: number | null | undefined;
  active?: boolean | undefined;
}

function webhookFromRow(r: Row): WebhookRecord {
  return {
    id: Number(r['id']),
    url: String(r['url']),
    events: r['events'] as WebhookEventName[],
    filter: {
      verbs: (r['verbs'] as string[] | null) ?? null,
      objectTypes: (r['object_types'] as string[] | null) ?? null,
      minLevel: r['min_level'] === null ? null : Number(r['min_level']),
    },
    remindAfter: r['remind_after'] === null ? null : Number(r['remind_after']),
    active: Boolean(r['active']),
    createdAt: new Date(r['created_at'] as string),
    updatedAt: new Date(r['updated_at'] as string),
  };
}

export function deliveryFromRow(r: Row): DeliveryRecord {
  return {
    id: String(r['id']),
    webhookId: Number(r['webhook_id']),
    event: r['event'] as WebhookEventName,
    payload: r['payload'],
    status: r['status'] as DeliveryStatus,
    attempts: Number(r['attempts']),
    nextAttemptAt: new Date(r['next_attempt_at'] as string),
    batchId: r['batch_id'] === null ? null : String(r['batch_id']),
    lastError: (r['last_error'] as string | null) ?? null,
    lastStatusCode: r['last_status_code'] === null ? null : Number(r['last_status_code']),
    createdAt: new Date(r['created_at'] as string),
    deliveredAt: r['delivered_at'] === null ? null : new Date(r['delivered_at'] as string),
  };
}

function checkList(values: string[] | null, field: string): string[] | null {
  if (values === null) return null;
  const out = [...new Set(values.map((v) => v.trim()))];
  if (out.length === 0) throw badInput(`${field}: must not be an empty list (omit it for any)`);
  if (out.length > MAX_FILTER_VALUES) throw badInput(`${field}: at most ${MAX_FILTER_VALUES} values`);
  if (out.some((v) => v === '' || v.length > 256)) throw badInput(`${field}: values of 1 to 256 characters`);
  return out;
}

/** The whole webhook, checked: BAD_USER_INPUT naming the field. */
async function checked(input: WebhookInput, allowPrivate: boolean): Promise<WebhookInput> {
  await checkResolvedHost(checkWebhookUrl(input.url, allowPrivate), allowPrivate);
  const events = [...new Set(input.events)];
  if (events.length === 0) throw badInput('events: at least one event');
  const reminds = events.includes('FEED_STILL_UNREAD');
  if (reminds && input.remindAfter === null) throw badInput('remindAfter: required with FEED_STILL_UNREAD (seconds after an entry arrives)');
  if (!reminds && input.remindAfter !== null) throw badInput('remindAfter: only with the FEED_STILL_UNREAD event');
  if (input.remindAfter !== null && (!Number.isInteger(input.remindAfter) || input.remindAfter < 1 || input.remindAfter > MAX_REMIND_AFTER)) {
    throw badInput(`remindAfter: between 1 and ${MAX_REMIND_AFTER} seconds`);
  }
  return {
    ...input,
    events,
    filter: {
      verbs: checkList(input.filter.verbs, 'filter.verbs'),
      objectTypes: checkList(input.filter.objectTypes, 'filter.objectTypes'),
      minLevel: input.filter.minLevel,
    },
  };
}

const arrayParam = (values: readonly string[] | null) => (values === null ? null : pgTextArray(values));

export async function registerWebhook(em: Em, input: WebhookInput, allowPrivate: boolean): Promise<{ webhook: WebhookRecord; secret: string }> {
  const w = await checked(input, allowPrivate);
  const secret = newSecret();
  return em.transactional(async (tem) => {
    // Serialises registrations so the limit holds under concurrency.
    await tem.execute(`select pg_advisory_xact_lock(727001014)`);
    const count = await tem.execute<Row[]>(`select count(*)::int as n from webhook`);
    if (Number(count[0]?.['n'] ?? 0) >= MAX_WEBHOOKS) throw badInput(`url: at most ${MAX_WEBHOOKS} webhooks; delete one first`);
    const rows = await tem.execute<Row[]>(
      `insert into webhook (url, events, verbs, object_types, min_level, secret, remind_after, active)
       values (?, ?::text[], ?::text[], ?::text[], ?, ?, ?, ?) returning *`,
      [w.url, pgTextArray(w.events), arrayParam(w.filter.verbs), arrayParam(w.filter.objectTypes), w.filter.minLevel, secret, w.remindAfter, w.active],
    );
    return { webhook: webhookFromRow(rows[0]!), secret };
  });
}

export async function updateWebhook(em: Em, id: number, changes: WebhookChanges, allowPrivate: boolean): Promise<WebhookRecord> {
  return em.transactional(async (tem) => {
    const rows = await tem.execute<Row[]>(`select * from webhook where id = ? for update`, [id]);
    if (!rows[0]) throw notFound('No such webhook');
    const current = webhookFromRow(rows[0]);
    const w = await checked(
      {
        url: changes.url ?? current.url,
        events: changes.events ?? current.events,
        filter: changes.filter ?? current.filter,
        remindAfter: changes.remindAfter === undefined ? current.remindAfter : changes.remindAfter,
        active: changes.active ?? current.active,
      },
      allowPrivate,
    );
    const updated = await tem.execute<Row[]>(
      `update webhook set url = ?, events = ?::text[], verbs = ?::text[], object_types = ?::text[], min_level = ?,
              remind_after = ?, active = ?, updated_at = now()
        where id = ? returning *`,
      [w.url, pgTextArray(w.events), arrayParam(w.filter.verbs), arrayParam(w.filter.objectTypes), w.filter.minLevel, w.remindAfter, w.active, id],
    );
    // Reminders already scheduled keep their due time; without FEED_STILL_UNREAD they are dropped.
    if (w.remindAfter === null) await tem.execute(`delete from webhook_reminder where webhook_id = ?`, [id]);
    return webhookFromRow(updated[0]!);
  });
}

/** Deletes the webhook, its deliveries (pending ones are not sent) and its reminders. */
export async function deleteWebhook(em: Em, id: number): Promise<boolean> {
  return em.transactional(async (tem) => {
    const rows = await tem.execute<Row[]>(`delete from webhook where id = ? returning id`, [id]);
    if (!rows[0]) throw notFound('No such webhook');
    await tem.execute(`delete from webhook_delivery where webhook_id = ?`, [id]);
    await tem.execute(`delete from webhook_reminder where webhook_id = ?`, [id]);
    return true;
  });
}

export async function listWebhooks(em: Em): Promise<WebhookRecord[]> {
  return (await em.execute<Row[]>(`select * from webhook order by id`)).map(webhookFromRow);
}

export interface DeliveryPage {
  deliveries: DeliveryRecord[];
  hasNextPage: boolean;
}

/** Deliveries of a webhook, newest first (keyset on the id), optionally of one status. */
export async function deliveriesPage(
  em: Em,
  webhookId: number,
  status: DeliveryStatus | null,
  page: { first: number; after: string | null },
): Promise<DeliveryPage> {
  const exists = await em.execute<Row[]>(`select 1 from webhook where id = ?`, [webhookId]);
  if (!exists[0]) throw notFound('No such webhook');
  const params: unknown[] = [webhookId];
  let where = 'webhook_id = ?';
  if (status) {
    where += ' and status = ?';
    params.push(status);
  }
  if (page.after) {
    where += ' and id < ?';
    params.push(page.after);
  }
  params.push(page.first + 1);
  const rows = await em.execute<Row[]>(`select * from webhook_delivery where ${where} order by id desc limit ?`, params);
  return { deliveries: rows.slice(0, page.first).map(deliveryFromRow), hasNextPage: rows.length > page.first };
}

/**
 * Makes a FAILED delivery due now with its attempts reset, with the other events of its request (they are
 * sent together again, under the same webhook-id). BAD_USER_INPUT unless it is FAILED.
 */
export async function retryDelivery(em: Em, id: string): Promise<DeliveryRecord> {
  return em.transactional(async (tem) => {
    const rows = await tem.execute<Row[]>(`select * from webhook_delivery where id = ? for update`, [id]);
    if (!rows[0]) throw notFound('No such delivery');
    const delivery = deliveryFromRow(rows[0]);
    if (delivery.status !== 'FAILED') throw badInput(`id: the delivery is ${delivery.status}; only FAILED deliveries can be retried`);
    await tem.execute(
      `update webhook_delivery set status = 'PENDING', attempts = 0, next_attempt_at = now()
        where status = 'FAILED' and (id = ? or (batch_id is not null and batch_id = ?))`,
      [id, delivery.batchId ?? id],
    );
    const after = await tem.execute<Row[]>(`select * from webhook_delivery where id = ?`, [id]);
    return deliveryFromRow(after[0]!);
  });
}
