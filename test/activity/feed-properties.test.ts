import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { activityHelpers } from './helpers.ts';

/**
 * Property test of feed membership (issue 11 "go further"): random sequences of logAction / track / untrack /
 * markRead / markAllRead / forgetObject, the inbox's markSeen / markAllSeen / archive / unarchive / archiveAll, and
 * mute / unmute / eraseUser (issue 13) against a small in-memory model of the semantics (the README of
 * src/activity): after every step, unreadCount, unseenCount, feed (with each entry's unread and seen),
 * feed(unreadOnly) and feed(archived) of every user equal the model's.
 */

let t: TestApp;
let h: ReturnType<typeof activityHelpers>;

beforeAll(async () => {
  t = await startTestApp();
  h = activityHelpers(t);
});
afterAll(async () => {
  await t?.stop();
});

const USERS = 2;
const OBJECTS = 3;
const VERBS = ['a', 'b'] as const;

type Cmd =
  | { op: 'log'; actor: number; verb: number; target: number | null }
  | { op: 'track'; user: number; object: number | null; verbs: number[] | null; actorOnly: boolean | null }
  | { op: 'untrack'; user: number; object: number | null; verbs: number[] | null }
  | { op: 'markRead'; user: number; picks: number[] }
  | { op: 'markUnread'; user: number; picks: number[] }
  | { op: 'markAllRead'; user: number }
  | { op: 'markSeen'; user: number; picks: number[] }
  | { op: 'markAllSeen'; user: number }
  | { op: 'archive'; user: number; picks: number[] }
  | { op: 'unarchive'; user: number; picks: number[] }
  | { op: 'archiveAll'; user: number; readOnly: boolean }
  | { op: 'forget'; object: number }
  | { op: 'mute'; user: number; object: number | null; verbs: number[] | null; actorOnly: boolean | null }
  | { op: 'unmute'; user: number; object: number | null; verbs: number[] | null; restore: boolean }
  | { op: 'erase'; user: number };

const verbsArb = fc.option(fc.subarray([0, 1], { minLength: 1 }), { nil: null });
const objectArb = fc.option(fc.integer({ min: 0, max: OBJECTS - 1 }), { nil: null, freq: 4 });
const userArb = fc.integer({ min: 0, max: USERS - 1 });
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('log' as const), actor: fc.integer({ min: 0, max: OBJECTS - 1 }), verb: fc.integer({ min: 0, max: 1 }), target: fc.option(fc.integer({ min: 0, max: OBJECTS - 1 }), { nil: null }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('track' as const), user: userArb, object: objectArb, verbs: verbsArb, actorOnly: fc.option(fc.boolean(), { nil: null }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('untrack' as const), user: userArb, object: objectArb, verbs: verbsArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('markRead' as const), user: userArb, picks: fc.array(fc.nat(20), { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('markUnread' as const), user: userArb, picks: fc.array(fc.nat(20), { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('markAllRead' as const), user: userArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('markSeen' as const), user: userArb, picks: fc.array(fc.nat(20), { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('markAllSeen' as const), user: userArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('archive' as const), user: userArb, picks: fc.array(fc.nat(20), { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unarchive' as const), user: userArb, picks: fc.array(fc.nat(20), { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('archiveAll' as const), user: userArb, readOnly: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('forget' as const), object: fc.integer({ min: 0, max: OBJECTS - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mute' as const), user: userArb, object: objectArb, verbs: verbsArb, actorOnly: fc.option(fc.boolean(), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unmute' as const), user: userArb, object: objectArb, verbs: verbsArb, restore: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('erase' as const), user: userArb }) },
);

interface MTracker {
  id: number;
  object: number | null;
  verbs: string[] | null;
  actorOnly: boolean;
}
interface MAction {
  id: string;
  actor: number;
  verb: string;
  target: number | null;
}
interface MEntry {
  unread: boolean;
  /** Read implies seen. */
  unseen: boolean;
  archived: boolean;
  listed: Set<number>;
}

/** The semantics, written plainly: fan-out on log, backfill/removal on tracker changes, marks, forgetting. */
class Model {
  trackers: Array<Map<string, MTracker>> = Array.from({ length: USERS }, () => new Map());
  mutes: Array<Map<string, MTracker>> = Array.from({ length: USERS }, () => new Map());
  feeds: Array<Map<string, MEntry>> = Array.from({ length: USERS }, () => new Map());
  actions: MAction[] = [];
  forgotten = new Set<number>();
  #nextTracker = 1;

  static matches(tr: MTracker, a: MAction): boolean {
    if (tr.verbs !== null && !tr.verbs.includes(a.verb)) return false;
    if (tr.object === null || tr.object === a.actor) return true;
    return !tr.actorOnly && a.target !== null && (tr.object === a.target);
  }
  match(tr: MTracker, a: MAction): boolean {
    if (tr.object === null) {
      if (tr.verbs !== null && !tr.verbs.includes(a.verb)) return false;
      return true; // every actor is an object of the type
    }
    return Model.matches(tr, a);
  }

  matching(user: number, a: MAction): number[] {
    return [...this.trackers[user]!.values()].filter((tr) => this.match(tr, a)).map((tr) => tr.id);
  }
  /** Every action here is INFO, below the unmutable level: any matching mute keeps it out. */
  muted(user: number, a: MAction): boolean {
    return [...this.mutes[user]!.values()].some((m) => this.match(m, a));
  }
  log(a: MAction) {
    this.actions.push(a);
    for (let u = 0; u < USERS; u++) {
      if (this.muted(u, a)) continue;
      const ids = this.matching(u, a);
      if (ids.length > 0) this.feeds[u]!.set(a.id, { unread: true, unseen: true, archived: false, listed: new Set(ids) });
    }
  }
  backfill(user: number, tr: MTracker) {
    for (const a of this.actions) {
      if (!this.match(tr, a) || this.muted(user, a)) continue;
      const entry = this.feeds[user]!.get(a.id);
      if (entry) entry.listed.add(tr.id);
      else this.feeds[user]!.set(a.id, { unread: false, unseen: false, archived: false, listed: new Set([tr.id]) });
    }
  }
  recompute(user: number, trackerId: number) {
    const byId = new Map(this.actions.map((a) => [a.id, a]));
    for (const [id, entry] of [...this.feeds[user]!]) {
      if (!entry.listed.has(trackerId)) continue;
      entry.listed = new Set(this.matching(user, byId.get(id)!));
      if (entry.listed.size === 0) this.feeds[user]!.delete(id);
    }
  }
  key(object: number | null) {
    return object === null ? '*' : String(object);
  }
  /** Returns the expected error code, or null. */
  track(user: number, object: number | null, verbs: string[] | null, actorOnly: boolean | null): string | null {
    if (object !== null && this.forgotten.has(object)) return 'BAD_USER_INPUT';
    const prev = this.trackers[user]!.get(this.key(object));
    if (!prev) {
      const tr = { id: this.#nextTracker++, object, verbs, actorOnly: actorOnly ?? true };
      this.trackers[user]!.set(this.key(object), tr);
      this.backfill(user, tr);
      return null;
    }
    const before = { ...prev };
    prev.verbs = verbs;
    if (actorOnly !== null) prev.actorOnly = actorOnly;
    const widened = (before.verbs !== null && (prev.verbs === null || prev.verbs.some((v) => !before.verbs!.includes(v)))) || (before.actorOnly && !prev.actorOnly);
    const narrowed = (prev.verbs !== null && (before.verbs === null || before.verbs.some((v) => !prev.verbs!.includes(v)))) || (!before.actorOnly && prev.actorOnly);
    if (narrowed) this.recompute(user, prev.id);
    if (widened) this.backfill(user, prev);
    return null;
  }
  untrack(user: number, object: number | null, verbs: string[] | null): string | null {
    const tr = this.trackers[user]!.get(this.key(object));
    if (!tr) return 'NOT_FOUND';
    if (verbs !== null && tr.verbs === null) return 'BAD_USER_INPUT';
    const remaining = verbs === null ? [] : tr.verbs!.filter((v) => !verbs.includes(v));
    if (remaining.length === 0) this.trackers[user]!.delete(this.key(object));
    else tr.verbs = remaining;
    this.recompute(user, tr.id);
    return null;
  }
  forget(object: number) {
    this.forgotten.add(object);
    for (const trackers of [...this.trackers, ...this.mutes]) trackers.delete(this.key(object));
  }
  /** A mute created or modified: the entries it matches leave the feed (a narrowed one matches nothing new). */
  mute(user: number, object: number | null, verbs: string[] | null, actorOnly: boolean | null): string | null {
    if (object !== null && this.forgotten.has(object)) return 'BAD_USER_INPUT';
    let m = this.mutes[user]!.get(this.key(object));
    if (!m) {
      m = { id: this.#nextTracker++, object, verbs, actorOnly: actorOnly ?? false };
      this.mutes[user]!.set(this.key(object), m);
    } else {
      m.verbs = verbs;
      if (actorOnly !== null) m.actorOnly = actorOnly;
    }
    const byId = new Map(this.actions.map((a) => [a.id, a]));
    for (const id of [...this.feeds[user]!.keys()]) if (this.match(m, byId.get(id)!)) this.feeds[user]!.delete(id);
    return null;
  }
  /** Removing (verbs from) a mute brings nothing back, unless `restore`: every tracker's backfill again. */
  unmute(user: number, object: number | null, verbs: string[] | null, restore: boolean): string | null {
    const m = this.mutes[user]!.get(this.key(object));
    if (!m) return 'NOT_FOUND';
    if (verbs !== null && m.verbs === null) return 'BAD_USER_INPUT';
    const remaining = verbs === null ? [] : m.verbs!.filter((v) => !verbs.includes(v));
    if (remaining.length === 0) this.mutes[user]!.delete(this.key(object));
    else m.verbs = remaining;
    if (restore) for (const tr of this.trackers[user]!.values()) this.backfill(user, tr);
    return null;
  }
  /** The users are not actors here: erasure empties the user's trackers, mutes and feed, nobody else's. */
  erase(user: number) {
    this.trackers[user]!.clear();
    this.mutes[user]!.clear();
    this.feeds[user]!.clear();
  }
  feed(user: number, unreadOnly: boolean, archived = false): string[] {
    const order = new Map(this.actions.map((a, i) => [a.id, i]));
    return [...this.feeds[user]!.entries()]
      .filter(([, e]) => e.archived === archived && (!unreadOnly || e.unread))
      .map(([id]) => id)
      .sort((x, y) => order.get(y)! - order.get(x)!);
  }
  /** The default feed with each entry's flags, as the API shows them. */
  entries(user: number): Array<{ id: string; unread: boolean; seen: boolean }> {
    return this.feed(user, false).map((id) => {
      const e = this.feeds[user]!.get(id)!;
      return { id, unread: e.unread, seen: !e.unseen };
    });
  }
  unread(user: number): number {
    return [...this.feeds[user]!.values()].filter((e) => e.unread && !e.archived).length;
  }
  unseen(user: number): number {
    return [...this.feeds[user]!.values()].filter((e) => e.unseen && !e.archived).length;
  }
}

const TRACK = `mutation($i: TrackInput!) { track(input: $i) { id } }`;
const UNTRACK = `mutation($i: UntrackInput!) { untrack(input: $i) { id } }`;
const MARK_READ = `mutation($ids: [ID!]!, $u: ID) { markRead(actionIds: $ids, user: $u) }`;
const MARK_UNREAD = `mutation($ids: [ID!]!, $u: ID) { markUnread(actionIds: $ids, user: $u) }`;
const MARK_ALL = `mutation($u: ID) { markAllRead(user: $u) }`;
const FORGET = `mutation($o: ObjectRefInput!) { forgetObject(object: $o) { id } }`;
const MARK_SEEN = `mutation($ids: [ID!]!, $u: ID) { markSeen(actionIds: $ids, user: $u) }`;
const MARK_ALL_SEEN = `mutation($u: ID) { markAllSeen(user: $u) }`;
const ARCHIVE = `mutation($ids: [ID!]!, $u: ID) { archive(actionIds: $ids, user: $u) }`;
const UNARCHIVE = `mutation($ids: [ID!]!, $u: ID) { unarchive(actionIds: $ids, user: $u) }`;
const ARCHIVE_ALL = `mutation($u: ID, $r: Boolean) { archiveAll(user: $u, readOnly: $r) }`;
const ERASE = `mutation($u: ID!) { eraseUser(user: $u, actions: DELETE) { user } }`;
const STATE = `query($u: ID) {
  all: feed(user: $u, first: 100) { edges { node { id unread seen } } }
  unread: feed(user: $u, first: 100, unreadOnly: true) { edges { node { id } } }
  archived: feed(user: $u, first: 100, archived: true) { edges { node { id } } }
  unreadCount(user: $u)
  unseenCount(user: $u) }`;

describe('feed membership property', () => {
  it('unreadCount, unseenCount, feed (with unread and seen), feed(unreadOnly) and feed(archived) equal the model after every step', { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 5, maxLength: 25 }), async (cmds) => {
        const run = uniqueId('p').replace(/[^A-Za-z0-9]/g, '');
        const type = `P${run}`;
        const users = Array.from({ length: USERS }, (_, i) => `${run}-u${i}`);
        const obj = (i: number) => ({ type, id: `o${i}` });
        const model = new Model();
        let clock = Date.parse('2026-01-01T00:00:00Z');
        for (const cmd of cmds) {
          let expected: string | null = null;
          let result: { errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> };
          switch (cmd.op) {
            case 'log': {
              const involved = [cmd.actor, ...(cmd.target === null ? [] : [cmd.target])];
              expected = involved.some((o) => model.forgotten.has(o)) ? 'BAD_USER_INPUT' : null;
              clock += 1000;
              result = await t.gql(
                `mutation($i: LogActionInput!) { logAction(input: $i) { id } }`,
                {
                  i: {
                    actor: obj(cmd.actor),
                    verb: VERBS[cmd.verb],
                    targets: cmd.target === null ? [] : [obj(cmd.target)],
                    timestamp: new Date(clock).toISOString(),
                    groupingDelay: -1,
                  },
                },
                h.service,
              );
              const id = (result as { data?: { logAction?: { id: string } } }).data?.logAction?.id;
              if (expected === null && id) model.log({ id, actor: cmd.actor, verb: VERBS[cmd.verb]!, target: cmd.target });
              break;
            }
            case 'track': {
              const verbs = cmd.verbs === null ? null : cmd.verbs.map((v) => VERBS[v]!);
              expected = model.track(cmd.user, cmd.object, verbs, cmd.actorOnly);
              const input: Record<string, unknown> = { owner: users[cmd.user], verbs };
              if (cmd.object === null) input['objectType'] = type;
              else input['object'] = obj(cmd.object);
              if (cmd.actorOnly !== null) input['actorOnly'] = cmd.actorOnly;
              result = await t.gql(TRACK, { i: input }, h.service);
              break;
            }
            case 'untrack': {
              const verbs = cmd.verbs === null ? null : cmd.verbs.map((v) => VERBS[v]!);
              expected = model.untrack(cmd.user, cmd.object, verbs);
              const input: Record<string, unknown> = { owner: users[cmd.user], verbs };
              if (cmd.object === null) input['objectType'] = type;
              else input['object'] = obj(cmd.object);
              result = await t.gql(UNTRACK, { i: input }, h.service);
              break;
            }
            case 'markRead':
            case 'markUnread': {
              const ids = cmd.picks.map((p) => model.actions[p % Math.max(1, model.actions.length)]?.id).filter((id): id is string => !!id);
              for (const id of ids) {
                const entry = model.feeds[cmd.user]!.get(id);
                if (!entry) continue;
                entry.unread = cmd.op === 'markUnread';
                if (cmd.op === 'markRead') entry.unseen = false; // read implies seen; unread again stays seen
              }
              result = await t.gql(cmd.op === 'markRead' ? MARK_READ : MARK_UNREAD, { ids, u: users[cmd.user] }, h.service);
              break;
            }
            case 'markAllRead': {
              for (const entry of model.feeds[cmd.user]!.values()) {
                if (!entry.archived) Object.assign(entry, { unread: false, unseen: false });
              }
              result = await t.gql(MARK_ALL, { u: users[cmd.user] }, h.service);
              break;
            }
            case 'markSeen':
            case 'archive':
            case 'unarchive': {
              const ids = cmd.picks.map((p) => model.actions[p % Math.max(1, model.actions.length)]?.id).filter((id): id is string => !!id);
              for (const id of ids) {
                const entry = model.feeds[cmd.user]!.get(id);
                if (!entry) continue;
                if (cmd.op === 'markSeen') entry.unseen = false;
                else entry.archived = cmd.op === 'archive';
              }
              const mutation = cmd.op === 'markSeen' ? MARK_SEEN : cmd.op === 'archive' ? ARCHIVE : UNARCHIVE;
              result = await t.gql(mutation, { ids, u: users[cmd.user] }, h.service);
              break;
            }
            case 'markAllSeen': {
              for (const entry of model.feeds[cmd.user]!.values()) if (!entry.archived) entry.unseen = false;
              result = await t.gql(MARK_ALL_SEEN, { u: users[cmd.user] }, h.service);
              break;
            }
            case 'archiveAll': {
              for (const entry of model.feeds[cmd.user]!.values()) if (!cmd.readOnly || !entry.unread) entry.archived = true;
              result = await t.gql(ARCHIVE_ALL, { u: users[cmd.user], r: cmd.readOnly }, h.service);
              break;
            }
            case 'forget': {
              model.forget(cmd.object);
              result = await t.gql(FORGET, { o: obj(cmd.object) }, h.service);
              break;
            }
            case 'mute':
            case 'unmute': {
              const verbs = cmd.verbs === null ? null : cmd.verbs.map((v) => VERBS[v]!);
              const input: Record<string, unknown> = { owner: users[cmd.user], verbs, mute: true };
              if (cmd.object === null) input['objectType'] = type;
              else input['object'] = obj(cmd.object);
              if (cmd.op === 'mute') {
                expected = model.mute(cmd.user, cmd.object, verbs, cmd.actorOnly);
                if (cmd.actorOnly !== null) input['actorOnly'] = cmd.actorOnly;
                result = await t.gql(TRACK, { i: input }, h.service);
              } else {
                expected = model.unmute(cmd.user, cmd.object, verbs, cmd.restore);
                result = await t.gql(UNTRACK, { i: { ...input, restore: cmd.restore } }, h.service);
              }
              break;
            }
            case 'erase': {
              model.erase(cmd.user);
              result = await t.gql(ERASE, { u: users[cmd.user] }, h.service);
              break;
            }
          }
          expect(result.errors?.[0]?.extensions?.['code'] ?? null, JSON.stringify(cmd)).toBe(expected);
          for (let u = 0; u < USERS; u++) {
            type Edges<N = { id: string }> = { edges: Array<{ node: N }> };
            const state = await t.ok<{
              all: Edges<{ id: string; unread: boolean; seen: boolean }>;
              unread: Edges;
              archived: Edges;
              unreadCount: number;
              unseenCount: number;
            }>(
              STATE,
              { u: users[u] },
              h.service,
            );
            const where = `user ${u} after ${JSON.stringify(cmd)}`;
            expect(state.all.edges.map((e) => e.node), where).toEqual(model.entries(u));
            expect(state.unread.edges.map((e) => e.node.id), where).toEqual(model.feed(u, true));
            expect(state.archived.edges.map((e) => e.node.id), where).toEqual(model.feed(u, false, true));
            expect(state.unreadCount, where).toBe(model.unread(u));
            expect(state.unseenCount, where).toBe(model.unseen(u));
          }
        }
      }),
      { numRuns: 10, seed: 20261130 },
    );
  });
});
