import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTestApp, uniqueId } from '../support/app.ts';

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

    // The server's own shutdown is timed (t.stop() also drops the test database).
    const started = Date.now();
    await t.app.stop();
    expect(Date.now() - started).toBeLessThan(6_000);
    socket.destroy();
    await t.stop();
  });

  it('ends server-sent-event subscriptions at once (complete event), instead of waiting SHUTDOWN_TIMEOUT_MS for them', async () => {
    const t = await startTestApp({ SHUTDOWN_TIMEOUT_MS: '10000' });
    const token = await t.userToken(uniqueId('sse'));
    let text = '';
    const ended = new Promise<void>((resolve) => {
      const req = http.request({
        host: '127.0.0.1',
        port: t.port,
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      });
      req.on('response', (res) => {
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.end(JSON.stringify({ query: 'subscription { feed { kind unreadCount } }' }));
    });
    // The subscription is running once the stream has started (Yoga pings first).
    const deadline = Date.now() + 5000;
    while (text === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(text).not.toBe('');

    const started = Date.now();
    await t.app.stop();
    await ended;
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(text).toMatch(/event: complete/);
    await t.stop();
  });
});
