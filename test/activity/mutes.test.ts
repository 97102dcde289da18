import { describe, expect, it } from 'vitest';
import { uniqueId, type TestApp } from '../support/app.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

/** Mutes (issue 13 item 5): negative trackers, through GraphQL. */

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

const noGroup = { groupingDelay: -1 };
const UNTRACK = `mutation Untrack($i: UntrackInput!) { untrack(input: $i) { id } }`;
const LISTS = `query Lists($u: ID) { trackers(user: $u) { id mute } mutes(user: $u) { id mute objectType verbs actorOnly object { id } } }`;

async function mute(input: Record<string, unknown>) {
  return h.track({ ...input, mute: true });
}

async function unreadInFeed(user: string): Promise<number> {
  return (await h.feed(user, { first: 100, unreadOnly: true })).edges.length;
}

describe('mute', () => {
  it('on an object (a noisy thread): its entries leave the feed with an exact count, new ones never enter', async () => {
    const user = uniqueId('u');
    const type = uniqueId('Issue');
    const [i1, i2] = [{ type, id: uniqueId('i') }, { type, id: uniqueId('i') }];
    await h.track({ owner: user, objectType: type, actorOnly: false });
    const bob = { type: 'User', id: uniqueId('bob') };
    const old1 = await h.logAction({ actor: bob, verb: 'commented', targets: [i1], ...noGroup });
    const old2 = await h.logAction({ actor: bob, verb: 'commented', targets: [i2], ...noGroup });
    expect(await h.unreadCount(user)).toBe(2);
    const m = await mute({ owner: user, object: i1 });
    expect(m.actorOnly).toBe(false);
    expect(await h.feedIds(user)).toEqual([old2.id]);
    expect(await h.unreadCount(user)).toBe(1);
    await h.logAction({ actor: bob, verb: 'commented', targets: [i1], ...noGroup });
    const new2 = await h.logAction({ actor: bob, verb: 'commented', targets: [i2], ...noGroup });
    expect(await h.feedIds(user)).toEqual([new2.id, old2.id]);
    expect(await h.unreadCount(user)).toBe(2);
    expect(await unreadInFeed(user)).toBe(2);
  });

  it('on a verb of a type: only those verbs stay out, whatever other tracker matches', async () => {
    const user = uniqueId('u');
    const project = { type: 'Project', id: uniqueId('p') };
    const issue = { type: 'Issue', id: uniqueId('i') };
    await h.track({ owner: user, object: project, actorOnly: false });
    await h.track({ owner: user, object: issue, actorOnly: false });
    await mute({ owner: user, objectType: 'Issue', verbs: ['commented'] });
    const actor = { type: 'User', id: uniqueId('a') };
    await h.logAction({ actor, verb: 'commented', targets: [issue], related: [project], ...noGroup });
    const closed = await h.logAction({ actor, verb: 'closed', targets: [issue], related: [project], ...noGroup });
    const onProject = await h.logAction({ actor, verb: 'commented', targets: [project], ...noGroup });
    expect(await h.feedIds(user)).toEqual([onProject.id, closed.id]);
    expect(await h.unreadCount(user)).toBe(2);
  });

  it('on an actor (a person): their actions stay out, actions about them still enter (actorOnly)', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    const bob = { type: 'User', id: uniqueId('bob') };
    const alice = { type: 'User', id: uniqueId('alice') };
    await h.track({ owner: user, object: doc, actorOnly: false });
    await mute({ owner: user, object: bob, actorOnly: true });
    await h.logAction({ actor: bob, verb: 'edited', targets: [doc], ...noGroup });
    const byAlice = await h.logAction({ actor: alice, verb: 'edited', targets: [doc], ...noGroup });
    const aboutBob = await h.logAction({ actor: alice, verb: 'thanked', targets: [doc], related: [bob], ...noGroup });
    expect(await h.feedIds(user)).toEqual([aboutBob.id, byAlice.id]);
    expect(await h.unreadCount(user)).toBe(2);
  });

  it('cannot keep out levels at or above ACTIVITY_UNMUTABLE_LEVEL (default ERROR), old or new', async () => {
    const user = uniqueId('u');
    const server = { type: 'Server', id: uniqueId('s') };
    await h.track({ owner: user, object: server });
    const oldError = await h.logAction({ actor: server, verb: 'crashed', level: 'ERROR', ...noGroup });
    await h.logAction({ actor: server, verb: 'warned', level: 'WARNING', ...noGroup });
    await mute({ owner: user, object: server });
    expect(await h.feedIds(user)).toEqual([oldError.id]);
    await h.logAction({ actor: server, verb: 'warned', level: 'WARNING', ...noGroup });
    const newError = await h.logAction({ actor: server, verb: 'crashed', level: 'ERROR', ...noGroup });
    expect(await h.feedIds(user)).toEqual([newError.id, oldError.id]);
    expect(await h.unreadCount(user)).toBe(2);
    // The error entries list the tracker, never the mute.
    const feed = await h.feed(user);
    const tracker = (await t.ok(LISTS, { u: user }, h.service)).trackers[0].id;
    for (const e of feed.edges) expect(e.node.matchedTrackers.map((m: { id: string }) => m.id)).toEqual([tracker]);
  });

  it('is listed by mutes, never by trackers, trackersOf or matchedTrackers; a user may track and mute one object', async () => {
    const user = uniqueId('u');
    const thread = { type: 'Thread', id: uniqueId('t') };
    const tracker = await h.track({ owner: user, object: thread, actorOnly: false });
    const muted = await mute({ owner: user, object: thread, verbs: ['liked'] });
    expect(muted.id).not.toBe(tracker.id);
    const lists = (await t.ok(LISTS, { u: user }, h.service)) as { trackers: Array<{ id: string }>; mutes: Array<{ id: string; mute: boolean }> };
    expect(lists.trackers).toEqual([{ id: tracker.id, mute: false }]);
    expect(lists.mutes).toEqual([{ id: muted.id, mute: true, objectType: 'Thread', verbs: ['liked'], actorOnly: false, object: { id: thread.id } }]);
    const of = (await t.ok(`query($o: ObjectRefInput!) { trackersOf(object: $o) { id } }`, { o: thread }, h.service)).trackersOf;
    expect(of).toEqual([{ id: tracker.id }]);
    await h.logAction({ actor: { type: 'User', id: 'x' }, verb: 'liked', targets: [thread], ...noGroup });
    const replied = await h.logAction({ actor: { type: 'User', id: 'x' }, verb: 'replied', targets: [thread], ...noGroup });
    const feed = await h.feed(user);
    expect(feed.edges.map((e) => e.node.id)).toEqual([replied.id]);
    expect(feed.edges[0]!.node.matchedTrackers).toEqual([{ id: tracker.id, objectType: 'Thread' }]);
    // The user sees its own mutes; another user does not.
    const own = await t.ok(LISTS, {}, { token: await t.userToken(user) });
    expect(own.mutes.map((m: { id: string }) => m.id)).toEqual([muted.id]);
    const other = await t.gql(LISTS, { u: user }, { token: await t.userToken(uniqueId('o')) });
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('removed, brings nothing back from the past; new actions enter again', async () => {
    const user = uniqueId('u');
    const thread = { type: 'Thread', id: uniqueId('t') };
    await h.track({ owner: user, object: thread, actorOnly: false });
    const before = await h.logAction({ actor: { type: 'User', id: 'x' }, verb: 'replied', targets: [thread], ...noGroup });
    await mute({ owner: user, object: thread });
    await h.logAction({ actor: { type: 'User', id: 'x' }, verb: 'replied', targets: [thread], ...noGroup });
    expect(await h.feedIds(user)).toEqual([]);
    expect((await t.ok(UNTRACK, { i: { owner: user, object: thread, mute: true } }, h.service)).untrack).toBeNull();
    expect((await t.ok(LISTS, { u: user }, h.service)).mutes).toEqual([]);
    expect(await h.feedIds(user)).toEqual([]);
    const after = await h.logAction({ actor: { type: 'User', id: 'x' }, verb: 'replied', targets: [thread], ...noGroup });
    expect(await h.feedIds(user)).toEqual([after.id]);
    expect(await h.unreadCount(user)).toBe(1);
    expect(before.id).not.toBe(after.id);
    // Removing it again changes nothing and is no error (an unmute sent twice).
    expect((await t.ok(UNTRACK, { i: { owner: user, object: thread, mute: true } }, h.service)).untrack).toBeNull();
    expect(await h.feedIds(user)).toEqual([after.id]);
  });

  it('removed with restore: true, brings back as read what the trackers match and no remaining mute does', async () => {
    const user = uniqueId('u');
    const type = uniqueId('Thread');
    const [t1, t2] = [{ type, id: uniqueId('t') }, { type, id: uniqueId('t') }];
    await h.track({ owner: user, objectType: type, actorOnly: false });
    await mute({ owner: user, object: t1 });
    await mute({ owner: user, object: t2 });
    const x = { type: 'User', id: 'x' };
    const a1 = await h.logAction({ actor: x, verb: 'replied', targets: [t1], ...noGroup });
    await h.logAction({ actor: x, verb: 'replied', targets: [t2], ...noGroup });
    expect(await h.feedIds(user)).toEqual([]);
    await t.ok(UNTRACK, { i: { owner: user, object: t1, mute: true, restore: true } }, h.service);
    const feed = await h.feed(user);
    expect(feed.edges.map((e) => [e.node.id, e.node.unread])).toEqual([[a1.id, false]]);
    expect(await h.unreadCount(user)).toBe(0);
    const wrong = await t.gql(UNTRACK, { i: { owner: user, objectType: type, restore: true } }, h.service);
    expect(wrong.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('keeps muted actions out of the backfill of a new tracker', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    const bob = { type: 'User', id: uniqueId('bob') };
    await mute({ owner: user, object: bob, actorOnly: true });
    await h.logAction({ actor: bob, verb: 'edited', targets: [doc], ...noGroup });
    const byAlice = await h.logAction({ actor: { type: 'User', id: uniqueId('alice') }, verb: 'edited', targets: [doc], ...noGroup });
    await h.track({ owner: user, object: doc, actorOnly: false });
    expect(await h.feedIds(user)).toEqual([byAlice.id]);
  });

  it('a grouped amendment of a muted action does not bring it back or make it unread', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    const bob = { type: 'User', id: uniqueId('bob') };
    await h.track({ owner: user, object: doc, actorOnly: false });
    const first = await h.logAction({ actor: bob, verb: 'edited', targets: [doc], groupingDelay: 3600 });
    await mute({ owner: user, object: bob, actorOnly: true });
    const again = await h.logAction({ actor: bob, verb: 'edited', targets: [doc], groupingDelay: 3600 });
    expect(again.id).toBe(first.id);
    expect(again.groupedCount).toBe(2);
    expect(await h.feedIds(user)).toEqual([]);
    expect(await h.unreadCount(user)).toBe(0);
  });

  it('an entry already in the feed is left as it is when grouping adds a muted object to its action', async () => {
    const user = uniqueId('u');
    const [doc1, doc2] = [{ type: 'Doc', id: uniqueId('d') }, { type: 'Doc', id: uniqueId('d') }];
    const bob = { type: 'User', id: uniqueId('bob') };
    await h.track({ owner: user, object: doc1, actorOnly: false });
    await mute({ owner: user, object: doc2 });
    const first = await h.logAction({ actor: bob, verb: 'linked', targets: [doc1], groupingDelay: 3600 });
    await t.ok(`mutation($ids: [ID!]!, $u: ID) { markRead(actionIds: $ids, user: $u) }`, { ids: [first.id], u: user }, h.service);
    const again = await h.logAction({ actor: bob, verb: 'linked', targets: [doc1, doc2], groupingDelay: 3600 });
    expect(again.id).toBe(first.id);
    const feed = await h.feed(user);
    expect(feed.edges.map((e) => [e.node.id, e.node.unread])).toEqual([[first.id, false]]);
    expect(await h.unreadCount(user)).toBe(0);
  });
});

describe('a grouped action that now names a muted object', () => {
  it("keeps the user's entry as it was, but at the action's new timestamp: the feed's order and `before` follow it", async () => {
    const user = uniqueId('u');
    const projectType = uniqueId('Project');
    const p1 = { type: projectType, id: uniqueId('p') };
    const p2 = { type: projectType, id: uniqueId('p') };
    const muted = { type: uniqueId('Issue'), id: uniqueId('i') };
    await h.track({ owner: user, objectType: projectType, actorOnly: false });
    await mute({ owner: user, object: muted });
    const alice = { type: 'User', id: uniqueId('alice') };
    const t0 = Date.now() - 10 * 60_000;
    const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();
    const a = await h.logAction({ actor: alice, verb: 'commented', targets: [p1], timestamp: at(0), groupingDelay: 7200 });
    const b = await h.logAction({ actor: { type: 'User', id: uniqueId('bob') }, verb: 'commented', targets: [p2], timestamp: at(1), ...noGroup });
    const grouped = await h.logAction({ actor: alice, verb: 'commented', targets: [p1, muted], timestamp: at(2), groupingDelay: 7200 });
    expect(grouped.id).toBe(a.id);
    const feed = await t.ok(`query($u: ID) { feed(user: $u, first: 10) { edges { node { id timestamp } } } }`, { u: user }, h.service);
    // Newest first by the timestamps shown (before: b first, a shown at 2 min but sorted at 0).
    expect(feed.feed.edges.map((e: { node: { id: string; timestamp: string } }) => [e.node.id, e.node.timestamp])).toEqual([
      [a.id, at(2)],
      [b.id, at(1)],
    ]);
    const read = await t.ok(`mutation($u: ID, $b: DateTime) { markAllRead(user: $u, before: $b) }`, { u: user, b: at(1.5) }, h.service);
    expect(read.markAllRead).toBe(1);
    expect(await h.unreadCount(user)).toBe(1);
  });
});

describe('the trackers an entry lists while a mute matches its action', () => {
  const TRACKER_COUNTS = `query($u: ID, $tt: ID, $type: String) {
    feed(user: $u, first: 10) { edges { node { id matchedTrackers { id } } } }
    byTracker: unreadCount(user: $u, tracker: $tt) byType: unreadCount(user: $u, objectType: $type)
    feedCounts(user: $u, by: TRACKER) { key unread }
  }`;
  type Counts = {
    feed: { edges: Array<{ node: { id: string; matchedTrackers: Array<{ id: string }> } }> };
    byTracker: number;
    byType: number;
    feedCounts: Array<{ key: string; unread: number }>;
  };

  it('grouping: an entry kept from before the mute lists the trackers that match the amended action (counts by tracker follow)', async () => {
    const user = uniqueId('u');
    const [projectType, taskType] = [uniqueId('Proj'), uniqueId('Task')];
    const tp = await h.track({ owner: user, objectType: projectType, actorOnly: false });
    const tt = await h.track({ owner: user, objectType: taskType, actorOnly: false });
    const t3 = { type: taskType, id: uniqueId('t') };
    await mute({ owner: user, object: t3 });
    const actor = { type: 'User', id: uniqueId('a') };
    const p1 = { type: projectType, id: uniqueId('p') };
    const first = await h.logAction({ actor, verb: 'v', targets: [p1], groupingDelay: 3600 });
    const grouped = await h.logAction({ actor, verb: 'v', targets: [p1, t3], groupingDelay: 3600 });
    expect([grouped.id, grouped.groupedCount]).toEqual([first.id, 2]);
    const read = async () => (await t.ok(TRACKER_COUNTS, { u: user, tt: tt.id, type: taskType }, h.service)) as Counts;
    const check = async () => {
      const c = await read();
      expect(c.feed.edges.map((e) => [e.node.id, e.node.matchedTrackers.map((m) => m.id).sort()])).toEqual([[first.id, [tp.id, tt.id].sort()]]);
      expect([c.byTracker, c.byType]).toEqual([1, 1]);
      expect(c.feedCounts.filter((r) => r.key === String(tt.id)).map((r) => r.unread)).toEqual([1]);
    };
    await check();
    await t.ok(UNTRACK, { i: { owner: user, object: t3, mute: true } }, h.service);
    await check();
    expect((await t.ok(`mutation($u: ID, $tt: ID) { markAllRead(user: $u, tracker: $tt) }`, { u: user, tt: tt.id }, h.service)).markAllRead).toBe(1);
    expect(await h.unreadCount(user)).toBe(0);
  });

  it('grouping that moves a muted user\'s entry to a new shape keeps its unseen flag counted (judged at the user\'s seen epoch)', async () => {
    const user = uniqueId('u');
    const threadType = uniqueId('Thread');
    const [t1, t2] = [{ type: threadType, id: uniqueId('t') }, { type: threadType, id: uniqueId('t') }];
    await h.track({ owner: user, object: t1, actorOnly: false });
    await h.track({ owner: user, object: t2, actorOnly: false });
    await mute({ owner: user, object: t1 });
    const bot = { type: 'Bot', id: uniqueId('b') };
    await h.logAction({ actor: bot, verb: 'poked', targets: [t2], ...noGroup });
    await t.ok(`mutation($u: ID) { markAllSeen(user: $u) }`, { u: user }, h.service); // the seen epoch moves on
    const counts = async () =>
      (await t.ok(
        `query($u: ID) { all: unseenCount(user: $u) edited: unseenCount(user: $u, verbs: ["edited"]) feedCounts(user: $u, by: VERB) { key unseen } }`,
        { u: user },
        h.service,
      )) as { all: number; edited: number; feedCounts: Array<{ key: string; unseen: number }> };
    const first = await h.logAction({ actor: bot, verb: 'edited', targets: [t2], level: 'INFO', groupingDelay: 3600 });
    expect(await counts()).toMatchObject({ all: 1, edited: 1 });
    // Grouped (same targets), now naming the muted thread, at a higher level: the entry moves to another cell.
    const grouped = await h.logAction({ actor: bot, verb: 'edited', targets: [t2], related: [t1], level: 'WARNING', groupingDelay: 3600 });
    expect(grouped.id).toBe(first.id);
    const after = await counts();
    expect([after.all, after.edited]).toEqual([1, 1]);
    expect(after.feedCounts.find((r) => r.key === 'edited')?.unseen).toBe(1);
  });

  it('widening a tracker: an entry already in the feed gains it even though a mute matches the action', async () => {
    const user = uniqueId('u');
    const projectType = uniqueId('Proj');
    const p1 = { type: projectType, id: uniqueId('p') };
    const t3 = { type: uniqueId('Task'), id: uniqueId('t') };
    const onObject = await h.track({ owner: user, object: p1, actorOnly: false });
    const narrow = await h.track({ owner: user, objectType: projectType, actorOnly: false, verbs: ['a'] });
    await mute({ owner: user, object: t3 });
    const actor = { type: 'User', id: uniqueId('a') };
    const first = await h.logAction({ actor, verb: 'b', targets: [p1], groupingDelay: 3600 });
    // Grouping names the muted object: the entry stays (as it was), and the mute now matches its action.
    expect((await h.logAction({ actor, verb: 'b', targets: [p1, t3], groupingDelay: 3600 })).id).toBe(first.id);
    const widened = await h.track({ owner: user, objectType: projectType, actorOnly: false, verbs: null });
    expect(widened.id).toBe(narrow.id);
    const c = (await t.ok(TRACKER_COUNTS, { u: user, tt: narrow.id, type: projectType }, h.service)) as Counts;
    expect(c.feed.edges.map((e) => [e.node.id, e.node.matchedTrackers.map((m) => m.id).sort()])).toEqual([[first.id, [onObject.id, narrow.id].sort()]]);
    expect(c.byTracker).toBe(1);
  });
});

describe('an entry a backfill brings in', () => {
  it('lists every tracker of the user that matches it, not only the one that brought it (matchedTrackers, counts by tracker)', async () => {
    const user = uniqueId('u');
    const projectType = uniqueId('Project');
    const p1 = { type: projectType, id: uniqueId('p') };
    const bob = { type: 'User', id: uniqueId('bob') };
    const t2 = await h.track({ owner: user, object: p1, actorOnly: false });
    await mute({ owner: user, object: bob, actorOnly: true });
    const kept = await h.logAction({ actor: bob, verb: 'commented', targets: [p1], ...noGroup });
    expect(await h.feedIds(user)).toEqual([]); // muted
    await t.ok(UNTRACK, { i: { owner: user, object: bob, mute: true } }, h.service); // no restore: still out
    const t1 = await h.track({ owner: user, objectType: projectType, actorOnly: false }); // its backfill brings it in
    await t.ok(`mutation($u: ID, $ids: [ID!]!) { markUnread(user: $u, actionIds: $ids) }`, { u: user, ids: [kept.id] }, h.service);
    const state = await t.ok(
      `query($u: ID, $t2: ID) {
         feed(user: $u, first: 5) { edges { node { id matchedTrackers { id } } } }
         byTracker: unreadCount(user: $u, tracker: $t2)
         feedCounts(user: $u, by: [TRACKER]) { key unread }
       }`,
      { u: user, t2: t2.id },
      h.service,
    );
    expect(state.feed.edges.map((e: { node: { id: string; matchedTrackers: Array<{ id: string }> } }) => [e.node.id, e.node.matchedTrackers.map((m) => m.id).sort()])).toEqual([
      [kept.id, [t1.id, t2.id].sort()],
    ]);
    expect(state.byTracker).toBe(1);
    expect(state.feedCounts.map((c: { key: string; unread: number }) => [c.key, c.unread]).sort()).toEqual([[t1.id, 1], [t2.id, 1]].sort());
  });
});
