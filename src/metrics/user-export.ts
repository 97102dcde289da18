import type { Row } from '../activity/action-store.ts';
import { idKey, keyError, type UserExportSection } from '../activity/user-export.ts';

/**
 * A user's export (activity's exportUser): the metrics rows keyed by the user as an object, the same rows a user's
 * erasure deletes (erasure.ts): its per-object counter buckets, recorded statistics, unfolded increments and dead
 * letters. Each section in key order from the export's cursor. (The per-object rows have no index by object: an
 * export, like an erasure, reads the table.)
 */

const iso = (value: unknown) => new Date(value as string).toISOString();

/** A composite key as the cursor carries it: JSON of the values, checked against `shape` (typeof of each). */
function compositeKey(after: string | null, shape: readonly string[]): unknown[] | null {
  if (after === null) return null;
  let values: unknown;
  try {
    values = JSON.parse(after);
  } catch {
    throw keyError();
  }
  if (!Array.isArray(values) || values.length !== shape.length || values.some((v, i) => typeof v !== shape[i])) throw keyError();
  if (values.some((v) => typeof v === 'string' && v.length > 300)) throw keyError();
  return values;
}

const METRIC_REFS = `join metric m on m.id = s.metric_id join metric_domain d on d.id = m.domain_id`;

export const metricsExportSections: UserExportSection[] = [
  {
    kind: 'metricBucket',
    async read(em, user, after, limit) {
      const key = compositeKey(after, ['number', 'string', 'string', 'string', 'string']);
      if (key && Number.isNaN(Date.parse(key[2] as string))) throw keyError();
      const rows = await em.execute<Row[]>(
        `select s.metric_id, s.period, s.start, s.category, s.dom_id, s.value, d.ref as domain, m.ref as metric
           from metric_statistic s ${METRIC_REFS}
          where s.level = 0 and s.object_type = ? and s.object_id = ?
            ${key ? 'and (s.metric_id, s.period, s.start, s.category, s.dom_id) > (?, ?, ?::timestamptz, ?, ?)' : ''}
          order by s.metric_id, s.period, s.start, s.category, s.dom_id limit ?`,
        [user.type, user.id, ...(key ?? []), limit],
      );
      return rows.map((r) => ({
        key: JSON.stringify([Number(r['metric_id']), r['period'], iso(r['start']), r['category'], r['dom_id']]),
        record: {
          kind: 'metricBucket',
          domain: r['domain'],
          metric: r['metric'],
          period: r['period'],
          start: iso(r['start']),
          category: r['category'] || null,
          domId: r['dom_id'] || null,
          value: Number(r['value']),
        },
      }));
    },
  },
  {
    kind: 'recordedStatistic',
    async read(em, user, after, limit) {
      const key = compositeKey(after, ['number', 'string', 'string']);
      if (key && !/^\d{4}-\d{2}-\d{2}$/.test(key[2] as string)) throw keyError();
      const rows = await em.execute<Row[]>(
        `select s.metric_id, s.period, to_char(s.date, 'YYYY-MM-DD') as date, s.value, s.recorded_at, d.ref as domain, m.ref as metric
           from metric_recorded_statistic s ${METRIC_REFS}
          where s.object_type = ? and s.object_id = ? ${key ? 'and (s.metric_id, s.period, s.date) > (?, ?, ?::date)' : ''}
          order by s.metric_id, s.period, s.date limit ?`,
        [user.type, user.id, ...(key ?? []), limit],
      );
      return rows.map((r) => ({
        key: JSON.stringify([Number(r['metric_id']), r['period'], r['date']]),
        record: {
          kind: 'recordedStatistic',
          domain: r['domain'],
          metric: r['metric'],
          period: r['period'],
          date: r['date'],
          value: Number(r['value']),
          recordedAt: iso(r['recorded_at']),
        },
      }));
    },
  },
  {
    kind: 'increment',
    async read(em, user, after, limit) {
      const rows = await em.execute<Row[]>(
        `select s.id::text as id, s.category, s.dom_id, s.amount, s.occurred_at, d.ref as domain, m.ref as metric
           from metric_inbox s ${METRIC_REFS}
          where s.object_type = ? and s.object_id = ? and s.id > ? order by s.id limit ?`,
        [user.type, user.id, idKey(after), limit],
      );
      return rows.map((r) => ({
        key: String(r['id']),
        record: {
          kind: 'increment',
          domain: r['domain'],
          metric: r['metric'],
          category: r['category'] || null,
          domId: r['dom_id'] || null,
          by: Number(r['amount']),
          at: iso(r['occurred_at']),
        },
      }));
    },
  },
  {
    kind: 'metricDeadLetter',
    async read(em, user, after, limit) {
      const rows = await em.execute<Row[]>(
        `select s.id::text as id, s.metric_id, s.category, s.dom_id, s.amount, s.occurred_at, s.reason, s.dead_at
           from metric_dead_letter s
          where s.object_type = ? and s.object_id = ? and s.id > ? order by s.id limit ?`,
        [user.type, user.id, idKey(after), limit],
      );
      return rows.map((r) => ({
        key: String(r['id']),
        record: {
          kind: 'metricDeadLetter',
          metricId: Number(r['metric_id']),
          category: r['category'] || null,
          domId: r['dom_id'] || null,
          by: Number(r['amount']),
          at: iso(r['occurred_at']),
          reason: r['reason'],
          deadAt: iso(r['dead_at']),
        },
      }));
    },
  },
];
