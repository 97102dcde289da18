import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';

/**
 * The demo page in a real browser: Debian's Chromium driven by playwright-core. Skipped only when
 * /usr/bin/chromium is absent (CI installs it: see .ci/run).
 */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
const SCREENSHOT = path.resolve('test-results/demo.png');
// Headless Chromium says "HeadlessChrome", which the bot filter (isbot) rightly rejects; a real user's UA.
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

let t: TestApp;
let browser: Browser;
let page: Page;
let base: string;
const demoUser = uniqueId('demo-user');
const pageErrors: string[] = [];

describe.skipIf(!hasChromium)('demo page in Chromium', () => {
  beforeAll(async () => {
    // No JWT_SECRET: trackql generates one (development start), which is what enables /demo/tokens.
    t = await startTestApp({ JWT_SECRET: '', DEMO_USER: demoUser });
    base = `http://127.0.0.1:${t.port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const context = await browser.newContext({ userAgent: USER_AGENT, viewport: { width: 1200, height: 1000 } });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('starts with the demo tokens, a live websocket and an empty feed', async () => {
    expect(await page.textContent('#feed-user')).toBe(demoUser);
    expect(await page.textContent('#connection')).toBe('live');
    expect(await page.textContent('#unread-badge')).toBe('0');
    expect(await page.locator('#feed li').count()).toBe(0);
  });

  it('clicking a tracked link sends its label and its live count rises', async () => {
    const count = page.locator('#link2 [data-count]');
    const before = Number(await count.textContent());
    await page.click('#link2');
    await expect.poll(async () => Number(await count.textContent()), { timeout: 10_000 }).toBe(before + 1);
    await page.click('#link2');
    await expect.poll(async () => Number(await count.textContent()), { timeout: 10_000 }).toBe(before + 2);
    // The server agrees (labelStats by DOM id, as the page reads it).
    const stats = await t.ok<{ labelStats: Array<{ domId: string; count: number }> }>(
      'query { labelStats(domIds: ["link2"]) { domId count } }',
    );
    expect(stats.labelStats.reduce((sum, s) => sum + s.count, 0)).toBe(before + 2);
  });

  it('an action logged by the service button appears live with the badge incremented', async () => {
    await page.click('#log-action');
    await expect.poll(() => page.locator('#feed li.unread').count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => page.textContent('#unread-badge'), { timeout: 10_000 }).toBe('1');
    expect(await page.textContent('#feed li')).toContain('Demo project');
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
    await expect.poll(() => page.textContent('#unread-badge'), { timeout: 10_000 }).toBe('2');
    expect(await page.locator('#feed li').first().textContent()).toContain('Zoe');
  });

  it('clicking an item marks it read and the badge drops; mark all read empties it', async () => {
    await page.locator('#feed li.unread').first().click();
    await expect.poll(() => page.textContent('#unread-badge'), { timeout: 10_000 }).toBe('1');
    await expect.poll(() => page.locator('#feed li.unread').count(), { timeout: 10_000 }).toBe(1);
    await page.click('#mark-all-read');
    await expect.poll(() => page.textContent('#unread-badge'), { timeout: 10_000 }).toBe('0');
    await expect.poll(() => page.locator('#feed li.unread').count(), { timeout: 10_000 }).toBe(0);
    const server = await t.ok<{ unreadCount: number }>('query($u: ID!) { unreadCount(user: $u) }', { u: demoUser }, { token: t.serviceToken });
    expect(server.unreadCount).toBe(0);
  });

  it('draws the metric series by hour and by day as SVG', async () => {
    await page.click('#sample');
    await expect.poll(async () => Number(await page.getAttribute('#chart-day', 'data-points')), { timeout: 15_000 }).toBeGreaterThanOrEqual(5);
    await expect.poll(async () => Number(await page.getAttribute('#chart-hour', 'data-points')), { timeout: 15_000 }).toBeGreaterThanOrEqual(24);
    expect(await page.locator('#chart-day rect.bar').count()).toBe(30);
    expect(await page.locator('#chart-hour rect.bar').count()).toBe(48);
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(fs.statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
    expect(pageErrors).toEqual([]);
  });
});

describe('demo page without a generated secret', () => {
  it('serves the page but no tokens when JWT_SECRET is configured', async () => {
    const app = await startTestApp();
    try {
      const url = `http://127.0.0.1:${app.port}`;
      const html = await fetch(`${url}/`);
      expect(html.status).toBe(200);
      expect(html.headers.get('content-type')).toContain('text/html');
      expect(await html.text()).toContain('id="tracked-links"');
      const client = await fetch(`${url}/assets/graphql-ws/client.js`);
      expect(client.status).toBe(200);
      expect(await client.text()).toContain('createClient');
      expect((await fetch(`${url}/assets/../package.json`)).status).toBe(404);
      const tokens = await fetch(`${url}/demo/tokens`);
      expect(tokens.status).toBe(404);
    } finally {
      await app.stop();
    }
  });
});
