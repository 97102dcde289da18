/**
 * Websocket subscribers for the delivery benchmark, in a process of their own (so that their work is not
 * counted in the server's, nor the server's in theirs). Started by bench/activity/delivery.ts with `fork`:
 *
 *   parent → { type: 'open', url, users: string[], tokens: boolean, query }
 *   child  → { type: 'ready', seconds }                      once every socket is acknowledged and subscribed
 *   child  → { type: 'arrived', id, at: number[] }           once every subscriber received the event `id`
 *   parent → { type: 'close' }                               closes the sockets and exits
 *
 * Speaks the graphql-transport-ws protocol directly over `ws` (what graphql-ws's client sends) to keep the
 * client side cheap. `at` are wall-clock times in milliseconds (performance.timeOrigin + performance.now(),
 * comparable with the parent's on the same machine). The event id is `data.<field>.action.id` or
 * `data.<field>.id`.
 */
import WebSocket from 'ws';
import { signTestToken } from '../../test/support/instances.ts';

interface OpenMessage {
  type: 'open';
  url: string;
  users: string[];
  /** Send `authorization: Bearer <token of the user>` in connection_init. */
  tokens: boolean;
  query: string;
}

const now = () => performance.timeOrigin + performance.now();
const arrivals = new Map<string, number[]>();
const sockets: WebSocket[] = [];
let expected = 0;

function eventId(payload: { data?: Record<string, { id?: string; action?: { id?: string } | null } | null> }): string | undefined {
  const data = payload.data;
  if (!data) return undefined;
  for (const key in data) {
    const value = data[key];
    return value?.action?.id ?? value?.id ?? undefined;
  }
  return undefined;
}

function onEvent(id: string, at: number) {
  let list = arrivals.get(id);
  if (!list) arrivals.set(id, (list = []));
  list.push(at);
  if (list.length === expected) {
    process.send!({ type: 'arrived', id, at: list });
    arrivals.delete(id);
  }
}

async function openOne(url: string, authorization: string | undefined, query: string): Promise<void> {
  const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
    socket.once('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init', payload: authorization ? { authorization } : {} }));
    });
    socket.on('message', (raw) => {
      const at = now();
      const message = JSON.parse(raw.toString()) as { type: string; payload?: never };
      if (message.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
        resolve();
      } else if (message.type === 'next') {
        const id = eventId(message.payload ?? {});
        if (id) onEvent(id, at);
      } else if (message.type === 'ping') {
        socket.send(JSON.stringify({ type: 'pong' }));
      } else if (message.type === 'error') {
        console.error('subscription error', JSON.stringify(message.payload).slice(0, 300));
      }
    });
  });
  socket.removeAllListeners('error');
  socket.removeAllListeners('close');
  socket.on('error', () => {});
}

process.on('message', (raw: unknown) => {
  const message = raw as OpenMessage | { type: 'close' };
  if (message.type === 'close') {
    for (const socket of sockets) socket.terminate();
    setTimeout(() => process.exit(0), 100);
    return;
  }
  void (async () => {
    const t0 = performance.now();
    expected = message.users.length;
    const batch = 200;
    for (let start = 0; start < message.users.length; start += batch) {
      await Promise.all(
        message.users.slice(start, start + batch).map(async (user) => {
          const authorization = message.tokens ? `Bearer ${await signTestToken(user)}` : undefined;
          await openOne(message.url, authorization, message.query);
        }),
      );
    }
    process.send!({ type: 'ready', seconds: (performance.now() - t0) / 1000 });
  })().catch((error: Error) => {
    console.error(error);
    process.exit(1);
  });
});
