import type { GraphQLError } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import type { Config } from '../config.ts';

/**
 * Websocket limits, per instance: open connections per client (user/service id, or IP for anonymous
 * callers), subscriptions per connection and per client. Refused connections are closed with 4429; refused
 * subscriptions get a RATE_LIMITED error for that operation only.
 */

export const TOO_MANY_CONNECTIONS = 4429;

export interface WsConnection {
  key: string;
  /** Ids of this connection's running subscription operations. */
  subscriptions: Set<string>;
  /** Request id per running operation (for errors and logs). */
  requestIds: Map<string, string>;
  expiryTimer?: NodeJS.Timeout;
}

export class WsGuard {
  readonly #limits: Config['ws'];
  readonly #byClient = new Map<string, Set<WsConnection>>();

  constructor(limits: Config['ws']) {
    this.#limits = limits;
  }

  /** Registers a connection of `key`, or returns null when the client already has too many. */
  admit(key: string): WsConnection | null {
    const connections = this.#byClient.get(key) ?? new Set<WsConnection>();
    if (connections.size >= this.#limits.maxConnectionsPerClient) return null;
    const connection: WsConnection = { key, subscriptions: new Set(), requestIds: new Map() };
    connections.add(connection);
    this.#byClient.set(key, connections);
    return connection;
  }

  release(connection: WsConnection): void {
    if (connection.expiryTimer) clearTimeout(connection.expiryTimer);
    connection.subscriptions.clear();
    connection.requestIds.clear();
    const connections = this.#byClient.get(connection.key);
    connections?.delete(connection);
    if (connections?.size === 0) this.#byClient.delete(connection.key);
  }

  connectionsOf(key: string): number {
    return this.#byClient.get(key)?.size ?? 0;
  }

  subscriptionsOf(key: string): number {
    let total = 0;
    for (const connection of this.#byClient.get(key) ?? []) total += connection.subscriptions.size;
    return total;
  }

  /** Starts counting subscription `id`, or returns the error refusing it. */
  startSubscription(connection: WsConnection, id: string): GraphQLError | null {
    const { maxSubscriptionsPerConnection, maxSubscriptionsPerClient } = this.#limits;
    if (connection.subscriptions.size >= maxSubscriptionsPerConnection) {
      return tooMany(`Too many subscriptions on this connection: at most ${maxSubscriptionsPerConnection}`);
    }
    if (this.subscriptionsOf(connection.key) >= maxSubscriptionsPerClient) {
      return tooMany(`Too many subscriptions for this client: at most ${maxSubscriptionsPerClient} across its connections`);
    }
    connection.subscriptions.add(id);
    return null;
  }

  endOperation(connection: WsConnection, id: string): void {
    connection.subscriptions.delete(id);
    connection.requestIds.delete(id);
  }
}

function tooMany(message: string): GraphQLError {
  return createGraphQLError(message, { extensions: { code: 'RATE_LIMITED' } });
}
