import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';

/**
 * HTTP keep-alive: Node's own client (the global agent, keep-alive since Node 19) and undici keep an idle
 * socket for 4–5 s and reuse it. A server that closes idle sockets after the same 5 s (Node's default
 * keepAliveTimeout) races them: a request written as the server closes gets ECONNRESET, which a caller
 * cannot tell from a lost request. The server keeps idle connections longer than the clients do
 * (HTTP_KEEPALIVE_TIMEOUT_MS), so the client always closes first.
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({});
});
afterAll(async () => t?.stop());

const request = 'POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{"query":"{ __typename }"}';

/** Writes `request` on the socket and resolves with the response head's status line. */
function exchange(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      // The body of `{ __typename }` is small: the whole response arrives once the JSON closes.
      if (text.includes('\r\n\r\n') && text.trimEnd().endsWith('}')) {
        cleanup();
        resolve(text.split('\r\n')[0]!);
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('the server closed the connection'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.write(request);
  });
}

describe('HTTP keep-alive', () => {
  it('keeps an idle connection open longer than HTTP clients keep theirs (no reset race at 5 s)', async () => {
    const socket = net.connect(t.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    try {
      expect(await exchange(socket)).toBe('HTTP/1.1 200 OK');
      // Idle for longer than Node's and undici's client-side keep-alive (4–5 s), as a pooled client would be.
      await new Promise((resolve) => setTimeout(resolve, 6_500));
      expect(socket.destroyed).toBe(false);
      expect(await exchange(socket)).toBe('HTTP/1.1 200 OK');
    } finally {
      socket.destroy();
    }
  });

  it('announces how long it keeps idle connections', async () => {
    const socket = net.connect(t.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    try {
      let head = '';
      socket.on('data', (c: Buffer) => (head += c.toString('utf8')));
      await exchange(socket);
      expect(head.toLowerCase()).toMatch(/keep-alive: timeout=65\b/);
    } finally {
      socket.destroy();
    }
  });
});
