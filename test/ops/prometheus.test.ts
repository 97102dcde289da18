import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportFold, reportFoldFailure, reportIncrements, reportWebSocket } from '../../src/ops/events.ts';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';

const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const METRICS_TOKEN = 'metrics-token-0123456789';

let t: TestApp;
let base: string;

beforeAll(async () => {
  t = await startTestApp({ PROMETHEUS_TOKEN: METRICS_TOKEN });
  base = `http://127.0.0.1:${t.port}`;
});
afterAll(async () => {
  await t?.stop();
});

async function scrape(): Promise<string> {
  const response = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
}

/** The value of one sample, e.g. value(text, 'trackql_subscriptions{transport="ws"}'); undefined when absent. */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

async function until(check: () => Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached');
}

describe('GET /metrics', () => {
  it('requires the bearer token when PROMETHEUS_TOKEN is set', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-000000000' } })).status).toBe(401);
  });

  it("serves Yoga's GraphQL metrics and process metrics", async () => {
    await t.ok('query { viewer { role } }');
    const text = await scrape();
    expect(text).toContain('# TYPE graphql_envelop_request_duration histogram');
    expect(text).toMatch(/graphql_envelop_phase_execute_count\{[^}]*operationType="query"/);
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).not.toMatch(/graphql_yoga_http_duration_bucket\{[^}]*url=/); // no unbounded URL label
  });

  it('counts each GraphQL request once: phases and errors per operation type, HTTP durations per status', async () => {
    /** The sum of a metric's samples whose labels include every one of `labels` (e.g. 'operationType="query"'). */
    const total = (text: string, name: string, ...labels: string[]) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && labels.every((label) => l.slice(0, l.indexOf('}')).includes(label)))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const delta = (before: string, after: string, name: string, ...labels: string[]) =>
      total(after, name, ...labels) - total(before, name, ...labels);
    const before = await scrape();
    for (let i = 0; i < 3; i++) await t.gql('query Three { __typename }');
    await t.gql('mutation { __typename }');
    await t.gql('mutation Named { __typename }');
    await t.gql('{ ');
    await t.gql('{ noSuchField }');
    await t.gql('{ node(id: "garbage!!") { id } }', {}, { token: t.serviceToken });
    const after = await scrape();
    const q = 'operationType="query"';
    const m = 'operationType="mutation"';
    const unknown = 'operationType="unknown"';
    // Executed: the three queries and the failing node query; the two mutations.
    expect(delta(before, after, 'graphql_envelop_phase_execute_count', q)).toBe(4);
    expect(delta(before, after, 'graphql_envelop_request_duration_count', q)).toBe(4);
    expect(delta(before, after, 'graphql_envelop_phase_execute_count', m)).toBe(2);
    expect(delta(before, after, 'graphql_envelop_request_duration_count', m)).toBe(2);
    // One error in each phase.
    expect(delta(before, after, 'graphql_envelop_error_result', unknown, 'phase="parse"')).toBe(1);
    expect(delta(before, after, 'graphql_envelop_error_result', q, 'phase="validate"')).toBe(1);
    expect(delta(before, after, 'graphql_envelop_error_result', q, 'phase="execute"')).toBe(1);
    // Every GraphQL request has its HTTP duration, also the one whose document did not parse; /metrics not.
    expect(delta(before, after, 'graphql_yoga_http_duration_count', q)).toBe(5);
    expect(delta(before, after, 'graphql_yoga_http_duration_count', m)).toBe(2);
    expect(delta(before, after, 'graphql_yoga_http_duration_count', unknown)).toBe(1);
    expect(delta(before, after, 'graphql_yoga_http_duration_count', 'method="POST"')).toBe(8);
    expect(after).toMatch(/graphql_yoga_http_duration_bucket\{le="0\.005",method="POST",statusCode="\d{3}",operationType="query"\}/);
  });

  it('reports inbox depth, accepted increments and the last fold', async () => {
    const s = t.serviceToken;
    await t.ok('mutation { registerDomain(ref: "opsd", name: "Ops") { ref } }', {}, { token: s });
    await t.ok('mutation { registerMetric(domain: "opsd", ref: "hits", name: "Hits", public: true) { ref } }', {}, { token: s });
    await t.ok('mutation { foldCounters { folded } }', {}, { token: s });
    const before = await scrape();
    expect(value(before, 'trackql_inbox_rows')).toBe(0);
    const writtenBefore = value(before, 'trackql_inbox_rows_written_total') ?? 0;

    const events = Array.from({ length: 7 }, (_, i) => ({ domain: 'opsd', metric: 'hits', object: { type: 'Page', id: `p${i % 3}` } }));
    const result = await t.ok<{ increment: { accepted: number } }>(
      'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }',
      { e: events },
      { headers: { 'user-agent': BROWSER_UA } },
    );
    expect(result.increment.accepted).toBe(7);
    const during = await scrape();
    expect(value(during, 'trackql_inbox_rows')).toBe(7);
    expect(value(during, 'trackql_inbox_rows_written_total')).toBe(writtenBefore + 7);

    const fold = await t.ok<{ foldCounters: { folded: number } }>('mutation { foldCounters { folded } }', {}, { token: s });
    expect(fold.foldCounters.folded).toBe(7);
    const after = await scrape();
    expect(value(after, 'trackql_inbox_rows')).toBe(0);
    expect(value(after, 'trackql_fold_last_rows')).toBe(7);
    expect(value(after, 'trackql_fold_last_duration_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('counts dead letters with SQL at scrape time', async () => {
    const before = value(await scrape(), 'trackql_dead_letters');
    expect(before).toBe(0);
    // Test setup: a dead letter as the fold writes them (no public API creates one on demand).
    await t.app.orm.em.fork().execute(
      `insert into metric_dead_letter (inbox_id, metric_id, object_type, object_id, category, dom_id, amount, occurred_at, reason)
       values (1, 999999, '', '', '', '', 1, now(), 'unknown_metric'), (2, 999999, '', '', '', '', 1, now(), 'unknown_metric')`,
    );
    expect(value(await scrape(), 'trackql_dead_letters')).toBe(2);
  });

  it('counts running subscriptions per transport', async () => {
    const user = uniqueId('ops-user');
    const client = t.wsClient(await t.userToken(user));
    expect(value(await scrape(), 'trackql_subscriptions{transport="ws"}')).toBe(0);
    const events: unknown[] = [];
    const unsubscribe = client.subscribe(
      { query: 'subscription { feed { kind unreadCount } }' },
      { next: (e) => events.push(e), error: () => {}, complete: () => {} },
    );
    const subscribed = 'graphql_envelop_phase_subscribe_count{operationType="subscription"}';
    const before = value(await scrape(), subscribed) ?? 0;
    await until(async () => value(await scrape(), 'trackql_subscriptions{transport="ws"}') === 1);
    unsubscribe();
    await until(async () => value(await scrape(), 'trackql_subscriptions{transport="ws"}') === 0);
    // The websocket feed runs without its GraphQL envelope once started; its end is observed all the same, once.
    await until(async () => value(await scrape(), subscribed) === before + 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(value(await scrape(), subscribed)).toBe(before + 1);
  });

  it('releases an SSE subscription as soon as its client goes away, also on a topic that stays quiet', async () => {
    const sse = 'trackql_subscriptions{transport="sse"}';
    const before = value(await scrape(), sse) ?? 0;
    const token = await t.userToken(uniqueId('sse-quiet'));
    const streams: Array<{ query: string; headers: Record<string, string> }> = [
      { query: 'subscription { feed { kind cursor } }', headers: { authorization: `Bearer ${token}` } },
      { query: `subscription { labelStats(domIds: ["${uniqueId('quiet-dom')}"]) { count } }`, headers: {} }, // anonymous
    ];
    const opened = await Promise.all(
      streams.map(async ({ query, headers }) => {
        const abort = new AbortController();
        const response = await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
          body: JSON.stringify({ query }),
          signal: abort.signal,
        });
        expect(response.status).toBe(200);
        return { abort, response };
      }),
    );
    await until(async () => value(await scrape(), sse) === before + streams.length);
    // The clients leave; nothing is ever published on these topics.
    for (const { abort, response } of opened) {
      abort.abort();
      await response.body?.cancel().catch(() => undefined);
    }
    await until(async () => value(await scrape(), sse) === before);
  });

  it('observes the subscribe phase of a subscription once, when its stream ends', async () => {
    const s = t.serviceToken;
    await t.ok('mutation { registerDomain(ref: "opss", name: "Subs") { ref } }', {}, { token: s });
    await t.ok('mutation { registerMetric(domain: "opss", ref: "hits", name: "Hits", public: true) { ref } }', {}, { token: s });
    const subscribed = 'graphql_envelop_phase_subscribe_count{operationType="subscription"}';
    const before = value(await scrape(), subscribed) ?? 0;
    const client = t.wsClient(await t.userToken(uniqueId('ops-subscribe')));
    const totals: unknown[] = [];
    const unsubscribe = client.subscribe(
      { query: 'subscription { metric(domain: "opss", metric: "hits") }' },
      { next: (e) => totals.push(e), error: () => {}, complete: () => {} },
    );
    await until(async () => totals.length === 1);
    expect(value(await scrape(), subscribed) ?? 0).toBe(before);
    unsubscribe();
    await until(async () => value(await scrape(), subscribed) === before + 1);
    await client.dispose();
  });

  it('is not served when PROMETHEUS_ENABLED=false', async () => {
    const off = await startTestApp({ PROMETHEUS_ENABLED: 'false' });
    try {
      const response = await fetch(`http://127.0.0.1:${off.port}/metrics`);
      expect(response.status).toBe(404);
    } finally {
      await off.stop();
    }
  });

  // The server's own calls of those hooks: websocket admission and close, increment entry points, folds.
  it('counts websockets, increments by source and reason, and folds reported by the server itself', async () => {
    const ws = 'trackql_websocket_connections';
    const connections = value(await scrape(), ws) ?? 0;
    const client = t.wsClient(await t.userToken(uniqueId('ws-count')));
    const stop = client.subscribe({ query: 'subscription { feed { kind } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    await until(async () => value(await scrape(), ws) === connections + 1);
    stop();
    await until(async () => value(await scrape(), ws) === connections);

    const s = t.serviceToken;
    await t.ok('mutation { registerDomain(ref: "opsh", name: "Hooks") { ref } }', {}, { token: s });
    await t.ok('mutation { registerMetric(domain: "opsh", ref: "hits", name: "Hits", public: true) { ref } }', {}, { token: s });
    const before = await scrape();
    const sample = (source: string, reason?: string) =>
      reason === undefined
        ? `trackql_increments_accepted_total{source="${source}"}`
        : `trackql_increments_rejected_total{source="${source}",reason="${reason}"}`;
    const read = (text: string, name: string) => value(text, name) ?? 0;
    await t.ok('mutation { increment(events: [{domain: "opsh", metric: "hits"}, {domain: "opsh", metric: "nope"}]) { accepted } }', {}, {
      headers: { 'user-agent': BROWSER_UA },
    });
    await t.ok('mutation { trackLabels(labels: "cta::hooks|bad label!::hooks") { accepted } }', {}, { headers: { 'user-agent': BROWSER_UA } });
    await t.ok('mutation { incrementObjects(domain: "opsh", metric: "hits", objectType: "Page", objectIds: ["1", "2"]) { accepted } }', {}, {
      headers: { 'user-agent': BROWSER_UA },
    });
    await t.ok('mutation { foldCounters { folded } }', {}, { token: s });
    const after = await scrape();
    expect(read(after, sample('increment'))).toBe(read(before, sample('increment')) + 1);
    expect(read(after, sample('increment', 'unknown_metric'))).toBe(read(before, sample('increment', 'unknown_metric')) + 1);
    expect(read(after, sample('trackLabels'))).toBe(read(before, sample('trackLabels')) + 1);
    expect(read(after, sample('trackLabels', 'invalid_label'))).toBe(read(before, sample('trackLabels', 'invalid_label')) + 1);
    expect(read(after, sample('incrementObjects'))).toBe(read(before, sample('incrementObjects')) + 2);
    expect(read(after, 'trackql_folds_total{result="ok"}')).toBe(read(before, 'trackql_folds_total{result="ok"}') + 1);
    expect(read(after, 'trackql_fold_rows_total')).toBeGreaterThanOrEqual(read(before, 'trackql_fold_rows_total') + 4);
  });

  // The hook contract other modules call (src/ops/events.ts): fold runs, increments by reason, websockets.
  it('turns reported fold, increment and websocket events into counters and gauges', async () => {
    const before = await scrape();
    const okBefore = value(before, 'trackql_folds_total{result="ok"}') ?? 0;
    reportFold({ folded: 40, buckets: 12, deadLettered: 2, durationMs: 250 });
    reportFoldFailure();
    reportIncrements({ source: 'trackLabels', accepted: 3, rejected: [{ reason: 'bot' }, { reason: 'bot' }, { reason: 'invalid_label' }] });
    reportWebSocket(1);
    reportWebSocket(1);
    reportWebSocket(-1);
    const text = await scrape();
    expect(value(text, 'trackql_folds_total{result="ok"}')).toBe(okBefore + 1);
    expect(value(text, 'trackql_folds_total{result="error"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'trackql_fold_dead_lettered_total')).toBeGreaterThanOrEqual(2);
    expect(value(text, 'trackql_fold_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'trackql_increments_accepted_total{source="trackLabels"}')).toBeGreaterThanOrEqual(3);
    expect(value(text, 'trackql_increments_rejected_total{source="trackLabels",reason="bot"}')).toBeGreaterThanOrEqual(2);
    expect(value(text, 'trackql_increments_rejected_total{source="trackLabels",reason="invalid_label"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'trackql_websocket_connections')).toBeGreaterThanOrEqual(1);
  });
});
