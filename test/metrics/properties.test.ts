import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { BROWSER_UA, metricsHelpers } from './helpers.ts';
import { local, refNextStart, refPeriodStart, type RefPeriod } from './reference-calendar.ts';

/**
 * Property tests (issue 11, "go further"): random increments at random instants (near DST changes and local
 * midnights of zones drawn from the full IANA list, half-hour and 45-minute offsets included), read back with
 * random periods, ranges, zones and filters. Every `series`, `top`, `total` and `labelStats` answer must equal
 * a plain computation over the increments with the Intl-based reference calendar, in the inbox, after a
 * fold, and after retention compaction (whose effect the model applies: each old 15-minute bucket moves to
 * the latest local midnight of UTC and RETENTION_TIMEZONES at or before it).
 */

const SEED = 20_261_130;
const ZONES = Intl.supportedValuesOf('timeZone');
const EDGE_ZONES = ['Australia/Lord_Howe', 'Pacific/Chatham', 'Asia/Kathmandu', 'Asia/Tehran', 'Pacific/Kiritimati', 'America/Santiago', 'America/Havana', 'Asia/Kolkata', 'Europe/Paris', 'America/St_Johns', 'Africa/Casablanca', 'Australia/Eucla'];
const RETENTION_ZONES = ['Australia/Lord_Howe', 'America/St_Johns'];
const Q = 15 * 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const NOW = Date.now();
// Within METRICS_MAX_AGE_HOURS (10 years) whenever the test runs; offsets in use since then are multiples of 15 minutes.
const OLDEST = NOW - 9 * 365 * DAY;
const TYPE = 'Item';
const OBJECTS = ['o1', 'o2', 'o3'];
const CATEGORIES = ['', 'a', 'b'];
const LABELS = ['alpha', 'beta gamma', 'x+y'];

let t: TestApp;
let h: ReturnType<typeof metricsHelpers>;

beforeAll(async () => {
  t = await startTestApp({
    METRICS_MAX_AGE_HOURS: String(24 * 366 * 10),
    RETENTION_HOUR_DAYS: '30',
    RETENTION_DAY_DAYS: '0',
    RETENTION_TIMEZONES: RETENTION_ZONES.join(','),
    RATE_LIMIT_REQUESTS: '0',
    RATE_LIMIT_INCREMENTS: '0',
  });
  h = metricsHelpers(t);
  await h.registerDomain({ ref: 'prop' });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

interface Inc {
  at: number;
  object: string; // '' = none
  category: string;
  label: string;
  by: number;
}

/** Offset changes of `zone` during the year of `ms` (day scan, then 15-minute refinement). */
function transitions(zone: string, ms: number): number[] {
  const year = new Date(ms).getUTCFullYear();
  const found: number[] = [];
  let previous = local(zone, Date.UTC(year, 0, 1)).offset;
  for (let d = Date.UTC(year, 0, 1) + DAY; d < Date.UTC(year + 1, 0, 1); d += DAY) {
    const offset = local(zone, d).offset;
    if (offset === previous) continue;
    let q = d - DAY;
    while (local(zone, q + Q).offset === previous) q += Q;
    found.push(q + Q);
    previous = offset;
  }
  return found;
}

/** An instant: anywhere, near an offset change of `zone`, or near one of its local midnights. */
const instantArb = (zone: string) =>
  fc.oneof(
    fc.integer({ min: OLDEST, max: NOW - HOUR }),
    fc.integer({ min: NOW - 40 * DAY, max: NOW - HOUR }),
    fc.tuple(fc.integer({ min: OLDEST, max: NOW - 400 * DAY }), fc.nat(1000), fc.integer({ min: -3 * HOUR, max: 3 * HOUR })).map(([year, pick, delta]) => {
      const changes = transitions(zone, year);
      return changes.length > 0 ? changes[pick % changes.length]! + delta : year;
    }),
    fc.tuple(fc.integer({ min: OLDEST, max: NOW - 2 * DAY }), fc.integer({ min: -2 * HOUR, max: 2 * HOUR })).map(
      ([ms, delta]) => refPeriodStart(zone, 'DAY', ms) + delta,
    ),
  );

const zoneArb = fc.oneof(fc.constantFrom(...ZONES), fc.constantFrom(...EDGE_ZONES));
const PERIODS: Array<RefPeriod | 'LIFETIME'> = ['HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR', 'LIFETIME'];
/** Most points a random range spans, per period (keeps requests and the reference cheap). */
const SPAN: Record<RefPeriod | 'LIFETIME', number> = { HOUR: 3 * DAY, DAY: 40 * DAY, WEEK: 120 * DAY, MONTH: 400 * DAY, YEAR: 3 * 365 * DAY, LIFETIME: 40 * DAY };

const scenarioArb = zoneArb.chain((zone) =>
  fc.record({
    zone: fc.constant(zone),
    incs: fc.array(
      fc.record({
        at: instantArb(zone),
        object: fc.constantFrom('', ...OBJECTS),
        category: fc.constantFrom(...CATEGORIES),
        label: fc.constantFrom(...LABELS),
        by: fc.integer({ min: 1, max: 9 }),
      }),
      { minLength: 1, maxLength: 12 },
    ),
    period: fc.constantFrom(...PERIODS),
    topPeriod: fc.constantFrom(...PERIODS),
    pick: fc.nat(100),
    before: fc.integer({ min: 0, max: 1000 }),
    span: fc.double({ min: 0, max: 1, noNaN: true }),
    filter: fc.constantFrom('none', 'object', 'category', 'both'),
  }),
);

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never;

// ------------------------------------------------------------------ the reference model

function matches(inc: Inc, filter: { object?: string; category?: string }): boolean {
  return (filter.object === undefined || inc.object === filter.object) && (filter.category === undefined || inc.category === filter.category);
}

function refSeries(incs: Inc[], zone: string, period: RefPeriod | 'LIFETIME', from: number, to: number, filter: { object?: string; category?: string }) {
  const p: RefPeriod = period === 'LIFETIME' ? 'DAY' : period;
  const starts = [refPeriodStart(zone, p, from)];
  while (starts[starts.length - 1]! <= to) starts.push(refNextStart(zone, p, starts[starts.length - 1]!));
  const points: Array<[string, number]> = [];
  for (let k = 0; k + 1 < starts.length; k++) {
    const [start, end] = [starts[k]!, starts[k + 1]!];
    const within = (at: number) => (period === 'LIFETIME' ? at < end : at >= start && at < end);
    points.push([new Date(start).toISOString(), incs.filter((i) => matches(i, filter) && within(i.at)).reduce((sum, i) => sum + i.by, 0)]);
  }
  return points;
}

function refWindow(zone: string, period: RefPeriod | 'LIFETIME', at: number): [number, number] {
  if (period === 'LIFETIME') return [-Infinity, Infinity];
  const start = refPeriodStart(zone, period, at);
  return [start, refNextStart(zone, period, start)];
}

function refTop(incs: Inc[], zone: string, period: RefPeriod | 'LIFETIME', at: number) {
  const [start, end] = refWindow(zone, period, at);
  const sums = new Map<string, number>();
  for (const i of incs) if (i.object && i.at >= start && i.at < end) sums.set(i.object, (sums.get(i.object) ?? 0) + i.by);
  return [...sums].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([id, value]) => ({ object: { type: TYPE, id }, value }));
}

function refLabelStats(incs: Inc[], domId: string, zone: string, period: RefPeriod | 'LIFETIME', at: number) {
  const [start, end] = refWindow(zone, period, at);
  const sums = new Map<string, number>();
  for (const i of incs) if (i.at >= start && i.at < end) sums.set(`${i.label}\u0000${i.category}`, (sums.get(`${i.label}\u0000${i.category}`) ?? 0) + i.by);
  return [...sums]
    .map(([key, count]) => {
      const [label, category] = key.split('\u0000') as [string, string];
      return { domId, label, category: category || null, count };
    })
    .sort((a, b) => (a.label !== b.label ? (a.label < b.label ? -1 : 1) : (a.category ?? '') < (b.category ?? '') ? -1 : 1));
}

/** What compaction does to an increment: an old bucket moves to the latest local midnight of UTC and the retention zones. */
function compacted(incs: Inc[]): Inc[] {
  const cutoff = Math.floor((Date.now() - 30 * DAY) / DAY) * DAY;
  return incs.map((i) => {
    const bucket = Math.floor(i.at / Q) * Q;
    if (bucket >= cutoff) return i;
    return { ...i, at: Math.max(...['UTC', ...RETENTION_ZONES].map((zone) => refPeriodStart(zone, 'DAY', bucket))) };
  });
}

// ------------------------------------------------------------------ the server's answers

async function answers(metric: string, domId: string, s: Scenario, range: { from: number; to: number }, filter: { object?: string; category?: string }, at: number) {
  const data = await t.ok<{
    domain: { metric: { series: Array<{ start: string; value: number }>; total: number; top: Array<{ object: { type: string; id: string }; value: number }> } };
    labelStats: Array<{ domId: string; label: string; category: string | null; count: number }>;
  }>(
    `query($m: ID!, $p: Period!, $f: DateTime, $t: DateTime, $o: ObjectRefInput, $c: String, $tz: String, $tp: Period!, $at: DateTime, $ids: [String!]!) {
       domain(ref: "prop") { metric(ref: $m) {
         series(period: $p, from: $f, to: $t, object: $o, category: $c, timezone: $tz) { start value }
         total(object: $o, category: $c)
         top(period: $tp, at: $at, timezone: $tz, limit: 10) { object { type id } value }
       } }
       labelStats(domIds: $ids, period: $tp, at: $at, timezone: $tz) { domId label category count }
     }`,
    {
      m: metric,
      p: s.period,
      f: new Date(range.from).toISOString(),
      t: new Date(range.to).toISOString(),
      o: filter.object !== undefined ? { type: TYPE, id: filter.object } : undefined,
      c: filter.category,
      tz: s.zone,
      tp: s.topPeriod,
      at: new Date(at).toISOString(),
      ids: [domId],
    },
    h.service,
  );
  const m = data.domain.metric;
  return { series: m.series.map((p) => [p.start, p.value] as [string, number]), total: m.total, top: m.top, labelStats: data.labelStats };
}

function expected(incs: Inc[], domId: string, s: Scenario, range: { from: number; to: number }, filter: { object?: string; category?: string }, at: number) {
  return {
    series: refSeries(incs, s.zone, s.period, range.from, range.to, filter),
    total: incs.filter((i) => matches(i, filter)).reduce((sum, i) => sum + i.by, 0),
    top: refTop(incs, s.zone, s.topPeriod, at),
    labelStats: refLabelStats(incs, domId, s.zone, s.topPeriod, at),
  };
}

describe('metrics against an Intl reference (fast-check, seeded)', () => {
  it('series, total, top and labelStats equal the reference in the inbox, after a fold and after retention compaction', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const metric = (await h.registerMetric('prop')).ref;
        const domId = uniqueId('dom');
        const incs: Inc[] = s.incs;
        const events = incs.flatMap((i) => [
          { domain: 'prop', metric, object: i.object ? { type: TYPE, id: i.object } : undefined, category: i.category || undefined, by: i.by, at: new Date(i.at).toISOString() },
          { domain: 'labels', metric: i.label, category: i.category || undefined, domId, by: i.by, at: new Date(i.at).toISOString() },
        ]);
        const accepted = await h.increment(events, { userAgent: BROWSER_UA });
        expect(accepted).toEqual({ accepted: events.length, rejected: [] });

        const times = incs.map((i) => i.at).sort((a, b) => a - b);
        const from = times[Math.min(s.pick % times.length, times.length - 1)]! - s.before * 60_000;
        const range = { from, to: Math.min(NOW, from + Math.floor(s.span * SPAN[s.period])) };
        const filter: { object?: string; category?: string } = {};
        const sample = incs[s.pick % incs.length]!;
        if (s.filter === 'object' || s.filter === 'both') filter.object = sample.object || OBJECTS[0]!;
        if (s.filter === 'category' || s.filter === 'both') filter.category = sample.category;
        const at = sample.at;

        const want = expected(incs, domId, s, range, filter, at);
        expect(await answers(metric, domId, s, range, filter, at), 'inbox').toEqual(want);
        await h.fold();
        expect(await answers(metric, domId, s, range, filter, at), 'folded').toEqual(want);
        await t.ok('mutation { applyRetention { ran } }', {}, h.service);
        expect(await answers(metric, domId, s, range, filter, at), 'compacted').toEqual(expected(compacted(incs), domId, s, range, filter, at));
      }),
      { seed: SEED, numRuns: 25, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: false, endOnFailure: true },
    );
  }, 180_000);
});
