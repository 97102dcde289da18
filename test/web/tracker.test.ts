import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import type { Request as BrowserRequest } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { hasChromium, launchBrowser, screenshot, type TestBrowser } from '../support/browser.ts';

/**
 * /trackql.js, the one-tag tracker, on a page of another site (another origin): clicks on data-trackql-labels
 * elements and page views reach trackql as batched beacons; no cookies; under 5 KB gzipped; also an ES module.
 */
let t: TestApp;
let trackql: string;
let site: http.Server;
let siteUrl: string;
const domain = uniqueId('shop');
const dom = (name: string) => `${domain}-${name}`;

/** The other site's pages: each is a function of trackql's URL. */
const PAGES: Record<string, (trackqlUrl: string) => string> = {
  // Sends only when asked (flush) or when the page is left: the test sees exactly what one beacon carries.
  '/landing': (u) => `<!doctype html><html><head><title>Landing</title>
    <script src="${u}/trackql.js" data-pageviews="${domain}:views" data-flush-ms="600000" defer></script></head>
    <body><h1>A shop</h1>
    <a id="buy" href="#buy" data-trackql-labels="buy:cta:${dom('buy')}"><span id="buy-inner">Buy now</span></a>
    <button id="menu" data-trackql-labels="menu:nav:${dom('menu')}|open-menu:nav:${dom('menu')}">Menu</button>
    <button id="plain">Not tracked</button>
    <a id="away" href="/next" data-trackql-labels="away:links:${dom('away')}">Next page</a>
    <script>document.getElementById('menu').addEventListener('click', (e) => e.stopPropagation());</script>
    </body></html>`,
  // The default: what is queued goes within a second.
  '/timer': (u) => `<!doctype html><html><head><title>Timer</title><script src="${u}/trackql.js" defer></script></head>
    <body><button id="once" data-trackql-labels="once:timer:${dom('timer')}">Once</button></body></html>`,
  '/next': () => `<!doctype html><html><head><title>Next</title></head><body><h1>Next page</h1></body></html>`,
  '/module': (u) => `<!doctype html><html><head><title>Module</title></head><body>
    <button id="esm" data-trackql-labels="esm:mod:${dom('esm')}">ES module</button>
    <script type="module">
      import { createTracker } from '${u}/trackql.mjs';
      const tracker = createTracker({ endpoint: '${u}/track', pageviews: '${domain}:views', flushMs: 0 });
      tracker.pageview('/module-view');
      window.tracker = tracker;
      document.body.dataset.ready = 'true';
    </script></body></html>`,
};

beforeAll(async () => {
  t = await startTestApp();
  trackql = `http://127.0.0.1:${t.port}`;
  await t.ok(
    `mutation($d: ID!) { registerDomain(ref: $d, name: "Shop") { ref } registerMetric(domain: $d, ref: "views", name: "Views", public: true) { ref } }`,
    { d: domain },
    { token: t.serviceToken },
  );
  site = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/favicon.ico') return void res.writeHead(204).end();
    const page = PAGES[path];
    res.writeHead(page ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page ? page(trackql) : 'not found');
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  // Another port is another origin: the tracker runs on "someone else's site".
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => site?.close(resolve));
  await t?.stop();
});

async function counts(domIds: string[]): Promise<Record<string, number>> {
  const data = await t.ok<{ labelStats: Array<{ domId: string; count: number }> }>('query($ids: [String!]!) { labelStats(domIds: $ids) { domId count } }', { ids: domIds });
  const out: Record<string, number> = {};
  for (const s of data.labelStats) out[s.domId] = (out[s.domId] ?? 0) + s.count;
  return out;
}

async function views(page: string): Promise<number> {
  const data = await t.ok<{ domain: { metric: { total: number } } }>(
    'query($d: ID!, $p: ID!) { domain(ref: $d) { metric(ref: "views") { total(object: { type: "Page", id: $p }) } } }',
    { d: domain, p: page },
  );
  return data.domain.metric.total;
}

describe('/trackql.js as served', () => {
  it('is under 5 KB gzipped, a classic script made from the ES module, with CORS for other sites', async () => {
    const script = await fetch(`${trackql}/trackql.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('access-control-allow-origin')).toBe('*');
    const source = await script.text();
    const gzipped = zlib.gzipSync(source, { level: 9 }).length;
    expect(gzipped).toBeLessThan(5 * 1024);
    expect(source).not.toMatch(/^\s*(export|import)\s/m);
    expect(source).toContain('window.trackql = startFromScript(document.currentScript)');
    const module = await (await fetch(`${trackql}/trackql.mjs`)).text();
    expect(module).toMatch(/\nexport \{ createTracker, startFromScript \};\s*$/);
    // One source: the classic script is the module's body.
    expect(source).toContain(module.replace(/\nexport \{[^}]*\};\s*$/, '').trim().slice(0, 2000));
    // It keeps nothing on the visitor's device.
    expect(source).not.toMatch(/document\.cookie|localStorage|sessionStorage|indexedDB|caches\./);
  });
});

describe.skipIf(!hasChromium)('/trackql.js in Chromium on another site', () => {
  let b: TestBrowser;
  beforeAll(async () => {
    b = await launchBrowser([trackql, siteUrl]);
  }, 30_000);
  afterAll(async () => {
    await b?.close();
  });

  it('queues clicks on tracked elements and the page view and sends them in one beacon, without cookies', async () => {
    const page = await b.newPage();
    const beacons: BrowserRequest[] = [];
    const isBeacon = (url: string) => url.split('?')[0] === `${trackql}/track`;
    page.on('request', (request) => {
      if (isBeacon(request.url())) beacons.push(request);
    });
    const responses: Array<Record<string, string>> = [];
    page.on('response', (response) => {
      if (isBeacon(response.url())) responses.push(response.headers());
    });
    await page.goto(`${siteUrl}/landing`);
    await page.waitForFunction(() => typeof (window as unknown as { trackql?: unknown }).trackql === 'object');
    // Three quick clicks (one on a child of the tracked link, one stopped by the page) and an untracked one.
    await page.click('#buy-inner');
    await page.click('#menu');
    await page.click('#plain');
    await page.click('#buy');
    expect(beacons.map((beacon) => beacon.postData())).toEqual([]);
    await page.evaluate(() => (window as unknown as { trackql: { flush(): void } }).trackql.flush());
    await expect.poll(() => beacons.length, { timeout: 10_000 }).toBe(1);
    const beacon = beacons[0]!;
    expect(beacon.method()).toBe('POST');
    expect(beacon.headers()['content-type']).toContain('application/x-www-form-urlencoded');
    // One request carried the four labels and the page view.
    await expect.poll(() => responses.length, { timeout: 10_000 }).toBe(1);
    expect(responses[0]!['x-trackql-accepted']).toBe('5');
    await expect.poll(() => counts([dom('buy'), dom('menu')]), { timeout: 10_000 }).toEqual({ [dom('buy')]: 2, [dom('menu')]: 2 });
    expect(await views('/landing')).toBe(1);
    // No cookies: none set on either site, none sent.
    expect(await page.context().cookies()).toEqual([]);
    expect(beacon.headers()['cookie']).toBeUndefined();
    expect(responses.every((headers) => headers['set-cookie'] === undefined)).toBe(true);
    await screenshot(page, 'tracker-page');
  });

  it('sends a click within a second by default', async () => {
    const page = await b.newPage();
    await page.goto(`${siteUrl}/timer`);
    await page.waitForFunction(() => typeof (window as unknown as { trackql?: unknown }).trackql === 'object');
    await page.click('#once');
    await expect.poll(() => counts([dom('timer')]), { timeout: 10_000 }).toEqual({ [dom('timer')]: 1 });
  });

  it('sends what is queued when the visitor leaves through a tracked link (pagehide)', async () => {
    const page = await b.newPage();
    await page.goto(`${siteUrl}/landing`);
    await page.waitForFunction(() => typeof (window as unknown as { trackql?: unknown }).trackql === 'object');
    await page.click('#away');
    await page.waitForURL(`${siteUrl}/next`);
    await expect.poll(() => counts([dom('away')]), { timeout: 10_000 }).toEqual({ [dom('away')]: 1 });
  });

  it('works as an ES module: createTracker, track, pageview', async () => {
    const page = await b.newPage();
    await page.goto(`${siteUrl}/module`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.click('#esm');
    await page.evaluate(() => (window as unknown as { tracker: { track(l: string): void } }).tracker.track('extra:mod:esm-extra'));
    await expect.poll(() => counts([dom('esm'), 'esm-extra']), { timeout: 10_000 }).toEqual({ [dom('esm')]: 1, 'esm-extra': 1 });
    await expect.poll(() => views('/module-view'), { timeout: 10_000 }).toBe(1);
    expect({ errors: b.errors, blocked: b.blocked }).toEqual({ errors: [], blocked: [] });
  });
});
