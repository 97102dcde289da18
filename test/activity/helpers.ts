import { afterAll, beforeAll } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';

export interface Obj {
  type: string;
  id: string;
  label?: string;
}

export const ACTION_FIELDS = `id verb level groupedCount unread timestamp data text
  actor { type id label deleted description }
  targets { type id label deleted description }
  related { type id label deleted }`;

export function activityHelpers(t: TestApp) {
  const service = { token: t.serviceToken };

  async function logAction(input: Record<string, unknown>, token = t.serviceToken) {
    const data = await t.ok<{ logAction: any }>(
      `mutation($input: LogActionInput!) { logAction(input: $input) { ${ACTION_FIELDS} } }`,
      { input },
      { token },
    );
    return data.logAction;
  }

  async function track(input: Record<string, unknown>, token = t.serviceToken) {
    const data = await t.ok<{ track: any }>(
      `mutation($input: TrackInput!) { track(input: $input) { id owner objectType verbs actorOnly object { type id label } } }`,
      { input },
      { token },
    );
    return data.track;
  }

  async function feed(user: string, args: Record<string, unknown> = {}) {
    const data = await t.ok<{ feed: any }>(
      `query($user: ID, $first: Int, $after: String, $unreadOnly: Boolean, $verbs: [String!], $minLevel: Level) {
         feed(user: $user, first: $first, after: $after, unreadOnly: $unreadOnly, verbs: $verbs, minLevel: $minLevel) {
           edges { cursor node { ${ACTION_FIELDS} matchedTrackers { id objectType } } }
           pageInfo { hasNextPage endCursor }
         }
       }`,
      { user, ...args },
      service,
    );
    return data.feed as { edges: Array<{ cursor: string; node: any }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  }

  async function feedIds(user: string, args: Record<string, unknown> = {}): Promise<string[]> {
    return (await feed(user, args)).edges.map((e) => e.node.id);
  }

  async function unreadCount(user: string): Promise<number> {
    return (await t.ok<{ unreadCount: number }>(`query($u: ID) { unreadCount(user: $u) }`, { u: user }, service)).unreadCount;
  }

  return { service, logAction, track, feed, feedIds, unreadCount };
}

export type ActivityHelpers = ReturnType<typeof activityHelpers>;

/**
 * The test file's app: started before its tests (with `env`), stopped after them; `onStart` receives it and its
 * helpers (e.g. `useActivityApp((started) => ({ t, h } = started))`).
 */
export function useActivityApp(onStart: (started: { t: TestApp; h: ActivityHelpers }) => void, env: Record<string, string> = {}): void {
  let app: TestApp | undefined;
  beforeAll(async () => {
    app = await startTestApp(env);
    onStart({ t: app, h: activityHelpers(app) });
  });
  afterAll(async () => {
    await app?.stop();
  });
}

/**
 * Locks the rows `sql` (a SELECT … FOR UPDATE) selects from another connection, for forcing the order of
 * concurrent calls (PostgreSQL only); resolves once they are held, with a function that ends that transaction.
 */
export async function holdRows(t: TestApp, sql: string, params: readonly unknown[]): Promise<() => Promise<void>> {
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked = () => {};
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holder = t.app.orm.em.fork().transactional(async (em) => {
    await em.execute(sql, [...params]);
    locked();
    await held;
  });
  await Promise.race([isLocked, holder]);
  return async () => {
    release();
    await holder;
  };
}
