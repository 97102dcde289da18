import http from 'node:http';
import https from 'node:https';
import { ERROR_EXCERPT } from './model.ts';
import type { SignedHeaders } from './signing.ts';
import { checkWebhookUrl, safeLookup } from './url-safety.ts';

/**
 * One signed POST to a receiver: connect and response timeouts, no redirect followed (a 3xx is a failed
 * attempt), only the first bytes of the response body read (an excerpt kept for inspection), the target
 * address checked at connection time (url-safety.ts). Never throws: the outcome says what happened.
 */

export interface PostOptions {
  allowPrivate: boolean;
  connectTimeoutMs: number;
  /** The whole request, from start to the end of the response headers. */
  responseTimeoutMs: number;
}

export interface PostOutcome {
  ok: boolean;
  statusCode: number | null;
  /** Why it failed: the error, or the status with an excerpt of the body. */
  error: string | null;
}

const USER_AGENT = 'trackql-webhooks/1';

export function postSigned(rawUrl: string, headers: SignedHeaders, body: string, options: PostOptions): Promise<PostOutcome> {
  return new Promise<PostOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(overall);
      resolve(outcome);
    };
    let url: URL;
    try {
      url = checkWebhookUrl(rawUrl, options.allowPrivate);
    } catch (error) {
      resolve({ ok: false, statusCode: null, error: (error as Error).message.slice(0, ERROR_EXCERPT) });
      return;
    }
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(url, {
      method: 'POST',
      agent: false,
      lookup: safeLookup(options.allowPrivate) as never,
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': USER_AGENT,
      },
    });
    const overall = setTimeout(() => {
      request.destroy(new Error(`no response within ${options.responseTimeoutMs} ms`));
    }, options.responseTimeoutMs);
    request.on('socket', (socket) => {
      if (!socket.connecting) return;
      const connectTimer = setTimeout(() => {
        request.destroy(new Error(`not connected within ${options.connectTimeoutMs} ms`));
      }, options.connectTimeoutMs);
      socket.once('connect', () => clearTimeout(connectTimer));
      socket.once('close', () => clearTimeout(connectTimer));
    });
    request.on('error', (error) => finish({ ok: false, statusCode: null, error: error.message.slice(0, ERROR_EXCERPT) }));
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      let excerpt = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (excerpt.length < ERROR_EXCERPT) excerpt += chunk.slice(0, ERROR_EXCERPT - excerpt.length);
        // Enough read: the rest of a large body is not waited for.
        if (excerpt.length >= ERROR_EXCERPT) response.destroy();
      });
      const done = () =>
        finish({
          ok,
          statusCode: status,
          error: ok ? null : `HTTP ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}: ${excerpt}`.slice(0, ERROR_EXCERPT),
        });
      response.on('end', done);
      response.on('close', done);
      response.on('error', done);
    });
    request.end(body);
  });
}
