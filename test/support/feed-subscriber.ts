import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface FeedEventShape {
  kind: string;
  unreadCount: number;
  action: { id: string; verb: string } | null;
}

/** A graphql-ws client subscribed to a user's feed, collecting events as they arrive. */
export interface FeedSubscriber {
  client: Client;
  events: FeedEventShape[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first collected event (from now on or already there) matching `predicate`. */
  waitFor(predicate: (event: FeedEventShape) => boolean, timeoutMs?: number): Promise<FeedEventShape>;
  dispose(): Promise<void>;
}

export const FEED_SUBSCRIPTION = 'subscription { feed { kind unreadCount action { id verb } } }';

export async function subscribeFeed(graphqlUrl: string, token: string): Promise<FeedSubscriber> {
  const events: FeedEventShape[] = [];
  const waiters = new Set<() => void>();
  let resolveClosed!: (event: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
  const client = createClient({
    url: graphqlUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
    // The close is observed through `closed`; graphql-ws would otherwise print it to stderr.
    onNonLazyError: () => {},
  });
  client.on('closed', (event) => {
    const e = event as { code: number; reason: string };
    resolveClosed({ code: e.code, reason: String(e.reason) });
  });
  await new Promise<void>((resolve, reject) => {
    client.on('connected', () => resolve());
    client.on('error', reject);
  });
  client.subscribe<{ feed: FeedEventShape }>(
    { query: FEED_SUBSCRIPTION },
    {
      next: (value) => {
        if (value.data?.feed) events.push(value.data.feed);
        for (const wake of waiters) wake();
      },
      error: () => {},
      complete: () => {},
    },
  );
  // Give the server a moment to register the subscription before the caller publishes.
  await new Promise((r) => setTimeout(r, 150));
  return {
    client,
    events,
    closed,
    waitFor(predicate, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(predicate);
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching feed event within ${timeoutMs} ms; got ${JSON.stringify(events)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    dispose: () => client.dispose() as Promise<void>,
  };
}
