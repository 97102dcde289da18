import fs from 'node:fs';
import path from 'node:path';
import { createClient, type Client, type ClientOptions } from 'graphql-ws';
import WebSocket from 'ws';
import { repoRoot } from './process.ts';

export interface FeedEventLike {
  kind: string;
  cursor: string;
  unreadCount: number;
  action: { id: string; verb: string; text: string | null; unread: boolean } | null;
}

export interface ReadmeClient {
  client: Client;
  /** Rendered events (everything but RESET), in arrival order. */
  rendered: FeedEventLike[];
  /** How many times `refetchFeed` (a RESET) was called. */
  refetches: number;
  /** Close events the client saw. */
  closes: Array<{ code: number; reason: string; at: number }>;
  /** Times (ms) at which the client was connected (acknowledged). */
  connects: number[];
}

/**
 * The README's "GraphQL directly" browser example, run as written: the ```js block holding `subscription LiveFeed`
 * is evaluated with the page's functions (`fetchToken`, `render`, `refetchFeed`) supplied by the test, the URL
 * pointed at the test server and a Node websocket implementation.
 */
/**
 * `beforeConnect` (test harness only, around the README's own `connectionParams`): awaited before every
 * connection attempt sends its `connection_init`, so a test can keep the client away for a while.
 */
export function startReadmeClient(url: string, fetchToken: () => Promise<string>, beforeConnect: () => Promise<void> = async () => {}): ReadmeClient {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('subscription LiveFeed'));
  if (!block) throw new Error('README has no ```js block with subscription LiveFeed');
  const code = block.replace(/^import .*$/m, '').replace("'wss://trackql.example.com/graphql'", JSON.stringify(url.replace(/^http/, 'ws')));
  const state: ReadmeClient = { client: undefined as unknown as Client, rendered: [], refetches: 0, closes: [], connects: [] };
  const create = (options: ClientOptions) => {
    const params = options.connectionParams;
    const connectionParams = async () => {
      await beforeConnect();
      return typeof params === 'function' ? await params() : params;
    };
    const client = createClient({ ...options, connectionParams, webSocketImpl: WebSocket });
    client.on('closed', (event) => {
      const e = event as { code: number; reason: string };
      state.closes.push({ code: e.code, reason: String(e.reason), at: Date.now() });
    });
    client.on('connected', () => state.connects.push(Date.now()));
    return client;
  };
  const run = new Function('createClient', 'fetchToken', 'render', 'refetchFeed', `${code}\nreturn client;`) as (
    createClient: (options: ClientOptions) => Client,
    fetchToken: () => Promise<string>,
    render: (event: FeedEventLike) => void,
    refetchFeed: () => void,
  ) => Client;
  state.client = run(create, fetchToken, (event) => state.rendered.push(event), () => state.refetches++);
  return state;
}
