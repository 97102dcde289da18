import type { MetricsConfig } from '../config.ts';
import type { Em, Orm } from '../db/orm.ts';
import { conflict, notFound } from '../server/errors.ts';
import {
  BOT_METRIC,
  LABELS_DOMAIN,
  SYSTEM_DOMAIN,
  type DomainInfo,
  type MetricInfo,
  type MetricKind,
} from './model.ts';
import { ms, query, queryOne, sql, toDate } from './sql.ts';

interface DomainRow {
  d_id: number;
  d_ref: string;
  d_name: string;
  d_open: boolean;
  d_public: boolean;
  d_created: number;
}
interface MetricRow extends DomainRow {
  m_id: number | null;
  m_ref: string | null;
  m_name: string | null;
  m_kind: string | null;
  m_public: boolean | null;
  m_negative: boolean | null;
  m_auto: boolean | null;
  m_created: number | null;
}

const domainColumns = sql`d.id as d_id, d.ref as d_ref, d.name as d_name, d.open_metrics as d_open,
  d.public_metrics as d_public, ${ms(sql`d.created_at`)} as d_created`;
const metricColumns = sql`m.id as m_id, m.ref as m_ref, m.name as m_name, m.kind as m_kind, m.public as m_public,
  m.allow_negative as m_negative, m.auto_created as m_auto, ${ms(sql`m.created_at`)} as m_created`;

function toDomain(row: DomainRow): DomainInfo {
  return {
    id: row.d_id,
    ref: row.d_ref,
    name: row.d_name,
    openMetrics: row.d_open,
    publicMetrics: row.d_public,
    createdAt: toDate(row.d_created),
  };
}

function toMetric(row: MetricRow, domain: DomainInfo = toDomain(row)): MetricInfo {
  return {
    id: row.m_id!,
    ref: row.m_ref!,
    name: row.m_name!,
    kind: row.m_kind as MetricKind,
    public: row.m_public!,
    allowNegative: row.m_negative!,
    autoCreated: row.m_auto!,
    createdAt: toDate(row.m_created!),
    domain,
  };
}

interface Cached<T> {
  value: T;
  expires: number;
}

const metricKey = (domainRef: string, metricRef: string) => `${domainRef}\u0000${metricRef}`;

export interface DomainDefinition {
  ref: string;
  name: string;
  openMetrics: boolean;
  publicMetrics: boolean;
}

export interface MetricDefinition {
  domain: string;
  ref: string;
  name: string;
  kind: MetricKind;
  public: boolean;
  allowNegative: boolean;
}

/**
 * Domains and metrics. Definitions are read from the database; the increment path goes through a small
 * in-process cache (METRICS_CATALOG_TTL_MS) so that a hot increment costs no lookup query.
 */
export class MetricsCatalog {
  readonly #orm: Orm;
  readonly #config: MetricsConfig;
  readonly #domains = new Map<string, Cached<DomainInfo | null>>();
  readonly #metrics = new Map<string, Cached<MetricInfo | null>>();
  #builtins: Promise<void> | undefined;

  constructor(orm: Orm, config: MetricsConfig) {
    this.#orm = orm;
    this.#config = config;
  }

  #em(): Em {
    return this.#orm.em.fork();
  }

  /** Creates the built-in domains (`labels`: open and public; `trackql`: the bot counter) once per process. */
  ensureBuiltins(): Promise<void> {
    this.#builtins ??= (async () => {
      const em = this.#em();
      await query(
        em,
        sql`insert into metric_domain (ref, name, open_metrics, public_metrics)
            values (${LABELS_DOMAIN}, 'Labels', true, true), (${SYSTEM_DOMAIN}, 'trackql', false, false)
            on conflict (ref) do nothing`,
      );
      await query(
        em,
        sql`insert into metric (domain_id, ref, name, kind, public)
            select id, ${BOT_METRIC}, 'Increments rejected because the User-Agent is a bot', 'COUNTER', false
            from metric_domain where ref = ${SYSTEM_DOMAIN}
            on conflict (domain_id, ref) do nothing`,
      );
    })().catch((error: unknown) => {
      this.#builtins = undefined;
      throw error;
    });
    return this.#builtins;
  }

  /** A domain registered here replaces a cached "unknown" at once (increments right after registering). */
  #rememberDomain(domain: DomainInfo): DomainInfo {
    this.#domains.set(domain.ref, { value: domain, expires: Date.now() + this.#config.catalogTtlMs });
    return domain;
  }

  #remember(metric: MetricInfo): void {
    const expires = Date.now() + this.#config.catalogTtlMs;
    this.#domains.set(metric.domain.ref, { value: metric.domain, expires });
    this.#metrics.set(metricKey(metric.domain.ref, metric.ref), { value: metric, expires });
  }

  async listDomains(): Promise<DomainInfo[]> {
    await this.ensureBuiltins();
    const rows = await query<DomainRow>(this.#em(), sql`select ${domainColumns} from metric_domain d order by d.ref`);
    return rows.map(toDomain);
  }

  async getDomain(ref: string): Promise<DomainInfo | null> {
    await this.ensureBuiltins();
    const row = await queryOne<DomainRow>(this.#em(), sql`select ${domainColumns} from metric_domain d where d.ref = ${ref}`);
    return row ? toDomain(row) : null;
  }

  async listMetrics(domain: DomainInfo): Promise<MetricInfo[]> {
    const rows = await query<MetricRow>(
      this.#em(),
      sql`select ${domainColumns}, ${metricColumns} from metric m join metric_domain d on d.id = m.domain_id
          where m.domain_id = ${domain.id} order by m.ref`,
    );
    return rows.map((row) => toMetric(row, domain));
  }

  async getMetric(domainRef: string, ref: string): Promise<MetricInfo | null> {
    await this.ensureBuiltins();
    const row = await queryOne<MetricRow>(
      this.#em(),
      sql`select ${domainColumns}, ${metricColumns} from metric m join metric_domain d on d.id = m.domain_id
          where d.ref = ${domainRef} and m.ref = ${ref}`,
    );
    return row ? toMetric(row) : null;
  }

  /** Idempotent: the same definition again returns the domain; a different one is a CONFLICT. */
  async registerDomain(definition: DomainDefinition): Promise<DomainInfo> {
    await this.ensureBuiltins();
    const em = this.#em();
    const inserted = await queryOne<DomainRow>(
      em,
      sql`insert into metric_domain as d (ref, name, open_metrics, public_metrics)
          values (${definition.ref}, ${definition.name}, ${definition.openMetrics}, ${definition.publicMetrics})
          on conflict (ref) do nothing returning ${domainColumns}`,
    );
    if (inserted) return this.#rememberDomain(toDomain(inserted));
    const existing = await this.getDomain(definition.ref);
    if (!existing) throw conflict(`Domain "${definition.ref}" is being registered concurrently; try again`);
    const differences: string[] = [];
    if (existing.name !== definition.name) differences.push(`name is "${existing.name}"`);
    if (existing.openMetrics !== definition.openMetrics) differences.push(`openMetrics is ${existing.openMetrics}`);
    if (existing.publicMetrics !== definition.publicMetrics) differences.push(`publicMetrics is ${existing.publicMetrics}`);
    if (differences.length > 0) {
      throw conflict(`Domain "${definition.ref}" is already registered with a different definition: ${differences.join(', ')}`);
    }
    return this.#rememberDomain(existing);
  }

  /**
   * Idempotent like registerDomain. A metric that an open domain created on first use is redefined by its
   * first registration.
   */
  async registerMetric(definition: MetricDefinition): Promise<MetricInfo> {
    const domain = await this.getDomain(definition.domain);
    if (!domain) throw notFound(`Unknown domain "${definition.domain}"`);
    const em = this.#em();
    const inserted = await queryOne<MetricRow>(
      em,
      sql`with m as (
            insert into metric (domain_id, ref, name, kind, public, allow_negative)
            values (${domain.id}, ${definition.ref}, ${definition.name}, ${definition.kind}, ${definition.public}, ${definition.allowNegative})
            on conflict (domain_id, ref) do nothing returning *)
          select ${metricColumns}, ${domainColumns} from m join metric_domain d on d.id = m.domain_id`,
    );
    if (inserted) {
      const metric = toMetric(inserted, domain);
      this.#remember(metric);
      return metric;
    }
    const claimed = await queryOne<MetricRow>(
      em,
      sql`with m as (
            update metric set name = ${definition.name}, kind = ${definition.kind}, public = ${definition.public},
              allow_negative = ${definition.allowNegative}, auto_created = false
            where domain_id = ${domain.id} and ref = ${definition.ref} and auto_created returning *)
          select ${metricColumns}, ${domainColumns} from m join metric_domain d on d.id = m.domain_id`,
    );
    if (claimed) {
      const metric = toMetric(claimed, domain);
      this.#remember(metric);
      return metric;
    }
    const existing = await this.getMetric(domain.ref, definition.ref);
    if (!existing) throw conflict(`Metric "${definition.ref}" is being registered concurrently; try again`);
    const differences: string[] = [];
    if (existing.name !== definition.name) differences.push(`name is "${existing.name}"`);
    if (existing.kind !== definition.kind) differences.push(`kind is ${existing.kind}`);
    if (existing.public !== definition.public) differences.push(`public is ${existing.public}`);
    if (existing.allowNegative !== definition.allowNegative) differences.push(`allowNegative is ${existing.allowNegative}`);
    if (differences.length > 0) {
      throw conflict(
        `Metric "${definition.domain}/${definition.ref}" is already registered with a different definition: ${differences.join(', ')}`,
      );
    }
    this.#remember(existing);
    return existing;
  }

  /** Changes a domain's display name (its ref stays). NOT_FOUND when it does not exist. */
  async renameDomain(ref: string, name: string): Promise<DomainInfo> {
    await this.ensureBuiltins();
    const row = await queryOne<DomainRow>(
      this.#em(),
      sql`update metric_domain as d set name = ${name} where d.ref = ${ref} returning ${domainColumns}`,
    );
    if (!row) throw notFound(`Unknown domain "${ref}"`);
    // Cached metrics hold their domain: forget them, so this process answers with the new name at once.
    for (const key of this.#metrics.keys()) if (key.startsWith(metricKey(ref, ''))) this.#metrics.delete(key);
    return this.#rememberDomain(toDomain(row));
  }

  /**
   * Changes a metric's display name (its ref, kind and statistics stay). A metric created on first use keeps
   * being open to its first registration. NOT_FOUND when it does not exist.
   */
  async renameMetric(domainRef: string, ref: string, name: string): Promise<MetricInfo> {
    await this.ensureBuiltins();
    const row = await queryOne<MetricRow>(
      this.#em(),
      sql`with m as (
            update metric set name = ${name}
            where ref = ${ref} and domain_id = (select id from metric_domain where ref = ${domainRef}) returning *)
          select ${metricColumns}, ${domainColumns} from m join metric_domain d on d.id = m.domain_id`,
    );
    if (!row) {
      throw notFound((await this.getDomain(domainRef)) ? `Unknown metric "${ref}" in domain "${domainRef}"` : `Unknown domain "${domainRef}"`);
    }
    const metric = toMetric(row);
    this.#remember(metric);
    return metric;
  }

  /**
   * Deletes a metric and its statistics. Increments of it still in the inbox become dead letters at the
   * next fold (other instances may accept a few more until their cache expires; those too).
   */
  async deleteMetric(domainRef: string, ref: string): Promise<boolean> {
    await this.ensureBuiltins();
    if (domainRef === SYSTEM_DOMAIN) throw conflict('The built-in trackql metrics cannot be deleted');
    const rows = await query<{ id: number }>(
      this.#em(),
      sql`delete from metric m using metric_domain d
          where d.id = m.domain_id and d.ref = ${domainRef} and m.ref = ${ref} returning m.id`,
    );
    this.#metrics.delete(metricKey(domainRef, ref));
    return rows.length > 0;
  }

  /**
   * Definitions for the increment path, from the cache when fresh, otherwise with one query for all that
   * are missing. Returns domains by ref and metrics by `domain\0metric` (null = known not to exist).
   */
  async resolve(pairs: Array<{ domain: string; metric: string }>): Promise<{
    domain(ref: string): DomainInfo | null;
    metric(domainRef: string, ref: string): MetricInfo | null;
  }> {
    await this.ensureBuiltins();
    const now = Date.now();
    const missingDomains = new Set<string>();
    const missingMetrics = new Set<string>();
    for (const pair of pairs) {
      const d = this.#domains.get(pair.domain);
      if (!d || d.expires <= now) missingDomains.add(pair.domain);
      const m = this.#metrics.get(metricKey(pair.domain, pair.metric));
      if (!m || m.expires <= now) {
        missingDomains.add(pair.domain);
        missingMetrics.add(pair.metric);
      }
    }
    const local = new Map<string, DomainInfo | null>();
    const localMetrics = new Map<string, MetricInfo | null>();
    if (missingDomains.size > 0) {
      const rows = await query<MetricRow>(
        this.#em(),
        sql`select ${domainColumns}, ${metricColumns} from metric_domain d
            left join metric m on m.domain_id = d.id and m.ref = any(${[...missingMetrics]}::text[])
            where d.ref = any(${[...missingDomains]}::text[])`,
      );
      const ttl = this.#config.catalogTtlMs;
      const negativeTtl = Math.min(ttl, 1000);
      for (const ref of missingDomains) local.set(ref, null);
      for (const row of rows) {
        const domain = local.get(row.d_ref) ?? toDomain(row);
        local.set(row.d_ref, domain);
        if (row.m_id !== null) localMetrics.set(metricKey(row.d_ref, row.m_ref!), toMetric(row, domain));
      }
      for (const pair of pairs) {
        const key = metricKey(pair.domain, pair.metric);
        if (missingMetrics.has(pair.metric) && missingDomains.has(pair.domain) && !localMetrics.has(key)) {
          localMetrics.set(key, null);
        }
      }
      for (const [ref, domain] of local) this.#domains.set(ref, { value: domain, expires: now + (domain ? ttl : negativeTtl) });
      for (const [key, metric] of localMetrics) {
        this.#metrics.set(key, { value: metric, expires: now + (metric ? ttl : negativeTtl) });
      }
    }
    return {
      domain: (ref) => (local.has(ref) ? local.get(ref)! : (this.#domains.get(ref)?.value ?? null)),
      metric: (domainRef, ref) => {
        const key = metricKey(domainRef, ref);
        return localMetrics.has(key) ? localMetrics.get(key)! : (this.#metrics.get(key)?.value ?? null);
      },
    };
  }

  /**
   * Creates metrics on first use in an open domain (COUNTER, public when the domain says so), up to
   * METRICS_OPEN_DOMAIN_MAX_METRICS per domain. Returns the metrics by ref; refs over the cap are absent.
   */
  async createOnFirstUse(domain: DomainInfo, refs: string[]): Promise<Map<string, MetricInfo>> {
    const em = this.#em();
    const count = await queryOne<{ n: number }>(em, sql`select count(*)::int as n from metric where domain_id = ${domain.id}`);
    const room = Math.max(0, this.#config.openDomainMaxMetrics - (count?.n ?? 0));
    const allowed = refs.slice(0, room);
    const result = new Map<string, MetricInfo>();
    if (allowed.length === 0) return result;
    await query(
      em,
      sql`insert into metric (domain_id, ref, name, kind, public, allow_negative, auto_created)
          select ${domain.id}, r, r, 'COUNTER', ${domain.publicMetrics}, false, true
          from unnest(${allowed}::text[]) as r
          on conflict (domain_id, ref) do nothing`,
    );
    const rows = await query<MetricRow>(
      em,
      sql`select ${domainColumns}, ${metricColumns} from metric m join metric_domain d on d.id = m.domain_id
          where m.domain_id = ${domain.id} and m.ref = any(${allowed}::text[])`,
    );
    for (const row of rows) {
      const metric = toMetric(row, domain);
      this.#remember(metric);
      result.set(metric.ref, metric);
    }
    return result;
  }
}
