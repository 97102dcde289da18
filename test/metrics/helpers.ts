import { expect } from 'vitest';
import { uniqueId, type GraphQLResponse, type TestApp } from '../support/app.ts';

export interface Obj {
  type: string;
  id: string;
}

export interface IncrementEventInput {
  domain: string;
  metric: string;
  object?: Obj | { type: string; id: string; label?: string };
  by?: number;
  category?: string;
  domId?: string;
  at?: string;
}

export const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
export const BOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

export function metricsHelpers(t: TestApp) {
  const service = { token: t.serviceToken };

  async function registerDomain(args: { ref?: string; name?: string; openMetrics?: boolean; publicMetrics?: boolean } = {}) {
    const ref = args.ref ?? uniqueId('dom');
    const data = await t.ok<{ registerDomain: any }>(
      `mutation($ref: ID!, $name: String!, $open: Boolean, $pub: Boolean) {
         registerDomain(ref: $ref, name: $name, openMetrics: $open, publicMetrics: $pub) { ref name openMetrics publicMetrics }
       }`,
      { ref, name: args.name ?? `Domain ${ref}`, open: args.openMetrics ?? false, pub: args.publicMetrics ?? false },
      service,
    );
    return data.registerDomain as { ref: string; name: string; openMetrics: boolean; publicMetrics: boolean };
  }

  async function registerMetric(
    domain: string,
    args: { ref?: string; name?: string; kind?: 'COUNTER' | 'GAUGE'; public?: boolean; allowNegative?: boolean } = {},
  ) {
    const ref = args.ref ?? uniqueId('m');
    const data = await t.ok<{ registerMetric: any }>(
      `mutation($domain: ID!, $ref: ID!, $name: String!, $kind: MetricKind, $public: Boolean, $neg: Boolean) {
         registerMetric(domain: $domain, ref: $ref, name: $name, kind: $kind, public: $public, allowNegative: $neg) {
           ref name kind public allowNegative domain { ref }
         }
       }`,
      { domain, ref, name: args.name ?? `Metric ${ref}`, kind: args.kind ?? 'COUNTER', public: args.public ?? false, neg: args.allowNegative ?? false },
      service,
    );
    return data.registerMetric as { ref: string; name: string; kind: string; public: boolean; allowNegative: boolean };
  }

  /** A fresh domain with one counter; returns their refs. */
  async function counter(options: { public?: boolean; allowNegative?: boolean } = {}) {
    const domain = (await registerDomain()).ref;
    const metric = (await registerMetric(domain, options)).ref;
    return { domain, metric };
  }

  function incrementRaw(events: IncrementEventInput[], options: { token?: string | undefined; userAgent?: string } = {}) {
    return t.gql<{ increment: { accepted: number; rejected: Array<{ index: number; reason: string }> } }>(
      `mutation($events: [IncrementInput!]!) { increment(events: $events) { accepted rejected { index reason } } }`,
      { events },
      { token: options.token, headers: { 'user-agent': options.userAgent ?? BROWSER_UA } },
    );
  }

  async function increment(events: IncrementEventInput[], options: { token?: string | undefined; userAgent?: string } = {}) {
    const result = await incrementRaw(events, { token: t.serviceToken, ...options });
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    return result.data!.increment;
  }

  async function total(domain: string, metric: string, args: { object?: Obj; category?: string } = {}, token: string | undefined = t.serviceToken) {
    const data = await t.ok<{ domain: { metric: { total: number } } }>(
      `query($d: ID!, $m: ID!, $object: ObjectRefInput, $category: String) {
         domain(ref: $d) { metric(ref: $m) { total(object: $object, category: $category) } }
       }`,
      { d: domain, m: metric, ...args },
      { token },
    );
    return data.domain.metric.total;
  }

  async function series(domain: string, metric: string, args: Record<string, unknown>) {
    const result = await t.gql<{ domain: { metric: { series: Array<{ start: string; value: number }> } } }>(
      `query($d: ID!, $m: ID!, $period: Period!, $from: DateTime, $to: DateTime, $object: ObjectRefInput, $category: String, $timezone: String) {
         domain(ref: $d) { metric(ref: $m) { series(period: $period, from: $from, to: $to, object: $object, category: $category, timezone: $timezone) { start value } } }
       }`,
      { d: domain, m: metric, ...args },
      service,
    );
    return result;
  }

  async function fold() {
    const data = await t.ok<{ foldCounters: { folded: number; buckets: number; deadLettered: number; durationMs: number; batches: number; skipped: boolean } }>(
      `mutation { foldCounters { folded buckets deadLettered durationMs batches skipped } }`,
      {},
      service,
    );
    return data.foldCounters;
  }

  async function status() {
    const data = await t.ok<{ metricsStatus: { inboxRows: number; deadLetters: number; flushes: number; flushedRows: number; acknowledgedWrites: number } }>(
      `query { metricsStatus { inboxRows deadLetters flushes flushedRows acknowledgedWrites } }`,
      {},
      service,
    );
    return data.metricsStatus;
  }

  return { service, registerDomain, registerMetric, counter, increment, incrementRaw, total, series, fold, status };
}

export function errorCodes(result: GraphQLResponse): string[] {
  return (result.errors ?? []).map((e) => String(e.extensions?.['code']));
}
