import type { Client } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import { uniqueId, type TestApp } from '../support/app.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

// Issue 13, items 1, 2, 4: the feed as an inbox (seen, read, archived), bulk changes by filter, exact counts.

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

interface Counts {
  unread: number;
  unseen: number;
}

async function counts(user: string): Promise<Counts> {
  const data = await t.ok<{ unreadCount: number; unseenCount: number }>(
    `query($u: ID) { unreadCount(user: $u) unseenCount(user: $u) }`,
    { u: user },
    h.service,
  );
  return { unread: data.unreadCount, unseen: data.unseenCount };
}

interface Entry {
  id: string;
  verb: string;
  unread: boolean;
  seen: boolean;
}

/** Every entry of the feed (archived ones with `archived: true`), walked page by page. */
async function entries(user: string, archived = false): Promise<Entry[]> {
  const all: Entry[] = [];
  let after: string | null = null;
  for (;;) {
    const data: { feed: { edges: Array<{ node: Entry }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await t.ok(
      `query($u: ID, $after: String, $archived: Boolean) {
         feed(user: $u, first: 100, after: $after, archived: $archived) { edges { node { id verb unread seen } } pageInfo { hasNextPage endCursor } }
       }`,
      { u: user, after, archived },
      h.service,
    );
    all.push(...data.feed.edges.map((e) => e.node));
    if (!data.feed.pageInfo.hasNextPage) return all;
    after = data.feed.pageInfo.endCursor;
  }
}

/** The counts computed from the listed (not archived) entries: what the counters must equal. */
async function countsFromEntries(user: string): Promise<Counts> {
  const list = await entries(user);
  return { unread: list.filter((e) => e.unread).length, unseen: list.filter((e) => !e.seen).length };
}

async function mutate(name: string, args: string, variables: Record<string, unknown>, token = t.serviceToken): Promise<number> {
  const data = await t.ok<Record<string, number>>(`mutation${args ? `(${args})` : ''} { ${name} }`, variables, { token });
  return data[name.split('(')[0]!]!;
}

/** A user tracking a Person, with `n` unread actions of that person (verbs alternate a/b). */
async function inbox(n: number) {
  const user = uniqueId('u');
  const person = { type: 'Person', id: uniqueId('p') };
  const tracker = await h.track({ owner: user, object: person });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push((await h.logAction({ actor: person, verb: i % 2 === 0 ? 'a' : 'b', groupingDelay: -1 })).id);
  }
  return { user, person, tracker, ids };
}

describe('seen', () => {
  it('markSeen and markAllSeen clear the badge while items stay unread; read implies seen; others\u2019 ids are skipped', async () => {
    const { user, ids } = await inbox(4);
    expect(await counts(user)).toEqual({ unread: 4, unseen: 4 });
    expect((await entries(user)).every((e) => e.unread && !e.seen)).toBe(true);

    expect(await mutate('markSeen(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [ids[0], ids[0]], u: user })).toBe(1);
    expect(await counts(user)).toEqual({ unread: 4, unseen: 3 });
    // Again: nothing changes.
    expect(await mutate('markSeen(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [ids[0]], u: user })).toBe(0);

    // Read implies seen: reading an unseen one lowers both counts.
    expect(await mutate('markRead(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [ids[1]], u: user })).toBe(1);
    expect(await counts(user)).toEqual({ unread: 3, unseen: 2 });
    const read = (await entries(user)).find((e) => e.id === ids[1])!;
    expect(read).toMatchObject({ unread: false, seen: true });

    // Marking unread does not bring the badge back.
    expect(await mutate('markUnread(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [ids[1]], u: user })).toBe(1);
    expect(await counts(user)).toEqual({ unread: 4, unseen: 2 });

    // Someone else's action is skipped like an unknown one.
    const other = await inbox(1);
    expect(await mutate('markSeen(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [other.ids[0]], u: user })).toBe(0);
    expect(await counts(other.user)).toEqual({ unread: 1, unseen: 1 });

    // Opening the panel: everything seen, still unread.
    expect(await mutate('markAllSeen(user: $u)', '$u: ID', { u: user })).toBe(2);
    expect(await counts(user)).toEqual({ unread: 4, unseen: 0 });
    expect(await countsFromEntries(user)).toEqual({ unread: 4, unseen: 0 });
  });

  it('a user marks their own feed; a bad tracker id is BAD_USER_INPUT naming the field', async () => {
    const { user } = await inbox(2);
    const token = await t.userToken(user);
    expect(await mutate('markAllSeen', '', {}, token)).toBe(2);
    const res = await t.gql(`mutation { markAllSeen(tracker: "nope") }`, {}, { token });
    expect(res.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.message).toContain('tracker');
  });
});

describe('archive', () => {
  it('archived actions leave the feed and the counts; feed(archived: true) lists them; unarchive restores them exactly', async () => {
    const { user, ids, person } = await inbox(5);
    await mutate('markSeen(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [ids[0]], u: user });
    await mutate('markRead(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [ids[1]], u: user });
    expect(await counts(user)).toEqual({ unread: 4, unseen: 3 });

    expect(await mutate('archive(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [ids[0], ids[1], ids[2]], u: user })).toBe(3);
    expect(await counts(user)).toEqual({ unread: 2, unseen: 2 });
    expect((await entries(user)).map((e) => e.id).sort()).toEqual([ids[3], ids[4]].sort());
    expect((await entries(user, true)).map((e) => e.id).sort()).toEqual([ids[0], ids[1], ids[2]].sort());
    expect(await countsFromEntries(user)).toEqual(await counts(user));

    // markAllRead/markAllSeen leave archived entries alone.
    expect(await mutate('markAllSeen(user: $u)', '$u: ID', { u: user })).toBe(2);
    expect(await mutate('unarchive(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [ids[0], ids[2], ids[3]], u: user })).toBe(2);
    // ids[0]: unread seen; ids[2]: unread unseen.
    expect(await counts(user)).toEqual({ unread: 4, unseen: 1 });
    expect(await countsFromEntries(user)).toEqual(await counts(user));

    // archiveAll(readOnly) takes only read ones; archiveAll takes the rest.
    await mutate('markRead(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [ids[3]], u: user });
    expect(await mutate('archiveAll(readOnly: true, user: $u)', '$u: ID', { u: user })).toBe(1);
    expect(await counts(user)).toEqual({ unread: 3, unseen: 1 });
    expect(await mutate('archiveAll(user: $u)', '$u: ID', { u: user })).toBe(3);
    expect(await counts(user)).toEqual({ unread: 0, unseen: 0 });
    expect(await entries(user)).toEqual([]);
    expect((await entries(user, true)).length).toBe(5);

    // New activity grouped into an archived action brings it back, unread and unseen.
    const grouped = await h.logAction({ actor: person, verb: 'a', groupingDelay: 3600 });
    expect(ids).toContain(grouped.id);
    expect(await counts(user)).toEqual({ unread: 1, unseen: 1 });
    expect((await entries(user)).map((e) => e.id)).toEqual([grouped.id]);
  });
});

describe('bulk changes by filter', () => {
  it('markAllRead, markAllSeen and archiveAll take verbs, objectType, tracker and before, with exact counts', async () => {
    const user = uniqueId('u');
    const person = { type: 'Person', id: uniqueId('p') };
    const doc = { type: 'Doc', id: uniqueId('d') };
    const personTracker = await h.track({ owner: user, object: person });
    const docTracker = await h.track({ owner: user, object: doc, actorOnly: false });
    const hourAgo = new Date(Date.now() - 3600_000);
    const old = await h.logAction({ actor: person, verb: 'a', timestamp: hourAgo.toISOString(), groupingDelay: -1 });
    await h.logAction({ actor: person, verb: 'b', groupingDelay: -1 });
    await h.logAction({ actor: person, verb: 'a', targets: [doc], groupingDelay: -1 });
    await h.logAction({ actor: { type: 'Bot', id: uniqueId('b') }, verb: 'b', targets: [doc], groupingDelay: -1 });
    expect(await counts(user)).toEqual({ unread: 4, unseen: 4 });

    expect(await mutate('markAllSeen(user: $u, before: $b)', '$u: ID, $b: DateTime', { u: user, b: new Date(hourAgo.getTime() + 60_000).toISOString() })).toBe(1);
    expect((await entries(user)).find((e) => e.id === old.id)).toMatchObject({ unread: true, seen: true });
    expect(await counts(user)).toEqual({ unread: 4, unseen: 3 });

    expect(await mutate('markAllSeen(user: $u, verbs: ["b"])', '$u: ID', { u: user })).toBe(2);
    expect(await counts(user)).toEqual({ unread: 4, unseen: 1 });

    // objectType matches the actor or a target: Doc is a target of two actions.
    expect(await mutate('markAllRead(user: $u, objectType: "Doc")', '$u: ID', { u: user })).toBe(2);
    expect(await counts(user)).toEqual({ unread: 2, unseen: 0 });

    // tracker: the entries the person tracker matches (actor = person): three, two of them still unread.
    expect(await mutate('markAllRead(user: $u, tracker: $tr, verbs: ["a"])', '$u: ID, $tr: ID', { u: user, tr: personTracker.id })).toBe(1);
    expect(await counts(user)).toEqual({ unread: 1, unseen: 0 });
    expect(await mutate('archiveAll(user: $u, tracker: $tr)', '$u: ID, $tr: ID', { u: user, tr: docTracker.id })).toBe(2);
    expect(await counts(user)).toEqual({ unread: 1, unseen: 0 });
    expect(await countsFromEntries(user)).toEqual({ unread: 1, unseen: 0 });
    expect((await entries(user)).length).toBe(2);
  });
});

// ------------------------------------------------------------------------------------------ live

interface Received {
  kind: string;
  unreadCount: number;
  unseenCount: number;
  cursor: string;
  action: null | { id: string; unread: boolean; seen: boolean };
}

function listen(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const events: Received[] = [];
  const errors: unknown[] = [];
  const dispose = client.subscribe<{ feed: Received }>(
    { query, variables },
    {
      next: (value) => {
        if (value.errors) errors.push(value.errors);
        if (value.data?.feed) events.push(value.data.feed);
      },
      error: (error) => errors.push(error),
      complete: () => {},
    },
  );
  return {
    events,
    dispose,
    async waitFor(n: number, timeoutMs = 10_000): Promise<Received[]> {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (errors.length) throw new Error(`subscription error: ${JSON.stringify(errors)}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} events, got ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return events;
    },
  };
}

const SUBSCRIPTION = `subscription($after: String) { feed(after: $after) { kind unreadCount unseenCount cursor action { id unread seen } } }`;

describe('live inbox events', () => {
  it('SEEN, ARCHIVED and UNARCHIVED arrive over a websocket with both counts, and feed(after:) replays them', async () => {
    const { user, ids } = await inbox(3);
    const token = await t.userToken(user);
    const page = await t.ok<{ feed: { syncCursor: string } }>(`query { feed(first: 1) { syncCursor } }`, {}, { token });
    const tab = listen(t.wsClient(token), SUBSCRIPTION, { after: page.feed.syncCursor });
    // Nothing after the cursor yet: the subscription's catch-up finds nothing, and the first change then must
    // not be taken for a gap after position 0 (which replayed the ADDED events before the cursor).
    await new Promise((r) => setTimeout(r, 1500));
    await mutate('markSeen(actionIds: $ids)', '$ids: [ID!]!', { ids: [ids[0]] }, token);
    await mutate('markAllSeen', '', {}, token);
    await mutate('archive(actionIds: $ids)', '$ids: [ID!]!', { ids: [ids[1]] }, token);
    await mutate('unarchive(actionIds: $ids)', '$ids: [ID!]!', { ids: [ids[1]] }, token);
    await mutate('archiveAll', '', {}, token);
    await mutate('markRead(actionIds: $ids)', '$ids: [ID!]!', { ids: [ids[2]] }, token); // archived: still marked
    const events = await tab.waitFor(6);
    tab.dispose();
    const summary = events.map((e) => [e.kind, e.action?.id ?? null, e.unreadCount, e.unseenCount]);
    expect(summary).toEqual([
      ['SEEN', ids[0], 3, 2],
      ['SEEN', null, 3, 0],
      ['ARCHIVED', ids[1], 2, 0],
      ['UNARCHIVED', ids[1], 3, 0],
      ['ARCHIVED', null, 0, 0],
      ['READ', ids[2], 0, 0],
    ]);
    expect(events[0]!.action).toMatchObject({ unread: true, seen: true });

    // Replay after the page's cursor: the same kinds, in order, with the current state and counts.
    const replay = listen(t.wsClient(token), SUBSCRIPTION, { after: page.feed.syncCursor });
    const replayed = await replay.waitFor(6);
    replay.dispose();
    expect(replayed.map((e) => [e.kind, e.action?.id ?? null, e.unreadCount, e.unseenCount])).toEqual(
      summary.map(([kind, id]) => [kind, id, 0, 0]),
    );
    expect(replayed.map((e) => e.cursor)).toEqual(events.map((e) => e.cursor));
  });
});

// ------------------------------------------------------------------------------------------ races

describe('concurrency', () => {
  it('markAllSeen, markSeen, archive and markAllRead racing logAction keep both counts exact', { timeout: 120_000 }, async () => {
    // Eight rounds: before the fan-out took the counter rows first, its cell locks deadlocked against these
    // transitions (counter row first) in about one round in four.
    for (let round = 0; round < 8; round++) {
      const { user, person, ids } = await inbox(6);
      const writers = Array.from({ length: 8 }, (_, i) => h.logAction({ actor: person, verb: `w${i % 2}`, groupingDelay: -1 }));
      const markers = [
        mutate('markAllSeen(user: $u)', '$u: ID', { u: user }),
        mutate('markSeen(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: ids.slice(0, 3), u: user }),
        mutate('archive(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: ids.slice(2, 5), u: user }),
        mutate('markAllRead(user: $u, verbs: ["w1", "a"])', '$u: ID', { u: user }),
        mutate('archiveAll(user: $u, readOnly: true)', '$u: ID', { u: user }),
        mutate('markAllSeen(user: $u, verbs: ["w0"])', '$u: ID', { u: user }),
      ];
      await Promise.all([...writers, ...markers]);
      expect(await counts(user)).toEqual(await countsFromEntries(user));
      const listed = (await entries(user)).length + (await entries(user, true)).length;
      expect(listed).toBe(14);
    }
  });
});

// ------------------------------------------------------------------------------------------ counts per tab

describe('feedCounts and filtered counts', () => {
  it('rows per verb, object type, tracker and level equal the counts computed from the listed feed', async () => {
    const user = uniqueId('u');
    const person = { type: 'Person', id: uniqueId('p') };
    const doc = { type: 'Doc', id: uniqueId('d') };
    const personTracker = await h.track({ owner: user, object: person });
    const docTracker = await h.track({ owner: user, object: doc, actorOnly: false });
    const logged = [
      await h.logAction({ actor: person, verb: 'a', groupingDelay: -1 }),
      await h.logAction({ actor: person, verb: 'b', level: 'ERROR', targets: [doc], groupingDelay: -1 }),
      await h.logAction({ actor: { type: 'Bot', id: uniqueId('b') }, verb: 'b', targets: [doc], groupingDelay: -1 }),
      await h.logAction({ actor: person, verb: 'a', level: 'WARNING', groupingDelay: -1 }),
      await h.logAction({ actor: person, verb: 'c', level: 'DEBUG', groupingDelay: -1 }), // below the readable level: not listed
    ];
    await mutate('markSeen(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [logged[0].id], u: user });
    await mutate('markRead(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [logged[1].id], u: user });
    await mutate('archive(actionIds: $ids, user: $u)', '$ids: [ID!]!, $u: ID', { ids: [logged[3].id], u: user });

    const data = await t.ok<{ feedCounts: Array<{ by: string; key: string; unread: number; unseen: number; total: number }> }>(
      `query($u: ID) { feedCounts(user: $u, by: [VERB, OBJECT_TYPE, TRACKER, LEVEL]) { by key unread unseen total } }`,
      { u: user },
      h.service,
    );
    // The reference: the listed feed (archived and DEBUG excluded), counted per key here.
    const listed = await t.ok<{ feed: { edges: Array<{ node: any }> } }>(
      `query($u: ID) { feed(user: $u, first: 100) { edges { node { id verb level unread seen actor { type } targets { type } matchedTrackers { id } } } } }`,
      { u: user },
      h.service,
    );
    const expected: Array<{ by: string; key: string; unread: number; unseen: number; total: number }> = [];
    const add = (by: string, key: string, n: any) => {
      let row = expected.find((r) => r.by === by && r.key === key);
      if (!row) expected.push((row = { by, key, unread: 0, unseen: 0, total: 0 }));
      row.total++;
      if (n.unread) row.unread++;
      if (!n.seen) row.unseen++;
    };
    for (const { node } of listed.feed.edges) {
      add('VERB', node.verb, node);
      for (const type of new Set([node.actor.type, ...node.targets.map((x: { type: string }) => x.type)])) add('OBJECT_TYPE', type, node);
      for (const tr of node.matchedTrackers) add('TRACKER', tr.id, node);
      add('LEVEL', node.level, node);
    }
    const order = ['VERB', 'OBJECT_TYPE', 'TRACKER', 'LEVEL'];
    const sort = (rows: typeof expected) =>
      [...rows].sort((x, y) => order.indexOf(x.by) - order.indexOf(y.by) || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    expect(listed.feed.edges.length).toBe(3);
    expect(sort(data.feedCounts)).toEqual(sort(expected));
    expect(data.feedCounts.find((r) => r.by === 'TRACKER' && r.key === docTracker.id)).toEqual({ by: 'TRACKER', key: docTracker.id, unread: 1, unseen: 1, total: 2 });

    // Filters on unreadCount / unseenCount.
    const filtered = async (args: string, variables: Record<string, unknown> = {}) =>
      t.ok<{ unreadCount: number; unseenCount: number }>(
        `query($u: ID${args.includes('$tr') ? ', $tr: ID' : ''}) { unreadCount(user: $u, ${args}) unseenCount(user: $u, ${args}) }`,
        { u: user, ...variables },
        h.service,
      );
    expect(await filtered('verbs: ["a"]')).toEqual({ unreadCount: 1, unseenCount: 0 });
    expect(await filtered('objectType: "Doc"')).toEqual({ unreadCount: 1, unseenCount: 1 });
    expect(await filtered('tracker: $tr', { tr: personTracker.id })).toEqual({ unreadCount: 1, unseenCount: 0 });
    expect(await filtered('minLevel: ERROR')).toEqual({ unreadCount: 0, unseenCount: 0 });
    expect(await counts(user)).toEqual({ unread: 2, unseen: 1 });
  });
});
