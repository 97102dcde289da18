import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A local webhook receiver: records every request, verifies it with standardwebhooks, answers as told. */

export interface ReceivedEvent {
  id: string;
  type: string;
  timestamp: string;
  data: any;
}

export interface ReceivedRequest {
  at: number;
  webhookId: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Verified with the secret given to `setSecret` (Webhook.verify); null when none is set. */
  verified: boolean | null;
  events: ReceivedEvent[];
  /** The response was written (false while a slow answer is pending). */
  answered: boolean;
  /** The status answered (null until answered). */
  status: number | null;
}

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Every event received, in arrival order (duplicates included). */
  events(): ReceivedEvent[];
  /** Events of the requests answered 2xx (acknowledged). */
  acknowledged(): ReceivedEvent[];
  setSecret(secret: string): void;
  /** Answer for the next requests: a status, after an optional delay (ms). Default 200 at once. */
  respond: (request: ReceivedRequest, index: number) => { status: number; delayMs?: number; body?: string };
  /** Resolves once `predicate` holds (polled), or rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  let secret: string | null = null;
  const requests: ReceivedRequest[] = [];
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests,
    events: () => requests.flatMap((r) => r.events),
    acknowledged: () => requests.filter((r) => r.status !== null && r.status < 300).flatMap((r) => r.events),
    setSecret: (s) => {
      secret = s;
    },
    respond: () => ({ status: 200 }),
    async waitFor(predicate, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > until) throw new Error(`receiver: condition not met in ${timeoutMs} ms (${requests.length} requests)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified: boolean | null = null;
      if (secret) {
        try {
          new Webhook(secret).verify(body, req.headers as Record<string, string>);
          verified = true;
        } catch {
          verified = false;
        }
      }
      let events: ReceivedEvent[] = [];
      try {
        events = (JSON.parse(body) as { data: { events: ReceivedEvent[] } }).data.events;
      } catch {
        events = [];
      }
      const request: ReceivedRequest = { at: Date.now(), webhookId: String(req.headers['webhook-id']), headers: req.headers, body, verified, events, answered: false, status: null };
      const index = requests.length;
      requests.push(request);
      const answer = receiver.respond(request, index);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status, { 'content-type': 'text/plain' });
        res.end(answer.body ?? (answer.status < 300 ? 'ok' : 'nope'));
        request.answered = true;
        request.status = answer.status;
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hook`;
  return receiver;
}
