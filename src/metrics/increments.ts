import { createIsbotFromList, isbot, list as isbotList } from 'isbot';
import type { MetricsConfig } from '../config.ts';
import type { ObjectLabels } from '../objects/labels.ts';
import type { Viewer } from '../server/auth.ts';
import { badInput } from '../server/errors.ts';
import { callerScope } from '../server/idempotency.ts';
import type { MetricsCatalog } from './catalog.ts';
import type { Inbox } from './inbox.ts';
import {
  BOT_METRIC,
  CATEGORY_MAX,
  LABELS_DOMAIN,
  REF_PATTERN,
  METRIC_REF_MAX,
  isMetricRef,
  isLabel,
  SYSTEM_DOMAIN,
  DOM_ID_MAX,
  incrementKey,
  type InboxRow,
  type IncrementEvent,
  type IncrementOutcome,
  type MetricInfo,
  type Rejection,
} from './model.ts';

export interface IncrementCaller {
  viewer: Viewer;
  userAgent: string | null;
}

/** Rejection reasons a stored event can meet when it is retried (the catalog or the clock moved since). */
const REFUSED_SINCE_STORED = new Set<string>(['unknown_domain', 'unknown_metric', 'not_public', 'not_counter', 'at_too_old', 'too_many_metrics']);

/**
 * Validates increment events one by one (per-event rejections with a reason), writes the accepted ones
 * through the group commit and answers once they are committed.
 */
export class Increments {
  readonly #catalog: MetricsCatalog;
  readonly #inbox: Inbox;
  readonly #config: MetricsConfig;
  /** isbot's list plus the operator's METRICS_BOT_PATTERNS (django-trackable's "craft your own" spider list). */
  readonly #isBot: (userAgent: string | null | undefined) => boolean;

  /** Told of the rows of each committed increment (live metrics: metrics/live.ts). */
  readonly #onCommitted: ((rows: InboxRow[]) => void) | undefined;
  /** Keeps the labels of the accepted events' objects (objects/labels.ts). */
  readonly #labels: ObjectLabels | undefined;

  constructor(
    catalog: MetricsCatalog,
    inbox: Inbox,
    config: MetricsConfig,
    options: { onCommitted?: ((rows: InboxRow[]) => void) | undefined; labels?: ObjectLabels | undefined } = {},
  ) {
    this.#onCommitted = options.onCommitted;
    this.#labels = options.labels;
    this.#catalog = catalog;
    this.#inbox = inbox;
    this.#config = config;
    this.#isBot = config.botPatterns.length > 0 ? createIsbotFromList([...isbotList, ...config.botPatterns]) : isbot;
  }

  /** Whether the bot filter rejects this caller's increments (METRICS_BOT_FILTER roles, its User-Agent). */
  countsAsBot(caller: IncrementCaller): boolean {
    return this.#config.botFilter.includes(caller.viewer.kind) && this.#isBot(caller.userAgent);
  }

  /** Counts bot rejections in trackql/bot_rejections (category: the domain they aimed at). */
  async #rejectBots(events: Array<{ domain: string }>): Promise<IncrementOutcome> {
    const resolved = await this.#catalog.resolve([{ domain: SYSTEM_DOMAIN, metric: BOT_METRIC }]);
    const botMetric = resolved.metric(SYSTEM_DOMAIN, BOT_METRIC);
    if (botMetric) {
      const perDomain = new Map<string, number>();
      for (const event of events) {
        const category = event.domain.length <= CATEGORY_MAX && REF_PATTERN.test(event.domain) ? event.domain : '(invalid domain ref)';
        perDomain.set(category, (perDomain.get(category) ?? 0) + 1);
      }
      const now = Date.now();
      await this.#inbox.enqueue(
        [...perDomain].map(([category, amount]) => ({
          metricId: botMetric.id,
          objectType: '',
          objectId: '',
          category,
          domId: '',
          amount,
          occurredAt: now,
        })),
      );
    }
    return { accepted: 0, rejected: events.map((_, index) => ({ index, reason: 'bot' as const })), duplicates: [] };
  }

  async increment(caller: IncrementCaller, events: IncrementEvent[]): Promise<IncrementOutcome> {
    if (events.length > this.#config.maxBatch) {
      throw badInput(`Too many events: ${events.length} (at most ${this.#config.maxBatch} per call)`);
    }
    return this.#store(caller, events);
  }

  /** Validates events one by one and stores the accepted ones in one group commit (all of them, or none). */
  async #store(caller: IncrementCaller, events: IncrementEvent[]): Promise<IncrementOutcome> {
    if (events.length === 0) return { accepted: 0, rejected: [], duplicates: [] };
    checkEvents(events);
    if (this.countsAsBot(caller)) return this.#rejectBots(events);

    const isService = caller.viewer.kind === 'service';
    const resolved = await this.#catalog.resolve(events);

    // Open domains: create unknown metrics on first use (services always; others when the domain's new
    // metrics are public, since they could not increment a private one anyway).
    const toCreate = new Map<number, { domain: NonNullable<ReturnType<typeof resolved.domain>>; refs: Set<string> }>();
    for (const event of events) {
      const domain = resolved.domain(event.domain);
      if (!domain?.openMetrics || resolved.metric(event.domain, event.metric)) continue;
      if (!isService && !domain.publicMetrics) continue;
      if (event.metric.length > METRIC_REF_MAX || !isMetricRef(event.domain, event.metric)) continue;
      const entry = toCreate.get(domain.id) ?? { domain, refs: new Set<string>() };
      entry.refs.add(event.metric);
      toCreate.set(domain.id, entry);
    }
    const created = new Map<string, MetricInfo>();
    const overCap = new Set<string>();
    for (const { domain, refs } of toCreate.values()) {
      const made = await this.#catalog.createOnFirstUse(domain, [...refs]);
      for (const ref of refs) {
        const metric = made.get(ref);
        if (metric) created.set(`${domain.ref}\u0000${ref}`, metric);
        else overCap.add(`${domain.ref}\u0000${ref}`);
      }
    }

    const now = Date.now();
    const newest = now + this.#config.maxSkewSeconds * 1000;
    const oldest = now - this.#config.maxAgeHours * 3_600_000;
    const rows: InboxRow[] = [];
    /** The event of each row (rows are the accepted events, in order). */
    const rowEvents: number[] = [];
    const rejected: Rejection[] = [];
    events.forEach((event, index) => {
      const domain = resolved.domain(event.domain);
      if (!domain) return void rejected.push({ index, reason: 'unknown_domain' });
      const metric = resolved.metric(event.domain, event.metric) ?? created.get(`${event.domain}\u0000${event.metric}`);
      if (!metric) {
        if (overCap.has(`${event.domain}\u0000${event.metric}`)) return void rejected.push({ index, reason: 'too_many_metrics' });
        return void rejected.push({ index, reason: domain.openMetrics && !isService && !domain.publicMetrics ? 'not_public' : 'unknown_metric' });
      }
      if (!isService && !metric.public) return void rejected.push({ index, reason: 'not_public' });
      if (metric.kind !== 'COUNTER') return void rejected.push({ index, reason: 'not_counter' });
      const by = event.by ?? 1;
      if (Math.abs(by) > this.#config.maxBy) return void rejected.push({ index, reason: 'by_too_large' });
      if (by < 1 && !metric.allowNegative) return void rejected.push({ index, reason: 'by_not_positive' });
      const time = event.at ? event.at.getTime() : now;
      if (time > newest) return void rejected.push({ index, reason: 'at_in_future' });
      if (time < oldest) return void rejected.push({ index, reason: 'at_too_old' });
      rows.push({
        metricId: metric.id,
        objectType: event.object?.type ?? '',
        objectId: event.object?.id ?? '',
        category: event.category ?? '',
        domId: event.domId ?? '',
        amount: by,
        occurredAt: time,
        key: event.key ?? null,
      });
      rowEvents.push(index);
    });
    // A refused event whose id the caller had stored is the retry of a stored event that its checks now refuse
    // (it grew too old, its metric was made private): answered as the duplicate it is, not as "not stored".
    const storedBefore = await this.#storedRejections(caller, events, rejected);
    const stillRejected = storedBefore.size === 0 ? rejected : rejected.filter((r) => !storedBefore.has(r.index));
    // The labels first: an increment that fails after them leaves a label, never a count without its label.
    if (this.#labels && rows.length > 0) await this.#labels.remember(caller.viewer, rowEvents.map((index) => events[index]!.object));
    const repeated = await this.#inbox.enqueue(rows, callerScope(caller.viewer));
    if (rows.length > 0) this.#onCommitted?.(rows);
    const duplicates = repeated.map((row) => rowEvents[row]!);
    if (storedBefore.size > 0) {
      duplicates.push(...storedBefore);
      duplicates.sort((a, b) => a - b);
    }
    return { accepted: rows.length + storedBefore.size, rejected: stillRejected, duplicates };
  }

  /**
   * The positions of the rejected events whose id the caller had stored within the de-duplication window, among
   * those refused for a reason that can arise after an event was stored (its metric or domain deleted or made
   * private, turned into a gauge, the event grown too old). One refused for what it is (`by`, a future `at`)
   * was never stored under its id, whatever else was: it stays refused.
   */
  async #storedRejections(caller: IncrementCaller, events: IncrementEvent[], rejected: Rejection[]): Promise<Set<number>> {
    const keyed = rejected.filter((r) => events[r.index]!.key && REFUSED_SINCE_STORED.has(r.reason));
    if (keyed.length === 0) return new Set();
    const stored = await this.#inbox.storedKeys(callerScope(caller.viewer), keyed.map((r) => events[r.index]!.key!));
    return new Set(keyed.filter((r) => stored.has(events[r.index]!.key!)).map((r) => r.index));
  }

  /**
   * django-tracker labels: `a|b:category:domId` into the built-in `labels` domain. With `id` (checked at the
   * edge), each label is de-duplicated by the id and its position in the list.
   */
  async trackLabels(caller: IncrementCaller, labels: string, id?: string | null): Promise<IncrementOutcome> {
    return this.trackBeacon(caller, { labels, pageViews: null, id: id ?? null });
  }

  /**
   * What the /track beacon asks, in one call: labels (as trackLabels) and page views (as incrementObjects),
   * checked together and stored in one group commit, so that a call that fails stores neither. Positions
   * (rejections, duplicates): a label's position in the `|` list, then the number of labels plus a page's position.
   */
  async trackBeacon(
    caller: IncrementCaller,
    beacon: { labels: string | null; pageViews: ObjectIncrements | null; id: string | null },
  ): Promise<IncrementOutcome> {
    const parsed = beacon.labels === null ? [] : parseLabels(beacon.labels);
    checkLabelCount(this.#config, parsed.length);
    const pages = beacon.pageViews ? objectIncrements(this.#config, beacon.pageViews, beacon.id) : [];
    const events: IncrementEvent[] = [];
    const positions: number[] = [];
    const rejected: Rejection[] = [];
    parsed.forEach((part, index) => {
      if ('reason' in part) rejected.push({ index, reason: part.reason });
      else {
        events.push({
          domain: LABELS_DOMAIN,
          metric: part.label,
          category: part.category,
          domId: part.domId,
          key: beacon.id ? incrementKey.label(beacon.id, index) : null,
        });
        positions.push(index);
      }
    });
    pages.forEach((event, index) => {
      events.push(event);
      positions.push(parsed.length + index);
    });
    const outcome = await this.#store(caller, events);
    return {
      accepted: outcome.accepted,
      rejected: sortRejections([...rejected, ...outcome.rejected.map((r) => ({ index: positions[r.index]!, reason: r.reason }))]),
      duplicates: outcome.duplicates.map((index) => positions[index]!),
    };
  }
}

/** A call may carry at most METRICS_MAX_BATCH labels (BAD_USER_INPUT, nothing charged or stored). */
export function checkLabelCount(config: MetricsConfig, count: number): void {
  if (count > config.maxBatch) throw badInput(`Too many labels: ${count} (at most ${config.maxBatch} per call)`);
}

/** A call may carry at most METRICS_MAX_BATCH objects (BAD_USER_INPUT, nothing charged or stored). */
export function checkObjectCount(config: MetricsConfig, count: number): void {
  if (count > config.maxBatch) throw badInput(`Too many objects: ${count} (at most ${config.maxBatch} per call)`);
}

/** The same increment for many objects of one type (incrementObjects, the beacon's page views). */
export interface ObjectIncrements {
  domain: string;
  metric: string;
  objectType: string;
  objectIds: string[];
  by?: number | null | undefined;
  category?: string | null | undefined;
  domId?: string | null | undefined;
  at?: Date | null | undefined;
}

/** One event per object id (`index` = its position), with the call's id as `o:<id>#<index>`; bounded by METRICS_MAX_BATCH. */
export function objectIncrements(config: MetricsConfig, views: ObjectIncrements, id: string | null): IncrementEvent[] {
  checkObjectCount(config, views.objectIds.length);
  return views.objectIds.map((objectId, index) => ({
    domain: views.domain,
    metric: views.metric,
    object: { type: views.objectType, id: objectId },
    by: views.by ?? 1,
    category: views.category || null,
    domId: views.domId || null,
    at: views.at ?? null,
    key: id === null ? null : incrementKey.object(id, index),
  }));
}

/** Malformed input fails the whole call (BAD_USER_INPUT, nothing stored), unlike per-event rejections. */
function checkEvents(events: IncrementEvent[]): void {
  const problems: string[] = [];
  events.forEach((event, index) => {
    if (event.category && event.category.length > CATEGORY_MAX) problems.push(`events.${index}.category: must be at most ${CATEGORY_MAX} characters`);
    if (event.domId && event.domId.length > DOM_ID_MAX) problems.push(`events.${index}.domId: must be at most ${DOM_ID_MAX} characters`);
    if (event.by != null && !Number.isSafeInteger(event.by)) problems.push(`events.${index}.by: must be an integer`);
    // PostgreSQL text cannot hold NUL; one such row would fail the whole group commit.
    if (hasNul(event.object?.id) || hasNul(event.category) || hasNul(event.domId)) {
      problems.push(`events.${index}: strings must not contain NUL characters`);
    }
  });
  if (problems.length > 0) throw badInput(problems.slice(0, 10).join('; '));
}

const hasNul = (value: string | null | undefined) => value != null && value.includes('\u0000');

function sortRejections(rejections: Rejection[]): Rejection[] {
  return rejections.sort((a, b) => a.index - b.index);
}

export type ParsedLabel = { label: string; category: string | null; domId: string | null } | { reason: Rejection['reason'] };

/**
 * Splits django-tracker's label syntax: labels separated by `|`, each `label[:category[:domId]]`.
 * Empty category or dom id means none. Every part gets an entry (a label or the reason it is malformed).
 */
export function parseLabels(input: string): ParsedLabel[] {
  if (input.trim() === '') return [];
  return input.split('|').map((raw): ParsedLabel => {
    const part = raw.trim();
    if (part === '') return { reason: 'empty_label' };
    const fields = part.split(':');
    if (fields.length > 3) return { reason: 'malformed_label' };
    const [label = '', category = '', domId = ''] = fields.map((f) => f.trim());
    if (label === '') return { reason: 'empty_label' };
    if (label.length > METRIC_REF_MAX || !isLabel(label)) return { reason: 'invalid_label' };
    if (category.length > CATEGORY_MAX || domId.length > DOM_ID_MAX || hasNul(category) || hasNul(domId)) return { reason: 'malformed_label' };
    return { label, category: category || null, domId: domId || null };
  });
}
