import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { signTestToken, type Instance } from '../../test/support/instances.ts';

/**
 * A websocket subscriber to one user's feed on a trackql instance, for benchmarks that measure when the feeds hold
 * an action: the server publishes a receiver's ADDED event after the fan-out that wrote its feed committed (inline,
 * before logAction answers; queued, after: src/activity/fan-out-queue.ts). `arrival(actionId)` resolves with the
 * `performance.now()` at which the event for that action came (already or later).
 */
export interface Receiver {
  client: Client;
  arrival(actionId: string, timeoutMs?: number): Promise<number>;
}

export async function subscribeReceiver(instance: Instance, userId: string): Promise<Receiver> {
  const arrivals = new Map<string, number>();
  const waiting = new Map<string, (at: number) => void>();
  const token = await signTestToken(userId);
  const client = createClient({
    url: instance.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: 0,
  });
  await new Promise<void>((resolve, reject) => {
    client.subscribe<{ feed: { kind: string; action: { id: string } | null } }>(
      { query: 'subscription { feed { kind action { id } } }' },
      {
        next: ({ data }) => {
          const id = data?.feed.action?.id;
          if (data?.feed.kind !== 'ADDED' || !id) return;
          const at = performance.now();
          const waiter = waiting.get(id);
          if (waiter) waiter(at);
          else arrivals.set(id, at);
        },
        error: reject,
        complete: () => {},
      },
    );
    // The subscription is registered on the server shortly after the socket is acknowledged.
    client.on('connected', () => setTimeout(resolve, 200));
  });
  return {
    client,
    arrival: (actionId, timeoutMs = 60_000) => {
      const at = arrivals.get(actionId);
      if (at !== undefined) {
        arrivals.delete(actionId);
        return Promise.resolve(at);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ADDED event for action ${actionId}`)), timeoutMs);
        waiting.set(actionId, (t) => {
          clearTimeout(timer);
          waiting.delete(actionId);
          resolve(t);
        });
      });
    },
  };
}
