/** Webhooks: event names, statuses, records and limits shared by the module's files. */

export const WEBHOOK_EVENTS = ['ACTION_LOGGED', 'FEED_ENTRY_ADDED', 'FEED_READ', 'FEED_SEEN', 'FEED_STILL_UNREAD', 'STATISTIC_RECORDED'] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

export const DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'FAILED'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const MAX_WEBHOOKS = 100;
export const MAX_URL_LENGTH = 2048;
export const MAX_FILTER_VALUES = 100;
/** FEED_STILL_UNREAD: at most 30 days after arrival. */
export const MAX_REMIND_AFTER = 30 * 24 * 3600;
/** Characters of a receiver's response (or of an error) kept on the delivery row. */
export const ERROR_EXCERPT = 200;

export interface WebhookFilter {
  /** Actions with one of these verbs (null: any). */
  verbs: string[] | null;
  /** Actions with an object (actor, target, related) of one of these types, statistics of an object of one (null: any). */
  objectTypes: string[] | null;
  /** Actions at or above this level (null: any). */
  minLevel: number | null;
}

export interface WebhookRecord {
  id: number;
  url: string;
  events: WebhookEventName[];
  filter: WebhookFilter;
  remindAfter: number | null;
  active: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface DeliveryRecord {
  id: string;
  webhookId: number;
  event: WebhookEventName;
  payload: unknown;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  /** `webhook-id` of the request this event is sent in (`msg_<batchId>`), once first sent. */
  batchId: string | null;
  lastError: string | null;
  lastStatusCode: number | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

export const messageId = (batchId: string): string => `msg_${batchId}`;
