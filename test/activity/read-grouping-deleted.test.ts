import { describe, expect, it } from 'vitest';
import { uniqueId, type TestApp } from '../support/app.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

const noGroup = { groupingDelay: -1 };
const markRead = `mutation($ids: [ID!]!, $user: ID) { markRead(actionIds: $ids, user: $user) }`;
const markUnread = `mutation($ids: [ID!]!, $user: ID) { markUnread(actionIds: $ids, user: $user) }`;
const markAllRead = `mutation($before: DateTime, $user: ID) { markAllRead(before: $before, user: $user) }`;

async function followed(): Promise<{ user: string; obj: { type: string; id: string } }> {
  const user = uniqueId('u');
  const obj = { type: 'Topic', id: uniqueId('t') };
  await h.track({ owner: user, object: obj });
  return { user, obj };
}

describe('read status', () => {
  it('new actions are unread; markRead/markUnread/markAllRead return how many changed; unreadCount is exact', async () => {
    const { user, obj } = await followed();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await h.logAction({ actor: obj, verb: 'posted', ...noGroup })).id);
    expect(await h.unreadCount(user)).toBe(4);
    expect((await h.feed(user)).edges.every((e) => e.node.unread)).toBe(true);

    expect((await t.ok(markRead, { ids: [ids[0], ids[1]], user }, h.service)).markRead).toBe(2);
    expect((await t.ok(markRead, { ids: [ids[0]], user }, h.service)).markRead).toBe(0);
    expect(await h.unreadCount(user)).toBe(2);
    expect((await h.feed(user, { unreadOnly: true })).edges.map((e) => e.node.id)).toEqual([ids[3], ids[2]]);

    expect((await t.ok(markUnread, { ids: [ids[0]], user }, h.service)).markUnread).toBe(1);
    expect(await h.unreadCount(user)).toBe(3);
    expect((await t.ok(markAllRead, { user }, h.service)).markAllRead).toBe(3);
    expect(await h.unreadCount(user)).toBe(0);
    expect((await t.ok(markAllRead, { user }, h.service)).markAllRead).toBe(0);
  });

  it('markAllRead(before) only marks actions with timestamp <= before', async () => {
    const { user, obj } = await followed();
    await h.logAction({ actor: obj, verb: 'old', timestamp: '2020-01-01T00:00:00Z', ...noGroup });
    await h.logAction({ actor: obj, verb: 'old', timestamp: '2020-06-01T00:00:00Z', ...noGroup });
    const recent = await h.logAction({ actor: obj, verb: 'new', ...noGroup });
    expect((await t.ok(markAllRead, { user, before: '2021-01-01T00:00:00Z' }, h.service)).markAllRead).toBe(2);
    expect(await h.unreadCount(user)).toBe(1);
    expect((await h.feed(user, { unreadOnly: true })).edges.map((e) => e.node.id)).toEqual([recent.id]);
  });

  it('actions below the readable level are never unread and cannot be marked unread', async () => {
    const { user, obj } = await followed();
    const debug = await h.logAction({ actor: obj, verb: 'traced', level: 'DEBUG', ...noGroup });
    const hidden = await h.logAction({ actor: obj, verb: 'hidden', level: 'HIDDEN', ...noGroup });
    const info = await h.logAction({ actor: obj, verb: 'said', ...noGroup });
    expect(debug.level).toBe('DEBUG');
    // The feed lists readable actions only (actrack: level >= READABLE_LEVEL) unless minLevel asks lower.
    expect((await h.feed(user)).edges.map((e) => [e.node.id, e.node.unread])).toEqual([[info.id, true]]);
    const nodes = (await h.feed(user, { minLevel: 'DEBUG' })).edges.map((e) => e.node);
    expect(nodes.map((n) => [n.id, n.unread])).toEqual([
      [info.id, true],
      [hidden.id, false],
      [debug.id, false],
    ]);
    expect((await h.feed(user, { minLevel: 'HIDDEN' })).edges.map((e) => e.node.id)).toEqual([info.id, hidden.id]);
    expect(await h.unreadCount(user)).toBe(1);
    expect((await t.ok(markUnread, { ids: [debug.id, hidden.id], user }, h.service)).markUnread).toBe(0);
    expect(await h.unreadCount(user)).toBe(1);
  });

  it("unknown ids and someone else's actions are skipped (actrack bulk_mark_read_for); other users' feeds are untouched", async () => {
    const a = await followed();
    const b = await followed();
    const mine = await h.logAction({ actor: a.obj, verb: 'posted', ...noGroup });
    const theirs = await h.logAction({ actor: b.obj, verb: 'posted', ...noGroup });
    const tokenA = await t.userToken(a.user);

    // Someone else's action, an unknown action: skipped, nothing changes (0), no error telling them apart.
    const unknown = Buffer.from('Action:999999999999').toString('base64');
    expect((await t.ok(markRead, { ids: [theirs.id, unknown] }, { token: tokenA })).markRead).toBe(0);
    expect((await t.ok(markUnread, { ids: [theirs.id, unknown] }, { token: tokenA })).markUnread).toBe(0);
    expect(await h.unreadCount(a.user)).toBe(1);
    expect(await h.unreadCount(b.user)).toBe(1);

    const garbage = await t.gql(markRead, { ids: ['not-an-id'] }, { token: tokenA });
    expect(garbage.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    // Naming another user is forbidden for users, for reads and writes alike.
    const other = await t.gql(markAllRead, { user: b.user }, { token: tokenA });
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const otherFeed = await t.gql(`query($u: ID) { feed(user: $u) { edges { cursor } } }`, { u: b.user }, { token: tokenA });
    expect(otherFeed.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const otherCount = await t.gql(`query($u: ID) { unreadCount(user: $u) }`, { u: b.user }, { token: tokenA });
    expect(otherCount.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const otherTrackers = await t.gql(`query($u: ID) { trackers(user: $u) { id } }`, { u: b.user }, { token: tokenA });
    expect(otherTrackers.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await h.unreadCount(b.user)).toBe(1);

    // A user reads its own feed without naming itself; someone else's action is not reachable as a node.
    const own = await t.ok(`{ feed { edges { node { id unread } } } unreadCount }`, {}, { token: tokenA });
    expect(own.feed.edges).toEqual([{ node: { id: mine.id, unread: true } }]);
    expect(own.unreadCount).toBe(1);
    const node = await t.ok(`query($id: ID!) { node(id: $id) { id } }`, { id: theirs.id }, { token: tokenA });
    expect(node.node).toBeNull();
    const ownNode = await t.ok(`query($id: ID!) { node(id: $id) { ... on Action { verb unread } } }`, { id: mine.id }, { token: tokenA });
    expect(ownNode.node).toEqual({ verb: 'posted', unread: true });
    // trackersOf shows a user only its own trackers.
    const of = await t.ok(`query($o: ObjectRefInput!) { trackersOf(object: $o) { owner } }`, { o: b.obj }, { token: tokenA });
    expect(of.trackersOf).toEqual([]);

    // A list mixing ids of the feed with others marks those of the feed and counts only them.
    expect((await t.ok(markRead, { ids: [mine.id, theirs.id, unknown] }, { token: tokenA })).markRead).toBe(1);
    expect(await h.unreadCount(a.user)).toBe(0);
    expect(await h.unreadCount(b.user)).toBe(1);
    expect((await t.ok(markUnread, { ids: [theirs.id, mine.id] }, { token: tokenA })).markUnread).toBe(1);
    expect(await h.unreadCount(a.user)).toBe(1);
  });

  it('a list with an unknown id marks the ids of the feed and skips the other', async () => {
    const a = await followed();
    const first = await h.logAction({ actor: a.obj, verb: 'posted', ...noGroup });
    const other = { type: 'Thing', id: uniqueId('thing') };
    await h.track({ owner: a.user, object: other });
    const second = await h.logAction({ actor: other, verb: 'posted', ...noGroup });
    expect(await h.unreadCount(a.user)).toBe(2);
    const unknown = Buffer.from('Action:999999999998').toString('base64');
    expect((await t.ok(markRead, { ids: [unknown, first.id, second.id], user: a.user }, h.service)).markRead).toBe(2);
    expect(await h.unreadCount(a.user)).toBe(0);
  });

  it('unreadCount stays exact under concurrent fan-outs, grouping and marks', async () => {
    const users = [uniqueId('u'), uniqueId('u'), uniqueId('u')];
    const shared = { type: 'Channel', id: uniqueId('c') };
    for (const user of users) await h.track({ owner: user, object: shared, actorOnly: false });
    const logged = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        h.logAction({
          actor: { type: 'Bot', id: `b${i % 4}` },
          verb: 'pinged',
          targets: [shared],
          // Half of them may group with each other (same actor, verb and target).
          groupingDelay: i % 2 ? 3600 : -1,
        }),
      ),
    );
    const ids = [...new Set(logged.map((a) => a.id))];
    await Promise.all([
      t.ok(markRead, { ids: ids.slice(0, 5), user: users[0] }, h.service),
      t.ok(markAllRead, { user: users[1] }, h.service),
      h.logAction({ actor: shared, verb: 'announced', groupingDelay: -1 }),
      t.ok(markUnread, { ids: ids.slice(0, 2), user: users[0] }, h.service),
    ]);
    for (const user of users) {
      const unread = (await h.feed(user, { unreadOnly: true, first: 100 })).edges.length;
      expect(await h.unreadCount(user)).toBe(unread);
    }
  });

  it('unreadCount stays exact when a grouped action is re-fanned out while its readers mark it', async () => {
    const users = [uniqueId('g'), uniqueId('g')];
    const topic = { type: 'Topic', id: uniqueId('t') };
    for (const user of users) await h.track({ owner: user, object: topic, actorOnly: false });
    const actor = { type: 'Bot', id: uniqueId('grouper') };
    const first = await h.logAction({ actor, verb: 'bumped', targets: [topic], groupingDelay: 3600 });
    for (let round = 0; round < 15; round++) {
      await Promise.all([
        h.logAction({ actor, verb: 'bumped', targets: [topic], groupingDelay: 3600 }),
        ...users.map((user, i) =>
          t.ok((round + i) % 2 ? markUnread : markRead, { ids: [first.id], user }, h.service),
        ),
        h.logAction({ actor, verb: 'bumped', targets: [topic], groupingDelay: 3600 }),
      ]);
    }
    for (const user of users) {
      const unread = (await h.feed(user, { unreadOnly: true, first: 100 })).edges.length;
      expect(await h.unreadCount(user)).toBe(unread);
    }
  });

  it('anonymous callers get nothing', async () => {
    const r = await t.gql(`{ unreadCount }`);
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('grouping', () => {
  it('amends a similar action inside the delay: merged objects, groupedCount + 1, newest timestamp, unread again', async () => {
    const user = uniqueId('u');
    const actor = { type: 'Person', id: uniqueId('p') };
    await h.track({ owner: user, object: actor });
    const photo1 = { type: 'Photo', id: uniqueId('ph'), label: 'one' };
    const photo2 = { type: 'Photo', id: uniqueId('ph'), label: 'two' };
    const album = { type: 'Album', id: uniqueId('al') };
    const first = await h.logAction({ actor, verb: 'added', targets: [photo1], related: [album], timestamp: '2030-01-01T10:00:00Z', groupingDelay: 60 });
    await t.ok(markRead, { ids: [first.id], user }, h.service);
    expect(await h.unreadCount(user)).toBe(0);

    const second = await h.logAction({ actor, verb: 'added', targets: [photo2], related: [album], timestamp: '2030-01-01T10:00:30Z', groupingDelay: 60 });
    expect(second.id).toBe(first.id);
    expect(second.groupedCount).toBe(2);
    expect(second.timestamp).toBe('2030-01-01T10:00:30.000Z');
    expect(second.targets.map((o: any) => o.label)).toEqual(['one', 'two']);
    expect(second.related.map((o: any) => o.id)).toEqual([album.id]);
    const feed = await h.feed(user);
    expect(feed.edges).toHaveLength(1);
    expect(feed.edges[0]!.node).toMatchObject({ id: first.id, unread: true, groupedCount: 2 });
    expect(await h.unreadCount(user)).toBe(1);

    // Outside the delay: a new action.
    const third = await h.logAction({ actor, verb: 'added', targets: [photo2], related: [album], timestamp: '2030-01-01T10:05:00Z', groupingDelay: 60 });
    expect(third.id).not.toBe(first.id);
    expect(third.groupedCount).toBe(1);
    // Nothing shared: a new action.
    const fourth = await h.logAction({ actor, verb: 'added', targets: [{ type: 'Photo', id: uniqueId('ph') }], timestamp: '2030-01-01T10:05:10Z', groupingDelay: 60 });
    expect(fourth.id).not.toBe(third.id);
    // Negative delay disables grouping.
    const fifth = await h.logAction({ actor, verb: 'added', targets: [photo2], related: [album], timestamp: '2030-01-01T10:05:01Z', groupingDelay: -1 });
    expect(fifth.id).not.toBe(third.id);
    expect(await h.unreadCount(user)).toBe(4);
  });

  it("groups as actrack's ActionHandler.group: same actor and verb, an earlier action within the delay, and the same targets or the same related objects", async () => {
    const actor = { type: 'Person', id: uniqueId('p') };
    const task = () => ({ type: 'Task', id: uniqueId('t') });
    const project = () => ({ type: 'Project', id: uniqueId('pr') });
    const at = (seconds: number) => new Date(Date.UTC(2031, 0, 1, 12) + seconds * 1000).toISOString();
    const log = (seconds: number, targets: object[], related: object[] = [], verb = 'edited') =>
      h.logAction({ actor, verb, targets, related, timestamp: at(seconds), groupingDelay: 60 });
    const [t1, t2, t3, t4] = [task(), task(), task(), task()];
    const [p1, p2] = [project(), project()];

    // No related objects on either side (equal sets): "A edited t1 and t2", then t3 joins the merged action.
    const a = await log(0, [t1]);
    expect((await log(10, [t2])).id).toBe(a.id);
    const merged = await log(20, [t3]);
    expect([merged.id, merged.groupedCount, merged.targets.map((o: { id: string }) => o.id)]).toEqual([a.id, 3, [t1.id, t2.id, t3.id]]);
    // Different related objects and different targets (sharing one is not enough): a new action.
    const b = await log(30, [t1, t2], [p1]);
    expect(b.id).not.toBe(a.id);
    expect((await log(35, [t2, t4], [p2])).id).not.toBe(b.id);
    // The same related objects, other targets: grouped; the same targets, other related objects: grouped.
    const c = await log(100, [t1], [p1]);
    expect((await log(110, [t2], [p1])).id).toBe(c.id);
    expect((await log(120, [t1, t2], [p2])).id).toBe(c.id); // targets {t1, t2} = the merged action's
    // Another verb never groups.
    expect((await log(125, [t1, t2], [p1, p2], 'closed')).id).not.toBe(c.id);
    // Only into an earlier action: one backdated before a similar action is an action of its own.
    const d = await log(300, [t3], [p2]);
    const backdated = await log(270, [t3], [p2]);
    expect(backdated.id).not.toBe(d.id);
    expect(backdated.groupedCount).toBe(1);
  });

  it("merges the data of grouped actions as actrack's _merge: new keys added, lists extended, nothing overwritten", async () => {
    const actor = { type: 'Person', id: uniqueId('p') };
    const doc = { type: 'Doc', id: uniqueId('d') };
    const log = (data: unknown) => h.logAction({ actor, verb: 'edited', targets: [doc], data, groupingDelay: 600 });
    const first = await log({ words: 10, sections: ['intro'], meta: { by: 'a' } });
    const second = await log({ words: 25, sections: ['body', 'intro'], meta: { by: 'b', tool: 'web' }, reviewed: true });
    expect(second.id).toBe(first.id);
    expect(second.data).toEqual({ words: 10, sections: ['intro', 'body'], meta: { by: 'a', tool: 'web' }, reviewed: true });
    const third = await log(null);
    expect(third.data).toEqual(second.data);
    // Lists gain what they lack item by item, comparing values (an object whatever its keys' order).
    const fifth = await log({ sections: ['body', 'end', 'end'], meta: { by: 'z' }, items: [{ a: 1, b: 2 }] });
    const sixth = await log({ items: [{ b: 2, a: 1 }, { a: 3 }] });
    expect([fifth.data.sections, sixth.data.items]).toEqual([['intro', 'body', 'end'], [{ a: 1, b: 2 }, { a: 3 }]]);
    // Keys named like Object's own members are data like any other.
    const fourth = await log(JSON.parse('{"__proto__": {"x": 1}, "toString": "t", "constructor": ["c"]}'));
    expect(Object.keys(fourth.data).sort()).toEqual([...Object.keys(sixth.data), '__proto__', 'toString', 'constructor'].sort());
    expect([Object.getOwnPropertyDescriptor(fourth.data, '__proto__')?.value, fourth.data.toString, fourth.data.constructor]).toEqual([{ x: 1 }, 't', ['c']]);
  });

  it('a group is full when its merged data would pass ACTIVITY_DATA_MAX_BYTES (16 KiB): the action starts a new one', async () => {
    const actor = { type: 'Person', id: uniqueId('p') };
    const doc = { type: 'Doc', id: uniqueId('d') };
    const log = (key: string) => h.logAction({ actor, verb: 'noted', targets: [doc], data: { [key]: 'x'.repeat(6000) }, groupingDelay: 600 });
    const a = await log('k0');
    const b = await log('k1'); // ~12 KB merged: grouped
    expect([b.id, b.groupedCount, Object.keys(b.data)]).toEqual([a.id, 2, ['k0', 'k1']]);
    const c = await log('k2'); // ~18 KB merged: a new action
    expect(c.id).not.toBe(a.id);
    expect([c.groupedCount, Object.keys(c.data)]).toEqual([1, ['k2']]);
    const d = await log('k3'); // groups with the newest
    expect([d.id, d.groupedCount, Object.keys(d.data)]).toEqual([c.id, 2, ['k2', 'k3']]);
    // Without data, an amendment adds nothing and still groups.
    expect((await h.logAction({ actor, verb: 'noted', targets: [doc], groupingDelay: 600 })).id).toBe(c.id);
    const stored = await t.ok(`query($id: ID!) { node(id: $id) { ... on Action { data groupedCount } } }`, { id: a.id }, h.service);
    expect([Object.keys(stored.node.data), stored.node.groupedCount]).toEqual([['k0', 'k1'], 2]);
  });

  it('a grouped action reaches trackers that match its new objects', async () => {
    const follower = uniqueId('u');
    const actor = { type: 'Person', id: uniqueId('p') };
    const album = { type: 'Album', id: uniqueId('al') };
    const watched = { type: 'Photo', id: uniqueId('ph') };
    await h.track({ owner: follower, object: watched, actorOnly: false });
    const first = await h.logAction({ actor, verb: 'added', related: [album], groupingDelay: 600 });
    expect(await h.feedIds(follower)).toEqual([]);
    const second = await h.logAction({ actor, verb: 'added', targets: [watched], related: [album], groupingDelay: 600 });
    expect(second.id).toBe(first.id);
    expect(await h.feedIds(follower)).toEqual([first.id]);
    expect(await h.unreadCount(follower)).toBe(1);
  });
});

describe('grouping of similar actions logged at the same moment', () => {
  it('groups them every time: the server stamps an action once its grouping lock is held', async () => {
    // Each round: the same action twice at once (two connections). Stamped before the lock, the call that waited
    // for the other's commit found its action a few milliseconds after its own time, and did not group (10-15 %
    // of pairs on PostgreSQL).
    const follower = uniqueId('f');
    const doc = { type: 'Doc', id: uniqueId('d') };
    await h.track({ owner: follower, object: doc, actorOnly: false });
    const split: number[] = [];
    for (let round = 0; round < 30; round++) {
      const input = { actor: { type: 'User', id: uniqueId('a') }, verb: 'edited', targets: [doc], groupingDelay: 60 };
      const [a, b] = await Promise.all([h.logAction(input), h.logAction(input)]);
      if (a.id !== b.id) split.push(round);
      else expect(Math.max(a.groupedCount, b.groupedCount)).toBe(2);
    }
    expect(split).toEqual([]);
    expect(await h.unreadCount(follower)).toBe(30);
  });
});

describe('deleted items and verb templates', () => {
  it('forgetObject keeps actions readable as tombstones, removes trackers, rejects later use', async () => {
    const user = uniqueId('u');
    const train = { type: 'Train', id: uniqueId('tr'), label: 'Orient Express' };
    await h.track({ owner: user, object: train });
    const left = await h.logAction({ actor: train, verb: 'left', targets: [{ type: 'Station', id: 'paris', label: 'Paris' }], ...noGroup });

    const forget = `mutation($o: ObjectRefInput!, $d: String, $s: JSON) { forgetObject(object: $o, description: $d, serialization: $s) { type id deleted description serialization } }`;
    const userToken = await t.userToken(user);
    const denied = await t.gql(forget, { o: train, d: 'retired' }, { token: userToken });
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const forgotten = await t.ok(forget, { o: train, d: 'The Orient Express (retired)', s: { pk: train.id } }, h.service);
    expect(forgotten.forgetObject).toEqual({
      type: 'Train',
      id: train.id,
      deleted: true,
      description: 'The Orient Express (retired)',
      serialization: { pk: train.id },
    });
    const node = (await h.feed(user)).edges[0]!.node;
    expect(node.id).toBe(left.id);
    expect(node.actor).toMatchObject({ id: train.id, deleted: true, description: 'The Orient Express (retired)' });
    expect(node.targets[0]).toMatchObject({ id: 'paris', deleted: false });
    const trackers = await t.ok(`query($u: ID) { trackers(user: $u) { id } }`, { u: user }, h.service);
    expect(trackers.trackers).toEqual([]);

    const later = await t.gql(`mutation($i: LogActionInput!) { logAction(input: $i) { id } }`, { i: { actor: { type: 'Station', id: 'x' }, verb: 'saw', related: [train] } }, h.service);
    expect(later.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const retrack = await t.gql(`mutation($i: TrackInput!) { track(input: $i) { id } }`, { i: { owner: user, object: train } }, h.service);
    expect(retrack.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('registerVerb templates render Action.text with labels (service only)', async () => {
    const verb = `left-${uniqueId('v')}`;
    const reg = `mutation($v: String!, $t: String!) { registerVerb(verb: $v, template: $t) { verb template } }`;
    const userToken = await t.userToken(uniqueId('u'));
    expect((await t.gql(reg, { v: verb, t: '{actor} left' }, { token: userToken })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const before = await h.logAction({ actor: { type: 'Train', id: '9', label: 'The 9:15' }, verb, ...noGroup });
    expect(before.text).toBe(`The 9:15 ${verb}`);
    await t.ok(reg, { v: verb, t: '{actor} left {targets} for {related} ({data.platform})' }, h.service);
    const action = await h.logAction({
      actor: { type: 'Train', id: '9', label: 'The 9:15' },
      verb,
      targets: [{ type: 'Station', id: 'a', label: 'Aston' }, { type: 'Station', id: 'b', label: 'Bury' }, { type: 'Station', id: 'c' }],
      related: [{ type: 'City', id: 'l', label: 'Leeds' }],
      data: { platform: 4 },
      ...noGroup,
    });
    expect(action.text).toBe('The 9:15 left Aston, Bury and Station c for Leeds (4)');
    const q = await t.ok(`query($id: ID!) { node(id: $id) { ... on Action { text } } }`, { id: before.id }, h.service);
    expect(q.node.text).toBe('The 9:15 left  for  ()');

    // {data.KEY} reads the data's own keys only: the members every object inherits are missing keys too.
    const own = `own-${uniqueId('v')}`;
    await t.ok(reg, { v: own, t: '[{data.toString}] [{data.constructor}] [{data.__proto__}] [{data.hasOwnProperty}] [{data.a}] [{data.missing}]' }, h.service);
    const withData = await h.logAction({ actor: { type: 'Bot', id: 'b' }, verb: own, data: { a: 1 }, ...noGroup });
    expect(withData.text).toBe('[] [] [] [] [1] []');
    for (const data of [5, 'text', [1, 2], null]) {
      const other = await h.logAction({ actor: { type: 'Bot', id: 'b' }, verb: own, data, ...noGroup });
      expect(other.text, JSON.stringify(data)).toBe('[] [] [] [] [] []');
    }
  });

  it('without a template, Action.text is actrack\'s default "{actor} {verb} {targets}" (+ " in relation to {related}")', async () => {
    const verb = `created-${uniqueId('v')}`;
    const user0 = { type: 'User', id: '0', label: 'user0' };
    const withRelated = await h.logAction({
      actor: user0,
      verb,
      targets: [{ type: 'Task', id: '1', label: 'task' }],
      related: [{ type: 'Project', id: '7', label: 'project' }],
      ...noGroup,
    });
    expect(withRelated.text).toBe(`user0 ${verb} task in relation to project`);
    const unlabelled = await h.logAction({
      actor: { type: 'User', id: '3' },
      verb,
      targets: [{ type: 'Task', id: '1' }, { type: 'Task', id: '2', label: 'two' }, { type: 'Task', id: '3' }],
      ...noGroup,
    });
    expect(unlabelled.text).toBe(`User 3 ${verb} Task 1, two and Task 3`);
    const alone = await h.logAction({ actor: user0, verb, related: [{ type: 'Project', id: '8' }], ...noGroup });
    expect(alone.text).toBe(`user0 ${verb} in relation to Project 8`);
    // actrack's str_enum: from four objects on, the first two and how many others.
    const objects = (type: string, n: number) => Array.from({ length: n }, (_, i) => ({ type, id: String(i + 1), label: `${type.toLowerCase()}${i + 1}` }));
    const many = await h.logAction({ actor: user0, verb, targets: objects('T', 4), related: objects('R', 5), ...noGroup });
    expect(many.text).toBe(`user0 ${verb} t1, t2 and 2 others in relation to r1, r2 and 3 others`);
    const two = await h.logAction({ actor: user0, verb, targets: objects('T', 2), ...noGroup });
    expect(two.text).toBe(`user0 ${verb} t1 and t2`);
    // Read back (not only from the logAction response).
    const q = await t.ok(`query($id: ID!) { node(id: $id) { ... on Action { text } } }`, { id: withRelated.id }, h.service);
    expect(q.node.text).toBe(`user0 ${verb} task in relation to project`);
  });

  it('Action.timeinfo says how long ago, as actrack\'s timeinfo', async () => {
    const now = Date.now();
    const actor = { type: 'Clock', id: uniqueId('c') };
    const logged = await Promise.all(
      [3 * 60_000 + 5_000, 2 * 3_600_000 + 60_000 + 20_000, 3 * 86_400_000 + 5 * 60_000, 65 * 60_000 + 20_000, (2 * 24 + 3) * 3_600_000 + 20_000, 15 * 86_400_000 + 20_000, 0].map((ago) =>
        h.logAction({ actor, verb: 'ticked', timestamp: new Date(now - ago).toISOString(), ...noGroup }),
      ),
    );
    const infos = await Promise.all(
      logged.map(async (a) => (await t.ok(`query($id: ID!) { node(id: $id) { ... on Action { timeinfo } } }`, { id: a.id }, h.service)).node.timeinfo),
    );
    // Django's timesince (actrack's timeinfo): the largest unit and the next one when not zero, a no-break space
    // between count and unit, "0 minutes" under a minute.
    expect(infos).toEqual(
      ['3 minutes', '2 hours, 1 minute', '3 days', '1 hour, 5 minutes', '2 days, 3 hours', '2 weeks, 1 day', '0 minutes'].map(
        (since) => `${since.replace(/(\d) /g, '$1\u00a0')} ago`,
      ),
    );
  });
});
