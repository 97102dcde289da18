import { LRUCache } from 'lru-cache';
import type { MetricsConfig } from '../config.ts';
import type { Em, Orm } from '../db/orm.ts';
import { badInput, conflict, notFound } from '../server/errors.ts';
import type { MetricDefinitionChange } from '../server/pubsub.ts';
import {
  BOT_METRIC,
  isMetricRef,
  LABEL_RULE,
  LABELS_DOMAIN,
  REF_RULE,
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

/** A cached definition, or null: known not to exist (cached for a shorter time). */
interface Cached<T> {
  value: T | null;
}

const metricKey = (domainRef: string, metricRef: string) => `${domainRef}\u0000${metricRef}`;

/** A registration: omitted (null) settings keep their current value, or take their default on creation. */
export interface DomainDefinition {
  ref: string;
  /** null: kept (an existing domain), empty (a new one). */
  name: string | null;
  openMetrics?: boolean | null | undefined;
  publicMetrics?: boolean | null | undefined;
}

export interface MetricDefinition {
  domain: string;
  ref: string;
  /** null: kept (an existing metric), empty (a new one). */
  name: string | null;
  kind?: MetricKind | null | undefined;
  public?: boolean | null | undefined;
  allowNegative?: boolean | null | undefined;
}

const BUILT_IN_DOMAINS = new Set([LABELS_DOMAIN, SYSTEM_DOMAIN]);

/**
 * Domains and metrics. Definitions are read from the database; the increment path goes through a small
 * in-process cache (METRICS_CATALOG_TTL_MS) so that a hot increment costs no lookup query. Callers choose
 * the refs they increment (anonymous ones too), so each cache is an LRU bounded by METRICS_CATALOG_CACHE_MAX.
 */
export class MetricsCatalog {
  readonly #orm: Orm;
  readonly #config: MetricsConfig;
  readonly #domains: LRUCache<string, Cached<DomainInfo>>;
  readonly #metrics: LRUCache<string, Cached<MetricInfo>>;
  #builtins: Promise<void> | undefined;

  /** Told of every metric registered again or deleted, after it is stored (live.ts ends the streams it affects). */
  readonly #onDefinitionChanged: ((metricId: number, change: MetricDefinitionChange) => void) | undefined;

  constructor(orm: Orm, config: MetricsConfig, onDefinitionChanged?: (metricId: number, change: MetricDefinitionChange) => void) {
    this.#orm = orm;
    this.#config = config;
    this.#onDefinitionChanged = onDefinitionChanged;
    this.#domains = new LRUCache({ max: config.catalogCacheMax });
    this.#metrics = new LRUCache({ max: config.catalogCacheMax });
  }

  /** Entries held by the caches (for metricsStatus). */
  cachedEntries(): number {
    return this.#domains.size + this.#metrics.size;
  }

  /** Caches a definition (or its absence, for at most a second) unless caching is off (TTL 0). */
  #cache<T>(cache: LRUCache<string, Cached<T>>, key: string, value: T | null): void {
    const ttl = value ? this.#config.catalogTtlMs : Math.min(this.#config.catalogTtlMs, 1000);
    if (ttl > 0) cache.set(key, { value }, { ttl });
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
    this.#cache(this.#domains, domain.ref, domain);
    return domain;
  }

  #remember(metric: MetricInfo): void {
    this.#cache(this.#domains, metric.domain.ref, metric.domain);
    this.#cache(this.#metrics, metricKey(metric.domain.ref, metric.ref), metric);
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

  /**
   * trackstats' `register` (update or create): a new ref creates the domain; an existing one takes the new
   * name and the settings that are given. The built-in domains cannot be redefined (CONFLICT).
   */
  async registerDomain(definition: DomainDefinition): Promise<DomainInfo> {
    await this.ensureBuiltins();
    if (BUILT_IN_DOMAINS.has(definition.ref)) return this.#sameBuiltInDomain(definition);
    const open = definition.openMetrics ?? null;
    const publicMetrics = definition.publicMetrics ?? null;
    const row = await queryOne<DomainRow>(
      this.#em(),
      sql`insert into metric_domain as d (ref, name, open_metrics, public_metrics)
          values (${definition.ref}, coalesce(${definition.name}::text, ''), coalesce(${open}::boolean, false), coalesce(${publicMetrics}::boolean, false))
          on conflict (ref) do update set name = coalesce(${definition.name}::text, d.name),
            open_metrics = coalesce(${open}::boolean, d.open_metrics), public_metrics = coalesce(${publicMetrics}::boolean, d.public_metrics)
          returning ${domainColumns}`,
    );
    return this.#rememberDomain(toDomain(row!));
  }

  async #sameBuiltInDomain(definition: DomainDefinition): Promise<DomainInfo> {
    const existing = (await this.getDomain(definition.ref))!;
    const differences: string[] = [];
    if (definition.name !== null && existing.name !== definition.name) differences.push(`name is "${existing.name}"`);
    if (definition.openMetrics != null && existing.openMetrics !== definition.openMetrics) differences.push(`openMetrics is ${existing.openMetrics}`);
    if (definition.publicMetrics != null && existing.publicMetrics !== definition.publicMetrics) {
      differences.push(`publicMetrics is ${existing.publicMetrics}`);
    }
    if (differences.length > 0) throw conflict(`Domain "${definition.ref}" is built in and cannot be redefined: ${differences.join(', ')}`);
    return existing;
  }

  /**
   * trackstats' `register` for metrics: creates it, or updates its name and the settings that are given.
   * Changing the kind of a metric would corrupt its data (counters are folded, gauges recorded): CONFLICT,
   * except for a metric that an open domain created on first use, which its first registration redefines.
   * The built-in trackql metrics cannot be redefined.
   */
  async registerMetric(definition: MetricDefinition): Promise<MetricInfo> {
    const domain = await this.getDomain(definition.domain);
    if (!domain) throw notFound(`Unknown domain "${definition.domain}"`);
    const kind = definition.kind ?? null;
    const isPublic = definition.public ?? null;
    const negative = definition.allowNegative ?? null;
    const em = this.#em();
    if (domain.ref === SYSTEM_DOMAIN) {
      const existing = await this.getMetric(domain.ref, definition.ref);
      throw conflict(existing ? `Metric "${SYSTEM_DOMAIN}/${definition.ref}" is built in and cannot be redefined` : `Domain "${SYSTEM_DOMAIN}" is built in`);
    }
    if (!isMetricRef(domain.ref, definition.ref)) throw badInput(`ref: ${domain.ref === LABELS_DOMAIN ? LABEL_RULE : REF_RULE}`);
    // A label's metric counts its events (trackLabels, /track, labelStats): as a gauge, trackLabels would refuse
    // the label and the events already accepted for it would become dead letters at the next fold.
    if (domain.ref === LABELS_DOMAIN && kind !== null && kind !== 'COUNTER') {
      throw badInput(`kind: the metrics of the built-in "${LABELS_DOMAIN}" domain count label events: COUNTER only`);
    }
    const row = await queryOne<MetricRow>(
      em,
      sql`with m as (
            insert into metric as m (domain_id, ref, name, kind, public, allow_negative)
            values (${domain.id}, ${definition.ref}, coalesce(${definition.name}::text, ''), coalesce(${kind}::text, 'COUNTER'),
                    coalesce(${isPublic}::boolean, false), coalesce(${negative}::boolean, false))
            on conflict (domain_id, ref) do update set name = coalesce(${definition.name}::text, m.name), kind = coalesce(${kind}::text, m.kind),
              public = coalesce(${isPublic}::boolean, m.public), allow_negative = coalesce(${negative}::boolean, m.allow_negative),
              auto_created = false
            where m.auto_created or m.kind = coalesce(${kind}::text, m.kind)
            returning *)
          select ${metricColumns}, ${domainColumns} from m join metric_domain d on d.id = m.domain_id`,
    );
    if (row) {
      const metric = toMetric(row, domain);
      this.#remember(metric);
      this.#onDefinitionChanged?.(metric.id, { deleted: false, public: metric.public, kind: metric.kind });
      return metric;
    }
    const existing = await this.getMetric(domain.ref, definition.ref);
    throw conflict(
      existing
        ? `Metric "${definition.domain}/${definition.ref}" is a ${existing.kind}: its kind cannot change (its data would not fit); delete it first`
        : `Metric "${definition.ref}" is being registered concurrently; try again`,
    );
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
    for (const row of rows) this.#onDefinitionChanged?.(Number(row.id), { deleted: true });
    return rows.length > 0;
  }

  /**
   * Definitions for the increment path, from the cache when fresh, otherwise with one query for all that
   * are missing. Returns domains by ref and metrics by `domain\0metric` (null = known not to exist).
   */
  async resolve(pairs: ReadonlyArray<{ readonly domain: string; readonly metric: string }>): Promise<{
    domain(ref: string): DomainInfo | null;
    metric(domainRef: string, ref: string): MetricInfo | null;
  }> {
    await this.ensureBuiltins();
    // Answers of this call, from the caches first: an entry may leave them (LRU, TTL) before the call ends.
    const local = new Map<string, DomainInfo | null>();
    const localMetrics = new Map<string, MetricInfo | null>();
    const missingDomains = new Set<string>();
    const missingMetrics = new Set<string>();
    let previous: { readonly domain: string; readonly metric: string } | undefined;
    for (const pair of pairs) {
      // A batch usually repeats its pair from one event to the next: looked up once.
      if (previous && pair.domain === previous.domain && pair.metric === previous.metric) continue;
      previous = pair;
      const domain = local.has(pair.domain) ? { value: local.get(pair.domain)! } : this.#domains.get(pair.domain);
      if (domain) local.set(pair.domain, domain.value);
      else missingDomains.add(pair.domain);
      const key = metricKey(pair.domain, pair.metric);
      const metric = localMetrics.has(key) ? { value: localMetrics.get(key)! } : this.#metrics.get(key);
      if (metric) localMetrics.set(key, metric.value);
      else {
        missingDomains.add(pair.domain);
        missingMetrics.add(pair.metric);
      }
    }
    if (missingDomains.size > 0) {
      const rows = await query<MetricRow>(
        this.#em(),
        sql`select ${domainColumns}, ${metricColumns} from metric_domain d
            left join metric m on m.domain_id = d.id and m.ref = any(${[...missingMetrics]}::text[])
            where d.ref = any(${[...missingDomains]}::text[])`,
      );
      for (const ref of missingDomains) local.set(ref, null);
      for (const row of rows) {
        const domain = local.get(row.d_ref) ?? toDomain(row);
        local.set(row.d_ref, domain);
        if (row.m_id !== null) localMetrics.set(metricKey(row.d_ref, row.m_ref!), toMetric(row, domain));
      }
      for (const ref of missingDomains) this.#cache(this.#domains, ref, local.get(ref) ?? null);
      // Every (missing domain, missing metric) pair was looked up: what was not found does not exist.
      const looked = new Set<string>();
      for (const pair of pairs) {
        const key = metricKey(pair.domain, pair.metric);
        if (!missingMetrics.has(pair.metric) || !missingDomains.has(pair.domain) || looked.has(key)) continue;
        looked.add(key);
        if (!localMetrics.has(key)) localMetrics.set(key, null);
        this.#cache(this.#metrics, key, localMetrics.get(key) ?? null);
      }
    }
    // The last metric asked for is remembered: the increment path asks once per event, mostly for the same one.
    let last: { domainRef: string; ref: string; metric: MetricInfo | null } | undefined;
    return {
      domain: (ref) => local.get(ref) ?? null,
      metric: (domainRef, ref) => {
        if (last?.domainRef !== domainRef || last.ref !== ref) last = { domainRef, ref, metric: localMetrics.get(metricKey(domainRef, ref)) ?? null };
        return last.metric;
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
