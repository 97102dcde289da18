import http from 'node:http';
import type { Client } from 'graphql-ws';
import { expect } from 'vitest';
import type { GraphQLResponse } from '../support/app.ts';

/** A raw HTTP exchange with the listening server (real socket), for status codes and headers. */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json(): GraphQLResponse;
}

export interface RawRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body chunked (no Content-Length). */
  chunked?: boolean;
  /** Local address to connect from (any 127.x.y.z works on Linux): a distinct client IP. */
  localAddress?: string;
}

export function raw(t: { port: number }, request: RawRequest = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined && !request.chunked) headers['content-length'] = String(Buffer.byteLength(request.body));
    const req = http.request(
      {
        host: '127.0.0.1',
        port: t.port,
        method: request.method ?? 'POST',
        path: request.path ?? '/graphql',
        headers,
        ...(request.localAddress ? { localAddress: request.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as GraphQLResponse });
        });
      },
    );
    req.on('error', reject);
    if (request.body !== undefined) {
      if (request.chunked) {
        const body = Buffer.from(request.body);
        for (let i = 0; i < body.length; i += 16 * 1024) req.write(body.subarray(i, i + 16 * 1024));
      } else {
        req.write(request.body);
      }
    }
    req.end();
  });
}

/** POST application/json to the real port. */
export function postJson(
  t: { port: number },
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
  extra: Omit<RawRequest, 'body' | 'headers'> = {},
): Promise<RawResponse> {
  return raw(t, {
    ...extra,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
}

/** A random loopback address: a client IP no other test file uses. */
export function randomLoopback(): string {
  const byte = () => 1 + Math.floor(Math.random() * 250);
  return `127.${byte()}.${byte()}.${byte()}`;
}

/** A random documentation-range IPv4 address, for X-Forwarded-For. */
export function randomClientIp(): string {
  const byte = () => 1 + Math.floor(Math.random() * 250);
  return `198.${18 + Math.floor(Math.random() * 2)}.${byte()}.${byte()}`;
}

export function expectRefused(result: GraphQLResponse, code: string, message?: RegExp) {
  // No data: null, or (nullable fields) objects whose every field is null down to the refused one.
  const empty = (v: unknown): boolean => v === null || v === undefined || (typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(empty));
  expect(empty(result.data), JSON.stringify(result.data)).toBe(true);
  expect(result.errors?.length, JSON.stringify(result)).toBeGreaterThan(0);
  expect(result.errors?.[0]?.extensions?.['code'], JSON.stringify(result.errors)).toBe(code);
  if (message) expect(result.errors?.[0]?.message).toMatch(message);
  // README: trackql's BAD_USER_INPUT carries extensions.issues ({path, message}; path '' for the call as a whole);
  // graphql-js's own variable coercion errors and Yoga's body errors name the variable in their message instead.
  const own = !/^Variable "\$|JSON|body/i.test(result.errors?.[0]?.message ?? '');
  if (code === 'BAD_USER_INPUT' && own) {
    const issues = result.errors?.[0]?.extensions?.['issues'] as Array<{ path: unknown; message: unknown }> | undefined;
    expect(issues?.length, JSON.stringify(result.errors)).toBeGreaterThan(0);
    for (const issue of issues ?? []) expect([typeof issue.path, typeof issue.message]).toEqual(['string', 'string']);
  }
}

export interface Outcome {
  values: unknown[];
  error?: unknown;
  completed: boolean;
}

/** Runs one operation over graphql-ws and resolves on error or completion. */
export function runWs(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { values: [], completed: false };
    client.subscribe(
      { query, variables },
      {
        next: (v) => outcome.values.push(v),
        error: (e) => resolve({ ...outcome, error: e }),
        complete: () => resolve({ ...outcome, completed: true }),
      },
    );
  });
}

export interface Closed {
  code: number;
  reason: string;
  at: number;
}

export function closedEvent(client: Client): Promise<Closed> {
  return new Promise((resolve) => {
    client.on('closed', (event) => {
      const e = event as { code: number; reason: string };
      resolve({ code: e.code, reason: e.reason, at: Date.now() });
    });
  });
}

export function connectedEvent(client: Client): Promise<void> {
  return new Promise((resolve) => client.on('connected', () => resolve()));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
