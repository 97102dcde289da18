import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { hasChromium, launchBrowser, screenshot, type TestBrowser } from '../support/browser.ts';

/**
 * GraphiQL on GET /graphql comes from the package (@graphql-yoga/render-graphiql), not a CDN: it renders and
 * runs a subscription over graphql-ws with every other origin blocked. On a development start the service
 * token is pre-filled for local callers (without a generated secret nothing is: see browser.test.ts).
 */
let t: TestApp;
let base: string;
const user = uniqueId('graphiql-user');

beforeAll(async () => {
  // No JWT_SECRET: a development start with a generated secret (what pre-fills the token).
  t = await startTestApp({ JWT_SECRET: '', DEMO_USER: user });
  base = `http://127.0.0.1:${t.port}`;
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

const html = (url: string) => fetch(url, { headers: { accept: 'text/html' } });

describe('GraphiQL page', () => {
  it('is served whole by trackql: no script, style or font from another origin', async () => {
    const response = await html(`${base}/graphql`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const page = await response.text();
    expect(page).toContain('<title>trackql</title>');
    expect(page).toContain('YogaGraphiQL.renderYogaGraphiQL');
    // Yoga's default page loads its code from unpkg; this one has none.
    expect(page).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/);
    expect(page).not.toContain('unpkg.com');
    expect(page).not.toContain('__TITLE__');
  });

  it('pre-fills the development service token (headers and websocket) for a local caller', async () => {
    const page = await (await html(`${base}/graphql`)).text();
    const options = JSON.parse(/renderYogaGraphiQL\(\s*window\.document\.querySelector\('#root'\),\s*(\{.*\}),\s*\);/s.exec(page)![1]!) as {
      headers: string;
      connectionParams: { authorization: string };
      subscriptionsProtocol: string;
    };
    expect(options.subscriptionsProtocol).toBe('WS');
    const token = JSON.parse(options.headers).Authorization as string;
    expect(token).toMatch(/^Bearer ey/);
    expect(options.connectionParams.authorization).toBe(token);
    const viewer = await t.ok<{ viewer: { role: string } }>('query { viewer { role } }', {}, { token: token.slice('Bearer '.length) });
    expect(viewer.viewer.role).toBe('SERVICE');
  });
});

describe.skipIf(!hasChromium)('GraphiQL in Chromium, offline', () => {
  let b: TestBrowser;
  beforeAll(async () => {
    b = await launchBrowser([base]);
  }, 30_000);
  afterAll(async () => {
    await b?.close();
  });

  it('renders and runs a subscription over graphql-ws', async () => {
    // The service follows a project for the user; actions on it enter the user's feed.
    await t.ok(`mutation($u: ID!) { track(input: { owner: $u, object: { type: "Project", id: "gq" }, actorOnly: false }) { id } }`, { u: user }, { token: t.serviceToken });
    const page = await b.newPage();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const query = `subscription Live { feed(user: "${user}") { kind unreadCount action { verb } } }`;
    await page.goto(`${base}/graphql?query=${encodeURIComponent(query)}`);
    await page.waitForSelector('.graphiql-container', { timeout: 60_000 });
    await page.locator('.graphiql-execute-button').click({ timeout: 30_000 });
    // The subscription starts asynchronously; log actions until one arrives in the response pane.
    const response = page.locator('.graphiql-response');
    for (let attempt = 0; attempt < 20; attempt++) {
      await t.ok(
        `mutation { logAction(input: { actor: { type: "User", id: "zed" }, verb: "shipped", targets: [{ type: "Project", id: "gq" }] }) { id } }`,
        {},
        { token: t.serviceToken },
      );
      if ((await response.textContent())?.includes('ADDED')) break;
      await page.waitForTimeout(500);
    }
    // Monaco renders spaces as no-break spaces; compare with whitespace folded.
    const shown = async () => ((await response.textContent()) ?? '').replace(/\s+/g, ' ');
    await expect.poll(shown, { timeout: 10_000 }).toContain('"kind": "ADDED"');
    expect(await shown()).toContain('"verb": "shipped"');
    expect(sockets).toEqual([`ws://127.0.0.1:${t.port}/graphql`]);
    await screenshot(page, 'graphiql-subscription', { fullPage: false });
    expect(b.blocked).toEqual([]);
  }, 120_000);
});
