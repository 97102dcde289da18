import type { Row } from '../activity/action-store.ts';
import type { WebhookConfig } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../logger.ts';
import { reportWebhookRequest } from '../ops/events.ts';
import { postSigned, type PostOutcome } from './delivery.ts';
import { messageId, type WebhookEventName } from './model.ts';
import { remindStillUnread } from './outbox.ts';
import { signedHeaders } from './signing.ts';

/**
 * The delivery worker, on every instance. Each tick: due reminders become deliveries; due deliveries are
 * claimed with FOR UPDATE SKIP LOCKED (so instances never take the same rows), grouped per webhook into
 * requests of up to WEBHOOK_BATCH_SIZE events, leased (next_attempt_at moved past the request's timeout, so
 * a crashed instance's rows come due again: at-least-once), sent signed, and the outcome recorded:
 * DELIVERED, or retried with exponential backoff and jitter, FAILED after WEBHOOK_MAX_ATTEMPTS. A request
 * keeps its rows and its webhook-id (`msg_<batch_id>`) across retries. Delivered rows are deleted after
 * RETENTION_WEBHOOK_DAYS.
 */

/** Extra lease beyond the response timeout: time to record the outcome. */
const LEASE_MARGIN_MS = 5_000;
const REMINDERS_PER_TICK = 5_000;
const RETENTION_EVERY_MS = 10 * 60_000;
const RETENTION_ROWS_PER_RUN = 10_000;

export interface ClaimedBatch {
  batchId: string;
  webhookId: number;
  url: string;
  secret: string;
  attempts: number;
  events: Array<{ id: string; event: WebhookEventName; payload: unknown; createdAt: Date }>;
}

/** Delay before attempt `attempts + 1`: base * 2^(attempts-1), capped, with "equal jitter" (half fixed, half random). */
export function backoffMs(attempts: number, config: Pick<WebhookConfig, 'backoffBaseMs' | 'backoffMaxMs'>): number {
  const exp = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/** The JSON body of a request: a Standard Webhooks envelope holding the events, oldest first. */
export function requestBody(batch: ClaimedBatch, at: Date): string {
  return JSON.stringify({
    type: 'trackql.events',
    timestamp: at.toISOString(),
    data: {
      webhook: batch.webhookId,
      events: batch.events.map((e) => ({
        id: `evt_${e.id}`,
        type: e.event,
        timestamp: e.createdAt.toISOString(),
        data: e.payload,
      })),
    },
  });
}

export class DeliveryWorker {
  readonly #orm: Orm;
  readonly #config: WebhookConfig;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** A request finished while a pass was running: look for due work again before that pass ends. */
  #again = false;
  /**
   * Requests in flight, at most WEBHOOK_CONCURRENCY: each holds its slot until its outcome is recorded, and only
   * that slot. (Passes used to wait for all the requests they claimed: one receiver that never answered held
   * every other webhook's deliveries for up to WEBHOOK_RESPONSE_TIMEOUT_MS per attempt.)
   */
  readonly #inFlight = new Set<Promise<void>>();
  /**
   * Requests in flight per webhook: one webhook holds at most half the slots, a webhook with none in flight is
   * served first, and a quarter of the slots is kept for such webhooks (#reservedSlots), so silent receivers
   * cannot hold every slot.
   */
  readonly #perWebhook = new Map<number, number>();
  #stopped = false;
  #lastRetention = 0;
  readonly #stats = { requests: 0, events: 0, delivered: 0 };

  constructor(orm: Orm, config: WebhookConfig, logger: Logger) {
    this.#orm = orm;
    this.#config = config;
    this.#logger = logger;
  }

  /** What this instance's worker sent: requests, events in them, events delivered (2xx). */
  stats(): { requests: number; events: number; delivered: number } {
    return { ...this.#stats };
  }

  start(): void {
    if (this.#config.pollMs === 0 || this.#timer || this.#stopped) return;
    const loop = () => {
      this.#timer = setTimeout(async () => {
        await this.tick();
        if (!this.#stopped) loop();
      }, this.#config.pollMs);
    };
    loop();
  }

  /** Stops polling and waits for the requests in flight (bounded by the response timeout). */
  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await Promise.all(this.#inFlight);
  }

  /**
   * One pass: reminders, then due deliveries into the free request slots until none are due or none is free (the
   * requests run on after the pass; each one finishing starts another pass), retention now and then. Never throws.
   */
  tick(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#reminders();
          while (!this.#stopped) {
            const free = this.#config.concurrency - this.#inFlight.size;
            if (free <= 0) break;
            // Webhooks with no request in flight first, one request each: receivers that hold their requests
            // (slow, silent until the response timeout) do not keep the others waiting behind their backlogs.
            const fresh = await this.claim(free, (webhookId) => (this.#perWebhook.has(webhookId) ? 0 : 1));
            for (const batch of fresh) this.#start(batch);
            if (fresh.length === 0 && this.#perWebhook.size === 0) break; // nothing due at all
            // Then more requests of the webhooks already sending, up to their share, leaving the reserved slots to
            // webhooks that have none in flight.
            const usable = this.#config.concurrency - this.#reservedSlots() - this.#inFlight.size;
            const more = usable > 0 ? await this.claim(usable, (webhookId) => this.#perWebhookMax() - (this.#perWebhook.get(webhookId) ?? 0)) : [];
            for (const batch of more) this.#start(batch);
            if (fresh.length === 0 && more.length === 0) break;
          }
        } while (this.#again && !this.#stopped);
        if (Date.now() - this.#lastRetention > RETENTION_EVERY_MS) {
          this.#lastRetention = Date.now();
          await this.retention();
        }
      } catch (error) {
        this.#logger.error({ err: error }, 'webhook worker tick failed; retrying next tick');
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async #reminders(): Promise<void> {
    for (;;) {
      const { taken, reminded } = await this.#orm.em.fork().transactional((em) => remindStillUnread(em, REMINDERS_PER_TICK));
      if (reminded > 0) this.#logger.debug({ reminded }, 'webhook reminders due');
      if (taken < REMINDERS_PER_TICK || this.#stopped) return;
    }
  }

  #perWebhookMax(): number {
    return Math.max(1, Math.ceil(this.#config.concurrency / 2));
  }

  /**
   * Slots only a webhook with no request in flight may take (a quarter of WEBHOOK_CONCURRENCY, at least one when
   * there are two slots or more): with two receivers that never answer, each holding its share, a third webhook
   * would otherwise wait for their timeouts. With a single slot there is nothing to keep.
   */
  #reservedSlots(): number {
    const { concurrency } = this.#config;
    return concurrency < 2 ? 0 : Math.max(1, Math.floor(concurrency / 4));
  }

  /** Sends a claimed request in its slot; when it is done, the slot is free and a pass looks for more. */
  #start(batch: ClaimedBatch): void {
    this.#perWebhook.set(batch.webhookId, (this.#perWebhook.get(batch.webhookId) ?? 0) + 1);
    const sending: Promise<void> = this.#send(batch).finally(() => {
      this.#inFlight.delete(sending);
      const left = (this.#perWebhook.get(batch.webhookId) ?? 1) - 1;
      if (left > 0) this.#perWebhook.set(batch.webhookId, left);
      else this.#perWebhook.delete(batch.webhookId);
      if (!this.#stopped) void this.tick();
    });
    this.#inFlight.add(sending);
  }

  /**
   * Claims up to `requests` requests' worth of due rows in one transaction, at most `allowed(webhook)` requests of
   * each webhook: locks (skipping locked rows), forms requests, leases them.
   */
  async claim(requests: number, allowed: (webhookId: number) => number = () => requests): Promise<ClaimedBatch[]> {
    const { batchSize, responseTimeoutMs } = this.#config;
    const skip = [...this.#perWebhook.keys()].filter((id) => allowed(id) <= 0);
    return this.#orm.em.fork().transactional(async (em) => {
      // Heads: rows never sent (batch_id null) and the first row of each request already sent once, or, when that
      // row is gone (eraseUser deletes the rows that name the user), the request's remaining rows: a request is its
      // batch_id, with or without its first row (otherwise the others were never sent again).
      const heads = await em.execute<Row[]>(
        `select d.id, d.webhook_id, d.batch_id from webhook_delivery d
          where d.status = 'PENDING' and d.next_attempt_at <= now()
            and (d.batch_id is null or d.batch_id = d.id
                 or not exists (select 1 from webhook_delivery h where h.id = d.batch_id))
            and exists (select 1 from webhook w where w.id = d.webhook_id and w.active)
            and d.webhook_id <> all(?::int[])
          order by d.next_attempt_at, d.id
          limit ? for update of d skip locked`,
        [`{${skip.join(',')}}`, batchSize * requests],
      );
      if (heads.length === 0) return [];
      const assign: Array<{ id: string; batch: string }> = [];
      const batchIds: string[] = [];
      /** The webhook of each request (its head row's). */
      const webhookOf = new Map<string, number>();
      const fresh = new Map<number, string[]>();
      for (const h of heads) {
        const id = String(h['id']);
        if (h['batch_id'] !== null) {
          const batch = String(h['batch_id']);
          if (webhookOf.has(batch)) continue; // another remaining row of a request whose first row is gone
          batchIds.push(batch);
          webhookOf.set(batch, Number(h['webhook_id']));
        } else {
          const list = fresh.get(Number(h['webhook_id'])) ?? [];
          list.push(id);
          fresh.set(Number(h['webhook_id']), list);
        }
      }
      for (const [webhookId, ids] of fresh) {
        ids.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
        for (let i = 0; i < ids.length; i += batchSize) {
          const chunk = ids.slice(i, i + batchSize);
          batchIds.push(chunk[0]!);
          webhookOf.set(chunk[0]!, webhookId);
          for (const id of chunk) assign.push({ id, batch: chunk[0]! });
        }
      }
      // Requests beyond the free slots, or beyond their webhook's share, wait for a later pass (their rows stay unclaimed).
      const taken: string[] = [];
      const takenPer = new Map<number, number>();
      for (const id of batchIds) {
        if (taken.length === requests) break;
        const webhookId = webhookOf.get(id)!;
        if ((takenPer.get(webhookId) ?? 0) >= allowed(webhookId)) continue;
        takenPer.set(webhookId, (takenPer.get(webhookId) ?? 0) + 1);
        taken.push(id);
      }
      const takenSet = new Set(taken);
      const rows = await em.execute<Row[]>(
        `with a as (select * from jsonb_to_recordset(?::jsonb) as a(id bigint, batch bigint))
         update webhook_delivery d
            set batch_id = coalesce(d.batch_id, t.batch), next_attempt_at = now() + ? * interval '1 millisecond'
           from (select a.id, a.batch from a union all
                 select m.id, m.batch_id from webhook_delivery m where m.batch_id = any(?::bigint[]) and m.status = 'PENDING') t
          where d.id = t.id and t.batch = any(?::bigint[])
         returning d.id, d.webhook_id, d.event, d.payload, d.batch_id, d.attempts, d.created_at`,
        [JSON.stringify(assign), responseTimeoutMs + LEASE_MARGIN_MS, `{${batchIds.join(',')}}`, `{${taken.join(',')}}`],
      );
      const hooks = await em.execute<Row[]>(`select id, url, secret from webhook where id = any(?::int[])`, [
        `{${[...new Set(rows.map((r) => Number(r['webhook_id'])))].join(',')}}`,
      ]);
      const hookById = new Map(hooks.map((h) => [Number(h['id']), h]));
      const out = new Map<string, ClaimedBatch>();
      for (const r of rows) {
        const batchId = String(r['batch_id']);
        if (!takenSet.has(batchId)) continue;
        const hook = hookById.get(Number(r['webhook_id']));
        if (!hook) continue;
        let batch = out.get(batchId);
        if (!batch) {
          batch = {
            batchId,
            webhookId: Number(r['webhook_id']),
            url: String(hook['url']),
            secret: String(hook['secret']),
            attempts: Number(r['attempts']),
            events: [],
          };
          out.set(batchId, batch);
        }
        batch.events.push({
          id: String(r['id']),
          event: r['event'] as WebhookEventName,
          payload: typeof r['payload'] === 'string' ? JSON.parse(r['payload']) : r['payload'],
          createdAt: new Date(r['created_at'] as string),
        });
      }
      for (const batch of out.values()) batch.events.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
      return [...out.values()];
    });
  }

  async #send(batch: ClaimedBatch): Promise<void> {
    const at = new Date();
    const body = requestBody(batch, at);
    const started = performance.now();
    this.#stats.requests += 1;
    this.#stats.events += batch.events.length;
    let outcome: PostOutcome;
    try {
      outcome = await postSigned(batch.url, signedHeaders(batch.secret, messageId(batch.batchId), at, body), body, this.#config);
    } catch (error) {
      outcome = { ok: false, statusCode: null, error: (error as Error).message };
    }
    try {
      const result = await this.#record(batch, outcome);
      if (result === 'delivered') this.#stats.delivered += batch.events.length;
      const now = Date.now();
      reportWebhookRequest({
        outcome: result,
        events: batch.events.length,
        durationMs: performance.now() - started,
        latenciesSeconds: result === 'delivered' ? batch.events.map((e) => (now - e.createdAt.getTime()) / 1000) : [],
      });
    } catch (error) {
      // The lease expires and the request is sent again: at-least-once.
      this.#logger.error({ err: error, batchId: batch.batchId }, 'webhook delivery outcome not recorded');
    }
  }

  async #record(batch: ClaimedBatch, outcome: PostOutcome): Promise<'delivered' | 'retried' | 'failed'> {
    const em = this.#orm.em.fork();
    if (outcome.ok) {
      await em.execute(
        `update webhook_delivery set status = 'DELIVERED', attempts = attempts + 1, delivered_at = now(),
                last_status_code = ?, last_error = null
          where batch_id = ? and status = 'PENDING'`,
        [outcome.statusCode, batch.batchId],
      );
      return 'delivered';
    }
    const attempts = batch.attempts + 1;
    const failed = attempts >= this.#config.maxAttempts;
    await em.execute(
      `update webhook_delivery set attempts = attempts + 1, status = ?, next_attempt_at = now() + ? * interval '1 millisecond',
              last_status_code = ?, last_error = ?
        where batch_id = ? and status = 'PENDING'`,
      [failed ? 'FAILED' : 'PENDING', failed ? 0 : backoffMs(attempts, this.#config), outcome.statusCode, outcome.error, batch.batchId],
    );
    this.#logger.warn(
      { webhookId: batch.webhookId, batchId: batch.batchId, attempts, failed, statusCode: outcome.statusCode, error: outcome.error },
      failed ? 'webhook delivery failed for good' : 'webhook delivery failed; will retry',
    );
    return failed ? 'failed' : 'retried';
  }

  /** Deletes delivered rows older than RETENTION_WEBHOOK_DAYS (0: kept forever), a bounded number per run. */
  async retention(): Promise<number> {
    if (this.#config.retentionDays === 0) return 0;
    const rows = await this.#orm.em.fork().execute<Row[]>(
      `with gone as (
         delete from webhook_delivery where id in (
           select id from webhook_delivery where status = 'DELIVERED' and delivered_at < now() - ? * interval '1 day' limit ?)
         returning 1)
       select count(*)::int as n from gone`,
      [this.#config.retentionDays, RETENTION_ROWS_PER_RUN],
    );
    return Number(rows[0]?.['n'] ?? 0);
  }
}
