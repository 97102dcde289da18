import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';

/**
 * The websocket time limits kept by one sweeper for all sockets (server/ws-timers.ts) instead of timers per
 * socket: graphql-ws's keep-alive (ping, then the pong must come before the next one) and its connection-init
 * timeout (4408). Token expiry (4419) is covered by websocket.test.ts and live/surviving-clients.test.ts.
 */

interface Raw {
  socket: WebSocket;
  /** Resolves with the close code and when it came (ms). */
  closed: Promise<{ code: number; reason: string; at: number }>;
  pings: number;
}

function open(t: TestApp, autoPong: boolean): Promise<Raw> {
  const socket = new WebSocket(`ws://127.0.0.1:${t.port}/graphql`, 'graphql-transport-ws', { autoPong });
  const raw: Raw = {
    socket,
    pings: 0,
    closed: new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() }))),
  };
  socket.on('ping', () => raw.pings++);
  socket.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(raw));
    socket.once('error', reject);
  });
}

async function init(t: TestApp, raw: Raw, userId: string): Promise<void> {
  const token = await t.userToken(userId);
  const acked = new Promise<void>((resolve) =>
    raw.socket.on('message', (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') resolve();
    }),
  );
  raw.socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  await acked;
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms))]);

describe('websocket keep-alive and connection-init timeout (one sweeper)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ WS_KEEP_ALIVE_MS: '400' });
  });
  afterAll(async () => t?.stop());

  it('closes a socket that does not send connection_init within 3 s with 4408', async () => {
    const opened = Date.now();
    const raw = await open(t, true);
    const event = await raw.closed;
    expect(event.code).toBe(4408);
    expect(event.reason).toBe('Connection initialisation timeout');
    expect(event.at - opened).toBeGreaterThanOrEqual(2900);
    expect(event.at - opened).toBeLessThan(15_000); // generous: a loaded machine delays the sweeper
  });

  it('keeps an initialised socket that answers pings, and terminates one that does not', async () => {
    const answering = await open(t, true);
    const silent = await open(t, false);
    await init(t, answering, uniqueId('pong'));
    await init(t, silent, uniqueId('silent'));
    // Pinged every 400 ms; the silent one is cut at the ping after the one it left unanswered.
    const cut = await within(silent.closed, 3000);
    expect(cut).not.toBe('timeout');
    expect((cut as { code: number }).code).toBe(1006);
    expect(silent.pings).toBeGreaterThanOrEqual(1);
    expect(await within(answering.closed, 1500)).toBe('timeout');
    expect(answering.pings).toBeGreaterThanOrEqual(3);
    // And past the 3 s init window, the initialised socket was not closed with 4408 either.
    expect(answering.socket.readyState).toBe(WebSocket.OPEN);
    answering.socket.close();
  });
});
