import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

let t: TestApp;
let s: string;

beforeAll(async () => {
  t = await startTestApp({
    RETENTION_HOUR_DAYS: '30',
    RETENTION_DAY_DAYS: '730',
    RETENTION_DEAD_LETTER_DAYS: '14',
    RETENTION_ACTION_DAYS: '90',
  });
  s = t.serviceToken;
  await t.ok('mutation { registerDomain(ref: "ret", name: "Retention") { ref } }', {}, { token: s });
  for (const [ref, kind] of [['visits', 'COUNTER'], ['ancient', 'COUNTER'], ['followers', 'GAUGE']] as const) {
    await t.ok(`mutation { registerMetric(domain: "ret", ref: "${ref}", name: "${ref}", kind: ${kind}) { ref } }`, {}, { token: s });
  }
});
afterAll(async () => {
  await t?.stop();
});

const sql = (query: string, params: unknown[] = []) => t.app.orm.em.fork().execute(query, params);
const applyRetention = () =>
  t.ok<{ applyRetention: Record<string, number | boolean> }>(
    'mutation { applyRetention { ran statisticsCompacted statisticsDeleted deadLettersDeleted actionsDeleted feedEntriesDeleted durationMs } }',
    {},
    { token: s },
  );

async function series(metric: string, period: string, from: Date, to: Date): Promise<Array<{ start: string; value: number }>> {
  const data = await t.ok<{ domain: { metric: { series: Array<{ start: string; value: number }> } } }>(
    `query($p: Period!, $f: DateTime!, $t: DateTime!) { domain(ref: "ret") { metric(ref: "${metric}") { series(period: $p, from: $f, to: $t) { start value } } } }`,
    { p: period, f: from.toISOString(), t: to.toISOString() },
    { token: s },
  );
  return data.domain.metric.series;
}
const total = async (metric: string) =>
  (await t.ok<{ domain: { metric: { total: number } } }>(`{ domain(ref: "ret") { metric(ref: "${metric}") { total } } }`, {}, { token: s })).domain.metric.total;

/** Moves a metric's folded buckets back in time (test setup: rows cannot be created that old through the API). */
async function age(metric: string, days: number) {
  await sql(
    `update metric_statistic set start = start - (? * interval '1 day')
     where period = 'Q15' and metric_id = (select m.id from metric m join metric_domain d on d.id = m.domain_id where d.ref = 'ret' and m.ref = ?)`,
    [days, metric],
  );
}

describe('retention', () => {
  it('is service-only', async () => {
    const result = await t.gql('mutation { applyRetention { ran } }', {}, { token: await t.userToken(uniqueId('u')) });
    expect(result.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });

  it('compacts old 15-minute counter buckets per UTC day (day sums kept), and past RETENTION_DAY_DAYS per week and month (WEEK, MONTH, YEAR kept for ever by default)', async () => {
    // Two days ago (UTC): 2 at 00:15, 3 at 05:30, 5 at 13:45; the day before at 23:45: 7.
    const d = new Date(Math.floor((Date.now() - 2 * DAY) / DAY) * DAY);
    const at = (ms: number) => new Date(d.getTime() + ms).toISOString();
    const events = [
      { by: 2, at: at(15 * 60_000) },
      { by: 3, at: at(5.5 * HOUR) },
      { by: 5, at: at(13.75 * HOUR) },
      { by: 7, at: at(-15 * 60_000) },
    ].map((e) => ({ domain: 'ret', metric: 'visits', object: { type: 'Page', id: 'home' }, ...e }));
    const inc = await t.ok<{ increment: { accepted: number } }>(
      'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }',
      { e: events },
      { token: s, headers: { 'user-agent': UA } },
    );
    expect(inc.increment.accepted).toBe(4);
    await t.ok(
      'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }',
      { e: [{ domain: 'ret', metric: 'ancient', by: 11, at: at(12 * HOUR) }] }, // noon: no week or month starts there
      { token: s },
    );
    await t.ok('mutation { foldCounters { folded } }', {}, { token: s });

    await age('visits', 40); // now 40 days older than two days ago: past RETENTION_HOUR_DAYS (30)
    await age('ancient', 800); // past RETENTION_DAY_DAYS (730)
    const day = new Date(d.getTime() - 40 * DAY);
    const dayBefore = new Date(day.getTime() - DAY);
    const daysBefore = await series('visits', 'DAY', dayBefore, day);
    expect(daysBefore.map((p) => p.value)).toEqual([7, 10]);
    const hoursBefore = (await series('visits', 'HOUR', day, new Date(day.getTime() + 23 * HOUR))).filter((p) => p.value > 0);
    expect(hoursBefore.map((p) => [new Date(p.start).getUTCHours(), p.value])).toEqual([[0, 2], [5, 3], [13, 5]]);
    const totalBefore = await total('visits');
    const ancientBefore = await total('ancient');
    expect(ancientBefore).toBe(11);
    const ancientDay = new Date(d.getTime() - 800 * DAY);
    const ancientMonth = new Date(Date.UTC(ancientDay.getUTCFullYear(), ancientDay.getUTCMonth(), 1));
    const monthsAround = () => series('ancient', 'MONTH', new Date(ancientMonth.getTime() - DAY), new Date(ancientMonth.getTime() + 32 * DAY));
    const yearsAround = () => series('ancient', 'YEAR', new Date(ancientDay.getTime() - 400 * DAY), new Date(ancientDay.getTime() + 400 * DAY));
    const weeksAround = () => series('ancient', 'WEEK', new Date(ancientDay.getTime() - 14 * DAY), new Date(ancientDay.getTime() + 14 * DAY));
    const [months, years, weeks] = [await monthsAround(), await yearsAround(), await weeksAround()];
    expect(months.map((p) => p.value)).toEqual([0, 11, 0]);
    expect(weeks.map((p) => p.value).filter((v) => v > 0)).toEqual([11]);
    expect(years.map((p) => p.value).reduce((a, b) => a + b)).toBe(11);
    // The running total the day before the month began (LIFETIME) does not count what came later.
    const dayBeforeMonth = new Date(ancientMonth.getTime() - DAY);
    expect((await series('ancient', 'LIFETIME', dayBeforeMonth, dayBeforeMonth)).map((p) => p.value)).toEqual([0]);

    const report = (await applyRetention()).applyRetention;
    expect(report['ran']).toBe(true);
    // 3 levels (exact key, per category, all) x (3 quarter-hours of `day` not at midnight + 1 of `dayBefore`),
    // and ancient's bucket at 3 levels, moved to the start of its week or month.
    expect(report['statisticsCompacted']).toBe(15);
    expect(report['statisticsDeleted']).toBe(0);

    // Day sums and totals are unchanged; hour resolution of those days is gone (everything at 00:00 UTC).
    expect((await series('visits', 'DAY', dayBefore, day)).map((p) => p.value)).toEqual([7, 10]);
    const hoursAfter = (await series('visits', 'HOUR', day, new Date(day.getTime() + 23 * HOUR))).filter((p) => p.value > 0);
    expect(hoursAfter.map((p) => [new Date(p.start).getUTCHours(), p.value])).toEqual([[0, 10]]);
    expect(await total('visits')).toBe(totalBefore);
    // Past RETENTION_DAY_DAYS the day is no longer kept (its sum moved to the start of its week or month), but
    // WEEK, MONTH and YEAR series (kept for ever by default), the running total before it and the total are.
    expect(await monthsAround()).toEqual(months);
    expect(await yearsAround()).toEqual(years);
    expect(await weeksAround()).toEqual(weeks);
    expect((await series('ancient', 'LIFETIME', dayBeforeMonth, dayBeforeMonth)).map((p) => p.value)).toEqual([0]);
    expect(await total('ancient')).toBe(11);

    // A second run finds nothing more to do.
    const again = (await applyRetention()).applyRetention;
    expect([again['statisticsCompacted'], again['statisticsDeleted']]).toEqual([0, 0]);
  });

  it('deletes gauge statistics past their period’s retention', async () => {
    const record = (value: number, period: string, date: Date) =>
      t.ok(
        'mutation($v: Float!, $p: Period!, $d: DateTime!) { recordStatistic(domain: "ret", metric: "followers", value: $v, period: $p, date: $d) { value } }',
        { v: value, p: period, d: date.toISOString() },
        { token: s },
      );
    const now = Date.now();
    // HOUR values as recorded before recordStatistic refused HOUR (one value per local date): still retained by age.
    const legacyHour = (value: number, date: Date) =>
      sql(
        `insert into metric_recorded_statistic (metric_id, object_type, object_id, period, date, value, recorded_at)
         select m.id, '', '', 'HOUR', ?::date, ?, now() from metric m join metric_domain d on d.id = m.domain_id where d.ref = 'ret' and m.ref = 'followers'`,
        [date.toISOString().slice(0, 10), value],
      );
    await legacyHour(1, new Date(now - 40 * DAY)); // past 30 days: deleted
    await legacyHour(2, new Date(now - 2 * DAY)); // kept
    await record(3, 'DAY', new Date(now - 800 * DAY)); // past 730 days: deleted
    await record(4, 'DAY', new Date(now - 100 * DAY)); // kept
    await record(5, 'MONTH', new Date(now - 3000 * DAY)); // months kept forever by default
    const report = (await applyRetention()).applyRetention;
    expect(report['statisticsDeleted']).toBe(2);
    const values = async (period: string, from: number, to: number) =>
      (await series('followers', period, new Date(now - from * DAY), new Date(now - to * DAY))).map((p) => p.value);
    expect(await values('HOUR', 41, 39)).toEqual([]);
    expect(await values('HOUR', 3, 1)).toEqual([2]);
    expect(await values('DAY', 801, 799)).toEqual([]);
    expect(await values('DAY', 101, 99)).toEqual([4]);
    expect(await values('MONTH', 3100, 2900)).toEqual([5]);
  });

  it('deletes dead letters older than RETENTION_DEAD_LETTER_DAYS', async () => {
    // Test setup: dead letters as the fold writes them, one aged 20 days.
    await sql(
      `insert into metric_dead_letter (inbox_id, metric_id, object_type, object_id, category, dom_id, amount, occurred_at, reason, dead_at)
       values (1, 424242, '', '', '', '', 1, now(), 'unknown_metric', now() - interval '20 days'),
              (2, 424242, '', '', '', '', 1, now(), 'unknown_metric', now() - interval '1 day')`,
    );
    const report = (await applyRetention()).applyRetention;
    expect(report['deadLettersDeleted']).toBe(1);
    const left = await sql('select count(*) as n from metric_dead_letter where metric_id = 424242');
    expect(Number((left[0] as { n: string }).n)).toBe(1);
  });

  it('prunes actions older than RETENTION_ACTION_DAYS with their feed entries, keeping unread counts exact and live', async () => {
    const userId = uniqueId('ret-user');
    const user = await t.userToken(userId);
    const project = { type: 'Project', id: uniqueId('p') };
    await t.ok('mutation($i: TrackInput!) { track(input: $i) { id } }', { i: { object: project, actorOnly: false } }, { token: user });
    const ids: string[] = [];
    for (const verb of ['created', 'renamed', 'closed']) {
      const r = await t.ok<{ logAction: { id: string } }>(
        'mutation($i: LogActionInput!) { logAction(input: $i) { id } }',
        { i: { actor: { type: 'User', id: uniqueId('actor') }, verb, targets: [project] } },
        { token: s },
      );
      ids.push(r.logAction.id);
    }
    const unread = async () => (await t.ok<{ unreadCount: number }>('{ unreadCount }', {}, { token: user })).unreadCount;
    expect(await unread()).toBe(3);
    // Mark one of the old ones read: pruning must only take unread ones off the counter.
    await t.ok('mutation($ids: [ID!]!) { markRead(actionIds: $ids) }', { ids: [ids[1]] }, { token: user });
    expect(await unread()).toBe(2);
    // And the newest one seen (still unread): pruning takes the old unseen one off the unseen counter.
    await t.ok('mutation($ids: [ID!]!) { markSeen(actionIds: $ids) }', { ids: [ids[2]] }, { token: user });
    const unseen = async () => (await t.ok<{ unseenCount: number }>('{ unseenCount }', {}, { token: user })).unseenCount;
    expect(await unseen()).toBe(1);
    // Test setup: age the first two actions past 90 days.
    await sql(`update activity_action set timestamp = now() - interval '100 days' where verb in ('created', 'renamed')`);

    const events: Array<{ kind: string; unreadCount: number; unseenCount: number }> = [];
    const client = t.wsClient(user);
    const subscribed = new Promise<void>((resolve) => client.on('connected', () => setTimeout(resolve, 200)));
    client.subscribe(
      { query: 'subscription { feed { kind unreadCount unseenCount } }' },
      { next: (e) => events.push((e.data as { feed: (typeof events)[number] }).feed), error: () => {}, complete: () => {} },
    );
    await subscribed;

    const report = (await applyRetention()).applyRetention;
    expect(report['actionsDeleted']).toBe(2);
    expect(report['feedEntriesDeleted']).toBe(2);
    expect(await unread()).toBe(1);
    expect(await unseen()).toBe(0);
    const feed = await t.ok<{ feed: { edges: Array<{ node: { verb: string } }> } }>('{ feed(first: 10) { edges { node { verb } } } }', {}, { token: user });
    expect(feed.feed.edges.map((e) => e.node.verb)).toEqual(['closed']);
    await expect.poll(() => events.at(-1), { timeout: 5000 }).toEqual({ kind: 'READ', unreadCount: 1, unseenCount: 0 });
  });

  it('validates its settings', () => {
    expect(() => loadConfig({ RETENTION_CRON: 'every night' })).toThrow(ConfigError);
    expect(() => loadConfig({ RETENTION_HOUR_DAYS: '-1' })).toThrow(ConfigError);
    const defaults = loadConfig({}).retention;
    expect(defaults).toMatchObject({ hourDays: 30, dayDays: 730, deadLetterDays: 14, actionDays: 0, cron: '17 3 * * *' });
  });
});
