import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { BOT_UA, BROWSER_UA, errorCodes, metricsHelpers } from './helpers.ts';

// django-tracker and django-trackable behaviours their users rely on (issue 10, items 9 to 11).

let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;

beforeAll(async () => {
  t = await startTestApp({ METRICS_BOT_PATTERNS: 'zorblax, Quokka\\d' });
  h = metricsHelpers(t);
});
afterAll(async () => {
  await t?.stop();
});

// Browser-like user agents that isbot alone lets through; the operator's patterns name two of them.
const ZORBLAX = 'Mozilla/5.0 (X11; Linux x86_64; Zorblax) Gecko/20100101 Firefox/128.0';
const CHROME = (token: string) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64; ${token}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36`;
const QUOKKA7 = CHROME('Quokka7');
const QUOKKA = CHROME('Quokka');

type Stat = { domId: string; label: string; category: string | null; count: number };
async function labelStats(domIds: string[], args: { period?: string; at?: string; timezone?: string } = {}) {
  const data = await t.ok<{ labelStats: Stat[] }>(
    `query($ids: [String!]!, $period: Period, $at: DateTime, $tz: String) {
       labelStats(domIds: $ids, period: $period, at: $at, timezone: $tz) { domId label category count }
     }`,
    { ids: domIds, period: args.period, at: args.at, tz: args.timezone },
  );
  return data.labelStats;
}

describe('labelStats by period (django-tracker get_stats: today’s daily counts)', () => {
  it('period DAY without `at` counts today; `at` picks another day; LIFETIME (the default) counts everything', async () => {
    const dom = uniqueId('btn');
    const now = Date.now();
    const yesterday = new Date(now - 86_400_000).toISOString();
    // Labels are metrics of the built-in `labels` domain; a service may backdate them like any increment.
    await h.increment([
      { domain: 'labels', metric: 'signup', category: 'cta', domId: dom, at: yesterday, by: 5 },
      { domain: 'labels', metric: 'signup', category: 'cta', domId: dom, by: 2 },
    ]);
    await t.ok('mutation($l: String!) { trackLabels(labels: $l) { accepted } }', { l: `signup:cta:${dom}` });
    for (const round of ['inbox', 'folded']) {
      expect(await labelStats([dom], { period: 'DAY' }), round).toEqual([{ domId: dom, label: 'signup', category: 'cta', count: 3 }]);
      expect(await labelStats([dom], { period: 'DAY', at: yesterday }), round).toEqual([{ domId: dom, label: 'signup', category: 'cta', count: 5 }]);
      expect(await labelStats([dom]), round).toEqual([{ domId: dom, label: 'signup', category: 'cta', count: 8 }]);
      expect(await labelStats([dom], { period: 'MONTH', at: '2001-01-01T00:00:00Z' }), round).toEqual([]);
      await h.fold();
    }
  });

  it('days follow `timezone`', async () => {
    const dom = uniqueId('tz');
    const at = new Date(Date.now() - 3_600_000);
    await h.increment([{ domain: 'labels', metric: 'late', domId: dom, at: at.toISOString() }]);
    // Kiritimati is UTC+14 and Niue UTC-11: the same instant is on different local days, but always in its own.
    for (const timezone of ['Pacific/Kiritimati', 'Pacific/Niue', 'Asia/Kathmandu']) {
      expect(await labelStats([dom], { period: 'DAY', at: at.toISOString(), timezone }), timezone).toHaveLength(1);
      expect(await labelStats([dom], { period: 'HOUR', at: new Date(at.getTime() - 3_600_000).toISOString(), timezone }), timezone).toEqual([]);
    }
    expect(errorCodes(await t.gql('{ labelStats(domIds: ["x"], period: DAY, timezone: "Mars/Base") { count } }'))).toEqual(['BAD_USER_INPUT']);
  });
});

describe('labels with spaces and + (django-tracker: [\\w.\\-_|+ ]+)', () => {
  it('trackLabels and the beacon accept them; the beacon decodes + as a space and %2B as +', async () => {
    const dom = uniqueId('lbl');
    expect(await t.ok('mutation($l: String!) { trackLabels(labels: $l) { accepted rejected { index reason } } }', { l: `user connected:links:${dom}|c++ guide:links:${dom}` })).toEqual({
      trackLabels: { accepted: 2, rejected: [] },
    });
    const base = `http://127.0.0.1:${t.port}`;
    const get = await fetch(`${base}/track?labels=user+connected:links:${dom}|c%2B%2B+guide:links:${dom}`, { headers: { 'user-agent': BROWSER_UA } });
    expect(get.status).toBe(204);
    const beacon = await fetch(`${base}/track`, { method: 'POST', body: `user connected:links:${dom}`, headers: { 'user-agent': BROWSER_UA, 'content-type': 'text/plain' } });
    expect(beacon.status).toBe(204);
    expect(await labelStats([dom])).toEqual([
      { domId: dom, label: 'c++ guide', category: 'links', count: 2 },
      { domId: dom, label: 'user connected', category: 'links', count: 3 },
    ]);
    const total = await t.ok<{ domain: { metric: { total: number } } }>('{ domain(ref: "labels") { metric(ref: "c++ guide") { total } } }');
    expect(total.domain.metric.total).toBeGreaterThanOrEqual(2);
    // Still rejected: characters outside the label set, and `:` beyond category and dom id.
    const bad = await t.ok<{ trackLabels: { accepted: number; rejected: Array<{ index: number; reason: string }> } }>(
      'mutation($l: String!) { trackLabels(labels: $l) { accepted rejected { index reason } } }',
      { l: `a<b|x:y:z:w|ok label` },
    );
    expect(bad.trackLabels).toEqual({ accepted: 1, rejected: [{ index: 0, reason: 'invalid_label' }, { index: 1, reason: 'malformed_label' }] });
  });

  it('a label stays a counter: registerMetric in the labels domain refuses another kind, and the accepted clicks stay counted', async () => {
    const label = `heat ${uniqueId('l')}`;
    const dom = uniqueId('dom');
    const click = await t.ok<{ trackLabels: { accepted: number } }>('mutation($l: String!) { trackLabels(labels: $l) { accepted } }', { l: `${label}:cta:${dom}` });
    expect(click.trackLabels.accepted).toBe(1);
    const register = `mutation($r: ID!, $k: MetricKind) { registerMetric(domain: "labels", ref: $r, kind: $k, name: "Heat") { ref kind name } }`;
    for (const ref of [label, `fresh ${uniqueId('l')}`]) {
      const refused = await t.gql(register, { r: ref, k: 'GAUGE' }, h.service);
      expect(refused.errors?.[0]?.extensions, ref).toMatchObject({ code: 'BAD_USER_INPUT', issues: [{ path: 'kind' }] });
    }
    // A label's ref is a label (spaces and +), not a reference ID; elsewhere a reference ID.
    expect((await t.gql(register, { r: 'a:b' }, h.service)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', issues: [{ path: 'ref' }] });
    const elsewhere = await t.gql(`mutation($d: ID!) { registerMetric(domain: $d, ref: "c++ guide") { ref } }`, { d: (await h.counter()).domain }, h.service);
    expect(elsewhere.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', issues: [{ path: 'ref' }] });
    // A name (or COUNTER) is still fine.
    expect((await t.ok<{ registerMetric: { kind: string; name: string } }>(register, { r: label, k: 'COUNTER' }, h.service)).registerMetric).toMatchObject({ kind: 'COUNTER', name: 'Heat' });
    expect((await t.ok<{ trackLabels: { accepted: number } }>('mutation($l: String!) { trackLabels(labels: $l) { accepted } }', { l: `${label}:cta:${dom}` })).trackLabels.accepted).toBe(1);
    await h.fold();
    expect(await labelStats([dom])).toEqual([{ domId: dom, label, category: 'cta', count: 2 }]);
  });
});

describe('bot filter (isbot plus METRICS_BOT_PATTERNS, as trackable’s own spider list)', () => {
  it('rejects and counts user agents matching isbot or an operator pattern (isbot alone lets them through); counts anonymous increments without a User-Agent', async () => {
    const { domain, metric } = await h.counter({ public: true });
    const bots = async () =>
      (await t.ok<{ domain: { metric: { total: number } } }>('{ domain(ref: "trackql") { metric(ref: "bot_rejections") { total(category: "' + domain + '") } } }', {}, h.service))
        .domain.metric.total;
    for (const userAgent of [ZORBLAX, QUOKKA7, BOT_UA]) {
      const result = await h.incrementRaw([{ domain, metric }], { token: undefined, userAgent });
      expect(result.data?.increment, userAgent).toEqual({ accepted: 0, rejected: [{ index: 0, reason: 'bot' }] });
    }
    expect(await bots()).toBe(3);
    for (const userAgent of [BROWSER_UA, QUOKKA, '']) {
      const result = await h.incrementRaw([{ domain, metric }], { token: undefined, userAgent });
      expect(result.data?.increment.accepted, userAgent).toBe(1);
    }
    expect(await h.total(domain, metric)).toBe(3);
  });

  it('viewer.countedAsBot says whether the filter would reject the caller (its role and User-Agent)', async () => {
    const asked = async (userAgent: string, token?: string) => {
      const response = await fetch(`http://127.0.0.1:${t.port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': userAgent, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query: 'query BotCheck { viewer { countedAsBot } }' }),
      });
      return ((await response.json()) as { data: { viewer: { countedAsBot: boolean } } }).data.viewer.countedAsBot;
    };
    expect(await asked(BOT_UA)).toBe(true);
    expect(await asked(ZORBLAX)).toBe(true); // an operator pattern
    expect(await asked(BROWSER_UA.replace('Chrome/', 'HeadlessChrome/'))).toBe(true);
    expect(await asked(BROWSER_UA)).toBe(false);
    expect(await asked('')).toBe(false);
    expect(await asked(BOT_UA, await t.userToken('bot-check-user'))).toBe(true); // users are filtered by default
    expect(await asked(BOT_UA, t.serviceToken)).toBe(false); // services are not
  });

  it('refuses to start with a pattern that is not a regular expression, naming the variable', () => {
    expect(() => loadConfig({ METRICS_BOT_PATTERNS: 'ok,(unclosed' })).toThrow(ConfigError);
    expect(() => loadConfig({ METRICS_BOT_PATTERNS: 'ok,(unclosed' })).toThrow(/METRICS_BOT_PATTERNS/);
  });
});
