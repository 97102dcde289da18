import type { WebSocket, WebSocketServer } from 'ws';

/**
 * The time limits of this server's websockets, kept by one interval for all of them instead of timers per
 * socket (graphql-ws's keep-alive interval and pong timeout, its connection-init timeout, and the token-expiry
 * timer each cost a Timeout and a closure per socket, for as long as the socket lives):
 *
 * - keep-alive: every `keepAliveMs`, each socket that answered the previous ping is pinged again; one that did
 *   not is terminated (graphql-ws's behaviour: a ping, then `keepAliveMs` for the pong);
 * - connection init: a socket that has not sent `connection_init` within `initWaitMs` of opening is closed with
 *   4408 (graphql-ws's code and reason);
 * - token expiry: an admitted socket is closed with `onExpiry` once its token's validity ends (checked every
 *   `tickMs`, so at most that late).
 */
export interface WsTimerOptions {
  keepAliveMs: number;
  initWaitMs: number;
  tickMs: number;
  /** Closes a socket whose token expired. */
  onExpiry: (socket: WebSocket) => void;
}

const CONNECTION_INIT_TIMEOUT = 4408;

export class WsTimers {
  readonly #options: WsTimerOptions;
  readonly #server: WebSocketServer;
  /** Sockets that have not sent connection_init yet, with the time they opened (ms). */
  readonly #uninitialised = new Map<WebSocket, number>();
  /** Admitted sockets whose token expires, with its expiry (ms). */
  readonly #expiries = new Map<WebSocket, number>();
  /** Sockets pinged whose pong has not arrived. */
  readonly #awaitingPong = new Set<WebSocket>();
  #lastPing = Date.now();
  #interval: NodeJS.Timeout | null = null;

  constructor(server: WebSocketServer, options: WsTimerOptions) {
    this.#server = server;
    this.#options = options;
    const awaiting = this.#awaitingPong;
    // One listener function for every socket (ws calls it with the socket as `this`).
    const onPong = function (this: WebSocket) {
      awaiting.delete(this);
    };
    server.on('connection', (socket: WebSocket) => {
      this.#uninitialised.set(socket, Date.now());
      socket.on('pong', onPong);
      this.#start();
    });
  }

  /** The socket sent connection_init (its init timeout no longer applies). */
  initialised(socket: WebSocket): void {
    this.#uninitialised.delete(socket);
  }

  /** Closes the socket with `onExpiry` at `validUntil`. */
  expireAt(socket: WebSocket, validUntil: Date): void {
    this.#expiries.set(socket, validUntil.getTime());
  }

  /** The socket closed: nothing more to watch. */
  forget(socket: WebSocket): void {
    this.#uninitialised.delete(socket);
    this.#expiries.delete(socket);
    this.#awaitingPong.delete(socket);
  }

  stop(): void {
    if (this.#interval) clearInterval(this.#interval);
    this.#interval = null;
  }

  #start(): void {
    if (this.#interval) return;
    this.#lastPing = Date.now();
    this.#interval = setInterval(() => this.#tick(Date.now()), this.#options.tickMs);
    this.#interval.unref();
  }

  #tick(now: number): void {
    const { initWaitMs, keepAliveMs, onExpiry } = this.#options;
    for (const [socket, expiry] of this.#expiries) {
      if (expiry > now) continue;
      this.#expiries.delete(socket);
      onExpiry(socket);
    }
    const late: WebSocket[] = [];
    for (const [socket, openedAt] of this.#uninitialised) if (now - openedAt >= initWaitMs) late.push(socket);
    const silent: WebSocket[] = [];
    if (keepAliveMs > 0 && now - this.#lastPing >= keepAliveMs) {
      this.#lastPing = now;
      for (const socket of this.#server.clients) {
        if (socket.readyState !== socket.OPEN) continue;
        if (this.#awaitingPong.has(socket)) silent.push(socket);
        else {
          this.#awaitingPong.add(socket);
          socket.ping();
        }
      }
    }
    // Judged after the event loop's next poll phase: a connection_init or pong already received but not yet
    // read (a busy process) counts.
    if (late.length > 0 || silent.length > 0) setImmediate(() => this.#cut(late, silent));
    if (this.#server.clients.size === 0 && this.#uninitialised.size === 0) this.stop();
  }

  #cut(late: WebSocket[], silent: WebSocket[]): void {
    for (const socket of late) {
      if (!this.#uninitialised.delete(socket)) continue;
      socket.close(CONNECTION_INIT_TIMEOUT, 'Connection initialisation timeout');
    }
    for (const socket of silent) {
      if (!this.#awaitingPong.delete(socket)) continue;
      socket.terminate();
    }
  }
}
