import type { IncomingMessage } from 'node:http';
import { CloseCode, handleProtocols, type Server } from 'graphql-ws';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../logger.ts';

/**
 * graphql-ws's protocol server (`makeServer`) on a `ws` server: what graphql-ws's own `useServer`
 * (graphql-ws/use/ws) does, without its closures per socket. useServer gives every socket an adapter with three
 * closures, an `error` and a `close` once-listener (each a wrapper and a closure), a `message` listener, and an
 * async frame per running operation (its message listener awaits the protocol's handler, which for a
 * subscription lasts as long as the subscription). Here the adapter is one object whose methods live on its
 * prototype, the listeners are three functions shared by every socket, and a handler's promise is only watched
 * for failure (no suspended frame). Keep-alive and the connection-init timeout are ws-timers.ts's.
 *
 * Behaviour as useServer's: the `graphql-transport-ws` subprotocol is negotiated by graphql-ws's
 * handleProtocols; an error of a socket or of a message handler closes the socket with 4500 (the reason is the
 * error's message outside production); an error of the server closes every socket the same way; `dispose()`
 * closes every socket with 1001 and closes the server.
 */
export interface WsExtra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
}

const ADAPTER = Symbol('trackql.graphqlWsAdapter');
type AdaptedSocket = WebSocket & { [ADAPTER]?: SocketAdapter };

const INTERNAL_ERROR = 'Internal server error';

class SocketAdapter {
  readonly protocol: string;
  readonly #socket: WebSocket;
  handler: ((data: string) => Promise<void>) | null = null;
  closed: ((code?: number, reason?: string) => Promise<void>) | null = null;

  constructor(socket: WebSocket) {
    this.#socket = socket;
    this.protocol = socket.protocol;
  }

  send(data: string): Promise<void> {
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      if (socket.readyState !== socket.OPEN) return resolve();
      socket.send(data, (error) => (error ? reject(error) : resolve()));
    });
  }

  close(code?: number, reason?: string): void {
    this.#socket.close(code, reason);
  }

  onMessage(handler: (data: string) => Promise<void>): void {
    this.handler = handler;
  }
}

export interface ServeWebSocketsOptions {
  logger: Logger;
  /** Error messages as close reasons (outside production). */
  isProd: boolean;
}

export function serveWebSockets<E extends WsExtra>(
  server: Server<E>,
  wsServer: WebSocketServer,
  { logger, isProd }: ServeWebSocketsOptions,
): { dispose(): Promise<void> } {
  wsServer.options.handleProtocols = handleProtocols;
  const reasonOf = (error: unknown) => {
    if (isProd) return INTERNAL_ERROR;
    const message = error instanceof Error ? error.message : String(error);
    return message.length < 124 ? message : INTERNAL_ERROR;
  };
  const internalError = (socket: WebSocket, error: unknown, where: string) => {
    logger.error({ err: error }, `websocket: ${where}`);
    socket.close(CloseCode.InternalServerError, reasonOf(error));
  };

  // Shared by every socket (ws calls them with the socket as `this`).
  function onSocketMessage(this: AdaptedSocket, data: RawData): void {
    const socket = this;
    const handler = socket[ADAPTER]?.handler;
    if (!handler) return;
    handler(String(data)).catch((error: unknown) => internalError(socket, error, 'internal error while handling a message'));
  }
  function onSocketError(this: AdaptedSocket, error: Error): void {
    // A client that broke the protocol (a frame over the size limit, invalid UTF-8, a bad opcode): ws has closed
    // its socket with the code that says so (1009, 1007, 1002). Its doing, not the server's: no error-level line
    // with a stack that any client could write at will.
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
      logger.info({ code, message: error.message }, 'websocket: client protocol error');
      return;
    }
    internalError(this, error, 'socket error');
  }
  function onSocketClose(this: AdaptedSocket, code: number, reason: Buffer): void {
    const adapter = this[ADAPTER];
    if (!adapter?.closed) return;
    const closed = adapter.closed;
    adapter.closed = null;
    adapter.handler = null;
    closed(code, String(reason)).catch((error: unknown) => logger.error({ err: error }, 'websocket: error while closing'));
  }

  wsServer.once('error', (error) => {
    logger.error({ err: error }, 'websocket server error');
    for (const client of wsServer.clients) client.close(CloseCode.InternalServerError, reasonOf(error));
  });
  wsServer.on('connection', (socket: AdaptedSocket, request: IncomingMessage) => {
    socket.on('error', onSocketError);
    const adapter = new SocketAdapter(socket);
    socket[ADAPTER] = adapter;
    // opened() registers the protocol's handler synchronously: no message can arrive before it.
    socket.on('message', onSocketMessage);
    socket.on('close', onSocketClose);
    adapter.closed = server.opened(adapter, { socket, request } as E);
  });

  return {
    async dispose() {
      for (const client of wsServer.clients) client.close(1001, 'Going away');
      wsServer.removeAllListeners();
      await new Promise<void>((resolve, reject) => wsServer.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
