import type { TestApp } from '../support/app.ts';
import type { Receiver } from './receiver.ts';

export const REGISTER = `mutation RegisterWebhook($url: String!, $events: [WebhookEvent!]!, $filter: WebhookFilterInput, $remindAfter: Int) {
  registerWebhook(url: $url, events: $events, filter: $filter, remindAfter: $remindAfter) {
    secret
    webhook { id url events remindAfter active filter { verbs objectTypes minLevel } }
  }
}`;

export const DELIVERIES = `query WebhookDeliveries($webhook: ID!, $status: WebhookDeliveryStatus, $first: Int, $after: String) {
  webhookDeliveries(webhook: $webhook, status: $status, first: $first, after: $after) {
    edges { cursor node { id event eventId messageId status attempts lastStatusCode lastError payload deliveredAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export function webhookHelpers(t: TestApp) {
  const service = { token: t.serviceToken };
  const created: string[] = [];

  async function register(
    receiver: Receiver,
    events: string[],
    filter: Record<string, unknown> | null = null,
    remindAfter: number | null = null,
  ): Promise<{ id: string; secret: string }> {
    const data = await t.ok<{ registerWebhook: { secret: string; webhook: { id: string } } }>(
      REGISTER,
      { url: receiver.url, events, filter, remindAfter },
      service,
    );
    receiver.setSecret(data.registerWebhook.secret);
    created.push(data.registerWebhook.webhook.id);
    return { id: data.registerWebhook.webhook.id, secret: data.registerWebhook.secret };
  }

  async function deliveries(webhook: string, status: string | null = null, first = 100) {
    const data = await t.ok<{ webhookDeliveries: { edges: Array<{ node: any }>; pageInfo: any } }>(
      DELIVERIES,
      { webhook, status, first },
      service,
    );
    return data.webhookDeliveries.edges.map((e) => e.node);
  }

  /** Deletes the webhooks this helper registered (so later tests' events do not reach them). */
  async function cleanup(): Promise<void> {
    for (const id of created.splice(0)) {
      await t.gql(`mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }`, { id }, service);
    }
  }

  async function waitUntil(predicate: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!(await predicate())) {
      if (Date.now() > until) throw new Error(`condition not met in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  return { service, register, deliveries, cleanup, waitUntil };
}

/** Settings for fast tests: local receivers allowed, short polls, short backoff. */
export const FAST_WEBHOOKS = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_POLL_MS: '100',
  WEBHOOK_BACKOFF_BASE_MS: '300',
  WEBHOOK_BACKOFF_MAX_MS: '1200',
  WEBHOOK_MAX_ATTEMPTS: '3',
  WEBHOOK_CONNECT_TIMEOUT_MS: '1000',
  WEBHOOK_RESPONSE_TIMEOUT_MS: '1500',
  WEBHOOK_BATCH_SIZE: '50',
};
