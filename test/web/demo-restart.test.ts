import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET, uniqueId } from '../support/app.ts';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { freePort, post, signTestToken, startInstance, type Instance } from '../support/instances.ts';

/**
 * The demo page in Chromium across a restart of the server process (stopped for 5 s): afterwards its list and
 * badge are those of `feed` and `unreadCount`, including what was logged before the page reconnected.
 */
let database: TestDatabase;
let dataDir: string;
let port: number;
let instance: Instance | undefined;
let b: TestBrowser;
let page: Page;
let service: string;
const demoUser = uniqueId('demo-restart');

// No JWT_SECRET (development start, which enables the demo tokens): the generated secret is the test's.
const start = () => startInstance({ databaseUrl: database.url, dataDir, env: { PORT: String(port), JWT_SECRET: '', DEMO_USER: demoUser } });

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const result = await post<T>(instance!.url, query, variables, service);
  if (result.body.errors) throw new Error(JSON.stringify(result.body.errors));
  return result.body.data as T;
}

const logByZoe = (verb: string) =>
  gql<{ logAction: { id: string } }>('mutation L($i: LogActionInput!) { logAction(input: $i) { id } }', {
    i: { actor: { type: 'User', id: 'zoe', label: 'Zoe' }, verb, targets: [{ type: 'Project', id: 'demo-project', label: 'Demo project' }], groupingDelay: -1 },
  });

describe.skipIf(!hasChromium)('demo page in Chromium across a server restart', () => {
  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-demo-restart-'));
    fs.writeFileSync(path.join(dataDir, 'jwt-secret'), `${TEST_JWT_SECRET}\n`);
    port = await freePort();
    instance = await start();
    service = await signTestToken('demo-restart-service', ['service']);
    await gql(`mutation { registerDomain(ref: "demo", name: "Demo page") { ref }
                          registerMetric(domain: "demo", ref: "pageviews", name: "Page views", public: true) { ref } }`);
    b = await launchBrowser([`http://127.0.0.1:${port}`]);
    page = await b.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await instance?.kill();
    await database?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('list and badge match feed and unreadCount after the restart, with what was logged while it was away', async () => {
    const badge = () => page.locator('trackql-feed .badge').textContent();
    const listIds = () => page.locator('trackql-feed .item').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
    await logByZoe('opened');
    await expect.poll(badge, { timeout: 10_000 }).toBe('1');

    expect(await instance!.stop()).toBe(0);
    await expect.poll(() => page.textContent('#connection'), { timeout: 10_000 }).not.toBe('live');
    await new Promise((r) => setTimeout(r, 5_000));
    instance = await start();
    await logByZoe('edited');
    await logByZoe('closed');
    await expect.poll(() => page.textContent('#connection'), { timeout: 60_000 }).toBe('live');
    await logByZoe('reopened');

    const truth = await gql<{ unreadCount: number; feed: { edges: Array<{ node: { id: string } }> } }>(
      'query Truth($u: ID) { unreadCount(user: $u) feed(user: $u, first: 20) { edges { node { id } } } }',
      { u: demoUser },
    );
    expect(truth.unreadCount).toBe(4);
    await expect.poll(badge, { timeout: 15_000 }).toBe(String(truth.unreadCount));
    await expect.poll(listIds, { timeout: 15_000 }).toEqual(truth.feed.edges.map((e) => e.node.id));
  }, 180_000);
});
