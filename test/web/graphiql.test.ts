import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { hasChromium, launchBrowser, screenshot, type TestBrowser } from '../support/browser.ts';

/**
 * GraphiQL on GET /graphql comes from the package (@graphql-yoga/render-graphiql), not a CDN: it renders and
 * runs a subscription (over SSE, with the Headers tab's token) with every other origin blocked. On a development
 * start the service token is pre-filled for local callers (without a generated secret nothing is: see
 * browser.test.ts); elsewhere the user pastes a token into the Headers tab, and subscriptions use it too.
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

  it('pre-fills the development service token in the Headers tab for a local caller; subscriptions go over SSE with it', async () => {
    const page = await (await html(`${base}/graphql`)).text();
    const options = JSON.parse(/renderYogaGraphiQL\(\s*window\.document\.querySelector\('#root'\),\s*(\{.*\}),\s*\);/s.exec(page)![1]!) as {
      headers: string;
      subscriptionsProtocol: string;
    };
    expect(options.subscriptionsProtocol).toBe('SSE');
    const token = JSON.parse(options.headers).Authorization as string;
    expect(token).toMatch(/^Bearer ey/);
    const viewer = await t.ok<{ viewer: { role: string } }>('query { viewer { role } }', {}, { token: token.slice('Bearer '.length) });
    expect(viewer.viewer.role).toBe('SERVICE');
  });
});

describe.skipIf(!hasChromium)('GraphiQL in Chromium, offline', () => {
  let b: TestBrowser;
  // A server with a configured JWT_SECRET: nothing pre-filled, the user pastes a token into the Headers tab.
  let configured: TestApp;
  let configuredBase: string;
  beforeAll(async () => {
    configured = await startTestApp();
    configuredBase = `http://127.0.0.1:${configured.port}`;
    b = await launchBrowser([base, configuredBase]);
  }, 180_000);
  afterAll(async () => {
    await b?.close();
    await configured?.stop();
  });

  /**
   * Opens GraphiQL on `app` with `query`, optionally types `headers` into the Headers tab, runs it and logs
   * actions on the project `project` until one arrives in the response pane; returns the pane's text and the
   * websockets the page opened.
   */
  async function runFeedSubscription(app: TestApp, origin: string, query: string, project: string, headers?: string) {
    const page = await b.newPage();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(`${origin}/graphql?query=${encodeURIComponent(query)}`);
    await page.waitForSelector('.graphiql-container', { timeout: 60_000 });
    if (headers !== undefined) {
      await page.getByRole('button', { name: 'Headers' }).click();
      const editor = page.locator('.graphiql-editor-tool .monaco-editor >> visible=true').first();
      await editor.click();
      // Inserted as one piece of text (no key presses), so the editor's auto-closing brackets add nothing.
      await page.keyboard.insertText(headers);
      await expect.poll(async () => ((await editor.textContent()) ?? '').replace(/\s+/g, '')).toContain('"Authorization":"Bearer');
    }
    await page.locator('.graphiql-execute-button').click({ timeout: 30_000 });
    // The subscription starts asynchronously; log actions until one arrives in the response pane.
    const response = page.locator('.graphiql-response');
    // Monaco renders spaces as no-break spaces; compare with whitespace folded.
    const shown = async () => ((await response.textContent()) ?? '').replace(/\s+/g, ' ');
    for (let attempt = 0; attempt < 20; attempt++) {
      await app.ok(
        `mutation($p: ID!) { logAction(input: { actor: { type: "User", id: "zed" }, verb: "shipped", targets: [{ type: "Project", id: $p }] }) { id } }`,
        { p: project },
        { token: app.serviceToken },
      );
      if ((await shown()).includes('ADDED')) break;
      await page.waitForTimeout(500);
    }
    await expect.poll(shown, { timeout: 10_000 }).toContain('"kind": "ADDED"');
    return { page, text: await shown(), sockets };
  }

  it('renders and runs a subscription with the pre-filled token (development start)', async () => {
    // The service follows a project for the user; actions on it enter the user's feed.
    await t.ok(`mutation($u: ID!) { track(input: { owner: $u, object: { type: "Project", id: "gq" }, actorOnly: false }) { id } }`, { u: user }, { token: t.serviceToken });
    const query = `subscription Live { feed(user: "${user}") { kind unreadCount action { verb } } }`;
    const { page, text, sockets } = await runFeedSubscription(t, base, query, 'gq');
    expect(text).toContain('"verb": "shipped"');
    expect(sockets).toEqual([]); // SSE: the Headers tab's token goes with the subscription
    await screenshot(page, 'graphiql-subscription', { fullPage: false });
    expect(b.blocked).toEqual([]);
  }, 120_000);

  it("runs a user's own feed subscription with a token pasted into the Headers tab (nothing pre-filled)", async () => {
    const me = uniqueId('graphiql-pasted');
    const project = uniqueId('gq-pasted');
    await configured.ok(`mutation($u: ID!, $p: ID!) { track(input: { owner: $u, object: { type: "Project", id: $p }, actorOnly: false }) { id } }`, { u: me, p: project }, { token: configured.serviceToken });
    const page = await (await html(`${configuredBase}/graphql`)).text();
    expect(page).not.toContain('Bearer');
    const token = await configured.userToken(me);
    // No user argument: the viewer's own feed, which an anonymous subscription could not read.
    const query = 'subscription Mine { feed { kind unreadCount action { verb } } }';
    const { text, sockets } = await runFeedSubscription(configured, configuredBase, query, project, `{"Authorization": "Bearer ${token}"}`);
    expect(text).toContain('"verb": "shipped"');
    expect(text).not.toContain('UNAUTHENTICATED');
    expect(sockets).toEqual([]);
    expect(b.blocked).toEqual([]);
  }, 120_000);
});
