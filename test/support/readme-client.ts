import fs from 'node:fs';
import path from 'node:path';
import { createClient, type Client, type ClientOptions } from 'graphql-ws';
import { createClient as createSseClient, type Client as SseClient, type ClientOptions as SseClientOptions } from 'graphql-sse';
import WebSocket from 'ws';
import { ApolloClient, gql, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { expect } from 'vitest';
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
  const code = readmeClientCode(url);
  const { state, create } = harness(beforeConnect);
  state.client = runBlock(code, 'client', create, fetchToken, state);
  return state;
}

/**
 * Evaluates README code with the page's functions a test supplies (`createClient`, `fetchToken`, and `render` /
 * `refetchFeed` recording into `state`) and the imports of `globals`; returns the value of the expression `result`.
 */
function runBlock<Options, Client, Result = Client>(
  code: string,
  result: string,
  createClient: (options: Options) => Client,
  fetchToken: () => Promise<string>,
  state: { rendered: FeedEventLike[]; refetches: number },
  globals: Record<string, unknown> = {},
): Result {
  const names = Object.keys(globals);
  const run = new Function('createClient', 'fetchToken', 'render', 'refetchFeed', ...names, `${code}\nreturn ${result};`) as (...args: unknown[]) => Result;
  const render = (event: FeedEventLike) => state.rendered.push(event);
  return run(createClient, fetchToken, render, () => state.refetches++, ...names.map((name) => globals[name]));
}

/** The README's graphql-sse block, run as written (see startReadmeClient), pointed at `url`. */
export interface ReadmeSseClient {
  client: SseClient;
  rendered: FeedEventLike[];
  refetches: number;
  /** HTTP requests the client made (one per subscription attempt). */
  requests: number;
}

export function startReadmeSseClient(url: string, fetchToken: () => Promise<string>): ReadmeSseClient {
  const code = readmeBlock('subscription LiveFeedSse').replace("'https://trackql.example.com/graphql'", JSON.stringify(url));
  const state: ReadmeSseClient = { client: undefined as unknown as SseClient, rendered: [], refetches: 0, requests: 0 };
  const create = (options: SseClientOptions) =>
    createSseClient({
      ...options,
      fetchFn: (input: RequestInfo | URL, init?: RequestInit) => {
        state.requests++;
        return fetch(input, init);
      },
    });
  state.client = runBlock(code, 'sse', create, fetchToken, state);
  return state;
}

/** The README's ```js block that contains `marker`, its imports removed. */
function readmeBlock(marker: string): string {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes(marker));
  if (!block) throw new Error(`README has no \`\`\`js block with ${marker}`);
  return block.replace(/^import .*$/gm, '');
}

/** The README's graphql-ws client block, pointed at `url`. */
function readmeClientCode(url: string): string {
  return readmeBlock('subscription LiveFeed').replace("'wss://trackql.example.com/graphql'", JSON.stringify(url.replace(/^http/, 'ws')));
}

/** createClient as the README calls it, with the test's websocket implementation, gate and observers. */
function harness(beforeConnect: () => Promise<void>): { state: ReadmeClient; create: (options: ClientOptions) => Client } {
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
  return { state, create };
}

/**
 * The README's Apollo Client block (`subscription ApolloFeed`), on the README's graphql-ws client: the client block
 * is run as written but for its own `client.subscribe(...)` (the Apollo subscription replaces it), then the Apollo
 * block with `@apollo/client`'s real ApolloClient, InMemoryCache, gql and GraphQLWsLink.
 */
export function startReadmeApolloClient(
  url: string,
  fetchToken: () => Promise<string>,
  beforeConnect: () => Promise<void> = async () => {},
): ReadmeClient & { apollo: ApolloClient } {
  const clientCode = readmeClientCode(url);
  const withoutSubscribe = clientCode.slice(0, clientCode.indexOf('\nclient.subscribe('));
  const { state, create } = harness(beforeConnect);
  const made = runBlock<ClientOptions, Client, { client: Client; apollo: ApolloClient }>(
    `${withoutSubscribe}\n${readmeBlock('subscription ApolloFeed')}`,
    '{ client, apollo }',
    create,
    fetchToken,
    state,
    { ApolloClient, InMemoryCache, gql, GraphQLWsLink },
  );
  state.client = made.client;
  return Object.assign(state, { apollo: made.apollo });
}

/** Logs `probe` actions (`log`) until the client renders one: its subscription is live. */
export async function untilLive(client: { rendered: FeedEventLike[] }, log: (verb: string) => Promise<string>): Promise<void> {
  await expect
    .poll(async () => {
      if (client.rendered.length === 0) await log('probe');
      return client.rendered.length;
    }, { timeout: 20_000, interval: 500 })
    .toBeGreaterThan(0);
}
