/**
 * The floor of the idle-memory benchmark: a `ws` server that speaks just enough graphql-transport-ws
 * (connection_ack on connection_init, nothing on subscribe) and keeps one small object per socket — no GraphQL,
 * no graphql-ws, no Yoga. What an idle websocket costs in Node + ws alone. Prints `listening <url>` like
 * bare-yoga.ts.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

const server = createServer((_req, res) => res.end());
const wsServer = new WebSocketServer({ server, path: '/graphql' });
const subscriptions = new Map<WebSocket, { id: string; query: string }>();
wsServer.on('connection', (socket) => {
  socket.on('message', (raw) => {
    const message = JSON.parse(String(raw)) as { type: string; id?: string; payload?: { query: string } };
    if (message.type === 'connection_init') socket.send('{"type":"connection_ack"}');
    else if (message.type === 'subscribe') subscriptions.set(socket, { id: message.id!, query: message.payload!.query });
  });
  socket.on('close', () => subscriptions.delete(socket));
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(`listening http://127.0.0.1:${port}/graphql`);
});
process.on('SIGTERM', () => process.exit(0));
