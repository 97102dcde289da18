// The live feed of one user, for <trackql-feed> (and any page that wants the data without the element):
// pages and marks over GraphQL/HTTP, changes over graphql-ws, both with the token the page's callback gives.
//
// Reconnects: graphql-ws reconnects and re-subscribes by itself, with a fresh token from the callback (so an
// expired token, close code 4419, is replaced) and with the same variables object, whose `after` is kept at the
// last cursor received (or the syncCursor of the first page): trackql replays what happened meanwhile, once and
// in order. Only a RESET event (too far behind to replay) makes it fetch the first page again (`onResync`).
import { createClient } from './vendor/graphql-ws/client.js';

export const ACTION_FIELDS =
  'id verb text timestamp unread groupedCount actor { type id label deleted } targets { type id label deleted }';

const FEED_QUERY = `query TrackqlFeedPage($first: Int!, $after: String) {
  unreadCount
  feed(first: $first, after: $after) { syncCursor edges { cursor node { ${ACTION_FIELDS} } } pageInfo { hasNextPage endCursor } }
}`;
const FEED_SUBSCRIPTION = `subscription TrackqlFeedLive($after: String) { feed(after: $after) { kind cursor unreadCount action { ${ACTION_FIELDS} } } }`;
const MARK_READ = 'mutation TrackqlFeedRead($ids: [ID!]!) { markRead(actionIds: $ids) }';
const MARK_ALL_READ = 'mutation TrackqlFeedReadAll { markAllRead }';

export class FeedError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'FeedError';
    this.code = code;
  }
}

export class FeedConnection {
  /**
   * endpoint: the GraphQL URL (http[s]://…/graphql); getToken: () => token | Promise<token> (without "Bearer");
   * onEvent({kind, unreadCount, action}); onResync(): fetch again after a reconnect; onStatus('connecting' | 'live' | 'offline').
   */
  constructor({ endpoint, getToken, onEvent, onResync, onStatus }) {
    this.endpoint = String(endpoint);
    this.getToken = getToken;
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onStatus = onStatus;
    this.client = null;
    this.unsubscribe = null;
    // graphql-ws sends this very object again when it resubscribes after a reconnect.
    this.variables = { after: null };
    this.receivedEvent = false;
  }

  async #authorization() {
    const token = await this.getToken();
    if (!token) throw new FeedError('No token: the page’s token callback returned nothing', 'UNAUTHENTICATED');
    return `Bearer ${String(token).replace(/^Bearer\s+/i, '')}`;
  }

  /** One GraphQL request over HTTP; throws a FeedError with the server's message and code. */
  async request(query, variables = {}) {
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        authorization: await this.#authorization(),
      },
      body: JSON.stringify({ query, variables }),
      credentials: 'omit',
    });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new FeedError(`HTTP ${response.status}`, 'HTTP_ERROR');
    }
    if (body.errors && body.errors.length) {
      const first = body.errors[0];
      throw new FeedError(first.message, (first.extensions && first.extensions.code) || 'ERROR');
    }
    return body.data;
  }

  /** A page of the feed (newest first) with the unread count. */
  async page(first, after = null) {
    const data = await this.request(FEED_QUERY, { first, after });
    // Nothing received live yet: resume from where this page was read (the page holds everything before it).
    if (after === null && !this.receivedEvent) this.variables.after = data.feed.syncCursor;
    return {
      unreadCount: data.unreadCount,
      actions: data.feed.edges.map((edge) => edge.node),
      hasNextPage: data.feed.pageInfo.hasNextPage,
      endCursor: data.feed.pageInfo.endCursor,
    };
  }

  markRead(ids) {
    return this.request(MARK_READ, { ids });
  }

  markAllRead() {
    return this.request(MARK_ALL_READ);
  }

  #connected() {
    this.onStatus('live');
  }

  /** Opens the websocket and subscribes; the element shows what arrives. */
  start() {
    if (this.client) return;
    const url = new URL(this.endpoint);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.onStatus('connecting');
    this.client = createClient({
      url: url.href,
      lazy: false,
      // Asked again on every (re)connect: a page can hand out a fresh token when the old one expired.
      connectionParams: async () => ({ authorization: await this.#authorization() }),
      retryAttempts: Infinity,
      shouldRetry: () => true,
      // Jittered exponential backoff: 0.5 s, 1 s, 2 s ... at most 16 s, each between half and one and a half of that.
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, 500 * 2 ** Math.min(retries, 5) * (0.5 + Math.random()))),
      onNonLazyError: () => {},
      on: {
        connected: () => this.#connected(),
        closed: () => this.onStatus('offline'),
      },
    });
    this.subscribe();
  }

  subscribe() {
    this.unsubscribe = this.client.subscribe(
      { query: FEED_SUBSCRIPTION, variables: this.variables },
      {
        next: ({ data, errors }) => {
          if (errors && errors.length) return this.onStatus('offline', new FeedError(errors[0].message, errors[0].extensions?.code));
          if (!data || !data.feed) return;
          this.receivedEvent = true;
          this.variables.after = data.feed.cursor;
          if (data.feed.kind === 'RESET') this.onResync();
          else this.onEvent(data.feed);
        },
        // graphql-ws gives a stream's GraphQL errors as a list, a close as an event.
        error: (error) =>
          this.onStatus(
            'offline',
            error instanceof Error
              ? error
              : Array.isArray(error) && error[0]
                ? new FeedError(error[0].message, error[0].extensions?.code)
                : new FeedError('connection closed', 'CLOSED'),
          ),
        complete: () => {},
      },
    );
  }

  async stop() {
    if (this.unsubscribe) this.unsubscribe();
    this.unsubscribe = null;
    const client = this.client;
    this.client = null;
    this.variables = { after: null };
    this.receivedEvent = false;
    if (client) await client.dispose();
  }
}
