import type { TestApp } from '../support/app.ts';

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
