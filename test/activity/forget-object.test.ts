import { describe, expect, it } from 'vitest';
import { uniqueId, type TestApp } from '../support/app.ts';
import { decodeFeedCursor } from '../../src/activity/change-stream.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

/** forgetObject as actrack's deleted items (issue 10 item 4) and its race with track (issue 11 item 6). */

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

const noGroup = { groupingDelay: -1 };
const FORGET = `mutation($o: ObjectRefInput!, $d: String, $s: JSON, $del: Boolean) {
  forgetObject(object: $o, description: $d, serialization: $s, deleteActions: $del) { type id label deleted description serialization } }`;
const NODE = `query($id: ID!) { node(id: $id) { id ... on Action { verb actor { id deleted description } targets { id deleted } } } }`;
const INVOLVING = `query($o: ObjectRefInput) { actions(involving: $o) { edges { node { id } } } }`;

describe('forgetObject defaults (actrack str() and serialization)', () => {
  it('description defaults to the label the log knows, else "Type id"; serialization to {type, pk}', async () => {
    const labelled = { type: 'Train', id: uniqueId('tr') };
    await h.logAction({ actor: { type: 'Station', id: 's' }, verb: 'saw', targets: [{ ...labelled, label: 'Orient Express' }], ...noGroup });
    const a = (await t.ok(FORGET, { o: labelled }, h.service)).forgetObject;
    expect(a).toEqual({
      type: 'Train',
      id: labelled.id,
      label: null, // forgotten: the label goes (README "Metrics"); the description keeps what it was
      deleted: true,
      description: 'Orient Express',
      serialization: { type: 'Train', pk: labelled.id },
    });
    const given = { type: 'Train', id: uniqueId('tr'), label: 'The 9:15' };
    expect((await t.ok(FORGET, { o: given }, h.service)).forgetObject.description).toBe('The 9:15');
    const bare = { type: 'Train', id: uniqueId('tr') };
    const b = (await t.ok(FORGET, { o: bare }, h.service)).forgetObject;
    expect(b.description).toBe(`Train ${bare.id}`);
    expect(b.serialization).toEqual({ type: 'Train', pk: bare.id });
    // Explicit values win.
    const explicit = { type: 'Train', id: uniqueId('tr') };
    const c = (await t.ok(FORGET, { o: explicit, d: 'gone', s: { x: 1 } }, h.service)).forgetObject;
    expect([c.description, c.serialization]).toEqual(['gone', { x: 1 }]);
  });
});

describe('the text of an action with a forgotten object (actrack: a DeletedItem renders as its description)', () => {
  it('shows the description given to forgetObject, in node, actions and the feed; the label is gone', async () => {
    const user = uniqueId('u');
    const project = { type: 'Project', id: uniqueId('p') };
    const alice = { type: 'User', id: uniqueId('alice'), label: 'Alice' };
    await h.track({ owner: user, object: project, actorOnly: false });
    const a = await h.logAction({ actor: alice, verb: 'commented', targets: [{ ...project, label: 'Website' }], ...noGroup });
    const b = await h.logAction({ actor: { type: 'Bot', id: 'b' }, verb: 'pinged', related: [project], ...noGroup });
    const TEXT = `query($id: ID!) { node(id: $id) { ... on Action { text targets { label deleted description } } } }`;
    expect((await t.ok(TEXT, { id: a.id }, h.service)).node.text).toBe('Alice commented Website');

    await t.ok(FORGET, { o: project, d: 'Website (deleted project)' }, h.service);
    const after = (await t.ok(TEXT, { id: a.id }, h.service)).node;
    expect(after.text).toBe('Alice commented Website (deleted project)');
    expect(after.targets).toEqual([{ label: null, deleted: true, description: 'Website (deleted project)' }]);
    expect((await t.ok(TEXT, { id: b.id }, h.service)).node.text).toBe('Bot b pinged in relation to Website (deleted project)');
    const listed = await t.ok(`query($o: ObjectRefInput) { actions(involving: $o) { edges { node { id text } } } }`, { o: project }, h.service);
    expect(new Map(listed.actions.edges.map((e: { node: { id: string; text: string } }) => [e.node.id, e.node.text]))).toEqual(
      new Map([
        [a.id, 'Alice commented Website (deleted project)'],
        [b.id, 'Bot b pinged in relation to Website (deleted project)'],
      ]),
    );
    const feed = await t.ok(`query($u: ID) { feed(user: $u, first: 10) { edges { node { id text } } } }`, { u: user }, h.service);
    expect(feed.feed.edges.map((e: { node: { text: string } }) => e.node.text).sort()).toEqual([
      'Alice commented Website (deleted project)',
      'Bot b pinged in relation to Website (deleted project)',
    ]);
  });
});

describe('a forgotten object keeps no label anywhere (README "Metrics": results show it with no label)', () => {
  it('as actor, target and related object: node, actions(involving:), the feed and the forgetObject answer show label null', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    const person = { type: 'Person', id: uniqueId('p') };
    await h.track({ owner: user, objectType: 'Doc', actorOnly: false });
    const a = await h.logAction({ actor: { ...person, label: 'Jane Secret-Name' }, verb: 'wrote', targets: [{ ...doc, label: 'Doc A' }], ...noGroup });
    const b = await h.logAction({ actor: { type: 'Bot', id: 'b' }, verb: 'filed', targets: [doc], related: [{ ...person, label: 'Jane Secret-Name' }], ...noGroup });
    const answer = (await t.ok(FORGET, { o: person, d: 'A deleted person' }, h.service)).forgetObject;
    expect([answer.label, answer.deleted, answer.description]).toEqual([null, true, 'A deleted person']);

    const OBJECTS = `actor { id label deleted description } related { id label deleted description } text`;
    const gone = { label: null, deleted: true, description: 'A deleted person' };
    const nodeA = (await t.ok(`query($id: ID!) { node(id: $id) { ... on Action { ${OBJECTS} } } }`, { id: a.id }, h.service)).node;
    expect(nodeA.actor).toEqual({ id: person.id, ...gone });
    expect(nodeA.text).toBe('A deleted person wrote Doc A');
    const nodeB = (await t.ok(`query($id: ID!) { node(id: $id) { ... on Action { ${OBJECTS} } } }`, { id: b.id }, h.service)).node;
    expect(nodeB.related).toEqual([{ id: person.id, ...gone }]);
    const involving = await t.ok(`query($o: ObjectRefInput) { actions(involving: $o) { edges { node { ${OBJECTS} } } } }`, { o: person }, h.service);
    const feed = await t.ok(`query($u: ID) { feed(user: $u, first: 10) { edges { node { ${OBJECTS} } } } }`, { u: user }, h.service);
    for (const page of [involving.actions, feed.feed]) {
      const text = JSON.stringify(page);
      expect(text).not.toContain('Jane Secret-Name');
      expect(page.edges).toHaveLength(2);
    }
    // Logging with the forgotten object is refused, so the label cannot come back through a new action.
    expect((await t.gql(`mutation($i: LogActionInput!) { logAction(input: $i) { id } }`, { i: { actor: { ...person, label: 'Jane' }, verb: 'wrote' } }, h.service)).errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  });
});

describe('an entry forgetObject kept with no tracker', () => {
  it('stays read when its action is amended by grouping: only users whose trackers match get it unread again', async () => {
    const u0 = uniqueId('u0');
    const actor = { type: 'User', id: uniqueId('u3') };
    const project = { type: 'Proj', id: uniqueId('p1') };
    const hour = 3_600_000;
    const a = await h.logAction({ actor, verb: 'edited', targets: [{ type: 'User', id: u0 }, project], level: 'WARNING', timestamp: new Date(Date.now() - 2 * hour).toISOString(), groupingDelay: -1 });
    await h.track({ owner: u0, object: project, actorOnly: false }); // backfilled as read
    await t.ok(FORGET, { o: project }, h.service);
    const ENTRY = `query($u: ID) { feed(user: $u, first: 5) { edges { node { id unread seen groupedCount matchedTrackers { id } } } } unreadCount(user: $u) }`;
    const before = await t.ok(ENTRY, { u: u0 }, h.service);
    expect(before.feed.edges.map((e: { node: unknown }) => e.node)).toEqual([{ id: a.id, unread: false, seen: true, groupedCount: 1, matchedTrackers: [] }]);
    // A similar action (no targets, no related: the same empty related set) groups into it.
    const b = await h.logAction({ actor, verb: 'edited', level: 'ERROR', timestamp: new Date(Date.now() - hour).toISOString(), groupingDelay: 86_400 });
    expect(b.id).toBe(a.id);
    const after = await t.ok(ENTRY, { u: u0 }, h.service);
    expect(after.feed.edges.map((e: { node: unknown }) => e.node)).toEqual([{ id: a.id, unread: false, seen: true, groupedCount: 2, matchedTrackers: [] }]);
    expect(after.unreadCount).toBe(0);
    // A user whose tracker matches the amended action gets it unread, as before.
    const watcher = uniqueId('w');
    await h.track({ owner: watcher, object: actor });
    await h.logAction({ actor, verb: 'edited', groupingDelay: 86_400 });
    expect(await h.unreadCount(watcher)).toBe(1);
    expect((await t.ok(ENTRY, { u: u0 }, h.service)).unreadCount).toBe(0);
  });
});

describe('forgetting a user (USER_TYPE)', () => {
  it("deletes that user's trackers, feed entries and unread counter; other feeds keep the user's actions", async () => {
    const user = uniqueId('u');
    const other = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    await h.track({ owner: user, object: doc });
    await h.track({ owner: other, object: { type: 'User', id: user } });
    await h.logAction({ actor: doc, verb: 'changed', ...noGroup });
    const own = await h.logAction({ actor: { type: 'User', id: user }, verb: 'posted', ...noGroup });
    expect(await h.unreadCount(user)).toBe(1);
    expect(await h.unreadCount(other)).toBe(1);
    await t.ok(FORGET, { o: { type: 'User', id: user } }, h.service);
    expect(await h.unreadCount(user)).toBe(0);
    expect(await h.feedIds(user)).toEqual([]);
    expect((await t.ok(`query($u: ID) { trackers(user: $u) { id } }`, { u: user }, h.service)).trackers).toEqual([]);
    expect(await h.feedIds(other)).toEqual([own.id]);
    expect(await h.unreadCount(other)).toBe(1);
  });

  it("keeps the user's change-stream position: the changes after it continue the stream, never restart it", async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('d') };
    const head = async () =>
      decodeFeedCursor((await t.ok<{ feed: { syncCursor: string } }>(`query($u: ID) { feed(user: $u, first: 1) { syncCursor } }`, { u: user }, h.service)).feed.syncCursor);
    await h.track({ owner: user, object: doc });
    await h.logAction({ actor: doc, verb: 'changed', ...noGroup });
    const before = await head();
    expect(before).toBeGreaterThan(0n);
    await t.ok(FORGET, { o: { type: 'User', id: user } }, h.service); // REMOVED: before + 1
    await h.track({ owner: user, object: doc });
    await h.logAction({ actor: doc, verb: 'changed', ...noGroup }); // ADDED: before + 2
    expect(await head()).toBe(before + 2n);
  });
});

describe('forgetObject(deleteActions: true)', () => {
  it('deletes the actions involving the object in any role; every affected feed and count follows', async () => {
    const gone = { type: 'Photo', id: uniqueId('p') };
    const kept = { type: 'Photo', id: uniqueId('p') };
    const [u1, u2] = [uniqueId('u'), uniqueId('u')];
    const author = { type: 'Author', id: uniqueId('a') };
    await h.track({ owner: u1, object: author });
    await h.track({ owner: u2, object: kept, actorOnly: false });
    await h.track({ owner: u2, objectType: 'Photo' });
    const asTarget = await h.logAction({ actor: author, verb: 'shot', targets: [gone], ...noGroup });
    const asRelated = await h.logAction({ actor: author, verb: 'compared', targets: [kept], related: [gone], ...noGroup });
    const asActor = await h.logAction({ actor: gone, verb: 'faded', ...noGroup });
    const unrelated = await h.logAction({ actor: author, verb: 'shot', targets: [kept], ...noGroup });
    expect(await h.feedIds(u1)).toEqual([unrelated.id, asRelated.id, asTarget.id]);
    expect(await h.feedIds(u2)).toEqual([unrelated.id, asActor.id, asRelated.id]);
    await t.ok(`mutation($ids: [ID!]!, $u: ID) { markRead(actionIds: $ids, user: $u) }`, { ids: [asTarget.id], u: u1 }, h.service);
    expect(await h.unreadCount(u1)).toBe(2);
    expect(await h.unreadCount(u2)).toBe(3);

    const forgotten = (await t.ok(FORGET, { o: gone, del: true }, h.service)).forgetObject;
    expect(forgotten.deleted).toBe(true);
    expect(await h.feedIds(u1)).toEqual([unrelated.id]);
    expect(await h.feedIds(u2)).toEqual([unrelated.id]);
    expect(await h.unreadCount(u1)).toBe(1);
    expect(await h.unreadCount(u2)).toBe(1);
    for (const id of [asTarget.id, asRelated.id, asActor.id]) expect((await t.ok(NODE, { id }, h.service)).node).toBeNull();
    expect((await t.ok(INVOLVING, { o: gone }, h.service)).actions.edges).toEqual([]);
    expect((await t.ok(INVOLVING, { o: kept }, h.service)).actions.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([unrelated.id]);
  });

  it('without deleteActions the actions stay, showing the tombstone', async () => {
    const photo = { type: 'Photo', id: uniqueId('p') };
    const action = await h.logAction({ actor: { type: 'Author', id: 'x' }, verb: 'shot', targets: [photo], ...noGroup });
    await t.ok(FORGET, { o: photo }, h.service);
    const node = (await t.ok(NODE, { id: action.id }, h.service)).node;
    expect(node.targets).toEqual([{ id: photo.id, deleted: true }]);
  });
});

describe('forgetObject racing track (issue 11 item 6)', () => {
  it('leaves no live tracker on a forgotten object over 100 concurrent pairs', async () => {
    const TRACK = `mutation($i: TrackInput!) { track(input: $i) { id } }`;
    const objects = Array.from({ length: 100 }, (_, i) => ({ type: 'Race', id: `${uniqueId('r')}-${i}` }));
    await Promise.all(
      objects.map((o, i) =>
        Promise.all([
          t.gql(TRACK, { i: { owner: `racer-${i}`, object: o } }, h.service),
          t.gql(FORGET, { o }, h.service),
        ]),
      ),
    );
    let live = 0;
    for (const o of objects) {
      const of = await t.ok<{ trackersOf: unknown[] }>(`query($o: ObjectRefInput!) { trackersOf(object: $o) { id } }`, { o }, h.service);
      live += of.trackersOf.length;
    }
    expect(live).toBe(0);
  });
});

describe('the trackers forgetObject removes', () => {
  it('no longer count the entries they matched (feedCounts by TRACKER, unreadCount(tracker:)); the entries stay, unread', async () => {
    const user = uniqueId('u');
    const issue = { type: 'Issue', id: uniqueId('i') };
    const other = { type: 'Project', id: uniqueId('p') };
    const onIssue = await h.track({ owner: user, object: issue, actorOnly: false });
    const onProject = await h.track({ owner: user, object: other, actorOnly: false });
    const both = await h.logAction({ actor: { type: 'User', id: uniqueId('a') }, verb: 'commented', targets: [issue, other], ...noGroup });
    const only = await h.logAction({ actor: { type: 'User', id: uniqueId('a') }, verb: 'commented', targets: [issue], ...noGroup });
    await t.ok(FORGET, { o: issue }, h.service);
    const state = await t.ok(
      `query($u: ID, $t: ID) {
         feed(user: $u, first: 10) { edges { node { id unread matchedTrackers { id } } } }
         unreadCount(user: $u) forgotten: unreadCount(user: $u, tracker: $t)
         feedCounts(user: $u, by: [TRACKER]) { key unread total }
       }`,
      { u: user, t: onIssue.id },
      h.service,
    );
    expect(new Map(state.feed.edges.map((e: { node: { id: string; unread: boolean; matchedTrackers: Array<{ id: string }> } }) => [e.node.id, [e.node.unread, e.node.matchedTrackers.map((m) => m.id)]]))).toEqual(
      new Map([
        [both.id, [true, [onProject.id]]],
        [only.id, [true, []]],
      ]),
    );
    expect(state.unreadCount).toBe(2);
    expect(state.forgotten).toBe(0); // before: 2, the cells still listed the deleted tracker
    expect(state.feedCounts).toEqual([{ key: onProject.id, unread: 1, total: 1 }]);
  });
});
