import { z } from 'zod';
import type { ObjectRefValue } from '../objects/object-ref.ts';

/** Shapes and limits shared by the metrics services and schema. */

export type MetricKind = 'COUNTER' | 'GAUGE';
export type Period = 'HOUR' | 'DAY' | 'WEEK' | 'MONTH' | 'YEAR' | 'LIFETIME';
export const PERIODS: readonly Period[] = ['HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR', 'LIFETIME'];

/** Stored period of the small UTC buckets counters are folded into. */
export const QUARTER_HOUR = 'Q15';
/** Start of every LIFETIME bucket. */
export const EPOCH = new Date(0);

export const DOMAIN_REF_MAX = 64;
export const METRIC_REF_MAX = 128;
export const NAME_MAX = 256;
export const CATEGORY_MAX = 128;
export const DOM_ID_MAX = 256;

/** Reference IDs: letters, digits and `_ . - /`, starting with a letter, digit or `_` (no `|` or `:`: label syntax). */
export const REF_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/;
export const REF_RULE = 'must start with a letter, digit or _ and contain only letters, digits, _ . - /';

/**
 * Labels (metric refs of the `labels` domain): django-tracker's label characters, letters, digits, `_ . - + `
 * and spaces (its validator is `[\w.\-_|+ ]+`, `|` separating labels), plus `/` like other refs; no `:`,
 * which separates the category and the DOM id. Surrounding spaces are trimmed before this check.
 */
export const LABEL_PATTERN = /^[\p{L}\p{N}_.\-/+](?:[\p{L}\p{N}_.\-/+ ]*[\p{L}\p{N}_.\-/+])?$/u;

export const isLabel = (label: string) => LABEL_PATTERN.test(label);
export const LABEL_RULE = 'must be a label: letters, digits, spaces and _ . - / +, not starting or ending with a space';

/** A valid metric ref of a domain: a label in the `labels` domain, a reference ID elsewhere. */
export const isMetricRef = (domainRef: string, ref: string) => (domainRef === LABELS_DOMAIN ? isLabel(ref) : REF_PATTERN.test(ref));

export const domainRefSchema = z.string().min(1, 'must not be empty').max(DOMAIN_REF_MAX, `must be at most ${DOMAIN_REF_MAX} characters`).regex(REF_PATTERN, REF_RULE);
/** A metric ref's length; what it may contain depends on its domain (isMetricRef: labels take spaces and `+`). */
export const metricRefLengthSchema = z.string().min(1, 'must not be empty').max(METRIC_REF_MAX, `must be at most ${METRIC_REF_MAX} characters`);
/** A domain's or metric's display name: may be empty, as trackstats' (`register(domain, ref, name='')`). */
export const nameSchema = z.string().trim().max(NAME_MAX, `must be at most ${NAME_MAX} characters`);
export const categorySchema = z.string().max(CATEGORY_MAX, `must be at most ${CATEGORY_MAX} characters`);
export const domIdSchema = z.string().max(DOM_ID_MAX, `must be at most ${DOM_ID_MAX} characters`);

/** Built-in domains, created on first use of the catalog. */
export const LABELS_DOMAIN = 'labels';
export const SYSTEM_DOMAIN = 'trackql';
export const BOT_METRIC = 'bot_rejections';

export interface DomainInfo {
  id: number;
  ref: string;
  name: string;
  openMetrics: boolean;
  publicMetrics: boolean;
  createdAt: Date;
}

export interface MetricInfo {
  id: number;
  ref: string;
  name: string;
  kind: MetricKind;
  public: boolean;
  allowNegative: boolean;
  autoCreated: boolean;
  createdAt: Date;
  domain: DomainInfo;
}

/** One row of the inbox, as the group commit writes it. */
export interface InboxRow {
  metricId: number;
  objectType: string;
  objectId: string;
  category: string;
  domId: string;
  amount: number;
  /** Epoch milliseconds. */
  occurredAt: number;
  /** Idempotency key (see incrementKey), stored with the row in the same statement; absent: none. */
  key?: string | null | undefined;
}

/**
 * The stored idempotency key of an event: `e:<id>` for an `increment` event, `o:<id>#<index>` for an object of
 * `incrementObjects`, `l:<id>#<index>` for a label of `trackLabels` (one client id per call plus the position).
 * The prefixes keep the three namespaces apart; the position follows the last `#`.
 */
/** The object type of the /track beacon's page views (a page's path is its id). */
export const PAGE_TYPE = 'Page';

export const incrementKey = {
  event: (id: string) => `e:${id}`,
  object: (id: string, index: number) => `o:${id}#${index}`,
  label: (id: string, index: number) => `l:${id}#${index}`,
};

export interface IncrementEvent {
  domain: string;
  metric: string;
  object?: ObjectRefValue | null | undefined;
  by?: number | null | undefined;
  category?: string | null | undefined;
  domId?: string | null | undefined;
  at?: Date | null | undefined;
  /** Idempotency key as stored (incrementKey), checked at the edge; absent: the event is not de-duplicated. */
  key?: string | null | undefined;
}

/**
 * Why an increment event was not accepted (stable strings, part of the API):
 * unknown_domain, unknown_metric, not_public, not_counter, by_not_positive, by_too_large, at_in_future,
 * at_too_old, too_many_metrics, bot, and for labels empty_label, invalid_label, malformed_label.
 */
export type RejectReason =
  | 'unknown_domain'
  | 'unknown_metric'
  | 'not_public'
  | 'not_counter'
  | 'by_not_positive'
  | 'by_too_large'
  | 'at_in_future'
  | 'at_too_old'
  | 'too_many_metrics'
  | 'bot'
  | 'empty_label'
  | 'invalid_label'
  | 'malformed_label';

export interface Rejection {
  index: number;
  reason: RejectReason;
}

export interface IncrementOutcome {
  /** Events accepted, duplicates included. */
  accepted: number;
  rejected: Rejection[];
  /** Positions of accepted events whose id had been accepted before: answered as accepted, not stored again. */
  duplicates: number[];
}

export interface FoldReport {
  folded: number;
  buckets: number;
  deadLettered: number;
  durationMs: number;
  batches: number;
  /** True when another fold held the lock and this one did not wait (cron). */
  skipped: boolean;
}

/** A fold this process ran, with the time it finished. */
export interface FoldRun {
  finishedAt: Date;
  report: FoldReport;
}

/** Filters of total/series/top: an object, a category, or neither. */
export interface StatFilter {
  object?: Pick<ObjectRefValue, 'type' | 'id'> | null | undefined;
  category?: string | null | undefined;
}

export interface Point {
  start: Date;
  value: number;
}

export interface ObjectTotal {
  object: ObjectRefValue;
  value: number;
}

export interface LabelStat {
  domId: string;
  label: string;
  category: string | null;
  count: number;
}

export interface StatisticValue {
  metric: MetricInfo;
  period: Period;
  /** The local date it is recorded for, YYYY-MM-DD. */
  date: string;
  /** The first instant of that date in the time zone of the request. */
  start: Date;
  object: ObjectRefValue | null;
  value: number;
}

export interface DeadLetter {
  id: string;
  metricId: number;
  object: ObjectRefValue | null;
  category: string | null;
  domId: string | null;
  amount: number;
  occurredAt: Date;
  reason: string;
  deadAt: Date;
}
