import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uniqueId, type TestApp } from '../support/app.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

/**
 * Property test of `feedCounts(by:)` and the filtered `unreadCount`/`unseenCount` (issue 13 item 3): for random
 * feeds (actions of several verbs, levels and actor types with targets and related objects of several types,
 * matched by several trackers of the user at once; some entries read, seen, archived, a markAllSeen), any subset
 * of the keys in any order (repeats allowed) under any combination of the filters (verbs, objectType, minLevel,
 * tracker) answers what counting the listed feed's entries gives: one row per key value, with the numbers of
 * entries (archived excluded) unread, unseen and in total; rows in the order of `by`, each key's rows by value.
 */

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

const KEYS = ['VERB', 'OBJECT_TYPE', 'TRACKER', 'LEVEL', 'ACTOR_TYPE'] as const;
type Key = (typeof KEYS)[number];
const VERBS = ['a', 'b', 'c'] as const;
const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const;
/** Objects 0..5 with their types: two Person, a Bot, two Doc, a Task. */
const OBJECT_TYPES = ['Person', 'Person', 'Bot', 'Doc', 'Doc', 'Task'] as const;
const OBJECTS = OBJECT_TYPES.length;

interface Row {
  by: string;
  key: string;
  unread: number;
  unseen: number;
  total: number;
}
interface Listed {
  id: string;
  verb: string;
  level: string;
  unread: boolean;
  seen: boolean;
  actor: { type: string };
  targets: Array<{ type: string }>;
  related: Array<{ type: string }>;
  matchedTrackers: Array<{ id: string }>;
}

const objectIndex = fc.integer({ min: 0, max: OBJECTS - 1 });
const feedArb = fc.record({
  trackers: fc.array(
    fc.record({ object: objectIndex, verbs: fc.option(fc.subarray([...VERBS], { minLength: 1 }), { nil: null }), actorOnly: fc.boolean() }),
    { minLength: 1, maxLength: 4 },
  ),
  actions: fc.array(
    fc.record({
      actor: objectIndex,
      verb: fc.constantFrom(...VERBS),
      level: fc.constantFrom(...LEVELS),
      targets: fc.uniqueArray(objectIndex, { maxLength: 2 }),
      related: fc.uniqueArray(objectIndex, { maxLength: 1 }),
    }),
    { minLength: 1, maxLength: 10 },
  ),
  read: fc.array(fc.nat(20), { maxLength: 3 }),
  seen: fc.array(fc.nat(20), { maxLength: 3 }),
  archived: fc.array(fc.nat(20), { maxLength: 2 }),
  allSeen: fc.boolean(),
  queries: fc.array(
    fc.record({
      by: fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 6 }),
      verbs: fc.option(fc.subarray([...VERBS], { minLength: 1 }), { nil: null }),
      objectType: fc.option(fc.constantFrom('Person', 'Doc', 'Task', 'Bot', 'Nothing'), { nil: null }),
      minLevel: fc.option(fc.constantFrom(...LEVELS), { nil: null }),
      tracker: fc.option(fc.nat(3), { nil: null }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
});

describe('feedCounts property', () => {
  it('feedCounts (any keys, any filters) and filtered unreadCount/unseenCount equal the counts of the listed feed', { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(feedArb, async (feed) => {
        const run = uniqueId('r');
        const user = uniqueId('u');
        const obj = (i: number) => ({ type: OBJECT_TYPES[i]!, id: `${run}-${i}` });
        const trackerIds: string[] = [];
        for (const tr of feed.trackers) {
          const made = await h.track({ owner: user, object: obj(tr.object), verbs: tr.verbs, actorOnly: tr.actorOnly });
          if (!trackerIds.includes(made.id)) trackerIds.push(made.id);
        }
        const ids: string[] = [];
        for (const a of feed.actions) {
          const logged = await h.logAction({
            actor: obj(a.actor),
            verb: a.verb,
            level: a.level,
            targets: a.targets.map(obj),
            related: a.related.map(obj),
            groupingDelay: -1,
          });
          ids.push(logged.id);
        }
        const pick = (picks: number[]) => [...new Set(picks.map((p) => ids[p % ids.length]!))];
        const mutate = (field: string, picks: number[]) =>
          t.ok(`mutation($ids: [ID!]!, $u: ID) { ${field}(actionIds: $ids, user: $u) }`, { ids: pick(picks), u: user }, h.service);
        if (feed.allSeen) await t.ok(`mutation($u: ID) { markAllSeen(user: $u) }`, { u: user }, h.service);
        await mutate('markRead', feed.read);
        await mutate('markSeen', feed.seen);
        await mutate('archive', feed.archived);

        for (const q of feed.queries) {
          const tracker = q.tracker === null ? null : (trackerIds[q.tracker % trackerIds.length] ?? null);
          const args = { u: user, by: q.by, verbs: q.verbs, objectType: q.objectType, minLevel: q.minLevel, tracker };
          const got = await t.ok<{ feedCounts: Row[]; unreadCount: number; unseenCount: number }>(
            `query($u: ID, $by: [FeedCountKey!]!, $verbs: [String!], $objectType: String, $minLevel: Level, $tracker: ID) {
               feedCounts(user: $u, by: $by, verbs: $verbs, objectType: $objectType, minLevel: $minLevel, tracker: $tracker) { by key unread unseen total }
               unreadCount(user: $u, verbs: $verbs, objectType: $objectType, minLevel: $minLevel, tracker: $tracker)
               unseenCount(user: $u, verbs: $verbs, objectType: $objectType, minLevel: $minLevel, tracker: $tracker)
             }`,
            args,
            h.service,
          );
          // The reference: the listed feed under the same verbs and level (archived excluded), the object type and
          // tracker filters applied here, counted per key.
          const listed = await t.ok<{ feed: { edges: Array<{ node: Listed }> } }>(
            `query($u: ID, $verbs: [String!], $minLevel: Level) {
               feed(user: $u, first: 100, verbs: $verbs, minLevel: $minLevel) {
                 edges { node { id verb level unread seen actor { type } targets { type } related { type } matchedTrackers { id } } }
               }
             }`,
            { u: user, verbs: q.verbs, minLevel: q.minLevel },
            h.service,
          );
          const typesOf = (n: Listed) => new Set([n.actor.type, ...n.targets.map((x) => x.type), ...n.related.map((x) => x.type)]);
          const entries = listed.feed.edges
            .map((e) => e.node)
            .filter((n) => (q.objectType === null || typesOf(n).has(q.objectType)) && (tracker === null || n.matchedTrackers.some((m) => m.id === tracker)));
          const keys = [...new Set(q.by)];
          const expected = new Map<Key, Map<string, Row>>(keys.map((k) => [k, new Map()]));
          const add = (by: Key, key: string, n: Listed) => {
            const rows = expected.get(by);
            if (!rows) return;
            let row = rows.get(key);
            if (!row) rows.set(key, (row = { by, key, unread: 0, unseen: 0, total: 0 }));
            row.total++;
            if (n.unread) row.unread++;
            if (!n.seen) row.unseen++;
          };
          for (const n of entries) {
            add('VERB', n.verb, n);
            for (const type of typesOf(n)) add('OBJECT_TYPE', type, n);
            for (const m of n.matchedTrackers) add('TRACKER', m.id, n);
            add('LEVEL', n.level, n);
            add('ACTOR_TYPE', n.actor.type, n);
          }
          // Rows in the order of `by`; one key's rows sorted by the stored value (a tracker's database id as text).
          const stored = (r: Row) => (r.by === 'TRACKER' ? Buffer.from(r.key, 'base64').toString().split(':')[1]! : r.key);
          const want = keys.flatMap((k) => [...expected.get(k)!.values()].sort((x, y) => (stored(x) < stored(y) ? -1 : stored(x) > stored(y) ? 1 : 0)));
          const where = JSON.stringify({ feed, query: q });
          expect(got.feedCounts, where).toEqual(want);
          expect(got.unreadCount, where).toBe(entries.filter((n) => n.unread).length);
          expect(got.unseenCount, where).toBe(entries.filter((n) => !n.seen).length);
        }
      }),
      { numRuns: Number(process.env['FEED_COUNTS_RUNS'] ?? 25) },
    );
  });
});
