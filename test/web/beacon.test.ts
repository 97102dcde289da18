import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';

const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const BOT_UA = 'Googlebot/2.1 (+http://www.google.com/bot.html)';

let t: TestApp;
let base: string;

beforeAll(async () => {
  t = await startTestApp();
  base = `http://127.0.0.1:${t.port}`;
});
afterAll(async () => {
  await t?.stop();
});

async function counts(domIds: string[]): Promise<Record<string, number>> {
  const data = await t.ok<{ labelStats: Array<{ domId: string; label: string; count: number }> }>(
    'query($ids: [String!]!) { labelStats(domIds: $ids) { domId label count } }',
    { ids: domIds },
  );
  const out: Record<string, number> = {};
  for (const s of data.labelStats) out[s.domId] = (out[s.domId] ?? 0) + s.count;
  return out;
}

describe('GET /track (django-tracker compatible)', () => {
  it('counts every label of a|b:category:domId and answers 204', async () => {
    const dom = uniqueId('dom');
    const response = await fetch(`${base}/track?labels=${encodeURIComponent(`first:links:${dom}|second:links:${dom}|third`)}`, {
      headers: { 'user-agent': BROWSER_UA },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('x-trackql-accepted')).toBe('3');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(await counts([dom])).toEqual({ [dom]: 2 });
  });

  it('answers a 1x1 transparent gif with ?gif=1', async () => {
    const dom = uniqueId('dom');
    const response = await fetch(`${base}/track/?labels=pixel::${dom}&gif=1`, { headers: { 'user-agent': BROWSER_UA } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/gif');
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(new TextDecoder().decode(bytes.slice(0, 6))).toBe('GIF89a');
    expect(bytes[6]).toBe(1); // width 1
    expect(bytes[8]).toBe(1); // height 1
    expect(await counts([dom])).toEqual({ [dom]: 1 });
  });

  it('rejects a missing labels parameter with 400 and stores nothing', async () => {
    const response = await fetch(`${base}/track`, { headers: { 'user-agent': BROWSER_UA } });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
    expect(body.errors[0]!.message).toMatch(/labels/);
  });

  it('applies the mutation’s label validation (malformed labels are rejected, valid ones kept)', async () => {
    const dom = uniqueId('dom');
    const response = await fetch(`${base}/track?labels=${encodeURIComponent(`ok::${dom}|bad<label::${dom}`)}`, {
      headers: { 'user-agent': BROWSER_UA },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('x-trackql-accepted')).toBe('1');
    expect(response.headers.get('x-trackql-rejected')).toBe('1');
    expect(await counts([dom])).toEqual({ [dom]: 1 });
  });

  it('filters bots exactly like the mutation (nothing stored)', async () => {
    const dom = uniqueId('dom');
    const viaBeacon = await fetch(`${base}/track?labels=seen::${dom}`, { headers: { 'user-agent': BOT_UA } });
    expect(viaBeacon.status).toBe(204);
    expect(viaBeacon.headers.get('x-trackql-accepted')).toBe('0');
    const viaMutation = await t.gql<{ trackLabels: { accepted: number; rejected: Array<{ reason: string }> } }>(
      'mutation($l: String!) { trackLabels(labels: $l) { accepted rejected { reason } } }',
      { l: `seen::${dom}` },
      { headers: { 'user-agent': BOT_UA } },
    );
    expect(viaMutation.data?.trackLabels.accepted).toBe(0);
    expect(viaMutation.data?.trackLabels.rejected.map((r) => r.reason)).toEqual(['bot']);
    expect(await counts([dom])).toEqual({});
  });

  it('answers CORS preflight for sendBeacon with a JSON blob', async () => {
    const response = await fetch(`${base}/track`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
  });
});

describe('POST /track (navigator.sendBeacon bodies)', () => {
  const post = (body: BodyInit, type?: string) =>
    fetch(`${base}/track`, {
      method: 'POST',
      headers: { 'user-agent': BROWSER_UA, ...(type ? { 'content-type': type } : {}) },
      body,
    });

  it('accepts the raw label string as text/plain', async () => {
    const dom = uniqueId('dom');
    expect((await post(`a:cat:${dom}|b:cat:${dom}|c::${dom}`, 'text/plain;charset=UTF-8')).status).toBe(204);
    expect(await counts([dom])).toEqual({ [dom]: 3 });
  });

  it('accepts labels=… as text/plain and as a form (URLSearchParams)', async () => {
    const dom = uniqueId('dom');
    expect((await post(`labels=${encodeURIComponent(`x::${dom}`)}`, 'text/plain')).status).toBe(204);
    expect((await post(new URLSearchParams({ labels: `y::${dom}` }))).status).toBe(204);
    expect(await counts([dom])).toEqual({ [dom]: 2 });
  });

  it('takes the id from the URL of a POST (the only place beside a raw label string): a beacon sent again counts once', async () => {
    const dom = uniqueId('dom');
    const postTo = (query: string, body: string, type?: string) =>
      fetch(`${base}/track?${query}`, { method: 'POST', headers: { 'user-agent': BROWSER_UA, ...(type ? { 'content-type': type } : {}) }, body });
    const id = uniqueId('beacon');
    for (let i = 0; i < 2; i++) expect((await postTo(`id=${id}`, `a:cat:${dom}`, 'text/plain;charset=UTF-8')).status).toBe(204);
    const formId = uniqueId('beacon');
    for (let i = 0; i < 2; i++) expect((await postTo(`id=${formId}`, `labels=${encodeURIComponent(`b:cat:${dom}`)}`, 'application/x-www-form-urlencoded')).status).toBe(204);
    // An empty POST with its fields in the URL (a bare sendBeacon(url)) is the same as a GET.
    const bareId = uniqueId('beacon');
    for (let i = 0; i < 2; i++) expect((await postTo(`labels=${encodeURIComponent(`c:cat:${dom}`)}&id=${bareId}`, '')).status).toBe(204);
    // Whatever its content type.
    for (const type of ['application/x-www-form-urlencoded', 'application/json']) {
      expect((await postTo(`labels=${encodeURIComponent(`e:cat:${dom}`)}&id=${uniqueId('bare')}`, '', type)).status, type).toBe(204);
    }
    expect(await counts([dom])).toEqual({ [dom]: 5 });
    // Two different ids (URL and body) are refused, nothing stored.
    const conflicting = await postTo(`id=${uniqueId('x')}`, JSON.stringify({ labels: `d:cat:${dom}`, id: uniqueId('y') }), 'application/json');
    expect(conflicting.status).toBe(400);
    const refusal = (await conflicting.json()) as { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
    // A GraphQL BAD_USER_INPUT's shape: the code, the issue (the beacon as a whole) and the request id.
    expect(refusal.errors[0]!.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      issues: [{ path: '', message: refusal.errors[0]!.message }],
      requestId: conflicting.headers.get('x-request-id'),
    });
    expect(await counts([dom])).toEqual({ [dom]: 5 });
  });

  it('accepts JSON {labels: string | string[]}', async () => {
    const dom = uniqueId('dom');
    expect((await post(JSON.stringify({ labels: `j1::${dom}` }), 'application/json')).status).toBe(204);
    expect((await post(JSON.stringify({ labels: [`j2::${dom}`, `j3::${dom}`] }), 'application/json')).status).toBe(204);
    expect(await counts([dom])).toEqual({ [dom]: 3 });
  });

  it('rejects bad bodies with a clear error and stores nothing', async () => {
    const bad = [
      [JSON.stringify({ nope: 1 }), 'application/json', 400],
      ['{not json', 'application/json', 400],
      ['', 'text/plain', 400],
      ['x'.repeat(9000), 'text/plain', 413],
      ['<labels/>', 'application/xml', 415],
    ] as const;
    for (const [body, type, status] of bad) {
      const response = await post(body, type);
      expect(response.status, `${type} ${body.slice(0, 20)}`).toBe(status);
      const json = (await response.json()) as { errors: Array<{ message: string }> };
      expect(json.errors[0]!.message.length).toBeGreaterThan(5);
    }
  });

  it('passes the caller’s token through: a user token is accepted, a bad token is 401', async () => {
    const dom = uniqueId('dom');
    const user = await t.userToken(uniqueId('u'));
    const ok = await fetch(`${base}/track`, {
      method: 'POST',
      headers: { 'user-agent': BROWSER_UA, authorization: `Bearer ${user}`, 'content-type': 'text/plain' },
      body: `tok::${dom}`,
    });
    expect(ok.status).toBe(204);
    const bad = await fetch(`${base}/track?labels=tok::${dom}`, {
      headers: { 'user-agent': BROWSER_UA, authorization: 'Bearer not-a-token' },
    });
    expect(bad.status).toBe(401);
    expect(await counts([dom])).toEqual({ [dom]: 1 });
  });

  it('applies the labels rate limit of the mutation', async () => {
    const limited = await startTestApp({ RATE_LIMIT_LABELS: '3', RATE_LIMIT_WINDOW_SECONDS: '60' });
    try {
      const url = `http://127.0.0.1:${limited.port}/track`;
      const dom = uniqueId('dom');
      // A user of its own, so that no other test sharing Redis (same IP) spends this budget.
      const token = await limited.userToken(uniqueId('rl-user'));
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await fetch(url, {
          method: 'POST',
          headers: { 'user-agent': BROWSER_UA, 'content-type': 'text/plain', authorization: `Bearer ${token}` },
          body: `rl::${dom}`,
        });
        statuses.push(r.status);
      }
      expect(statuses.slice(0, 3)).toEqual([204, 204, 204]);
      expect(statuses.slice(3)).toEqual([429, 429]);
      const last = await fetch(url, { method: 'POST', headers: { 'user-agent': BROWSER_UA, authorization: `Bearer ${token}` }, body: `rl::${dom}` });
      expect(last.status).toBe(429);
      expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.stop();
    }
  });
});

describe('page views through /track (what /trackql.js sends)', () => {
  let site: string;
  let secret: string;
  beforeAll(async () => {
    site = uniqueId('site');
    await t.ok(
      `mutation($d: ID!) {
         registerDomain(ref: $d, name: "Site") { ref }
         views: registerMetric(domain: $d, ref: "views", name: "Page views", public: true) { ref }
         secret: registerMetric(domain: $d, ref: "secret", name: "Private", public: false) { ref }
       }`,
      { d: site },
      { token: t.serviceToken },
    );
    secret = `${site}:secret`;
  });

  async function views(page?: string): Promise<number> {
    const data = await t.ok<{ domain: { metric: { total: number } } }>(
      'query($d: ID!, $o: ObjectRefInput) { domain(ref: $d) { metric(ref: "views") { total(object: $o) } } }',
      { d: site, o: page ? { type: 'Page', id: page } : null },
    );
    return data.domain.metric.total;
  }

  it('counts each page as an object of type Page, from a query string, a form body or JSON', async () => {
    const get = await fetch(`${base}/track?pageview=${site}:views&page=/pricing`, { headers: { 'user-agent': BROWSER_UA } });
    expect(get.status).toBe(204);
    expect(get.headers.get('x-trackql-accepted')).toBe('1');
    const form = new URLSearchParams([['pageview', `${site}:views`], ['page', '/pricing'], ['page', '/blog']]);
    expect((await fetch(`${base}/track`, { method: 'POST', headers: { 'user-agent': BROWSER_UA }, body: form })).status).toBe(204);
    const json = await fetch(`${base}/track`, {
      method: 'POST',
      headers: { 'user-agent': BROWSER_UA, 'content-type': 'application/json' },
      body: JSON.stringify({ pageview: `${site}:views`, pages: ['/blog'] }),
    });
    expect(json.status).toBe(204);
    expect([await views('/pricing'), await views('/blog'), await views()]).toEqual([2, 2, 4]);
  });

  it('sends labels and page views of one beacon in one request (accepted adds up)', async () => {
    const dom = uniqueId('dom');
    const body = new URLSearchParams([['labels', `a:nav:${dom}|b:nav:${dom}`], ['pageview', `${site}:views`], ['page', '/both']]);
    const response = await fetch(`${base}/track`, { method: 'POST', headers: { 'user-agent': BROWSER_UA }, body });
    expect(response.status).toBe(204);
    expect(response.headers.get('x-trackql-accepted')).toBe('3');
    expect(await counts([dom])).toEqual({ [dom]: 2 });
    expect(await views('/both')).toBe(1);
  });

  it('stores a beacon’s labels and page views together or not at all (too many labels, a rate limit)', async () => {
    // Too many labels: 400, and the page view of the same beacon is not counted either.
    const labels = Array.from({ length: 1001 }, () => 'tm::tm').join('|');
    const tooMany = await fetch(`${base}/track?labels=${encodeURIComponent(labels)}&pageview=${site}:views&page=/all-or-nothing`, {
      headers: { 'user-agent': BROWSER_UA },
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.headers.get('x-trackql-accepted')).toBe('0');
    expect(await views('/all-or-nothing')).toBe(0);

    // The increment budget spent: the beacon's labels are not counted either (nor, the other way round, page
    // views when the labels budget is spent).
    const limited = await startTestApp({ RATE_LIMIT_INCREMENTS: '2', RATE_LIMIT_LABELS: '10', RATE_LIMIT_WINDOW_SECONDS: '60' });
    try {
      await limited.ok(`mutation($d: ID!) { registerDomain(ref: $d, name: "Site") { ref } registerMetric(domain: $d, ref: "views", name: "Views", public: true) { ref } }`, { d: site }, { token: limited.serviceToken });
      const token = await limited.userToken(uniqueId('rl-beacon'));
      const send = (query: string) =>
        fetch(`http://127.0.0.1:${limited.port}/track?${query}`, { headers: { 'user-agent': BROWSER_UA, authorization: `Bearer ${token}` } });
      const dom = uniqueId('dom');
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await send(`labels=x::${dom}&pageview=${site}:views&page=/rl`)).status);
      expect(statuses).toEqual([204, 204, 429]);
      const labelCount = await limited.ok<{ labelStats: Array<{ count: number }> }>('query($ids: [String!]!) { labelStats(domIds: $ids) { count } }', { ids: [dom] });
      expect(labelCount.labelStats.reduce((a, s) => a + s.count, 0)).toBe(2);
      const total = await limited.ok<{ domain: { metric: { total: number } } }>(
        'query($d: ID!) { domain(ref: $d) { metric(ref: "views") { total } } }',
        { d: site },
      );
      expect(total.domain.metric.total).toBe(2);
    } finally {
      await limited.stop();
    }
  });

  it('applies the increment rules: a private metric is rejected for anonymous callers, bots are not counted', async () => {
    const privateView = await fetch(`${base}/track?pageview=${secret}&page=/x`, { headers: { 'user-agent': BROWSER_UA } });
    expect(privateView.status).toBe(204);
    expect(privateView.headers.get('x-trackql-accepted')).toBe('0');
    expect(privateView.headers.get('x-trackql-rejected')).toBe('1');
    const bot = await fetch(`${base}/track?pageview=${site}:views&page=/bot`, { headers: { 'user-agent': BOT_UA } });
    expect(bot.headers.get('x-trackql-accepted')).toBe('0');
    expect(await views('/bot')).toBe(0);
  });

  it('rejects malformed page views with 400 and stores nothing', async () => {
    const cases = [
      `pageview=${site}:views`,
      `page=/orphan`,
      `pageview=${site}&page=/a`,
      `pageview=${site}:views:extra&page=/a`,
      `pageview=${site}:views&page=`,
      `pageview=${site}:views&page=/a&page=/${'x'.repeat(256)}`,
      `pageview=${site}:views&${Array.from({ length: 101 }, (_, i) => `page=/p${i}`).join('&')}`,
    ];
    for (const query of cases) {
      const response = await fetch(`${base}/track?${query}`, { headers: { 'user-agent': BROWSER_UA } });
      expect(response.status, query.slice(0, 60)).toBe(400);
      const body = (await response.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
      expect(body.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
    }
    const json = await fetch(`${base}/track`, {
      method: 'POST',
      headers: { 'user-agent': BROWSER_UA, 'content-type': 'application/json' },
      body: JSON.stringify({ pageview: `${site}:views`, pages: '/not-a-list' }),
    });
    expect(json.status).toBe(400);
    expect(await views('/orphan')).toBe(0);
    expect(await views('/a')).toBe(0);
  });

  it('a refused page is named by the argument that holds it (trackBeacon: pageViews.pages.N; incrementObjects: objectIds.N)', async () => {
    const beacon = await t.gql(
      `mutation($pv: PageViewsInput) { trackBeacon(labels: "x:c:d", pageViews: $pv) { accepted } }`,
      { pv: { domain: site, metric: 'views', pages: ['/named-ok', ''] } },
    );
    expect(beacon.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', issues: [{ path: 'pageViews.pages.1' }] });
    const objects = await t.gql(
      `mutation($d: ID!) { incrementObjects(domain: $d, metric: "views", objectType: "Page", objectIds: ["/named-ok", "${'x'.repeat(257)}"]) { accepted } }`,
      { d: site },
    );
    expect(objects.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', issues: [{ path: 'objectIds.1' }] });
    expect(await views('/named-ok')).toBe(0);
  });
});
