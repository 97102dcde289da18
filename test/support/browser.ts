import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';

/**
 * Browser tests: Debian's Chromium (/usr/bin/chromium) driven by playwright-core. Every request to an origin
 * other than the test's own servers is blocked (and recorded), so a page that would need the internet fails:
 * Chromium sends everything but loopback through a proxy that does not exist (no request interception, which
 * would also hold up beacons sent while a page unloads).
 * Screenshots go to test-results/; with TRACKQL_README_IMAGES=1 the README's pictures are written to
 * docs/images/ as well (that is how the committed ones were made).
 */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = fs.existsSync(CHROMIUM);

/** Headless Chromium says "HeadlessChrome", which the bot filter (isbot) rightly rejects; a real user's UA. */
export const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const PHONE_USER_AGENT =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

const RESULTS = path.resolve('test-results');
const README_IMAGES = path.resolve('docs/images');

export interface TestBrowser {
  browser: Browser;
  /** URLs of requests to other origins, blocked. */
  blocked: string[];
  /** Uncaught page errors and console errors of every page. */
  errors: string[];
  /** A page in a fresh context (its own storage) at desktop size, or phone size with touch. */
  newPage(options?: { phone?: boolean }): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(allowedOrigins: string[]): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Port 9 (discard) on loopback: nothing listens, every proxied request fails at once.
    proxy: { server: 'http://127.0.0.1:9', bypass: '127.0.0.1,localhost,[::1]' },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      // Also for requests the browser sends itself (a beacon sent as a page unloads): not "HeadlessChrome".
      `--user-agent=${USER_AGENT}`,
    ],
  });
  const blocked: string[] = [];
  const errors: string[] = [];
  const allowed = new Set(allowedOrigins.map((o) => new URL(o).origin));
  const contexts: BrowserContext[] = [];
  return {
    browser,
    blocked,
    errors,
    async newPage(options = {}) {
      const context = await browser.newContext(
        options.phone
          ? { userAgent: PHONE_USER_AGENT, viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
          : { userAgent: USER_AGENT, viewport: DESKTOP },
      );
      contexts.push(context);
      const page = await context.newPage();
      page.on('request', (request) => {
        const url = new URL(request.url());
        if (!allowed.has(url.origin) && url.protocol !== 'data:' && url.protocol !== 'blob:') blocked.push(url.href);
      });
      page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console: ${message.text()}`);
      });
      return page;
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {});
      await browser.close();
    },
  };
}

/**
 * A screenshot (full page, the viewport, or one element) in test-results/ (and docs/images/ for the README
 * when asked); returns its path.
 */
export async function screenshot(
  page: Page,
  name: string,
  options: { readme?: boolean; fullPage?: boolean; element?: Locator } = {},
): Promise<string> {
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `${name}.png`);
  if (options.element) await options.element.screenshot({ path: file });
  else await page.screenshot({ path: file, fullPage: options.fullPage ?? true });
  if (options.readme && process.env['TRACKQL_README_IMAGES'] === '1') {
    fs.mkdirSync(README_IMAGES, { recursive: true });
    fs.copyFileSync(file, path.join(README_IMAGES, `${name}.png`));
  }
  return file;
}
