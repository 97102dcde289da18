import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTestApp } from '../support/app.ts';

describe('shutdown', () => {
  it('does not wait for a websocket client that never answers the close frame', async () => {
    const t = await startTestApp({ SHUTDOWN_TIMEOUT_MS: '3000' });
    // A raw websocket upgrade that then stays silent (never answers the close frame).
    const socket = net.connect(t.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      [
        'GET /graphql HTTP/1.1',
        `Host: 127.0.0.1:${t.port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: graphql-transport-ws',
        '',
        '',
      ].join('\r\n'),
    );
    const upgraded = await new Promise<string>((resolve) => socket.once('data', (chunk) => resolve(chunk.toString())));
    expect(upgraded).toMatch(/^HTTP\/1\.1 101/);
    socket.on('data', () => {});
    socket.on('error', () => {});

    const started = Date.now();
    await t.stop();
    expect(Date.now() - started).toBeLessThan(6_000);
    socket.destroy();
  });
});
