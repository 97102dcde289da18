import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsHelpers } from '../metrics/helpers.ts';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { FAST_WEBHOOKS, webhookHelpers } from '../webhooks/helpers.ts';
import { startReceiver, type Receiver } from '../webhooks/receiver.ts';
import { activityHelpers } from './helpers.ts';

/**
 * eraseUser / exportUser (issue 13 item 6): through GraphQL, checked with SQL that nothing of the erased user
 * remains in any table that has a column that can hold a user id (enumerated from the ORM's entities, so a new
 * table with such a column fails here until it is erased and checked), other users' counts exact, live REMOVED.
 */

let t: TestApp;
let h: ReturnType<typeof activityHelpers>;
let w: ReturnType<typeof webhookHelpers>;
let receiver: Receiver;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestApp(FAST_WEBHOOKS);
  h = activityHelpers(t);
  w = webhookHelpers(t);
  receiver = await startReceiver();
});
afterAll(async () => {
  for (const c of clients) await c.dispose();
  await w?.cleanup();
  await t?.stop();
  await receiver?.close();
});

const noGroup = { groupingDelay: -1 };
const ERASE = `mutation EraseUser($user: ID!, $actions: ErasedActions!) {
  eraseUser(user: $user, actions: $actions) { user actionsDeleted trackersDeleted feedEntriesDeleted } }`;
const EXPORT = `query ExportUser($user: ID!, $first: Int, $after: String) {
  exportUser(user: $user, first: $first, after: $after) { user unreadCount records endCursor hasNextPage } }`;
const NODE = `query($id: ID!) { node(id: $id) { id ... on Action { actor { id label deleted } related { id label deleted } } } }`;

type Mode = 'DELETE' | 'TOMBSTONE';

/**
 * For every column that can hold a user id (or a user's label, or a payload naming one): SQL counting what of
 * user `?` must not remain after erasure (every `?` is the user id).
 */
function leftovers(mode: Mode): Record<string, string> {
  const userObject = (table: string, extra = '') => `select count(*) from ${table} where object_type = 'User' and object_id = ? ${extra}`;
  const actorRows =
    mode === 'DELETE'
      ? `select count(*) from activity_action where actor_type = 'User' and actor_id = ?`
      : `select count(*) from activity_action where actor_type = 'User' and actor_id = ? and actor_label is not null`;
  const mentions = userObject('activity_action_object', 'and label is not null');
  const trackersOn = userObject('activity_tracker');
  const tombstone = `select count(*) from forgotten_object where object_type = 'User' and object_id = ? and (label is not null or description <> 'User ' || object_id)`;
  const metric = (table: string) => userObject(table);
  return {
    'activity_action.actor_type': actorRows,
    'activity_action.actor_id': actorRows,
    'activity_action.actor_label': actorRows,
    'activity_action_object.object_type': mentions,
    'activity_action_object.object_id': mentions,
    'activity_action_object.label': mentions,
    'activity_tracker.owner_id': `select count(*) from activity_tracker where owner_id = ?`,
    'activity_tracker.object_type': trackersOn,
    'activity_tracker.object_id': trackersOn,
    'activity_tracker.object_label': trackersOn,
    'activity_feed_entry.user_id': `select count(*) from activity_feed_entry where user_id = ?`,
    // The counter row stays at zero: it holds the position of the user's stream, which never goes back.
    'activity_unread_counter.user_id': `select count(*) from activity_unread_counter where user_id = ? and (count <> 0 or unseen <> 0)`,
    'activity_feed_cell.user_id': `select count(*) from activity_feed_cell where user_id = ?`,
    // A cell's actor_type is a type ('User'), never an id: what must go is the user's own cells.
    'activity_feed_cell.actor_type': `select count(*) from activity_feed_cell where user_id = ?`,
    // Its history goes; one RESET (naming no action) tells a subscriber holding an older cursor to refetch.
    'activity_feed_change.user_id': `select count(*) from activity_feed_change where user_id = ? and (kind <> 'RESET' or action_id is not null)`,
    'activity_action_key.scope': `select count(*) from activity_action_key where scope = 'user:' || ?`,
    'metric_increment_key.scope': `select count(*) from metric_increment_key where scope = 'user:' || ?`,
    'forgotten_object.object_type': tombstone,
    'forgotten_object.object_id': tombstone,
    'forgotten_object.label': tombstone,
    // The user's own label, kept for metrics results (objects/labels.ts).
    'object_label.object_type': userObject('object_label'),
    'object_label.object_id': userObject('object_label'),
    'object_label.label': userObject('object_label'),
    'webhook_reminder.user_id': `select count(*) from webhook_reminder where user_id = ?`,
    'webhook_delivery.payload': `select count(*) from webhook_delivery where strpos(payload::text, ?) > 0`,
    'metric_inbox.object_type': metric('metric_inbox'),
    'metric_inbox.object_id': metric('metric_inbox'),
    'metric_statistic.object_type': metric('metric_statistic'),
    'metric_statistic.object_id': metric('metric_statistic'),
    'metric_recorded_statistic.object_type': metric('metric_recorded_statistic'),
    'metric_recorded_statistic.object_id': metric('metric_recorded_statistic'),
    'metric_dead_letter.object_type': metric('metric_dead_letter'),
    'metric_dead_letter.object_id': metric('metric_dead_letter'),
  };
}

/** Column names that can hold a user id, a user's label or a payload naming one. */
const USER_COLUMN = /^(\w*user\w*|\w*owner\w*|actor_(?!only)\w+|object_type|object_id|\w*label|scope|payload|sub|subject|email)$/;

/** `table.column` for every column of every entity whose name can hold something of a user. */
function userColumns(): string[] {
  const all = t.app.orm.getMetadata().getAll() as unknown;
  const metas = (all instanceof Map ? [...all.values()] : Object.values(all as Record<string, unknown>)) as Array<{
    tableName?: string;
    props: Array<{ fieldNames?: string[] }>;
  }>;
  const columns = new Set<string>();
  for (const meta of metas) {
    if (!meta.tableName) continue;
    for (const prop of meta.props) for (const f of prop.fieldNames ?? []) if (USER_COLUMN.test(f)) columns.add(`${meta.tableName}.${f}`);
  }
  return [...columns].sort();
}

/** Every record of a user's export, page after page. */
async function exportAll(user: string): Promise<Array<Record<string, unknown>>> {
  const records: Array<Record<string, unknown>> = [];
  let after: string | null = null;
  for (;;) {
    const page: { records: Array<Record<string, unknown>>; endCursor: string | null; hasNextPage: boolean } = (
      await t.ok(EXPORT, { user, first: 1000, after }, h.service)
    ).exportUser;
    records.push(...page.records);
    if (!page.hasNextPage) return records;
    after = page.endCursor;
  }
}

async function remaining(user: string, mode: Mode): Promise<Record<string, number>> {
  const em = t.app.orm.em.fork();
  const out: Record<string, number> = {};
  for (const [column, sql] of Object.entries(leftovers(mode))) {
    const rows = await em.execute<Array<{ count: string | number }>>(sql, Array.from({ length: sql.split('?').length - 1 }, () => user));
    out[column] = Number(rows[0]!.count);
  }
  return out;
}

/** The unread count recomputed from the feed itself (every page), to compare with the maintained counter. */
async function unreadInFeed(user: string): Promise<number> {
  let n = 0;
  let after: string | null = null;
  for (;;) {
    const page = await h.feed(user, { first: 100, after, unreadOnly: true });
    n += page.edges.length;
    if (!page.pageInfo.hasNextPage) return n;
    after = page.pageInfo.endCursor;
  }
}

interface World {
  victim: string;
  follower: string;
  docWatcher: string;
  doc: { type: string; id: string };
  own: string[];
  mention: string;
}

/** A user with trackers, a feed, actions as actor (labelled), a mention, a user-scoped key, webhooks rows, metrics. */
async function world(): Promise<World> {
  const victim = uniqueId('victim');
  const follower = uniqueId('fol');
  const docWatcher = uniqueId('watch');
  const doc = { type: 'Doc', id: uniqueId('d') };
  const me = { type: 'User', id: victim, label: 'Victor Victim' };
  await h.track({ owner: follower, object: { type: 'User', id: victim } });
  await h.track({ owner: docWatcher, object: doc, actorOnly: false });
  await h.track({ owner: victim, object: doc, actorOnly: false });
  await h.track({ owner: victim, objectType: 'Doc' });
  const someoneElse = { type: 'User', id: uniqueId('x') };
  const byOther = await h.logAction({ actor: someoneElse, verb: 'edited', targets: [doc], ...noGroup });
  const own1 = await h.logAction({ actor: me, verb: 'edited', targets: [doc], ...noGroup });
  const own2 = await h.logAction(
    { actor: me, verb: 'posted', idempotencyKey: uniqueId('k'), ...noGroup },
    await t.userToken(victim),
  );
  const mention = await h.logAction({ actor: someoneElse, verb: 'thanked', targets: [doc], related: [me], ...noGroup });
  await t.ok(`mutation($ids: [ID!]!, $u: ID) { markRead(actionIds: $ids, user: $u) }`, { ids: [byOther.id], u: victim }, h.service);
  await t.ok(`mutation($ids: [ID!]!, $u: ID) { markRead(actionIds: $ids, user: $u) }`, { ids: [own1.id], u: docWatcher }, h.service);
  const m = metricsHelpers(t);
  const domain = (await m.registerDomain()).ref;
  await m.registerMetric(domain, { ref: 'karma', kind: 'GAUGE' });
  await t.ok(
    `mutation($d: ID!, $m: ID!, $o: ObjectRefInput) { recordStatistic(domain: $d, metric: $m, value: 7, period: DAY, object: $o) { value } }`,
    { d: domain, m: 'karma', o: { type: 'User', id: victim } },
    h.service,
  );
  // An increment id sent with the user's own token (stored under the scope `user:<id>`).
  await m.registerMetric(domain, { ref: 'clicks', public: true });
  await t.ok(
    `mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }`,
    { e: [{ domain, metric: 'clicks', id: uniqueId('click') }] },
    { token: await t.userToken(victim) },
  );
  return { victim, follower, docWatcher, doc, own: [own1.id, own2.id], mention: mention.id };
}

describe('eraseUser', () => {
  it('the check covers every column of every table that can hold something of a user', () => {
    expect(userColumns()).toEqual(Object.keys(leftovers('DELETE')).sort());
  });

  it('DELETE: nothing of the user remains; its actions leave every feed with exact counts and live REMOVED events', async () => {
    const hook = await w.register(receiver, ['ACTION_LOGGED', 'FEED_ENTRY_ADDED', 'FEED_READ', 'FEED_STILL_UNREAD'], null, 3600);
    const x = await world();
    const before = await remaining(x.victim, 'DELETE');
    // The world really put the user in those tables (so the check below can fail).
    for (const column of [
      'activity_action.actor_id',
      'activity_action_object.object_id',
      'activity_tracker.owner_id',
      'activity_tracker.object_id',
      'activity_feed_entry.user_id',
      'activity_unread_counter.user_id',
      'activity_feed_cell.user_id',
      'activity_feed_change.user_id',
      'activity_action_key.scope',
      'webhook_reminder.user_id',
      'webhook_delivery.payload',
      'metric_recorded_statistic.object_id',
    ]) {
      expect(before[column], column).toBeGreaterThan(0);
    }
    expect(await h.unreadCount(x.follower)).toBe(2);
    expect(await h.unreadCount(x.docWatcher)).toBe(2);

    const client = t.wsClient(await t.userToken(x.follower));
    clients.push(client);
    const events: Array<{ kind: string; unreadCount: number }> = [];
    const ready = new Promise<void>((resolve) => setTimeout(resolve, 300));
    client.subscribe<{ feed: { kind: string; unreadCount: number } }>(
      { query: `subscription { feed { kind unreadCount } }` },
      { next: (v) => v.data && events.push(v.data.feed), error: () => {}, complete: () => {} },
    );
    await ready;

    const erased = (await t.ok(ERASE, { user: x.victim, actions: 'DELETE' }, h.service)).eraseUser;
    expect(erased).toEqual({ user: x.victim, actionsDeleted: 2, trackersDeleted: 2, feedEntriesDeleted: 3 });

    const after = await remaining(x.victim, 'DELETE');
    expect(Object.entries(after).filter(([, n]) => n > 0)).toEqual([]);
    // Other users: the user's actions are gone from their feeds, counts exact (and equal to the feeds).
    expect(await h.feedIds(x.follower)).toEqual([]);
    expect(await h.unreadCount(x.follower)).toBe(0);
    expect(await h.feedIds(x.docWatcher)).not.toContain(x.own[0]);
    expect(await h.unreadCount(x.docWatcher)).toBe(await unreadInFeed(x.docWatcher));
    expect(await h.unreadCount(x.docWatcher)).toBe(2);
    // The mention stays, showing the user as a tombstone without its label.
    const node = (await t.ok(NODE, { id: x.mention }, h.service)).node;
    expect(node.related).toEqual([{ id: x.victim, label: null, deleted: true }]);
    for (const id of x.own) expect((await t.ok(NODE, { id }, h.service)).node).toBeNull();
    // Live: the follower got REMOVED with the new count.
    const deadline = Date.now() + 5000;
    while (!events.some((e) => e.kind === 'REMOVED') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(events.filter((e) => e.kind === 'REMOVED')).toEqual([{ kind: 'REMOVED', unreadCount: 0 }]);
    expect(hook.id).toBeTruthy();
  }, 30_000);

  it("TOMBSTONE: the user's actions stay in others' feeds with the actor as a label-less tombstone; nothing else remains", async () => {
    const x = await world();
    const followerUnread = await h.unreadCount(x.follower);
    const erased = (await t.ok(ERASE, { user: x.victim, actions: 'TOMBSTONE' }, h.service)).eraseUser;
    expect(erased.actionsDeleted).toBe(0);
    const after = await remaining(x.victim, 'TOMBSTONE');
    expect(Object.entries(after).filter(([, n]) => n > 0)).toEqual([]);
    // The follower's tracker was on the erased user: it went, the history it brought stays readable.
    expect(await h.feedIds(x.follower)).toEqual([x.own[1], x.own[0]]);
    expect(await h.unreadCount(x.follower)).toBe(followerUnread);
    const node = (await t.ok(NODE, { id: x.own[0] }, h.service)).node;
    expect(node.actor).toEqual({ id: x.victim, label: null, deleted: true });
    expect(await h.unreadCount(x.docWatcher)).toBe(await unreadInFeed(x.docWatcher));
  }, 30_000);

  it("the erased user's open subscription and old cursors get RESET; its positions never go back", async () => {
    const user = uniqueId('erin');
    const project = { type: 'Project', id: uniqueId('p') };
    await h.track({ owner: user, object: project, actorOnly: false });
    for (let i = 0; i < 3; i++) await h.logAction({ actor: { type: 'Bot', id: 'b' }, verb: `v${i}`, targets: [project], ...noGroup });
    const client = t.wsClient(await t.userToken(user));
    clients.push(client);
    const events: Array<{ kind: string; cursor: string; unreadCount: number }> = [];
    client.subscribe<{ feed: { kind: string; cursor: string; unreadCount: number } }>(
      { query: `subscription { feed { kind cursor unreadCount } }` },
      { next: (v) => v.data && events.push(v.data.feed), error: () => {}, complete: () => {} },
    );
    await new Promise((r) => setTimeout(r, 300));
    await h.logAction({ actor: { type: 'Bot', id: 'b' }, verb: 'v3', targets: [project], ...noGroup });
    await expect.poll(() => events.length).toBe(1);
    const oldCursor = events[0]!.cursor;
    const position = (cursor: string) => BigInt(Buffer.from(cursor, 'base64url').toString('utf8').slice('feedpos:'.length));

    await t.ok(ERASE, { user, actions: 'DELETE' }, h.service);
    await expect.poll(() => events.map((e) => e.kind)).toEqual(['ADDED', 'RESET']);
    expect(events[1]!.unreadCount).toBe(0);
    expect(position(events[1]!.cursor)).toBe(position(oldCursor) + 1n);
    // New changes (its token still works) continue the positions; a resume from the cursor it had gets RESET first.
    await h.track({ owner: user, object: project, actorOnly: false });
    await h.logAction({ actor: { type: 'Bot', id: 'b' }, verb: 'v4', targets: [project], ...noGroup });
    await expect.poll(() => events.length).toBe(3);
    expect(events[2]!.kind).toBe('ADDED');
    expect(position(events[2]!.cursor)).toBeGreaterThan(position(events[1]!.cursor));
    const resumed: string[] = [];
    client.subscribe<{ feed: { kind: string } }>(
      { query: `subscription($a: String) { feed(after: $a) { kind } }`, variables: { a: oldCursor } },
      { next: (v) => v.data && resumed.push(v.data.feed.kind), error: () => {}, complete: () => {} },
    );
    await expect.poll(() => resumed[0]).toBe('RESET');
  }, 30_000);

  it('a user id past 256 characters (no token can name one) is BAD_USER_INPUT for eraseUser and exportUser, nothing written', async () => {
    for (const length of [257, 5000]) {
      const user = 'u'.repeat(length);
      for (const [query, variables] of [
        [ERASE, { user, actions: 'DELETE' }],
        [EXPORT, { user }],
      ] as const) {
        const result = await t.gql(query, variables, h.service);
        expect(result.errors?.[0]?.extensions?.['code'], `${length}`).toBe('BAD_USER_INPUT');
      }
    }
    expect(await t.gql(ERASE, { user: 'u'.repeat(256), actions: 'DELETE' }, h.service)).not.toHaveProperty('errors');
  });

  it('is refused to users, even for themselves', async () => {
    const user = uniqueId('u');
    const res = await t.gql(ERASE, { user, actions: 'DELETE' }, { token: await t.userToken(user) });
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const exp = await t.gql(EXPORT, { user }, { token: await t.userToken(user) });
    expect(exp.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('exportUser', () => {
  it('pages through trackers, feed entries, own actions and the metrics rows and label kept of the user, every record once', async () => {
    const x = await world();
    // Enough entries for ids of different lengths (an export ordered as text would skip or repeat some).
    await t.ok(
      `mutation($inputs: [LogActionInput!]!) { logActions(inputs: $inputs) { id } }`,
      { inputs: Array.from({ length: 15 }, (_, i) => ({ actor: { type: 'Bot', id: 'b' }, verb: `v${i}`, targets: [x.doc], ...noGroup })) },
      h.service,
    );
    // Counts on the user as an object: one folded (its buckets), one still in the inbox.
    const m = metricsHelpers(t);
    const views = await m.counter();
    await m.increment([{ ...views, object: { type: 'User', id: x.victim }, by: 3, category: 'profile' }]);
    await m.fold();
    await m.increment([{ ...views, object: { type: 'User', id: x.victim }, by: 2 }]);
    const records: Array<Record<string, any>> = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page: { records: Array<Record<string, any>>; endCursor: string | null; hasNextPage: boolean; unreadCount: number } = (
        await t.ok(EXPORT, { user: x.victim, first: 2, after }, h.service)
      ).exportUser;
      expect(page.records.length).toBeLessThanOrEqual(2);
      expect(page.unreadCount).toBe(await h.unreadCount(x.victim));
      records.push(...page.records);
      pages++;
      if (!page.hasNextPage) {
        expect(page.endCursor).toBeNull();
        break;
      }
      after = page.endCursor;
    }
    const kinds = records.map((r) => r['kind']);
    const buckets = records.filter((r) => r['kind'] === 'metricBucket');
    expect(kinds).toEqual([
      'tracker',
      'tracker',
      ...Array<string>(18).fill('feedEntry'),
      'action',
      'action',
      ...buckets.map(() => 'metricBucket'),
      'recordedStatistic',
      'increment',
      'label',
    ]);
    expect(pages).toBe(Math.ceil(records.length / 2));
    // The folded increment's buckets (15 minutes and lifetime at least), each with its value; the unfolded one as it was sent.
    expect(buckets.length).toBeGreaterThanOrEqual(2);
    expect(buckets.every((b) => b['domain'] === views.domain && b['metric'] === views.metric && b['value'] === 3 && b['category'] === 'profile')).toBe(true);
    expect(records.find((r) => r['kind'] === 'increment')).toMatchObject({ domain: views.domain, metric: views.metric, by: 2, category: null });
    expect(records.find((r) => r['kind'] === 'recordedStatistic')).toMatchObject({ metric: 'karma', period: 'DAY', value: 7 });
    expect(records.find((r) => r['kind'] === 'label')).toEqual({ kind: 'label', label: 'Victor Victim' });
    const trackers = (await t.ok(`query($u: ID) { trackers(user: $u) { id objectType } }`, { u: x.victim }, h.service)).trackers;
    expect(records.filter((r) => r['kind'] === 'tracker').map((r) => r['id'])).toEqual(trackers.map((tr: { id: string }) => tr.id));
    const feed = await h.feed(x.victim, { first: 100 });
    const entries = records.filter((r) => r['kind'] === 'feedEntry');
    expect(new Set(entries.map((r) => r['action']))).toEqual(new Set(feed.edges.map((e) => e.node.id)));
    for (const e of feed.edges) expect(entries.find((r) => r['action'] === e.node.id)!['unread']).toBe(e.node.unread);
    // Each entry's three flags (read, seen, archived): one marked seen and one archived show it.
    const [seenId, archivedId] = feed.edges.map((e) => e.node.id);
    await t.ok(`mutation($ids: [ID!]!, $u: ID) { markSeen(actionIds: $ids, user: $u) }`, { ids: [seenId], u: x.victim }, h.service);
    await t.ok(`mutation($ids: [ID!]!, $u: ID) { archive(actionIds: $ids, user: $u) }`, { ids: [archivedId], u: x.victim }, h.service);
    const flagged = await exportAll(x.victim);
    const flags = (id: string) => {
      const r = flagged.find((f) => f['kind'] === 'feedEntry' && f['action'] === id)!;
      return { seen: r['seen'], archived: r['archived'] };
    };
    expect(flags(seenId!)).toEqual({ seen: true, archived: false });
    expect(flags(archivedId!)).toEqual({ seen: false, archived: true });
    const actions = records.filter((r) => r['kind'] === 'action');
    expect(actions.map((r) => r['id'])).toEqual(x.own);
    expect(actions[0]!['actor']).toEqual({ type: 'User', id: x.victim, label: 'Victor Victim' });
    const bad = await t.gql(EXPORT, { user: x.victim, after: 'nonsense' }, h.service);
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    // A cursor of the right form whose key is not one of its section's (made up, or from another section).
    const forged = (section: number, after: string) => Buffer.from(JSON.stringify({ export: section, after })).toString('base64url');
    for (const after of [forged(3, '[1, "DAY"]'), forged(3, '12'), forged(0, '[1]'), forged(9, '1'), forged(4, '[1, "DAY", "yesterday"]')]) {
      const refused = await t.gql(EXPORT, { user: x.victim, after }, h.service);
      expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
  });
});

describe("eraseUser and a metric's sums", () => {
  it("the user's increments stay in the metric's total, by category too, folded or not; its own total is gone", async () => {
    const m = metricsHelpers(t);
    const { domain, metric } = await m.counter();
    const victim = uniqueId('u');
    const user = { type: 'User', id: victim, label: 'Eve' };
    const other = { type: 'Product', id: uniqueId('x') };
    await m.increment([
      { domain, metric, object: user, by: 4, category: 'profile' },
      { domain, metric, object: other, by: 2, category: 'profile' },
    ]);
    await m.fold();
    await m.increment([{ domain, metric, object: user, by: 1, category: 'profile' }]); // still in the inbox
    expect([await m.total(domain, metric), await m.total(domain, metric, { category: 'profile' })]).toEqual([7, 7]);
    await t.ok(ERASE, { user: victim, actions: 'TOMBSTONE' }, h.service);
    // Before: 6, the unfolded increment deleted while the folded ones stayed in the sums.
    expect([await m.total(domain, metric), await m.total(domain, metric, { category: 'profile' })]).toEqual([7, 7]);
    expect(await m.total(domain, metric, { object: { type: 'User', id: victim } })).toBe(0);
    await m.fold();
    expect([await m.total(domain, metric), await m.total(domain, metric, { category: 'profile' })]).toEqual([7, 7]);
    expect(await m.total(domain, metric, { object: { type: 'User', id: victim } })).toBe(0);
  });
});
