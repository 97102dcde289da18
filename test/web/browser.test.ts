import fs from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { hasChromium, launchBrowser, screenshot, USER_AGENT, type TestBrowser } from '../support/browser.ts';

/**
 * The demo page in a real browser (Debian's Chromium driven by playwright-core; skipped only when
 * /usr/bin/chromium is absent, CI installs it: see .ci/run), every other origin blocked. Its links are counted
 * by /trackql.js, its feed is <trackql-feed>, its charts are uPlot.
 */
let t: TestApp;
let b: TestBrowser;
let page: Page;
let base: string;
const demoUser = uniqueId('demo-user');

const badge = () => page.locator('trackql-feed .badge').textContent();
const items = (selector = '.item') => page.locator(`trackql-feed ${selector}`);

describe.skipIf(!hasChromium)('demo page in Chromium', () => {
  beforeAll(async () => {
    // No JWT_SECRET: trackql generates one (development start), which is what enables /demo/tokens.
    t = await startTestApp({ JWT_SECRET: '', DEMO_USER: demoUser });
    base = `http://127.0.0.1:${t.port}`;
    // The demo registers its metrics on its first start; on a fresh database a page view sent before that is
    // rejected (unknown domain), so register them as a previous visit would have.
    await t.ok(
      `mutation { registerDomain(ref: "demo", name: "Demo page") { ref }
                  registerMetric(domain: "demo", ref: "pageviews", name: "Page views", public: true) { ref } }`,
      {},
      { token: t.serviceToken },
    );
    b = await launchBrowser([base]);
    page = await b.newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await t?.stop();
  });

  it('starts with the demo tokens, a live websocket and an empty feed', async () => {
    expect(await page.textContent('#feed-user')).toBe(demoUser);
    expect(await page.textContent('#connection')).toBe('live');
    expect(await badge()).toBe('0');
    expect(await items().count()).toBe(0);
  });

  it('counts its own page view through /trackql.js', async () => {
    const views = async () =>
      (await t.ok<{ domain: { metric: { total: number } } }>('query { domain(ref: "demo") { metric(ref: "pageviews") { total } } }')).domain.metric.total;
    await expect.poll(views, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => page.textContent('#pageviews'), { timeout: 10_000 }).toContain(': 1');
  });

  it('clicking a tracked link sends its label through trackql.js and its live count rises', async () => {
    const count = page.locator('#link2 [data-count]');
    const before = Number(await count.textContent());
    await page.click('#link2');
    await expect.poll(async () => Number(await count.textContent()), { timeout: 10_000 }).toBe(before + 1);
    await page.click('#link2');
    await expect.poll(async () => Number(await count.textContent()), { timeout: 10_000 }).toBe(before + 2);
    // The server agrees (labelStats by DOM id, as the page reads it).
    const stats = await t.ok<{ labelStats: Array<{ domId: string; label: string; category: string; count: number }> }>(
      'query { labelStats(domIds: ["link2"]) { domId label category count } }',
    );
    expect(stats.labelStats).toEqual([{ domId: 'link2', label: 'tracked-links-link2', category: 'links', count: before + 2 }]);
    await page.click('#link4');
    await expect.poll(() => page.locator('#link4 [data-count]').textContent(), { timeout: 10_000 }).toBe('1');
    await screenshot(page, 'tracked-links', { readme: true, element: page.locator('section[aria-labelledby="links-title"]') });
  });

  it('says so when the bot filter rejects this browser (a headless User-Agent), instead of counting nothing silently', async () => {
    expect(await page.isHidden('#bot-notice')).toBe(true); // a real browser's User-Agent: counted
    const context = await b.browser.newContext({ userAgent: USER_AGENT.replace('Chrome/', 'HeadlessChrome/') });
    try {
      const headless = await context.newPage();
      await headless.goto(`${base}/`);
      await headless.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      expect(await headless.isVisible('#bot-notice')).toBe(true);
      expect(await headless.textContent('#bot-notice')).toMatch(/not counted/);
    } finally {
      await context.close();
    }
  });

  it('an action logged by the service button appears live with the badge incremented', async () => {
    await page.click('#log-action');
    await expect.poll(() => items('.item.unread').count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(badge, { timeout: 10_000 }).toBe('1');
    expect(await items().first().textContent()).toContain('Demo project');
  });

  it('an action logged elsewhere (another client, over HTTP) appears without reload', async () => {
    await t.ok(
      `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
      {
        input: {
          actor: { type: 'User', id: 'zoe', label: 'Zoe' },
          verb: 'archived',
          targets: [{ type: 'Project', id: 'demo-project', label: 'Demo project' }],
        },
      },
      { token: t.serviceToken },
    );
    await expect.poll(badge, { timeout: 10_000 }).toBe('2');
    expect(await items().first().textContent()).toContain('Zoe');
  });

  it('clicking an item marks it read and the badge drops; mark all read empties it', async () => {
    await items('.item.unread').first().click();
    await expect.poll(badge, { timeout: 10_000 }).toBe('1');
    await expect.poll(() => items('.item.unread').count(), { timeout: 10_000 }).toBe(1);
    await page.locator('trackql-feed .mark-all').click();
    await expect.poll(badge, { timeout: 10_000 }).toBe('0');
    await expect.poll(() => items('.item.unread').count(), { timeout: 10_000 }).toBe(0);
    const server = await t.ok<{ unreadCount: number }>('query($u: ID!) { unreadCount(user: $u) }', { u: demoUser }, { token: t.serviceToken });
    expect(server.unreadCount).toBe(0);
  });

  it('draws the metric series by hour and by day with uPlot', async () => {
    await page.click('#sample');
    const filled = (id: string) =>
      page.$$eval(`#${id} details td.num`, (cells) => cells.filter((c) => c.textContent !== '0' && c.textContent !== '–').length);
    await expect.poll(() => filled('chart-day'), { timeout: 15_000 }).toBeGreaterThanOrEqual(5);
    await expect.poll(() => filled('chart-hour'), { timeout: 15_000 }).toBeGreaterThanOrEqual(24);
    expect(await page.getAttribute('#chart-day figure', 'data-points')).toBe('30');
    expect(await page.getAttribute('#chart-hour figure', 'data-points')).toBe('48');
    expect(await page.locator('#chart-day canvas').count()).toBe(1);
    const file = await screenshot(page, 'demo', { readme: true });
    expect(fs.statSync(file).size).toBeGreaterThan(10_000);
  });

  it('links to the console, which offers the development token on a development start', async () => {
    await page.click('a[href="/console"]');
    await page.waitForSelector('body[data-ready="true"]');
    await page.click('#dev-sign-in');
    await page.waitForSelector('#view[data-view="metrics"][data-ready="true"]');
    expect(await page.textContent('#who')).toBe('service demo-service');
    expect(await page.locator('section.domain[data-domain="demo"] tr[data-metric="demo/clicks"]').count()).toBe(1);
    expect({ errors: b.errors, blocked: b.blocked }).toEqual({ errors: [], blocked: [] });
  });
});

describe('demo page without a generated secret', () => {
  it('serves the page, the scripts and GraphiQL, but no tokens when JWT_SECRET is configured', async () => {
    const app = await startTestApp();
    try {
      const url = `http://127.0.0.1:${app.port}`;
      const html = await fetch(`${url}/`);
      expect(html.status).toBe(200);
      expect(html.headers.get('content-type')).toContain('text/html');
      expect(await html.text()).toContain('id="tracked-links"');
      for (const asset of ['/vendor/graphql-ws/client.js', '/trackql-feed.js', '/trackql.js', '/console/main.js']) {
        const response = await fetch(`${url}${asset}`);
        expect(response.status, asset).toBe(200);
        expect(response.headers.get('content-type'), asset).toContain('text/javascript');
      }
      expect(await (await fetch(`${url}/vendor/graphql-ws/client.js`)).text()).toContain('createClient');
      for (const path of ['/assets/../package.json', '/vendor/../package.json', '/console/../src/config.ts', '/vendor/uplot/package.json']) {
        expect((await fetch(`${url}${path}`)).status, path).toBe(404);
      }
      const tokens = await fetch(`${url}/demo/tokens`);
      expect(tokens.status).toBe(404);
      // The page is not marked as one whose caller may have them, so its script does not ask (a 404 in the console).
      expect(await (await fetch(`${url}/`)).text()).not.toContain('data-dev-tokens');
      // GraphiQL is there, with nothing pre-filled.
      const graphiql = await (await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } })).text();
      expect(graphiql).toContain('YogaGraphiQL.renderYogaGraphiQL');
      expect(graphiql).not.toContain('Bearer');
    } finally {
      await app.stop();
    }
  }, 120_000);
});

describe.skipIf(!hasChromium)('demo page in Chromium with JWT_SECRET configured', () => {
  it('asks for tokens with its form, without requesting /demo/tokens (no error in the console)', async () => {
    const app = await startTestApp();
    const browser = await launchBrowser([`http://127.0.0.1:${app.port}`]);
    try {
      const demo = await browser.newPage();
      const asked: string[] = [];
      demo.on('request', (request) => asked.push(new URL(request.url()).pathname));
      await demo.goto(`http://127.0.0.1:${app.port}/`);
      await demo.waitForSelector('#token-form:not([hidden])', { timeout: 30_000 });
      expect(asked).not.toContain('/demo/tokens');
      expect(browser.errors).toEqual([]);
      expect(browser.blocked).toEqual([]);
    } finally {
      await browser.close();
      await app.stop();
    }
  }, 120_000);
});
