import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { hasChromium, launchBrowser, PHONE, screenshot, type TestBrowser } from '../support/browser.ts';

/**
 * The service console at /console in Chromium, every other origin blocked: sign-in, each view with what it
 * must show and do, by mouse and by keyboard, at 1280 px and on a phone; screenshots of every view.
 */
const BOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const HOUR = 3_600_000;

let t: TestApp;
let base: string;
const shop = uniqueId('shop');
const reader = uniqueId('ana');
const project = { type: 'Project', id: uniqueId('p'), label: 'Website' };
const dom = (name: string) => `${shop}-${name}`;
let deadLetters: Array<{ id: string; amount: number }> = [];

const service = () => ({ token: t.serviceToken });

async function seed() {
  await t.ok(
    `mutation($d: ID!) {
       registerDomain(ref: $d, name: "Shop") { ref }
       views: registerMetric(domain: $d, ref: "views", name: "Product views", public: true) { ref }
       stock: registerMetric(domain: $d, ref: "stock", name: "Units in stock", kind: GAUGE) { ref }
       legacy: registerMetric(domain: $d, ref: "legacy", name: "Old counter") { ref }
       spare: registerMetric(domain: $d, ref: "spare", name: "Spare counter") { ref }
     }`,
    { d: shop },
    service(),
  );
  const now = Date.now();
  const events = [];
  for (let product = 1; product <= 4; product++) {
    for (let hoursAgo = 1; hoursAgo <= 60; hoursAgo += 3) {
      events.push({ domain: shop, metric: 'views', object: { type: 'Product', id: String(product), label: `Mug ${product}` }, by: product, at: new Date(now - hoursAgo * HOUR).toISOString() });
    }
  }
  await t.ok('mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }', { e: events }, service());
  for (let daysAgo = 0; daysAgo < 5; daysAgo++) {
    for (const [id, value] of [['1', 40 - daysAgo * 3], ['2', 12 + daysAgo]] as const) {
      await t.ok(
        `mutation($d: ID!, $v: Float!, $date: DateTime, $id: ID!) { recordStatistic(domain: $d, metric: "stock", value: $v, period: DAY, date: $date, object: { type: "Product", id: $id }) { value } }`,
        { d: shop, v: value, date: new Date(now - daysAgo * 24 * HOUR).toISOString(), id },
        service(),
      );
    }
  }
  // Labels of today, for the heat map.
  for (const [labels, times] of [[`signup:cta:${dom('signup')}`, 5], [`pricing:nav:${dom('pricing')}|menu:nav:${dom('pricing')}`, 2], [`blog:footer:${dom('blog')}`, 1]] as const) {
    for (let i = 0; i < times; i++) await t.ok('mutation($l: String!) { trackLabels(labels: $l) { accepted } }', { l: labels }, { headers: { 'user-agent': BROWSER_UA } });
  }
  // Dead letters: increments of a metric deleted before the fold.
  await t.ok('mutation { foldCounters { folded } }', {}, service());
  await t.ok(`mutation($d: ID!) { increment(events: [{ domain: $d, metric: "legacy", by: 7 }, { domain: $d, metric: "legacy", by: 9 }]) { accepted } }`, { d: shop }, service());
  await t.ok(`mutation($d: ID!) { deleteMetric(domain: $d, ref: "legacy") }`, { d: shop }, service());
  await t.ok('mutation { foldCounters { folded } }', {}, service());
  const letters = await t.ok<{ metricDeadLetters: Array<{ id: string; amount: number }> }>('query { metricDeadLetters(first: 10) { id amount } }', {}, service());
  deadLetters = letters.metricDeadLetters.filter((l) => l.amount === 7 || l.amount === 9);
  expect(deadLetters).toHaveLength(2);
  // A bot's increment (rejected, counted in trackql/bot_rejections) and increments still in the inbox.
  await t.gql(`mutation($d: ID!) { increment(events: [{ domain: $d, metric: "views" }]) { accepted } }`, { d: shop }, { headers: { 'user-agent': BOT_UA } });
  await t.ok(`mutation($d: ID!) { increment(events: [{ domain: $d, metric: "views", by: 2, object: { type: "Product", id: "1" } }]) { accepted } }`, { d: shop }, service());
  // A reader following a project, with a feed.
  await t.ok(`mutation($input: TrackInput!) { track(input: $input) { id } }`, { input: { owner: reader, object: project, actorOnly: false } }, service());
  await t.ok(`mutation($input: TrackInput!) { track(input: $input) { id } }`, { input: { owner: reader, objectType: 'Invoice', verbs: ['paid'] } }, service());
  for (const [verb, actor] of [['commented on', 'Bob'], ['closed', 'Carol'], ['reopened', 'Bob']] as const) {
    await t.ok(
      `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
      { input: { actor: { type: 'User', id: actor.toLowerCase(), label: actor }, verb, targets: [project] } },
      service(),
    );
  }
}

beforeAll(async () => {
  t = await startTestApp();
  base = `http://127.0.0.1:${t.port}`;
  await seed();
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

describe('/console as served', () => {
  it('is one page with its own scripts only (Content-Security-Policy), whatever the token', async () => {
    const response = await fetch(`${base}/console`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await response.text();
    expect(html).not.toMatch(/(src|href)="https?:/);
    for (const asset of ['/console/main.js', '/console/views/chart-view.js', '/vendor/uplot/uPlot.esm.js', '/vendor/uplot/uPlot.min.css']) {
      expect((await fetch(`${base}${asset}`)).status, asset).toBe(200);
    }
  });
});

describe.skipIf(!hasChromium)('/console in Chromium', () => {
  let b: TestBrowser;
  let page: Page;

  /** A screenshot without the notices of earlier actions (they fade by themselves after a few seconds). */
  async function shot(name: string, options: { readme?: boolean } = {}, on: Page = page) {
    await on.evaluate(() => document.querySelector('#toast')?.replaceChildren());
    await screenshot(on, name, options);
  }

  /** Goes to a view by its URL and waits until it has rendered. */
  async function open(hash: string, on: Page = page) {
    await on.evaluate((h) => (location.hash = h), hash);
    const name = hash.replace(/^#\//, '').split('?')[0];
    await on.waitForSelector(`#view[data-view="${name}"][data-ready="true"]`, { timeout: 20_000 });
  }

  beforeAll(async () => {
    b = await launchBrowser([base]);
    page = await b.newPage();
    await page.goto(`${base}/console`);
    await page.waitForSelector('body[data-ready="true"]');
  }, 60_000);
  afterAll(async () => {
    await b?.close();
  });

  it('shows only the sign-in without a token, refuses a user token, signs in with a service token', async () => {
    expect(await page.isVisible('#sign-in')).toBe(true);
    expect(await page.isVisible('#nav')).toBe(false);
    expect(await page.isVisible('#view')).toBe(false);
    // No development token on a server with a configured JWT_SECRET.
    expect(await page.isVisible('#dev-sign-in')).toBe(false);
    await page.fill('#sign-in textarea', await t.userToken('someone'));
    await page.click('#sign-in button[type=submit]');
    await expect.poll(() => page.textContent('#sign-in-error')).toContain('needs a service token');
    expect(await page.isVisible('#nav')).toBe(false);
    await page.fill('#sign-in textarea', `Bearer ${t.serviceToken}`);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#view[data-view="metrics"][data-ready="true"]');
    expect(await page.textContent('#who')).toBe('service test-service');
    expect(await page.isVisible('#sign-in')).toBe(false);
  });

  it('metrics: domains and metrics with kind, public, open and totals; registers and renames', async () => {
    const section = page.locator(`section.domain[data-domain="${shop}"]`);
    await expect.poll(() => section.locator('tbody tr').count()).toBe(3);
    expect(await section.locator('.tags').textContent()).toContain('closed');
    const views = section.locator(`tr[data-metric="${shop}/views"]`);
    expect(await views.locator('td').allTextContents()).toEqual(['Product views', 'counter', 'yes', '202', 'ChartTopRename']);
    expect(await section.locator(`tr[data-metric="${shop}/stock"] td`).nth(1).textContent()).toBe('gauge');
    await shot('console-metrics', { readme: true });

    // Register a domain with the keyboard only.
    const form = page.locator('form[aria-label="Register a domain"]');
    await page.locator('summary', { hasText: 'Register a domain' }).click();
    await form.locator('input[name=ref]').focus();
    const newDomain = uniqueId('news');
    await page.keyboard.type(newDomain);
    await page.keyboard.press('Tab');
    await page.keyboard.type('Newsletter');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space'); // open metrics
    await page.keyboard.press('Enter');
    await page.waitForSelector(`section.domain[data-domain="${newDomain}"]`);
    const created = await t.ok<{ domain: { name: string; openMetrics: boolean } }>('query($d: ID!) { domain(ref: $d) { name openMetrics } }', { d: newDomain });
    expect(created.domain).toEqual({ name: 'Newsletter', openMetrics: true });

    // Rename a metric inline: Enter saves.
    await views.locator('button', { hasText: 'Rename' }).click();
    const input = views.locator('form.rename input');
    await input.fill('Page views of products');
    await input.press('Enter');
    await expect.poll(() => section.locator(`tr[data-metric="${shop}/views"] td`).first().textContent()).toBe('Page views of products');
    const renamed = await t.ok<{ domain: { metric: { name: string } } }>('query($d: ID!) { domain(ref: $d) { metric(ref: "views") { name } } }', { d: shop });
    expect(renamed.domain.metric.name).toBe('Page views of products');
  });

  it('metrics: totals are live (refreshed in place, no reload)', async () => {
    const total = page.locator(`[data-total="${shop}/views"]`);
    const before = await total.textContent();
    await t.ok(`mutation($d: ID!) { increment(events: [{ domain: $d, metric: "views", by: 10 }]) { accepted } }`, { d: shop }, service());
    await expect.poll(() => total.textContent(), { timeout: 12_000 }).toBe('212');
    expect(before).toBe('202');
  });

  it('chart: several objects compared by day, cumulative, drawn by uPlot with a data table; keyboard navigation', async () => {
    // From the nav with the keyboard: focus moves to the view's heading.
    await page.locator('#nav a[data-view="chart"]').focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#view[data-view="chart"][data-ready="true"]');
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    await open(`#/chart?domain=${shop}&metric=views&period=HOUR&o=Product:1&o=Product:4&tz=UTC`);
    const figure = page.locator('figure.chart');
    expect(await figure.getAttribute('data-series')).toBe('2');
    expect(Number(await figure.getAttribute('data-points'))).toBeGreaterThanOrEqual(24);
    expect(await page.locator('figure.chart canvas').count()).toBe(1);
    expect(await page.locator('ul.totals strong[data-total="Product:1"]').textContent()).toBe('22');
    expect(await page.locator('ul.totals strong[data-total="Product:4"]').textContent()).toBe('80');

    await open(`#/chart?domain=${shop}&metric=views&period=DAY&o=Product:1&o=Product:2&o=Product:3&cumulative=1&tz=Asia/Kolkata`);
    expect(await page.locator('figure.chart').getAttribute('data-series')).toBe('3');
    expect(await page.locator('figure.chart figcaption').textContent()).toContain('cumulative');
    // The last row of the data table holds the cumulative sums (the series covers every increment).
    const last = await page.locator('figure.chart details tbody tr').last().locator('td').allTextContents();
    expect(last.slice(1)).toEqual(['22', '40', '60']);
    await shot('console-chart', { readme: true });

    // A gauge: the values recorded per day.
    await open(`#/chart?domain=${shop}&metric=stock&period=DAY&o=Product:1&o=Product:2&tz=UTC`);
    const cells = await page.locator('figure.chart details tbody tr').last().locator('td').allTextContents();
    expect(cells.slice(1)).toEqual(['40', '12']);
  });

  it('top objects for a period, with links to their charts', async () => {
    await open(`#/top?domain=${shop}&metric=views&period=LIFETIME&tz=UTC`);
    const rows = page.locator('table.top tbody tr');
    expect(await rows.count()).toBe(4);
    // With the label the increments gave (kept per object).
    expect(await rows.locator('th').allTextContents()).toEqual(['Product 4 (Mug 4)', 'Product 3 (Mug 3)', 'Product 2 (Mug 2)', 'Product 1 (Mug 1)']);
    expect(await rows.locator('td.num').nth(1).textContent()).toBe('80');
    await shot('console-top');
    await rows.nth(2).locator('a', { hasText: 'Chart' }).click();
    await page.waitForSelector('#view[data-view="chart"][data-ready="true"]');
    expect(await page.evaluate(() => location.hash)).toContain('o=Product%3A2');
    expect(await page.locator('ul.totals strong[data-total="Product:2"]').textContent()).toBe('40');
  });

  it('label heat map: DOM ids of the day with their counts, hottest first', async () => {
    await open('#/heatmap?tz=UTC');
    const tiles = page.locator('li.tile').filter({ has: page.locator('code.dom', { hasText: shop }) });
    expect(await tiles.evaluateAll((els) => els.map((e) => [(e as HTMLElement).dataset['domId'], (e as HTMLElement).dataset['count']]))).toEqual([
      [dom('signup'), '5'],
      [dom('pricing'), '4'],
      [dom('blog'), '1'],
    ]);
    expect(await tiles.nth(1).locator('.labels').textContent()).toBe('menu (nav): 2 · pricing (nav): 2');
    await shot('console-heatmap', { readme: true });
    // Another day: nothing.
    await open('#/heatmap?tz=UTC&day=2020-01-01');
    expect(await page.locator('li.tile').count()).toBe(0);
    expect(await page.textContent('.heat-output')).toContain('No labels were tracked on 2020-01-01');
  });

  it('ingestion health: inbox, folds, bot rejections; dead letters retried into a counter or purged', async () => {
    await open('#/health');
    expect(Number(await page.textContent('.stat[data-stat="inbox"] .value'))).toBeGreaterThanOrEqual(1);
    expect(await page.textContent('.stat[data-stat="bots"] .value')).toBe('1');
    expect(await page.locator('.folds tbody tr').count()).toBeGreaterThanOrEqual(2);
    for (const { id } of deadLetters) expect(await page.locator(`tr[data-letter="${id}"]`).textContent()).toContain('unknown_metric');
    await shot('console-health', { readme: true });

    // Retry the first into the spare counter.
    const [retried, purged] = deadLetters.map((l) => l.id);
    await page.check(`tr[data-letter="${retried}"] input[type=checkbox]`);
    await page.selectOption('select[name=into]', `${shop} spare`);
    await page.click('button:has-text("Retry selected")');
    await page.waitForSelector(`tr[data-letter="${retried}"]`, { state: 'detached' });
    // Purge the second: the button asks for a second press.
    await page.check(`tr[data-letter="${purged}"] input[type=checkbox]`);
    const purge = page.locator('button.danger');
    await purge.click();
    expect(await purge.textContent()).toBe('Press again to purge 1');
    await purge.click();
    await page.waitForSelector(`tr[data-letter="${purged}"]`, { state: 'detached' });
    await page.click('button:has-text("Fold now")');
    await expect.poll(() => page.textContent('.stat[data-stat="inbox"] .value'), { timeout: 10_000 }).toBe('0');
    const spare = await t.ok<{ domain: { metric: { total: number } } }>('query($d: ID!) { domain(ref: $d) { metric(ref: "spare") { total } } }', { d: shop }, service());
    expect(spare.domain.metric.total).toBe(deadLetters[0]!.amount);
    const left = await t.ok<{ metricDeadLetters: Array<{ id: string }> }>('query { metricDeadLetters(first: 10) { id } }', {}, service());
    expect(left.metricDeadLetters.map((l) => l.id)).not.toContain(purged);
  });

  it("feed inspector: a user's trackers, feed with the matching trackers and unread count; an object's trackers and actions", async () => {
    await open(`#/feeds?user=${reader}&object=${project.type}:${project.id}`);
    const user = page.locator('.user-output');
    expect(await user.locator('.badge').textContent()).toBe('3 unread');
    expect(await user.locator('tr[data-tracker]').count()).toBe(2);
    expect(await user.locator('tr[data-tracker]').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('every Invoice')]));
    const feed = user.locator('table.feed tbody tr');
    expect(await feed.count()).toBe(3);
    expect(await feed.first().textContent()).toContain('Bob reopened Website');
    expect(await feed.first().locator('td').last().textContent()).toBe(`${project.type}:${project.id}`);
    const object = page.locator('.object-output');
    expect(await object.locator('tr[data-tracker]').count()).toBe(1);
    expect(await object.locator('tr[data-tracker] td').first().textContent()).toBe(reader);
    expect(await object.locator('tr[data-action]').count()).toBe(3);
    await shot('console-feeds', { readme: true });
    // Live: a read elsewhere changes the count.
    await t.ok('mutation($u: ID!) { markAllRead(user: $u) }', { u: reader }, service());
    await expect.poll(() => user.locator('.badge').textContent(), { timeout: 12_000 }).toBe('0 unread');
  });

  it('every view is readable on a phone (no sideways scrolling of the page)', async () => {
    const phone = await b.newPage({ phone: true });
    await phone.goto(`${base}/console`);
    await phone.waitForSelector('body[data-ready="true"]');
    await phone.fill('#sign-in textarea', t.serviceToken);
    await phone.click('#sign-in button[type=submit]');
    await phone.waitForSelector('#view[data-view="metrics"][data-ready="true"]');
    const views = ['#/metrics', `#/chart?domain=${shop}&metric=views&o=Product:1&o=Product:2`, `#/top?domain=${shop}&metric=views&period=LIFETIME`, '#/heatmap', '#/health', `#/feeds?user=${reader}`];
    for (const hash of views) {
      await open(hash, phone);
      const name = hash.slice(2).split('?')[0];
      const width = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, viewport: innerWidth }));
      expect(width.page, name).toBeLessThanOrEqual(width.viewport);
      expect(width.viewport).toBe(PHONE.width);
      await shot(`console-${name}-phone`, { readme: name === 'chart' }, phone);
    }
    expect({ errors: b.errors, blocked: b.blocked }).toEqual({ errors: [], blocked: [] });
  });

  it('signs out: nothing left on screen or in the tab', async () => {
    await page.click('#sign-out');
    expect(await page.isVisible('#sign-in')).toBe(true);
    expect(await page.locator('#view').innerHTML()).toBe('');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });
});
