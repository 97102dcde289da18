import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { hasChromium, launchBrowser, screenshot, type TestBrowser } from '../support/browser.ts';

/**
 * <trackql-feed> on a page of another site: badge, list (text, time, unread), mark read on click or Enter,
 * mark all read, live over graphql-ws; the token comes from the page's callback, asked again on reconnect;
 * after a reconnect the feed and count are fetched again (events missed while offline show up).
 */
let t: TestApp;
let trackql: string;
let site: http.Server;
let siteUrl: string;
const user = uniqueId('reader');
const project = { type: 'Project', id: uniqueId('p'), label: 'Website' };

const HOST_PAGE = (u: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>My app</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script type="module" src="${u}/trackql-feed.js"></script>
<style>body { font: 15px system-ui, sans-serif; margin: 24px; max-width: 460px; background: #f5f6f8; }
trackql-feed { background: #fff; border-radius: 10px; padding: 12px; box-shadow: 0 1px 3px rgba(0,0,0,.1); }</style>
<script>
  // The page's token callback: the test hands tokens in, may hold a renewal, and counts the calls.
  window.tokenCalls = 0;
  window.getTrackqlToken = async () => { window.tokenCalls++; if (window.hold) await window.hold; return window.token; };
</script></head>
<body><h1>My app</h1><trackql-feed id="feed" token-callback="getTrackqlToken" endpoint="${u}/graphql"></trackql-feed></body></html>`;

beforeAll(async () => {
  // No clock skew: a token expires when it says (the reconnect test uses a short one).
  t = await startTestApp({ JWT_CLOCK_SKEW_SECONDS: '0' });
  trackql = `http://127.0.0.1:${t.port}`;
  site = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') return void res.writeHead(204).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(HOST_PAGE(trackql));
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  await t.ok(`mutation($input: TrackInput!) { track(input: $input) { id } }`, { input: { owner: user, object: project, actorOnly: false } }, { token: t.serviceToken });
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => site?.close(resolve));
  await t?.stop();
});

async function log(verb: string, actorLabel = 'Alice') {
  const data = await t.ok<{ logAction: { id: string } }>(
    `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
    { input: { actor: { type: 'User', id: uniqueId('a'), label: actorLabel }, verb, targets: [project] } },
    { token: t.serviceToken },
  );
  return data.logAction.id;
}

async function serverUnread(): Promise<number> {
  return (await t.ok<{ unreadCount: number }>('query($u: ID!) { unreadCount(user: $u) }', { u: user }, { token: t.serviceToken })).unreadCount;
}

describe.skipIf(!hasChromium)('<trackql-feed> in Chromium on another site', () => {
  let b: TestBrowser;
  let page: Page;
  const badge = () => page.locator('trackql-feed .badge').textContent();
  const items = (selector = '.item') => page.locator(`trackql-feed ${selector}`);

  beforeAll(async () => {
    // A feed with history: three actions, the oldest read.
    const first = await log('commented on');
    await log('starred');
    await log('closed', 'Zoe');
    await t.ok('mutation($ids: [ID!]!, $u: ID!) { markRead(actionIds: $ids, user: $u) }', { ids: [first], u: user }, { token: t.serviceToken });
    b = await launchBrowser([trackql, siteUrl]);
    page = await b.newPage();
    await page.goto(siteUrl);
    await page.evaluate((token) => ((window as unknown as { token: string }).token = token), await t.userToken(user));
    await page.waitForFunction(() => document.querySelector('trackql-feed')?.getAttribute('status') === 'live', null, { timeout: 20_000 });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
  });

  it('shows the unread count and the feed: text, time and unread state, newest first', async () => {
    await expect.poll(badge, { timeout: 10_000 }).toBe('2');
    expect(await items().count()).toBe(3);
    expect(await items('.item.unread').count()).toBe(2);
    const texts = await items('.text').allTextContents();
    expect(texts).toEqual(['Zoe closed Website', 'Alice starred Website', 'Alice commented on Website']);
    expect(await items('time').first().getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await items('time').first().textContent()).toMatch(/now|second|minute/);
  });

  it('adds a new action live at the top and raises the badge', async () => {
    await log('reopened', 'Bob');
    await expect.poll(badge, { timeout: 10_000 }).toBe('3');
    expect(await items('.text').first().textContent()).toBe('Bob reopened Website');
    expect(await items().first().getAttribute('class')).toContain('unread');
  });

  it('marks an item read on click, and with the keyboard (Enter), and tells the page which one', async () => {
    await page.evaluate(() => {
      const w = window as unknown as { selected: string[] };
      w.selected = [];
      document.querySelector('trackql-feed')!.addEventListener('trackql-feed-select', (e) => w.selected.push((e as CustomEvent).detail.action.verb));
    });
    await items('.item.unread').first().click();
    await expect.poll(badge, { timeout: 10_000 }).toBe('2');
    await items('.item.unread').first().focus();
    await page.keyboard.press('Enter');
    await expect.poll(badge, { timeout: 10_000 }).toBe('1');
    expect(await page.evaluate(() => (window as unknown as { selected: string[] }).selected)).toEqual(['reopened', 'closed']);
    expect(await items('.item.unread').count()).toBe(1);
    expect(await serverUnread()).toBe(1);
  });

  it('marks all read', async () => {
    await page.locator('trackql-feed .mark-all').click();
    await expect.poll(badge, { timeout: 10_000 }).toBe('0');
    await expect.poll(() => items('.item.unread').count(), { timeout: 10_000 }).toBe(0);
    expect(await page.locator('trackql-feed .mark-all').isDisabled()).toBe(true);
    expect(await serverUnread()).toBe(0);
  });

  it('reconnects with a fresh token from the callback and gets what it missed while offline (replayed from its cursor)', async () => {
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const short = await t.app.tokens.sign({ sub: user }, '3s');
    const long = await t.userToken(user);
    // Reconnect with a token that expires: trackql closes the socket when it does (4419 "Token expired").
    await page.evaluate((token) => {
      (window as unknown as { token: string }).token = token;
      // Taken out of the page and put back: the element starts again and asks the callback at once.
      const feed = document.querySelector('trackql-feed')!;
      const parent = feed.parentElement!;
      feed.remove();
      parent.append(feed);
    }, short);
    await page.waitForFunction(() => document.querySelector('trackql-feed')?.getAttribute('status') === 'live', null, { timeout: 10_000 });
    // Token calls while the short token is in use: the renewal after 4419 must ask the callback again. (What was
    // missed is replayed from the cursor, no refetch: no HTTP request, hence no other token call, after the release.)
    const calls = await page.evaluate(() => (window as unknown as { tokenCalls: number }).tokenCalls);
    // The next renewal waits until the test says so: the feed stays offline meanwhile.
    await page.evaluate((token) => {
      const w = window as unknown as { token: string; hold: Promise<void>; release: () => void };
      w.hold = new Promise((resolve) => (w.release = resolve));
      w.token = token;
    }, long);
    await page.waitForFunction(() => document.querySelector('trackql-feed')?.getAttribute('status') === 'offline', null, { timeout: 15_000 });
    await log('missed while offline', 'Carol');
    await page.evaluate(() => (window as unknown as { release: () => void }).release());
    await page.waitForFunction(() => document.querySelector('trackql-feed')?.getAttribute('status') === 'live', null, { timeout: 15_000 });
    await expect.poll(badge, { timeout: 10_000 }).toBe('1');
    expect(await items('.text').first().textContent()).toBe('Carol missed while offline Website');
    expect(await page.evaluate(() => (window as unknown as { tokenCalls: number }).tokenCalls)).toBeGreaterThan(calls);
    expect(sockets.length).toBeGreaterThanOrEqual(1);
    // And it is live again on the new socket.
    await log('after the reconnect', 'Dan');
    await expect.poll(badge, { timeout: 10_000 }).toBe('2');
    await screenshot(page, 'feed-element', { readme: true, element: page.locator('trackql-feed') });
    expect({ errors: b.errors.filter((e) => !e.includes('WebSocket')), blocked: b.blocked }).toEqual({ errors: [], blocked: [] });
  }, 60_000);

  it('shows labels and verbs as text, never as markup', async () => {
    await log('closed', '<img src=x onerror="window.pwned=1">');
    await expect.poll(() => items('.text').first().textContent(), { timeout: 10_000 }).toBe('<img src=x onerror="window.pwned=1"> closed Website');
    expect(await page.locator('trackql-feed img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  });
});
