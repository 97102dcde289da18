/** Start-up smoke test: waits for `{ __typename }` on the URL, then for a graphql-ws connection_ack. */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.argv[2] ?? 'http://127.0.0.1:4000/graphql';
const deadline = Date.now() + 60_000;

async function waitForHttp(): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      const body = (await response.json()) as { data?: { __typename?: string } };
      if (body.data?.__typename === 'Query') return Date.now() - started;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`no answer from ${url} within 60 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitForAck(): Promise<void> {
  const client = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
  try {
    await new Promise<void>((resolve, reject) => {
      client.on('connected', () => resolve());
      client.on('closed', (event) => reject(new Error(`websocket closed: ${JSON.stringify(event)}`)));
      client.on('error', reject);
    });
  } finally {
    await client.dispose();
  }
}

const ms = await waitForHttp();
console.log(`smoke: { __typename } answered ${ms} ms after the first try`);
await waitForAck();
console.log('smoke: graphql-ws connection_ack received');
