/**
 * Beacon endpoints (`GET /track?labels=…`, `POST /track`) for pages that cannot run a GraphQL client.
 *
 * They are a thin HTTP shape over the `trackLabels` mutation: the labels are extracted from the query string or
 * the beacon body, then the mutation is executed through Yoga itself with the caller's headers (user-agent,
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

export type LabelsExtraction = { ok: true; labels: string } | { ok: false; status: number; message: string };

const fail = (status: number, message: string): LabelsExtraction => ({ ok: false, status, message });

/** `labels` may be sent as a string or, in JSON, as a list of label strings (joined with `|`). */
function labelsFromJsonValue(value: unknown): LabelsExtraction {
  if (typeof value === 'string') return { ok: true, labels: value };
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) {
    return { ok: true, labels: value.join('|') };
  }
  return fail(400, 'JSON body must be {"labels": "a|b:category:domId"} (a string or a list of strings)');
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
 * The label string of a beacon request:
 * - GET: `?labels=a|b:category:domId` (django-tracker's `/track/?labels=`);
 * - POST `application/json`: `{"labels": "…"}` or `{"labels": ["…", "…"]}`;
 * - POST `application/x-www-form-urlencoded`, or `text/plain` starting with `labels=`: the `labels` field;
 * - POST `text/plain` (what `navigator.sendBeacon(url, "a|b")` sends) or no type: the raw label string.
 */
export async function extractLabels(request: Request, url: URL): Promise<LabelsExtraction> {
  if (request.method === 'GET') {
    const labels = url.searchParams.get('labels');
    return labels === null ? fail(400, 'Missing "labels" query parameter: /track?labels=a|b:category:domId') : { ok: true, labels };
  }
  const body = await readLimited(request, MAX_BEACON_BYTES);
  if (body === null) return fail(413, `Beacon body larger than ${MAX_BEACON_BYTES} bytes`);
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return fail(400, 'Body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || !('labels' in parsed)) {
      return fail(400, 'JSON body must be {"labels": "a|b:category:domId"}');
    }
    return labelsFromJsonValue((parsed as { labels: unknown }).labels);
  }
  const text = body.trim();
  if (type === 'application/x-www-form-urlencoded' || text.startsWith('labels=')) {
    const labels = new URLSearchParams(text).get('labels');
    return labels === null ? fail(400, 'Form body must contain a "labels" field') : { ok: true, labels };
  }
  if (type === '' || type === 'text/plain') {
    return text === '' ? fail(400, 'Empty beacon body: send the labels, e.g. "a|b:category:domId"') : { ok: true, labels: text };
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

export const TRACK_LABELS_MUTATION = /* GraphQL */ `
  mutation TrackBeacon($labels: String!) {
    trackLabels(labels: $labels) { accepted rejected { index reason } }
  }
`;

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

/** Reads the mutation's HTTP response into a beacon outcome (status chosen from the error codes). */
export async function outcomeFromGraphQLResponse(response: Response): Promise<TrackLabelsOutcome> {
  let body: {
    data?: { trackLabels?: { accepted: number; rejected: Array<{ index: number; reason: string }> } | null } | null;
    errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
  };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    return { status: response.status >= 400 ? response.status : 502, accepted: 0, rejected: [], errors: [{ message: 'Unreadable response' }] };
  }
  const errors = body.errors ?? [];
  const result = body.data?.trackLabels;
  if (errors.length === 0 && result) {
    return { status: 204, accepted: result.accepted, rejected: result.rejected, errors };
  }
  const code = errors.map((e) => e.extensions?.['code']).find((c): c is string => typeof c === 'string');
  const status = (code && statusByCode[code]) || (response.status >= 400 ? response.status : 500);
  return { status, accepted: 0, rejected: [], errors };
}
