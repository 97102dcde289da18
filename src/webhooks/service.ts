import type { Config } from '../config.ts';
import type { Em, Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import type { DeliveryRecord, DeliveryStatus, WebhookRecord } from './model.ts';
import { activityOutbox, statisticOutbox } from './outbox.ts';
import {
  deleteWebhook,
  deliveriesPage,
  listWebhooks,
  registerWebhook,
  retryDelivery,
  updateWebhook,
  type DeliveryPage,
  type WebhookChanges,
  type WebhookInput,
} from './registry.ts';
import { DeliveryWorker } from './worker.ts';

/**
 * The webhooks module's entry point: the registry for resolvers, the outbox listeners the composition root
 * registers with activity and metrics, and the delivery worker started and stopped with the app.
 */
export class WebhookService {
  readonly #config: Config;
  readonly worker: DeliveryWorker;
  /** Registered with ActivityService.addWriteListener at composition. */
  readonly activityListener = activityOutbox;
  /** Registered with MetricsQueries.addRecordListener at composition. */
  readonly statisticListener = statisticOutbox;

  constructor(deps: { config: Config; orm: Orm; logger: Logger }) {
    this.#config = deps.config;
    this.worker = new DeliveryWorker(deps.orm, deps.config.webhooks, deps.logger.child({ module: 'webhooks' }));
  }

  register(em: Em, input: WebhookInput): Promise<{ webhook: WebhookRecord; secret: string }> {
    return registerWebhook(em, input, this.#config.webhooks.allowPrivate);
  }

  update(em: Em, id: number, changes: WebhookChanges): Promise<WebhookRecord> {
    return updateWebhook(em, id, changes, this.#config.webhooks.allowPrivate);
  }

  delete(em: Em, id: number): Promise<boolean> {
    return deleteWebhook(em, id);
  }

  list(em: Em): Promise<WebhookRecord[]> {
    return listWebhooks(em);
  }

  deliveries(em: Em, webhookId: number, status: DeliveryStatus | null, page: { first: number; after: string | null }): Promise<DeliveryPage> {
    return deliveriesPage(em, webhookId, status, page);
  }

  retry(em: Em, deliveryId: string): Promise<DeliveryRecord> {
    return retryDelivery(em, deliveryId);
  }

  start(): void {
    this.worker.start();
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
