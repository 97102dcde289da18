import { afterAll, describe, expect, it } from 'vitest';
import { TokenService } from '../../src/server/auth.ts';
import { TEST_JWT_SECRET, uniqueId } from '../support/app.ts';
import { signTestToken } from '../support/instances.ts';
import { startReadmeClient, startReadmeSseClient, untilLive, type ReadmeClient, type ReadmeSseClient } from '../support/readme-client.ts';
import { useRestartableServer } from '../support/restartable-server.ts';

const server = useRestartableServer('live');
const tokens = new TokenService(TEST_JWT_SECRET);
const clients: Array<ReadmeClient | ReadmeSseClient> = [];
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.client.dispose()));
});
const gql = <T>(query: string, variables: Record<string, unknown>) => server.gql<T>(query, variables);

async function trackedDoc(user: string) {
  const doc = { type: 'Doc', id: uniqueId('doc') };
  await gql('mutation T($i: TrackInput!) { track(input: $i) { id } }', { i: { owner: user, object: doc } });
  return async (verb: string) =>
    (await gql<{ logAction: { id: string } }>('mutation L($i: LogActionInput!) { logAction(input: $i) { id } }', { i: { actor: doc, verb, groupingDelay: -1 } }))
      .logAction.id;
}

async function current(user: string) {
  return gql<{ unreadCount: number; feed: { edges: Array<{ node: { id: string } }> } }>(
    'query Now($u: ID) { unreadCount(user: $u) feed(user: $u, first: 100) { edges { node { id } } } }',
    { u: user },
  );
}


describe("the README's graphql-ws client", () => {
  it('survives a server stopped for 5 s: what was logged while it was away arrives once, in order, with the right counts', async () => {
    const user = uniqueId('restart');
    const log = await trackedDoc(user);
    // Every connection attempt waits at a gate, closed while the actions below are logged: whenever its backoff
    // lets it retry, the client cannot be back before they are all logged (a fast retry made the gap no gap).
    let gate: Promise<void> = Promise.resolve();
    let openGate = () => {};
    const client = startReadmeClient(server.instance.url, () => signTestToken(user), () => gate);
    clients.push(client);
    await untilLive(client, log);

    gate = new Promise<void>((resolve) => (openGate = resolve));
    expect(await server.instance.stop()).toBe(0);
    await expect.poll(() => client.closes.length).toBeGreaterThan(0);
    expect(client.closes[0]!.code).toBe(1001);
    const connectsBefore = client.connects.length;
    await new Promise((r) => setTimeout(r, 5_000));
    await server.start();
    // Logged before the client is back (its backoff after 5 s of refusals is a few seconds): it must replay them.
    const missed = [await log('missed-1'), await log('missed-2'), await log('missed-3')];
    const loggedAt = Date.now();
    openGate();
    await expect.poll(() => client.connects.length, { timeout: 60_000, interval: 200 }).toBeGreaterThan(connectsBefore);
    expect(client.connects[connectsBefore]!).toBeGreaterThan(loggedAt); // the gap really was a gap
    const after = await log('after');

    await expect.poll(() => client.rendered.at(-1)?.action?.id, { timeout: 20_000 }).toBe(after);
    const sinceRestart = client.rendered.filter((e) => e.action && [...missed, after].includes(e.action.id));
    expect(sinceRestart.map((e) => [e.kind, e.action!.id])).toEqual([...missed, after].map((id) => ['ADDED', id]));
    const now = await current(user);
    expect(client.rendered.at(-1)!.unreadCount).toBe(now.unreadCount);
    // Every action of the feed since the subscription was live (probes logged before it went live excepted:
    // the client started from "now") was rendered exactly once, in feed order.
    const added = client.rendered.filter((e) => e.kind === 'ADDED').map((e) => e.action!.id);
    const oldestFirst = now.feed.edges.map((e) => e.node.id).reverse();
    expect(added).toEqual(oldestFirst.slice(oldestFirst.indexOf(added[0]!)));
    expect(client.refetches).toBe(0);
  }, 180_000);

  it('answers 4419 (token expired) with a new token and resumes without losing events', async () => {
    const user = uniqueId('expiry');
    const log = await trackedDoc(user);
    const issued: string[] = [];
    const client = startReadmeClient(server.instance.url, async () => {
      // The first token lives 4 s; the next ones a day.
      const token = await tokens.sign({ sub: user }, issued.length === 0 ? '4s' : '1d');
      issued.push(token);
      return token;
    });
    clients.push(client);
    await untilLive(client, log);
    await expect.poll(() => client.closes.length, { timeout: 40_000 }).toBeGreaterThan(0);
    expect(client.closes[0]).toMatchObject({ code: 4419, reason: 'Token expired' });
    const during = await log('during-renewal');
    await expect.poll(() => issued.length, { timeout: 20_000 }).toBe(2);
    const after = await log('after-renewal');
    await expect.poll(() => client.rendered.at(-1)?.action?.id, { timeout: 30_000 }).toBe(after);
    const ids = client.rendered.map((e) => e.action?.id);
    expect(ids.filter((id) => id === during)).toHaveLength(1);
    expect(ids.indexOf(during)).toBeLessThan(ids.indexOf(after));
    expect(client.rendered.at(-1)!.unreadCount).toBe((await current(user)).unreadCount);
    expect(client.closes.map((c) => c.code)).toEqual([4419]);
  }, 120_000);
});

describe("the README's graphql-sse client", () => {
  it('survives a server killed with SIGKILL: every event arrives exactly once, resumed from the last cursor (graphql-sse would resend the first request)', async () => {
    const user = uniqueId('sse-kill');
    const log = await trackedDoc(user);
    const client = startReadmeSseClient(server.instance.url, () => signTestToken(user));
    clients.push(client);
    await untilLive(client, log);
    const before = [await log('before-1'), await log('before-2')];
    await expect.poll(() => client.rendered.at(-1)?.action?.id, { timeout: 20_000 }).toBe(before[1]);

    await server.instance.kill();
    await new Promise((r) => setTimeout(r, 1_500));
    await server.start();
    const after = [await log('after-1'), await log('after-2')];
    await expect.poll(() => client.rendered.at(-1)?.action?.id, { timeout: 60_000, interval: 200 }).toBe(after[1]);

    const ids = client.rendered.map((e) => e.action?.id);
    for (const id of [...before, ...after]) expect(ids.filter((x) => x === id), String(id)).toHaveLength(1);
    expect(client.rendered.map((e) => e.cursor)).toEqual([...new Set(client.rendered.map((e) => e.cursor))]);
    expect(client.rendered.at(-1)!.unreadCount).toBe((await current(user)).unreadCount);
    expect(client.refetches).toBe(0);
  }, 120_000);
});
