import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { GraphQLError, ValidationContext, ValidationRule } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { useNestingLimit } from './nesting-limit.ts';
import { useQueryCost } from './query-cost.ts';

/**
 * Server-wide limits on what a request may ask for. See src/server/HARDENING.md for the production notes.
 *
 * - graphql-armor: selection depth, aliases, tokens, directives; "Did you mean" suggestions hidden. The
 *   query cost (MAX_COST) is computed by query-cost.ts.
 *   Refusals are request errors: `extensions.code = "QUERY_LIMIT_EXCEEDED"` (HTTP status: see http-status.ts).
 * - Introspection can be switched off (INTROSPECTION=false; off by default in production); `__typename` stays.
 * - CSRF: a POST with a "simple" content type (text/plain, form-urlencoded, multipart) must carry the
 *   `x-graphql-csrf` header (any value); JSON POSTs are preflighted by browsers and pass. GET can only run
 *   queries (Yoga refuses mutations over GET) and queries have no side effects, so GET is not checked.
 * - Request body size: MAX_BODY_BYTES (HTTP bodies and websocket messages).
 */

export const CSRF_HEADER = 'x-graphql-csrf';

export type LimitName = 'maxDepth' | 'costLimit' | 'maxAliases' | 'maxTokens' | 'maxDirectives';

const SETTING: Record<LimitName, string> = {
  maxDepth: 'MAX_DEPTH',
  costLimit: 'MAX_COST',
  maxAliases: 'MAX_ALIASES',
  maxTokens: 'MAX_TOKENS',
  maxDirectives: 'MAX_DIRECTIVES',
};

/**
 * Tags an armor refusal (QUERY_LIMIT_EXCEEDED, which limit) and rewrites its message: armor says
 * "Syntax Error: Aliases limit…", which sends developers after a syntax error they did not make.
 */
function tagged(limit: LimitName) {
  return (_ctx: ValidationContext | null, error: GraphQLError) => {
    const extensions = error.extensions as Record<string, unknown>;
    extensions['code'] = 'QUERY_LIMIT_EXCEEDED';
    extensions['limit'] = limit;
    error.message = `${error.message.replace(/^Syntax Error: /, '').replace(/\.$/, '')} (${SETTING[limit]}).`;
  };
}

/**
 * graphql-armor with trackql's limits; applies to HTTP and to graphql-ws (both go through getEnveloped).
 * The cost limit is trackql's own (query-cost.ts), which knows what fields cost.
 */
export function useQueryLimits(config: Config): Plugin[] {
  const l = config.limits;
  return [
    // Before armor's parse (which counts tokens): a deep document must not reach graphql's recursive parser.
    useNestingLimit(),
    EnvelopArmorPlugin({
      maxDepth: { n: l.maxDepth, ignoreIntrospection: true, flattenFragments: true, onReject: [tagged('maxDepth')] },
      costLimit: { enabled: false },
      maxAliases: { n: l.maxAliases, onReject: [tagged('maxAliases')] },
      maxTokens: { n: l.maxTokens, onReject: [tagged('maxTokens')] },
      maxDirectives: { n: l.maxDirectives, onReject: [tagged('maxDirectives')] },
      // Ours instead (useSuggestionMask): armor's mask misses enum-value suggestions and variable errors.
      blockFieldSuggestion: { enabled: false },
    }) as Plugin,
    ...(l.blockFieldSuggestions ? [useSuggestionMask()] : []),
    useQueryCost(l.maxCost),
  ];
}

/** "Did you mean …?" as graphql-js writes it: a field, argument, type, enum value ("the enum value") or a list. */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

const withoutSuggestions = (errors: readonly Error[] | undefined) => {
  for (const error of errors ?? []) if (error.message.includes('Did you mean')) error.message = error.message.replace(SUGGESTION, '');
};

/**
 * Hides graphql-js's "Did you mean …?" hints (BLOCK_FIELD_SUGGESTIONS), which name schema members that
 * introspection being off is meant to keep private. Written here rather than with graphql-armor's
 * blockFieldSuggestion: that one only rewrites validation errors and only the `Did you mean "x"?` form, so enum
 * values ("Did you mean the enum value …?") and variable values (coerced at execution: unknown enum values, input
 * object fields) still leaked.
 */
export function useSuggestionMask(): Plugin {
  const done = ({ result }: { result: unknown }) => {
    if (result && typeof result === 'object' && 'errors' in result) withoutSuggestions((result as { errors?: readonly Error[] }).errors);
  };
  // One set of hooks for every request: nothing allocated per operation.
  const validated = ({ result }: { result: readonly Error[] }) => withoutSuggestions(result);
  const executed = { onExecuteDone: done };
  const subscribed = { onSubscribeResult: done };
  return {
    onValidate: () => validated,
    onExecute: () => executed,
    onSubscribe: () => subscribed,
  };
}

/**
 * Refuses `__schema` / `__type` when introspection is off. (graphql's NoSchemaIntrospectionCustomRule does
 * the same but type-checks with `instanceof`, which breaks when the rule and the schema come from different
 * copies of the graphql module, as under vitest; these meta fields exist only on the query root anyway.)
 */
const noIntrospectionRule: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value === '__schema' || node.name.value === '__type') {
      context.reportError(
        createGraphQLError(`GraphQL introspection has been disabled, but the requested query contained the field "${node.name.value}".`, {
          nodes: [node],
        }),
      );
    }
  },
});

export function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(noIntrospectionRule);
    },
  };
}

/** Yoga's CSRF prevention, for everything but GET (see above). */
export function useCsrfPrevention(): Plugin {
  const csrf = useCSRFPrevention({ requestHeaders: [CSRF_HEADER] });
  const check = csrf.onRequestParse;
  return {
    onRequestParse(payload) {
      if (payload.request.method === 'GET' || !check) return undefined;
      return check(payload);
    },
  };
}

/** A clear 413 before reading a body whose announced length is over the limit (Yoga still caps streamed bodies). */
export function useBodyLimit(maxBytes: number): Plugin {
  const tooLarge = (size: string) =>
    createGraphQLError(`Request body too large: ${size}, the limit is ${maxBytes} bytes`, {
      extensions: { code: 'REQUEST_ENTITY_TOO_LARGE', http: { status: 413 } },
    });
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const declared = request.headers.get('content-length');
      if (declared !== null) {
        // Node's HTTP parser reads exactly Content-Length bytes as the body (and refuses a request that also
        // says Transfer-Encoding), so a declared length within the limit bounds the body: nothing to count.
        if (!/^\d+$/.test(declared)) {
          throw createGraphQLError('Content-Length header is invalid.', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
        }
        if (Number(declared) > maxBytes) throw tooLarge(`${declared} bytes`);
        return;
      }
      if (!requestParser || !request.body) return;
      // No Content-Length (chunked): count the bytes as they arrive and fail the parse once they pass the limit.
      setRequestParser((req) => requestParser(countedRequest(req, maxBytes, fetchAPI, () => tooLarge(`over ${maxBytes} bytes`))));
    },
  };
}

/**
 * The request with its body streamed through a byte counter. This replaces Yoga's `maxRequestBodySize`, which
 * pipes every body through a TransformStream, also when Content-Length already bounds it: a stream pipeline
 * per request, and the DOMException Node allocates when each pipeline ends, cost ~5% of a trivial request's
 * CPU in bench/overhead's profile. Yoga does not export its per-request helper, hence this one.
 */
function countedRequest(request: Request, maxBytes: number, fetchAPI: { TransformStream: typeof TransformStream; Request: typeof Request }, error: () => Error): Request {
  // A native ReadableStream body only pipes into the native TransformStream (Yoga's issue #4583).
  const Transform = request.body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  let read = 0;
  const body = request.body!.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > maxBytes) controller.error(error());
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body,
    duplex: 'half',
  } as RequestInit);
}

/** Yoga's CORS options for CORS_ORIGINS. Tokens travel in headers, never cookies: no credentials. */
export function corsOptions(config: Config) {
  return {
    origin: config.corsOrigins,
    credentials: false,
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['authorization', 'content-type', 'accept', CSRF_HEADER, 'x-request-id'],
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  };
}

/** Whether a browser `Origin` may open a websocket (no Origin: not a browser, allowed). */
export function originAllowed(config: Config, origin: string | undefined): boolean {
  if (!origin || config.corsOrigins.includes('*')) return true;
  return config.corsOrigins.includes(origin);
}

/** Canonical form of an address; IPv6 addresses are reduced to their /64 (one subscriber's usual prefix). */
export function normalizeIp(raw: string | null | undefined): string | null {
  if (!raw) return null;
  let ip = raw.trim();
  if (ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7))) ip = ip.slice(7);
  if (net.isIPv4(ip)) return ip;
  if (!net.isIPv6(ip)) return null;
  const [head = '', tail = ''] = ip.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const missing = 8 - headParts.length - tailParts.length;
  const groups = ip.includes('::') ? [...headParts, ...Array(missing).fill('0'), ...tailParts] : headParts;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * The client address: the socket's peer, or with TRUST_PROXY the last X-Forwarded-For entry (the address
 * our proxy saw; earlier entries are whatever the client claimed).
 */
export function clientIpOf(
  config: Config,
  forwardedFor: string | null | undefined,
  socketAddress: string | null | undefined,
): string | null {
  if (config.trustProxy && forwardedFor) {
    const hops = forwardedFor.split(',').map((h) => h.trim()).filter(Boolean);
    const last = normalizeIp(hops.at(-1));
    if (last) return last;
  }
  return normalizeIp(socketAddress);
}

export function socketAddressOf(req: IncomingMessage | undefined): string | null {
  return req?.socket?.remoteAddress ?? null;
}
