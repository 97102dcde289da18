import { OBJECT_ID_MAX } from '../objects/object-ref.ts';

/**
 * Beacon endpoints (`GET /track?labels=…`, `POST /track`) for pages that cannot run a GraphQL client, and for
 * /trackql.js.
 *
 * They are a thin HTTP shape over the `trackLabels` mutation (labels) and the `increment` mutation (page views
 * of a public counter, objects of type "Page"): the fields are extracted from the query string or the beacon
 * body, then the mutation is executed through Yoga itself with the caller's headers (user-agent,
 * forwarded address, authorization, request id) and server context, so validation, bot filtering and rate
 * limits are exactly the mutation's.
 */

/** The largest beacon body read (django-tracker labels are short; this is generous). */
export const MAX_BEACON_BYTES = 8 * 1024;

/** A 1×1 transparent GIF (43 bytes). */
export const TRANSPARENT_GIF = Uint8Array.from(
  atob('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7'),
  (c) => c.charCodeAt(0),
);

/** What one beacon asks for: labels (django-tracker) and/or page views of a public counter. */
export interface Beacon {
  /** "a|b:category:domId", or null. */
  labels: string | null;
  /** Page views: the counter ("domain:metric") and the page paths (object ids of type "Page"). */
  pageviews: { domain: string; metric: string; pages: string[] } | null;
  /**
   * Idempotency key of the beacon (the `id` parameter), or null: each label and page view is de-duplicated by it
   * and its position (trackLabels' and incrementObjects' `id`), so a beacon sent twice counts once.
   */
  id: string | null;
}

export type BeaconExtraction = { ok: true; beacon: Beacon } | { ok: false; status: number; message: string };

/** Most page views in one beacon. */
export const MAX_BEACON_PAGES = 100;
/** Object type of page views. */

const fail = (status: number, message: string): BeaconExtraction => ({ ok: false, status, message });

const MISSING = 'Missing "labels" (a|b:category:domId), or "pageview" (domain:metric) with "page" paths: /track?labels=… or /track?pageview=site:views&page=/pricing';

/** `labels` may be sent as a string or, in JSON, as a list of label strings (joined with `|`). */
function labelsFromJsonValue(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return value.join('|');
  return undefined;
}

/** Checks and assembles a beacon from its fields (whatever the encoding). */
function beaconFrom(labels: string | null, pageview: string | null, pages: string[], id: string | null = null): BeaconExtraction {
  if (pageview === null && pages.length > 0) return fail(400, '"page" needs "pageview" (the counter: domain:metric)');
  let pageviews: Beacon['pageviews'] = null;
  if (pageview !== null) {
    const parts = pageview.split(':');
    if (parts.length !== 2 || !parts[0] || !parts[1]) return fail(400, '"pageview" must be domain:metric (a public counter)');
    if (pages.length === 0) return fail(400, '"pageview" needs at least one "page" path');
    if (pages.length > MAX_BEACON_PAGES) return fail(400, `At most ${MAX_BEACON_PAGES} page views per beacon`);
    if (pages.some((p) => p === '' || p.length > OBJECT_ID_MAX || p.includes('\u0000'))) {
      return fail(400, `"page" paths must be 1 to ${OBJECT_ID_MAX} characters (no NUL)`);
    }
    pageviews = { domain: parts[0], metric: parts[1], pages };
  }
  if (labels === null && pageviews === null) return fail(400, MISSING);
  return { ok: true, beacon: { labels, pageviews, id } };
}

function beaconFromParams(params: URLSearchParams): BeaconExtraction {
  return beaconFrom(params.get('labels'), params.get('pageview'), params.getAll('page'), params.get('id'));
}

/** Reads a request body up to `limit` bytes; null when it is larger. */
async function readLimited(request: Request, limit: number): Promise<string | null> {
  const declared = Number(request.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > limit) return null;
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * The beacon of a request:
 * - GET: `?labels=a|b:category:domId` (django-tracker's `/track/?labels=`), `&pageview=domain:metric&page=/path`,
 *   `&id=<idempotency key>`;
 * - POST `application/x-www-form-urlencoded` (what /trackql.js sends), or `text/plain` starting with
 *   `labels=` or `pageview=`: the same fields;
 * - POST `application/json`: `{"labels": "…" | ["…"], "pageview": "domain:metric", "pages": ["/path"], "id": "…"}`;
 * - POST `text/plain` (what `navigator.sendBeacon(url, "a|b")` sends) or no type: the raw label string; empty,
 *   the fields of the URL (as a GET).
 * A POST may also carry `id` in its URL (`POST /track?id=…`), the only place for it beside a raw label string.
 */
export async function extractBeacon(request: Request, url: URL): Promise<BeaconExtraction> {
  if (request.method === 'GET') return beaconFromParams(url.searchParams);
  const extracted = await beaconFromBody(request, url);
  return extracted.ok ? withUrlId(extracted.beacon, url) : extracted;
}

/**
 * A POST beacon takes its `id` from the URL too (`POST /track?id=…`): a raw `text/plain` label string has no other
 * place for it. Given in both with different values, the beacon is refused rather than counted under either.
 */
function withUrlId(beacon: Beacon, url: URL): BeaconExtraction {
  const fromUrl = url.searchParams.get('id');
  if (fromUrl === null) return { ok: true, beacon };
  if (beacon.id !== null && beacon.id !== fromUrl) return fail(400, '"id" given in the URL and in the body with different values');
  return { ok: true, beacon: { ...beacon, id: fromUrl } };
}

/** The fields of a POST beacon's body (its URL's when the body is empty; see extractBeacon). */
async function beaconFromBody(request: Request, url: URL): Promise<BeaconExtraction> {
  const body = await readLimited(request, MAX_BEACON_BYTES);
  if (body === null) return fail(413, `Beacon body larger than ${MAX_BEACON_BYTES} bytes`);
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  // An empty POST (a bare `navigator.sendBeacon(url)`, or a form with nothing in it) with the fields in its URL:
  // the same as a GET, whatever its content type.
  if (body.trim() === '' && (url.searchParams.has('labels') || url.searchParams.has('pageview'))) return beaconFromParams(url.searchParams);
  if (type === 'application/json' || type.endsWith('+json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return fail(400, 'Body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return fail(400, 'JSON body must be {"labels": "a|b:category:domId"} (and/or "pageview" with "pages")');
    }
    const fields = parsed as { labels?: unknown; pageview?: unknown; pages?: unknown; id?: unknown };
    const id = fields.id === undefined || fields.id === null ? null : fields.id;
    if (id !== null && typeof id !== 'string') return fail(400, 'JSON "id" must be a string (the beacon\'s idempotency key)');
    const labels = labelsFromJsonValue(fields.labels);
    if (labels === undefined) return fail(400, 'JSON "labels" must be a string or a list of strings');
    const pageview = fields.pageview === undefined || fields.pageview === null ? null : fields.pageview;
    if (pageview !== null && typeof pageview !== 'string') return fail(400, 'JSON "pageview" must be a string (domain:metric)');
    const pages = fields.pages === undefined || fields.pages === null ? [] : fields.pages;
    if (!Array.isArray(pages) || !pages.every((p): p is string => typeof p === 'string')) {
      return fail(400, 'JSON "pages" must be a list of paths');
    }
    return beaconFrom(labels, pageview, pages, id);
  }
  const text = body.trim();
  if (type === 'application/x-www-form-urlencoded' || /^(labels|pageview)=/.test(text)) {
    return beaconFromParams(new URLSearchParams(text));
  }
  if (type === '' || type === 'text/plain') {
    return text === '' ? fail(400, 'Empty beacon body: send the labels, e.g. "a|b:category:domId"') : beaconFrom(text, null, []);
  }
  return fail(415, `Unsupported content type "${type}" (use text/plain, application/x-www-form-urlencoded or application/json)`);
}

/** Headers of the caller that the mutation must see, so that identity, bot filtering and limits apply. */
const FORWARDED_HEADERS = ['user-agent', 'authorization', 'x-forwarded-for', 'x-real-ip', 'forwarded', 'x-request-id'];

export function forwardedHeaders(request: Request): Headers {
  const headers = new Headers({ 'content-type': 'application/json', accept: 'application/graphql-response+json' });
  for (const name of FORWARDED_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  return headers;
}

const TRACK_BEACON_MUTATION = /* GraphQL */ `
  mutation TrackBeacon($labels: String, $pageViews: PageViewsInput, $id: ID) {
    trackBeacon(labels: $labels, pageViews: $pageViews, id: $id) { accepted rejected { index reason } }
  }
`;

/**
 * The GraphQL request that does what a beacon asks: one `trackBeacon` of its labels and page views (objects of
 * type Page) with the beacon's id, so that a beacon that fails stores nothing.
 */
export function beaconOperation(beacon: Beacon): { query: string; variables: Record<string, unknown> } {
  const views = beacon.pageviews;
  return {
    query: TRACK_BEACON_MUTATION,
    variables: {
      labels: beacon.labels,
      pageViews: views ? { domain: views.domain, metric: views.metric, pages: views.pages } : null,
      id: beacon.id,
    },
  };
}

export interface TrackLabelsOutcome {
  status: number;
  accepted: number;
  rejected: Array<{ index: number; reason: string }>;
  errors: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

const statusByCode: Record<string, number> = {
  BAD_USER_INPUT: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

type Outcome = { accepted: number; rejected: Array<{ index: number; reason: string }> };

/**
 * Reads the mutation's HTTP response into a beacon outcome (status chosen from the error codes); with labels
 * and page views, accepted and rejected add up over both fields.
 */
export async function outcomeFromGraphQLResponse(response: Response): Promise<TrackLabelsOutcome> {
  let body: {
    data?: Record<string, Outcome | null> | null;
    errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
  };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    return { status: response.status >= 400 ? response.status : 502, accepted: 0, rejected: [], errors: [{ message: 'Unreadable response' }] };
  }
  const errors = body.errors ?? [];
  const results = Object.values(body.data ?? {});
  if (errors.length === 0 && results.length > 0 && results.every((r): r is Outcome => r !== null)) {
    return {
      status: 204,
      accepted: results.reduce((sum, r) => sum + r.accepted, 0),
      rejected: results.flatMap((r) => r.rejected),
      errors,
    };
  }
  const code = errors.map((e) => e.extensions?.['code']).find((c): c is string => typeof c === 'string');
  const status = (code && statusByCode[code]) || (response.status >= 400 ? response.status : 500);
  return { status, accepted: 0, rejected: [], errors };
}
