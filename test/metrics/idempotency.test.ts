import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import crypto from 'node:crypto';
import { Inbox, int64Text, keyHash, keyHashText, storedKey } from '../../src/metrics/inbox.ts';
import type { InboxRow } from '../../src/metrics/model.ts';
import { errorCodes, metricsHelpers } from './helpers.ts';

/**
 * Increment ids (issue 17): an event whose id the same caller had accepted within METRICS_DEDUPE_HOURS is
 * answered as accepted, listed in `duplicates` and not counted again; within one batch, across batches, across
 * a fold, for incrementObjects, trackLabels and the /track beacon. Bad ids fail the whole call.
 */
let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;

beforeAll(async () => {
  t = await startTestApp({ METRICS_DEDUPE_HOURS: '2' });
  h = metricsHelpers(t);
});
afterAll(async () => {
  await t?.stop();
});

const INCREMENT = `mutation Increment($events: [IncrementInput!]!) {
  increment(events: $events) { accepted duplicates rejected { index reason } }
}`;
const INCREMENT_OBJECTS = `mutation IncrementObjects($domain: ID!, $metric: ID!, $ids: [ID!]!, $id: ID) {
  incrementObjects(domain: $domain, metric: $metric, objectType: "Item", objectIds: $ids, id: $id) { accepted duplicates rejected { index reason } }
}`;
const TRACK_LABELS = `mutation TrackLabels($labels: String!, $id: ID) {
  trackLabels(labels: $labels, id: $id) { accepted duplicates rejected { index reason } }
}`;

type Result = { accepted: number; duplicates: number[]; rejected: Array<{ index: number; reason: string }> };
const service = () => ({ token: t.serviceToken });
const increment = async (events: Array<Record<string, unknown>>, token = t.serviceToken) =>
  (await t.ok<{ increment: Result }>(INCREMENT, { events }, { token })).increment;

describe('increment ids', () => {
  it('counts an id once within one batch and across batches; the result lists the duplicates', async () => {
    const { domain, metric } = await h.counter();
    const a = uniqueId('id');
    const b = uniqueId('id');
    const first = await increment([
      { domain, metric, id: a, by: 3 },
      { domain, metric, id: a, by: 3 },
      { domain, metric, by: 1 },
      { domain, metric, id: b, by: 5 },
      { domain, metric, by: 1 },
    ]);
    expect(first).toEqual({ accepted: 5, duplicates: [1], rejected: [] });
    expect(await h.total(domain, metric)).toBe(10);

    // The retry of the whole call: the keyed events are duplicates, the events without id count again.
    const retry = await increment([
      { domain, metric, id: b, by: 5 },
      { domain, metric, id: a, by: 3 },
      { domain, metric, id: uniqueId('id'), by: 7 },
    ]);
    expect(retry).toEqual({ accepted: 3, duplicates: [0, 1], rejected: [] });
    expect(await h.total(domain, metric)).toBe(17);
  });

  it('remembers an id after its row is folded', async () => {
    const { domain, metric } = await h.counter();
    const id = uniqueId('id');
    expect(await increment([{ domain, metric, id, by: 4 }])).toMatchObject({ accepted: 1, duplicates: [] });
    await h.fold();
    expect(await h.total(domain, metric)).toBe(4);
    expect(await increment([{ domain, metric, id, by: 4 }])).toMatchObject({ accepted: 1, duplicates: [0] });
    await h.fold();
    expect(await h.total(domain, metric)).toBe(4);
  });

  it('keeps the ids of different callers apart (one caller cannot pre-empt another)', async () => {
    const { domain, metric } = await h.counter({ public: true });
    const id = uniqueId('shared');
    const alice = await t.userToken(uniqueId('alice'));
    const bob = await t.userToken(uniqueId('bob'));
    expect(await increment([{ domain, metric, id }], alice)).toMatchObject({ accepted: 1, duplicates: [] });
    expect(await increment([{ domain, metric, id }], bob)).toMatchObject({ accepted: 1, duplicates: [] });
    expect(await increment([{ domain, metric, id }], alice)).toMatchObject({ accepted: 1, duplicates: [0] });
    expect(await h.total(domain, metric)).toBe(2);
  });

  it('does not record the id of a rejected event: a corrected retry counts', async () => {
    const { domain, metric } = await h.counter();
    const id = uniqueId('id');
    const rejected = await increment([{ domain, metric, id, by: 0 }]);
    expect(rejected).toEqual({ accepted: 0, duplicates: [], rejected: [{ index: 0, reason: 'by_not_positive' }] });
    expect(await increment([{ domain, metric, id, by: 2 }])).toEqual({ accepted: 1, duplicates: [], rejected: [] });
    expect(await h.total(domain, metric)).toBe(2);
  });

  it('a stored event retried unchanged after its checks would now refuse it (metric made private) is a duplicate, not a rejection', async () => {
    const { domain, metric } = await h.counter({ public: true });
    const user = await t.userToken(uniqueId('u'));
    const id = uniqueId('id');
    expect(await increment([{ domain, metric, id, by: 3 }], user)).toEqual({ accepted: 1, duplicates: [], rejected: [] });
    await t.ok(`mutation($d: ID!, $m: ID!) { registerMetric(domain: $d, ref: $m, public: false) { ref } }`, { d: domain, m: metric }, service());
    // The answer the lost first one would have been: accepted, a duplicate; a new id is refused as before.
    expect(await increment([{ domain, metric, id: uniqueId('new'), by: 1 }, { domain, metric, id, by: 3 }], user)).toEqual({
      accepted: 1,
      duplicates: [1],
      rejected: [{ index: 0, reason: 'not_public' }],
    });
    expect(await h.total(domain, metric)).toBe(3);
    // Another caller's id is not this caller's: refused.
    expect((await increment([{ domain, metric, id, by: 3 }], await t.userToken(uniqueId('v')))).rejected).toEqual([{ index: 0, reason: 'not_public' }]);
  });

  it('an event refused for what it is (by, a future at) stays refused when its id was stored by another event', async () => {
    const { domain, metric } = await h.counter();
    const id = uniqueId('id');
    const batch = [{ domain, metric, id, by: 0 }, { domain, metric, id }];
    expect(await increment(batch)).toEqual({ accepted: 1, duplicates: [], rejected: [{ index: 0, reason: 'by_not_positive' }] });
    // The identical retry: the same refusal, the stored one a duplicate.
    expect(await increment(batch)).toEqual({ accepted: 1, duplicates: [1], rejected: [{ index: 0, reason: 'by_not_positive' }] });
    const future = new Date(Date.now() + 86_400_000).toISOString();
    expect(await increment([{ domain, metric, id, at: future }])).toEqual({ accepted: 0, duplicates: [], rejected: [{ index: 0, reason: 'at_in_future' }] });
    expect(await h.total(domain, metric)).toBe(1);
  });

  it('rejects bad ids (empty, too long, NUL) with BAD_USER_INPUT and stores nothing of the call', async () => {
    const { domain, metric } = await h.counter();
    for (const bad of ['', 'x'.repeat(129), 'a\u0000b']) {
      const result = await t.gql(INCREMENT, { events: [{ domain, metric, id: uniqueId('ok') }, { domain, metric, id: bad }] }, service());
      expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
      expect(JSON.stringify(result.errors)).toMatch(/events\.1\.id|id/);
      const objects = await t.gql(INCREMENT_OBJECTS, { domain, metric, ids: ['a'], id: bad }, service());
      expect(errorCodes(objects)).toEqual(['BAD_USER_INPUT']);
      const labels = await t.gql(TRACK_LABELS, { labels: uniqueId('lbl'), id: bad }, service());
      expect(errorCodes(labels)).toEqual(['BAD_USER_INPUT']);
    }
    expect(await h.total(domain, metric)).toBe(0);
    // 128 characters is the limit, inclusive, counted the same way by every id (code points: an emoji is one).
    expect(await increment([{ domain, metric, id: 'y'.repeat(128) }])).toMatchObject({ accepted: 1, duplicates: [] });
    const emoji = '\u{1F600}'.repeat(128);
    expect(await increment([{ domain, metric, id: emoji }])).toMatchObject({ accepted: 1, duplicates: [] });
    expect((await t.ok<{ incrementObjects: Result }>(INCREMENT_OBJECTS, { domain, metric, ids: ['a'], id: emoji }, service())).incrementObjects.accepted).toBe(1);
    const tooMany = `${emoji}\u{1F600}`;
    expect(errorCodes(await t.gql(INCREMENT, { events: [{ domain, metric, id: tooMany }] }, service()))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(INCREMENT_OBJECTS, { domain, metric, ids: ['a'], id: tooMany }, service()))).toEqual(['BAD_USER_INPUT']);
  });

  it('incrementObjects: one id per call, each object de-duplicated by its position', async () => {
    const { domain, metric } = await h.counter();
    const id = uniqueId('call');
    const call = (ids: string[], key: string | null = id) =>
      t.ok<{ incrementObjects: Result }>(INCREMENT_OBJECTS, { domain, metric, ids, id: key }, service()).then((d) => d.incrementObjects);
    expect(await call(['a', 'b', 'c'])).toEqual({ accepted: 3, duplicates: [], rejected: [] });
    expect(await call(['a', 'b', 'c'])).toEqual({ accepted: 3, duplicates: [0, 1, 2], rejected: [] });
    // A longer call with the same id: only the new position counts.
    expect(await call(['a', 'b', 'c', 'd'])).toEqual({ accepted: 4, duplicates: [0, 1, 2], rejected: [] });
    // The same id in `increment` is another namespace.
    expect(await increment([{ domain, metric, id, object: { type: 'Item', id: 'a' } }])).toMatchObject({ duplicates: [] });
    expect(await h.total(domain, metric)).toBe(5);
  });

  it('trackLabels: one id per call, each label de-duplicated by its position in the list', async () => {
    const label = uniqueId('lbl');
    const id = uniqueId('call');
    const call = (labels: string) => t.ok<{ trackLabels: Result }>(TRACK_LABELS, { labels, id }, service()).then((d) => d.trackLabels);
    expect(await call(`${label}|::bad|${label}:cat:dom-${id}`)).toEqual({
      accepted: 2,
      duplicates: [],
      rejected: [{ index: 1, reason: 'empty_label' }],
    });
    expect(await call(`${label}|::bad|${label}:cat:dom-${id}`)).toEqual({
      accepted: 2,
      duplicates: [0, 2],
      rejected: [{ index: 1, reason: 'empty_label' }],
    });
    expect(await h.total('labels', label)).toBe(2);
  });

  it('the /track beacon takes an id: a beacon sent twice counts once (labels and page views)', async () => {
    const { domain, metric } = await h.counter({ public: true });
    const label = uniqueId('lbl');
    const id = uniqueId('beacon');
    const send = () =>
      t.app.yoga.fetch(
        `http://localhost/track?labels=${encodeURIComponent(label)}&pageview=${domain}:${metric}&page=/a&page=/b&id=${id}`,
        { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0' } },
      );
    expect((await send()).status).toBe(204);
    expect((await send()).status).toBe(204);
    const json = await t.app.yoga.fetch('http://localhost/track', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0' },
      body: JSON.stringify({ labels: label, pageview: `${domain}:${metric}`, pages: ['/a', '/b'], id }),
    });
    expect(json.status).toBe(204);
    expect(await h.total('labels', label)).toBe(1);
    expect(await h.total(domain, metric)).toBe(2);
    expect(await h.total(domain, metric, { object: { type: 'Page', id: '/b' } })).toBe(1);
    const tooLong = await t.app.yoga.fetch(`http://localhost/track?labels=${label}&id=${'z'.repeat(200)}`);
    expect(tooLong.status).toBe(400);
    expect(await h.total('labels', label)).toBe(1);
  });

  it('forgets ids older than METRICS_DEDUPE_HOURS, and retention deletes them', async () => {
    const { domain, metric } = await h.counter();
    const old = uniqueId('old');
    const recent = uniqueId('recent');
    await increment([{ domain, metric, id: old }, { domain, metric, id: recent }]);
    const sql = (query: string, params: unknown[] = []) => t.app.orm.em.fork().execute(query, params);
    // The stored form of a key (src/metrics/inbox.ts): the caller scope and `e:<id>`.
    const scope = 'service:test-service';
    await sql(`update metric_increment_key set created_at = now() - interval '3 hours' where scope = ? and key = ?`, [scope, `e:${old}`]);
    // Past the window the id counts again (even before retention ran) and is remembered anew.
    expect(await increment([{ domain, metric, id: old }, { domain, metric, id: recent }])).toMatchObject({ duplicates: [1] });
    expect(await h.total(domain, metric)).toBe(3);
    await sql(`update metric_increment_key set created_at = now() - interval '3 hours' where scope = ? and key = ?`, [scope, `e:${recent}`]);
    const report = await t.ok<{ applyRetention: { idempotencyKeysDeleted: number } }>(
      'mutation ApplyRetention { applyRetention { idempotencyKeysDeleted } }',
      {},
      service(),
    );
    expect(report.applyRetention.idempotencyKeysDeleted).toBeGreaterThanOrEqual(1);
    const left = await sql(`select key from metric_increment_key where scope = ? and key in (?, ?)`, [scope, `e:${old}`, `e:${recent}`]);
    expect(left.map((r) => r['key'])).toEqual([`e:${old}`]);
  });

  it('a hash collision never drops a distinct event: only the same full key is a duplicate', async () => {
    // The seam: an inbox whose key hash the test chooses. Every key gets the same hash, so each new key collides
    // with the one stored first (within a batch and across statements); the stored key decides.
    const { domain, metric } = await h.counter();
    const [row] = await t.app.orm.em
      .fork()
      .execute(`select m.id from metric m join metric_domain d on d.id = m.domain_id where d.ref = ? and m.ref = ?`, [domain, metric]);
    const inbox = new Inbox(t.app.orm, t.app.config.metrics, t.app.logger, { keyHash: () => 7_777_777_777n });
    const scope = uniqueId('collide');
    const event = (key: string, amount: number): InboxRow => ({
      metricId: Number(row!['id']),
      objectType: '',
      objectId: '',
      category: '',
      domId: '',
      amount,
      occurredAt: Date.now(),
      key,
    });
    try {
      // a takes the slot; b collides with it within the batch; a and b again in the batch are duplicates.
      expect(await inbox.enqueue([event('e:a', 1), event('e:b', 10), event('e:a', 1), event('e:b', 10)], scope)).toEqual([2, 3]);
      // The retry of a: the stored key is a's, a duplicate. c collides with the stored a across statements.
      expect(await inbox.enqueue([event('e:a', 1), event('e:c', 100)], scope)).toEqual([0]);
      // The same key under another caller is another stored key: it counts too.
      expect(await inbox.enqueue([event('e:a', 1000)], `${scope}-other`)).toEqual([]);
      expect(await h.total(domain, metric)).toBe(1111);
      const stored = await t.app.orm.em.fork().execute(`select scope, key from metric_increment_key where hash = ?`, ['7777777777']);
      expect(stored).toEqual([{ scope, key: 'e:a' }]);
    } finally {
      await inbox.close();
    }
  });
});

describe('increment ids: the group commit statements', () => {
  const rowFor = (metricId: number) => (key: string, amount = 1): InboxRow => ({
    metricId,
    objectType: '',
    objectId: '',
    category: '',
    domId: '',
    amount,
    occurredAt: Date.now(),
    key,
  });
  const metricOf = async (domain: string, metric: string) => {
    const [row] = await t.app.orm.em
      .fork()
      .execute(`select m.id from metric m join metric_domain d on d.id = m.domain_id where d.ref = ? and m.ref = ?`, [domain, metric]);
    return Number(row!['id']);
  };

  it('the key hash is the first 8 bytes of md5 as a signed 64-bit integer, computed without BigInt', () => {
    const reference = (stored: string) => crypto.hash('md5', stored, 'buffer').readBigInt64BE(0);
    for (let i = 0; i < 2000; i++) {
      const stored = storedKey(`service:${i}`, `e:${crypto.randomUUID()}-ü€😀`);
      expect(keyHashText(stored)).toBe(String(reference(stored)));
      expect(keyHash(stored)).toBe(reference(stored));
    }
    const edges: Array<[number, number, bigint]> = [
      [0, 0, 0n],
      [0, 1, 1n],
      [0xffff_ffff, 0xffff_ffff, -1n],
      [0x8000_0000, 0, -(2n ** 63n)],
      [0x7fff_ffff, 0xffff_ffff, 2n ** 63n - 1n],
      [0xffff_ffff, 0, -(2n ** 32n)],
      [0, 10_000_000, 10_000_000n],
      [0x0000_0002, 0x540b_e400, 10_000_000_000n],
    ];
    for (const [hi, lo, value] of edges) expect(int64Text(hi, lo)).toBe(String(value));
  });

  it('a batch of new ids is stored by the fast statement; a stored id sends its batch through the full one, exactly', async () => {
    const { domain, metric } = await h.counter();
    const event = rowFor(await metricOf(domain, metric));
    const inbox = new Inbox(t.app.orm, t.app.config.metrics, t.app.logger);
    const scope = uniqueId('fast');
    try {
      expect(await inbox.enqueue([event('e:a', 1), event('e:b', 10)], scope)).toEqual([]);
      expect(inbox.stats().keyConflicts).toBe(0);
      // b is stored: the fast statement fails on it and stores nothing (c neither); the full one counts c once.
      expect(await inbox.enqueue([event('e:c', 100), event('e:b', 10)], scope)).toEqual([1]);
      expect(inbox.stats().keyConflicts).toBe(1);
      // Right after a conflict, keyed batches go straight to the full statement (retries come in bursts).
      expect(await inbox.enqueue([event('e:a', 1), event('e:d', 1000), event('e:d', 1000)], scope)).toEqual([0, 2]);
      expect(inbox.stats().keyConflicts).toBe(1);
      expect(await h.total(domain, metric)).toBe(1111);
      const stored = await t.app.orm.em.fork().execute(`select key from metric_increment_key where scope = ? order by key`, [scope]);
      expect(stored.map((r) => r['key'])).toEqual(['e:a', 'e:b', 'e:c', 'e:d']);
    } finally {
      await inbox.close();
    }
  });

  it('an id repeated within a fresh batch, and batches of several callers, are decided exactly', async () => {
    const { domain, metric } = await h.counter();
    const event = rowFor(await metricOf(domain, metric));
    const inbox = new Inbox(t.app.orm, { ...t.app.config.metrics, flushDelayMs: 50 }, t.app.logger);
    const [one, two] = [uniqueId('one'), uniqueId('two')];
    try {
      // Two callers in one group commit (several scopes: sent per row); the same key under each counts once each.
      const both = await Promise.all([inbox.enqueue([event('e:x', 1), event('e:y', 10)], one), inbox.enqueue([event('e:x', 100)], two)]);
      expect(both).toEqual([[], []]);
      expect(inbox.stats().keyConflicts).toBe(0);
      expect((await t.app.orm.em.fork().execute(`select scope, key from metric_increment_key where scope in (?, ?) order by scope, key`, [one, two])).map((r) => `${r['scope']}/${r['key']}`)).toEqual(
        [`${one}/e:x`, `${one}/e:y`, `${two}/e:x`],
      );
      // A key twice in one new batch: the fast statement fails on it, the full one counts it once.
      expect(await inbox.enqueue([event('e:z', 1000), event('e:w', 10_000), event('e:z', 1000)], one)).toEqual([2]);
      expect(inbox.stats().keyConflicts).toBe(1);
      expect(await h.total(domain, metric)).toBe(11_111);
    } finally {
      await inbox.close();
    }
  });

  it('two inboxes (two instances) committing the same new ids at once count each id once', async () => {
    const { domain, metric } = await h.counter();
    const event = rowFor(await metricOf(domain, metric));
    const inboxes = [0, 1].map(() => new Inbox(t.app.orm, t.app.config.metrics, t.app.logger));
    const scope = uniqueId('race');
    try {
      let expected = 0;
      for (let round = 0; round < 5; round++) {
        const keys = Array.from({ length: 200 }, (_, i) => `e:${round}-${i}`);
        // Each inbox gets every key, in a different order and in several requests, all at once.
        const outcomes = await Promise.all(
          inboxes.flatMap((inbox, n) => {
            const mine = n === 0 ? keys : [...keys].reverse();
            return [0, 1, 2, 3].map((part) => inbox.enqueue(mine.slice(part * 50, part * 50 + 50).map((key) => event(key)), scope));
          }),
        );
        const duplicates = outcomes.reduce((sum, d) => sum + d.length, 0);
        expect(duplicates).toBe(200);
        expected += 200;
        expect(await h.total(domain, metric)).toBe(expected);
      }
    } finally {
      await Promise.all(inboxes.map((inbox) => inbox.close()));
    }
  });
});
