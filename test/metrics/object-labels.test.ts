import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { BROWSER_UA, metricsHelpers } from './helpers.ts';

/**
 * Objects' labels in metrics results: README "Metrics" sends `object: {type, id, label}` with an increment and reads
 * `top { object { label } }`. Metrics rows keep no label; the latest label a service gave an object (increment,
 * recordStatistic, logAction), or a user its own user object, is kept per object and shown; nobody else's.
 */
let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;

beforeAll(async () => {
  t = await startTestApp({ FOLD_CRON: 'off' });
  h = metricsHelpers(t);
});
afterAll(async () => {
  await t?.stop();
});

const INCREMENT = `mutation View($events: [IncrementInput!]!) { increment(events: $events) { accepted rejected { index reason } } }`;
const TOP = `query Top($d: ID!, $m: ID!) { domain(ref: $d) { metric(ref: $m) { top(period: LIFETIME, limit: 10) { object { type id label deleted } value } } } }`;

type Top = Array<{ object: { type: string; id: string; label: string | null; deleted: boolean }; value: number }>;
const top = async (domain: string, metric: string): Promise<Map<string, { label: string | null; value: number; deleted: boolean }>> => {
  const rows = (await t.ok<{ domain: { metric: { top: Top } } }>(TOP, { d: domain, m: metric }, { token: t.serviceToken })).domain.metric.top;
  return new Map(rows.map((r) => [r.object.id, { label: r.object.label, value: r.value, deleted: r.object.deleted }]));
};

describe('object labels in metrics results', () => {
  it('top shows the label an increment gave, before and after the fold, and the latest one when it changes', async () => {
    const { domain, metric } = await h.counter({ public: true });
    const mug = uniqueId('p');
    const cup = uniqueId('p');
    const sent = await t.ok(
      INCREMENT,
      {
        events: [
          { domain, metric, object: { type: 'Product', id: mug, label: 'Blue mug' } },
          { domain, metric, object: { type: 'Product', id: cup }, by: 3 },
          { domain, metric, object: { type: 'Product', id: mug } },
        ],
      },
      { token: t.serviceToken },
    );
    expect(sent.increment.accepted).toBe(3);
    expect(await top(domain, metric)).toEqual(
      new Map([
        [cup, { label: null, value: 3, deleted: false }],
        [mug, { label: 'Blue mug', value: 2, deleted: false }],
      ]),
    );
    await t.ok(`mutation { foldCounters { folded } }`, {}, { token: t.serviceToken });
    expect((await top(domain, metric)).get(mug)).toEqual({ label: 'Blue mug', value: 2, deleted: false });

    // A service renames it: the latest label wins.
    await t.ok(INCREMENT, { events: [{ domain, metric, object: { type: 'Product', id: mug, label: 'Blue mug (large)' } }] }, { token: t.serviceToken });
    expect((await top(domain, metric)).get(mug)).toEqual({ label: 'Blue mug (large)', value: 3, deleted: false });
    // A user's increment counts, but a user names only itself: the product keeps its label.
    const userId = uniqueId('u');
    const userToken = await t.userToken(userId);
    await t.ok(INCREMENT, { events: [{ domain, metric, object: { type: 'Product', id: mug, label: 'Renamed by a user' } }] }, { token: userToken });
    expect((await top(domain, metric)).get(mug)).toEqual({ label: 'Blue mug (large)', value: 4, deleted: false });
    await t.ok(INCREMENT, { events: [{ domain, metric, object: { type: 'User', id: userId, label: 'Zoe' } }] }, { token: userToken });
    expect((await top(domain, metric)).get(userId)).toEqual({ label: 'Zoe', value: 1, deleted: false });
  });

  it("an anonymous caller's label is counted but not kept (anyone could rename any object)", async () => {
    const { domain, metric } = await h.counter({ public: true });
    const item = uniqueId('p');
    const anonymous = await t.gql(INCREMENT, { events: [{ domain, metric, object: { type: 'Product', id: item, label: 'Spam, buy now' } }] }, {
      headers: { 'user-agent': BROWSER_UA },
    });
    expect(anonymous.errors).toBeUndefined();
    expect((await top(domain, metric)).get(item)).toEqual({ label: null, value: 1, deleted: false });
    await t.ok(INCREMENT, { events: [{ domain, metric, object: { type: 'Product', id: item, label: 'Tea pot' } }] }, { token: t.serviceToken });
    await t.gql(INCREMENT, { events: [{ domain, metric, object: { type: 'Product', id: item, label: 'Spam again' } }] }, { headers: { 'user-agent': BROWSER_UA } });
    expect((await top(domain, metric)).get(item)).toEqual({ label: 'Tea pot', value: 3, deleted: false });
  });

  it('a rejected event keeps no label; a label from logAction or recordStatistic shows in metrics too', async () => {
    const { domain, metric } = await h.counter();
    const item = uniqueId('p');
    const rejected = await t.ok(
      INCREMENT,
      { events: [{ domain, metric: 'no-such-metric', object: { type: 'Product', id: item, label: 'Never stored' } }] },
      { token: t.serviceToken },
    );
    expect(rejected.increment.rejected).toEqual([{ index: 0, reason: 'unknown_metric' }]);
    await t.ok(INCREMENT, { events: [{ domain, metric, object: { type: 'Product', id: item } }] }, { token: t.serviceToken });
    expect((await top(domain, metric)).get(item)?.label).toBeNull();

    await t.ok(
      `mutation($o: ObjectRefInput!) { logAction(input: { actor: { type: "Bot", id: "b" }, verb: "restocked", targets: [$o], groupingDelay: -1 }) { id } }`,
      { o: { type: 'Product', id: item, label: 'Green kettle' } },
      { token: t.serviceToken },
    );
    expect((await top(domain, metric)).get(item)?.label).toBe('Green kettle');

    const gauge = (await h.registerMetric(domain, { kind: 'GAUGE' })).ref;
    const shelf = uniqueId('p');
    await t.ok(
      `mutation($d: ID!, $m: ID!, $o: ObjectRefInput!) { recordStatistic(domain: $d, metric: $m, value: 7, period: DAY, object: $o) { value } }`,
      { d: domain, m: gauge, o: { type: 'Product', id: shelf, label: 'Shelf A' } },
      { token: t.serviceToken },
    );
    const gaugeTop = (
      await t.ok<{ domain: { metric: { top: Top } } }>(
        `query($d: ID!, $m: ID!) { domain(ref: $d) { metric(ref: $m) { top(period: DAY, limit: 5) { object { id label } value } } } }`,
        { d: domain, m: gauge },
        { token: t.serviceToken },
      )
    ).domain.metric.top;
    expect(gaugeTop).toEqual([{ object: { id: shelf, label: 'Shelf A' }, value: 7 }]);
  });

  it('forgetObject takes the kept label as its default description and deletes it with the rest', async () => {
    const { domain, metric } = await h.counter();
    const item = uniqueId('p');
    await t.ok(INCREMENT, { events: [{ domain, metric, object: { type: 'Product', id: item, label: 'Old lamp' } }] }, { token: t.serviceToken });
    const forgotten = await t.ok(
      `mutation($o: ObjectRefInput!) { forgetObject(object: $o) { label description deleted } }`,
      { o: { type: 'Product', id: item } },
      { token: t.serviceToken },
    );
    expect(forgotten.forgetObject).toEqual({ label: null, description: 'Old lamp', deleted: true });
    // Nothing of it is kept any more (erasure requests go through forgetObject).
    const rows = await t.app.orm.em.fork().execute(`select count(*)::int as n from object_label where object_type = 'Product' and object_id = ?`, [item]);
    expect(rows[0]?.['n']).toBe(0);
    // Results show it as a tombstone, without the label (its description says what it was); a later label for it
    // is not kept.
    expect((await top(domain, metric)).get(item)).toEqual({ label: null, value: 1, deleted: true });
    await t.ok(INCREMENT, { events: [{ domain, metric, object: { type: 'Product', id: item, label: 'Back again' } }] }, { token: t.serviceToken });
    expect((await top(domain, metric)).get(item)).toEqual({ label: null, value: 2, deleted: true });
    // A description given in its place hides the name: the label does not come back through the tombstone.
    const secret = uniqueId('p');
    await t.ok(INCREMENT, { events: [{ domain, metric, object: { type: 'Product', id: secret, label: 'Secret title' } }] }, { token: t.serviceToken });
    await t.ok(`mutation($o: ObjectRefInput!) { forgetObject(object: $o, description: "a deleted product") { deleted } }`, { o: { type: 'Product', id: secret } }, { token: t.serviceToken });
    expect((await top(domain, metric)).get(secret)).toEqual({ label: null, value: 1, deleted: true });
  });
});
