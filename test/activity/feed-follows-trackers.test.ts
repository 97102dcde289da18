import { describe, expect, it } from 'vitest';
import { uniqueId, type TestApp } from '../support/app.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

/**
 * Feeds follow the current trackers (issue 10 item 1): backfill on create/widen, removal on delete/narrow,
 * includeOwn, the readable level, order by timestamp with keyset cursors (both ways, issue 11 item 11),
 * since/until. ACTIVITY_TRACK_BACKFILL is 3 here, so the bound shows.
 */

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started), { ACTIVITY_TRACK_BACKFILL: '3' });

const noGroup = { groupingDelay: -1 };
const UNTRACK = `mutation($i: UntrackInput!) { untrack(input: $i) { id verbs } }`;
const PAGE = `query($u: ID, $first: Int, $after: String, $last: Int, $before: String, $own: Boolean, $since: DateTime, $until: DateTime) {
  feed(user: $u, first: $first, after: $after, last: $last, before: $before, includeOwn: $own, since: $since, until: $until) {
    edges { cursor node { id unread timestamp matchedTrackers { id } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;

type Edge = { cursor: string; node: { id: string; unread: boolean; timestamp: string; matchedTrackers: Array<{ id: string }> } };
type Conn = { edges: Edge[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null } };

async function page(user: string, args: Record<string, unknown>): Promise<Conn> {
  return (await t.ok<{ feed: Conn }>(PAGE, { u: user, ...args }, h.service)).feed;
}

function ago(ms: number): string {
  return new Date(Date.now() - ms).toISOString();
}

describe('backfill when a tracker is created or widened', () => {
  it('an object tracker brings the most recent matching past actions (ACTIVITY_TRACK_BACKFILL) as read', async () => {
    const user = uniqueId('u');
    const obj = { type: 'Doc', id: uniqueId('d') };
    const past = [];
    for (let i = 0; i < 5; i++) past.push(await h.logAction({ actor: obj, verb: 'edited', timestamp: ago(60_000 - i * 1000), ...noGroup }));
    const tracker = await h.track({ owner: user, object: obj });
    const nodes = (await h.feed(user)).edges.map((e) => e.node);
    expect(nodes.map((n) => n.id)).toEqual([past[4].id, past[3].id, past[2].id]);
    expect(nodes.every((n) => n.unread === false)).toBe(true);
    expect(nodes[0].matchedTrackers.map((m: { id: string }) => m.id)).toEqual([tracker.id]);
    expect(await h.unreadCount(user)).toBe(0);
  });

  it('a type tracker backfills too; widening (verbs added, actorOnly off) brings the newly matched actions', async () => {
    const user = uniqueId('u');
    const type = `Ship${uniqueId('').replace('-', '')}`;
    const sailed = await h.logAction({ actor: { type, id: '1' }, verb: 'sailed', ...noGroup });
    const docked = await h.logAction({ actor: { type, id: '2' }, verb: 'docked', ...noGroup });
    const asTarget = await h.logAction({ actor: { type: 'Port', id: 'p' }, verb: 'sailed', targets: [{ type, id: '3' }], ...noGroup });
    await h.track({ owner: user, objectType: type, verbs: ['sailed'] });
    expect(await h.feedIds(user)).toEqual([sailed.id]);
    await h.track({ owner: user, objectType: type, verbs: ['sailed', 'docked'] });
    expect(await h.feedIds(user)).toEqual([docked.id, sailed.id]);
    await h.track({ owner: user, objectType: type, verbs: ['sailed', 'docked'], actorOnly: false });
    expect(await h.feedIds(user)).toEqual([asTarget.id, docked.id, sailed.id]);
    expect(await h.unreadCount(user)).toBe(0);
  });
});

describe('removal when a tracker is deleted or narrowed', () => {
  it('removes exactly the entries no remaining tracker matches; the unread count drops by the unread ones removed', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    const author = { type: 'Author', id: uniqueId('a') };
    const docTracker = await h.track({ owner: user, object: doc, actorOnly: false });
    const authorTracker = await h.track({ owner: user, object: author });
    const edited = await h.logAction({ actor: doc, verb: 'edited', ...noGroup });
    const byAuthor = await h.logAction({ actor: author, verb: 'wrote', targets: [doc], ...noGroup });
    const commented = await h.logAction({ actor: { type: 'User', id: 'x' }, verb: 'commented', targets: [doc], ...noGroup });
    await t.ok(`mutation($ids: [ID!]!, $u: ID) { markRead(actionIds: $ids, user: $u) }`, { ids: [edited.id], u: user }, h.service);
    expect(await h.unreadCount(user)).toBe(2);

    // Narrow: only 'edited' on the doc. 'commented' leaves (unread: count - 1); 'wrote' stays (author tracker).
    await h.track({ owner: user, object: doc, verbs: ['edited'] });
    expect(await h.feedIds(user)).toEqual([byAuthor.id, edited.id]);
    expect(await h.unreadCount(user)).toBe(1);
    const wrote = (await h.feed(user)).edges[0]!.node;
    expect(wrote.matchedTrackers.map((m: { id: string }) => m.id)).toEqual([authorTracker.id]);

    // actorOnly on: entries where the doc is only a target leave unless another tracker matches.
    await h.track({ owner: user, object: doc, actorOnly: true });
    expect(await h.feedIds(user)).toEqual([byAuthor.id, edited.id]);

    // Delete the author tracker: 'wrote' leaves (unread: count - 1).
    expect((await t.ok(UNTRACK, { i: { owner: user, object: author } }, h.service)).untrack).toBeNull();
    expect(await h.feedIds(user)).toEqual([edited.id]);
    expect(await h.unreadCount(user)).toBe(0);
    // Untrack some verbs of a tracker keeping others.
    await h.track({ owner: user, object: doc, verbs: ['edited', 'viewed'] });
    const viewed = await h.logAction({ actor: doc, verb: 'viewed', ...noGroup });
    expect(await h.unreadCount(user)).toBe(1);
    await t.ok(UNTRACK, { i: { owner: user, object: doc, verbs: ['viewed'] } }, h.service);
    expect(await h.feedIds(user)).toEqual([edited.id]);
    expect(await h.unreadCount(user)).toBe(0);
    expect(viewed.id).not.toBe(edited.id);
    expect(docTracker.id).toBeDefined();
  });
});

describe('feed(includeOwn), readable level, order by timestamp, since/until, both directions', () => {
  it("includeOwn also lists the user's own actions, in timestamp order, once", async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    await h.track({ owner: user, object: doc });
    const self = { type: 'User', id: user };
    const own1 = await h.logAction({ actor: self, verb: 'posted', timestamp: ago(30_000), ...noGroup });
    const other = await h.logAction({ actor: doc, verb: 'edited', timestamp: ago(20_000), ...noGroup });
    const own2 = await h.logAction({ actor: self, verb: 'posted', timestamp: ago(10_000), ...noGroup });
    expect((await page(user, {})).edges.map((e) => e.node.id)).toEqual([other.id]);
    const all = await page(user, { own: true });
    expect(all.edges.map((e) => e.node.id)).toEqual([own2.id, other.id, own1.id]);
    // Pages of one over the merged order.
    const ids: string[] = [];
    let after: string | null = null;
    for (;;) {
      const p: Conn = await page(user, { own: true, first: 1, after });
      ids.push(...p.edges.map((e) => e.node.id));
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    expect(ids).toEqual([own2.id, other.id, own1.id]);
  });

  it('a backdated action appears at its time; a grouped action moves to its new timestamp', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    const actor = { type: 'Author', id: uniqueId('a') };
    await h.track({ owner: user, object: doc, actorOnly: false });
    const first = await h.logAction({ actor, verb: 'edited', targets: [doc], timestamp: ago(50_000), groupingDelay: 0 });
    const second = await h.logAction({ actor: doc, verb: 'built', timestamp: ago(40_000), ...noGroup });
    const backdated = await h.logAction({ actor: doc, verb: 'imported', timestamp: ago(3_600_000), ...noGroup });
    expect(await h.feedIds(user)).toEqual([second.id, first.id, backdated.id]);
    const grouped = await h.logAction({ actor, verb: 'edited', targets: [doc], timestamp: ago(1_000), groupingDelay: 3600 });
    expect(grouped.id).toBe(first.id);
    expect(await h.feedIds(user)).toEqual([first.id, second.id, backdated.id]);
  });

  it('since/until bound feed and actions by timestamp', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    await h.track({ owner: user, object: doc });
    const old = await h.logAction({ actor: doc, verb: 'a', timestamp: ago(3 * 3_600_000), ...noGroup });
    const mid = await h.logAction({ actor: doc, verb: 'b', timestamp: ago(2 * 3_600_000), ...noGroup });
    const recent = await h.logAction({ actor: doc, verb: 'c', timestamp: ago(3_600_000), ...noGroup });
    const since = ago(2.5 * 3_600_000);
    const until = ago(1.5 * 3_600_000);
    expect((await page(user, { since })).edges.map((e) => e.node.id)).toEqual([recent.id, mid.id]);
    expect((await page(user, { until })).edges.map((e) => e.node.id)).toEqual([mid.id, old.id]);
    expect((await page(user, { since, until })).edges.map((e) => e.node.id)).toEqual([mid.id]);
    const actions = await t.ok<{ actions: { edges: Array<{ node: { id: string } }> } }>(
      `query($o: ObjectRefInput, $s: DateTime, $u: DateTime) { actions(actor: $o, since: $s, until: $u) { edges { node { id } } } }`,
      { o: doc, s: since, u: until },
      h.service,
    );
    expect(actions.actions.edges.map((e) => e.node.id)).toEqual([mid.id]);
  });

  it('last/before walks backwards over the same order as first/after', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    await h.track({ owner: user, object: doc });
    const logged = [];
    for (let i = 0; i < 7; i++) logged.push(await h.logAction({ actor: doc, verb: 'v', timestamp: ago(100_000 - i * 1000), ...noGroup }));
    const newestFirst = logged.map((a) => a.id).reverse();
    const forward = await page(user, { first: 10 });
    expect(forward.edges.map((e) => e.node.id)).toEqual(newestFirst);
    // The oldest three, still newest first.
    const tail = await page(user, { last: 3 });
    expect(tail.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(4));
    expect(tail.pageInfo.hasPreviousPage).toBe(true);
    // Walk back to the start.
    const ids = [...tail.edges.map((e) => e.node.id)];
    let before = tail.pageInfo.startCursor;
    for (;;) {
      const p = await page(user, { last: 3, before });
      ids.unshift(...p.edges.map((e) => e.node.id));
      if (!p.pageInfo.hasPreviousPage) break;
      before = p.pageInfo.startCursor;
    }
    expect(ids).toEqual(newestFirst);
    const actions = await t.ok<{ actions: { edges: Array<{ node: { id: string } }> } }>(
      `query($o: ObjectRefInput) { actions(actor: $o, last: 2) { edges { node { id } } } }`,
      { o: doc },
      h.service,
    );
    expect(actions.actions.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(5));
    const both = await t.gql(PAGE, { u: user, first: 1, last: 1 }, h.service);
    expect(both.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  });

  it('walking pages while actions are logged, backdated and grouped concurrently neither skips nor repeats', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    const groupActor = { type: 'Author', id: uniqueId('g') };
    await h.track({ owner: user, object: doc, actorOnly: false });
    // 40 stable actions (never touched again) and 5 that the writers will regroup.
    const stable: string[] = [];
    for (let i = 0; i < 40; i++) {
      stable.push((await h.logAction({ actor: doc, verb: 'stable', timestamp: ago(600_000 - i * 5_000), ...noGroup })).id);
    }
    for (let i = 0; i < 5; i++) {
      await h.logAction({ actor: groupActor, verb: `g${i}`, targets: [doc], timestamp: ago(500_000 - i * 7_000), ...noGroup });
    }
    // Two writers, 8 rounds each: a new action (above any cursor), a backdated one inside the walked range,
    // and a regrouped action (moves to the top). A fixed amount of work, so the walk always ends.
    let rounds = 0;
    const writers = [0, 1].map(async (w) => {
      for (let n = 0; n < 8; n++) {
        rounds++;
        await Promise.all([
          h.logAction({ actor: doc, verb: 'new', ...noGroup }),
          h.logAction({ actor: doc, verb: 'backdated', timestamp: ago(600_000 - (n * 2 + w) * 5_000 - 2_500), ...noGroup }),
          h.logAction({ actor: groupActor, verb: `g${(n + w) % 5}`, targets: [doc], groupingDelay: 3_600 }),
        ]);
      }
    });
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const p: Conn = await page(user, { first: 4, after });
      seen.push(...p.edges.map((e) => e.node.id));
      await new Promise((r) => setTimeout(r, 20));
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    await Promise.all(writers);
    expect(rounds).toBe(16);
    expect(new Set(seen).size).toBe(seen.length);
    const seenSet = new Set(seen);
    expect(stable.filter((id) => !seenSet.has(id))).toEqual([]);
  });
});
