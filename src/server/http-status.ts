import type { ExecutionResult, GraphQLError } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { withExtensions } from './errors.ts';

/**
 * HTTP status codes as the GraphQL-over-HTTP specification asks, for both response media types. Yoga takes
 * the highest `extensions.http.status` of a result's errors (and, answering `application/json`, skips those
 * marked `spec`); this plugin sets those fields once, from what happened, instead of every error deciding:
 *
 * - The operation ran (the result has `data`, even null): **200**, whatever its field errors say
 *   (UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, UNAVAILABLE of a field). Their headers (Retry-After) stay.
 * - The GraphQL request could not run (no `data`: parse, validation, query limits, variables, refused
 *   input): **400** with `application/graphql-response+json`, **200** with `application/json` (the
 *   request was well-formed; the errors say what is wrong).
 * - The request was refused before GraphQL (a bad token 401, CSRF 403, a body too large 413, the request
 *   rate limit 429, token keys or database unreachable 503) or is not a well-formed GraphQL-over-HTTP
 *   request (Yoga's BAD_REQUEST, 400): that status, with either media type.
 * - An unexpected failure with no data: 500 (Yoga's default).
 */
export function useHttpStatus(): Plugin {
  return {
    // Parameters sent as a query string (GET, a form body) carry `variables` and `extensions` as JSON text, which
    // Yoga's parser reads with JSON.parse and no catch: text that is not JSON is a malformed request (400), as a
    // JSON body that is not JSON is, not an unexpected error.
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (!requestParser || (request.method !== 'GET' && !isFormRequest(request))) return;
      setRequestParser(async (req) => {
        try {
          return await requestParser(req);
        } catch (error) {
          if (!(error instanceof SyntaxError)) throw error;
          throw createGraphQLError('Invalid "variables" or "extensions" parameter: not JSON.', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
        }
      });
    },
    // Yoga checks the type of `query`, `variables` and `extensions`, not of `operationName`: a request whose
    // operationName is not a string is not well-formed either (400 with either media type, like the others).
    onParams({ params }) {
      const name: unknown = params.operationName;
      if (name !== undefined && name !== null && typeof name !== 'string') {
        throw createGraphQLError(`Expected "operationName" param to be a string, but given ${Array.isArray(name) ? 'array' : typeof name}.`, {
          extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
        });
      }
    },
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || !isSingleResult(result) || !result.errors?.length) return;
      const executed = result.data !== undefined;
      let changed = false;
      const errors = result.errors.map((error) => {
        const next = executed ? ranStatus(error) : requestErrorStatus(error);
        if (next === error) return error;
        changed = true;
        return next;
      });
      if (changed) setResult({ ...result, errors });
    },
  };
}

interface HttpExtension {
  status?: number;
  spec?: boolean;
  headers?: Record<string, string>;
}

function httpOf(error: GraphQLError): HttpExtension | undefined {
  return (error.extensions as { http?: HttpExtension } | undefined)?.http;
}

/** A field error of an operation that ran: no status of its own (the response is 200). */
function ranStatus(error: GraphQLError): GraphQLError {
  const http = httpOf(error);
  if (!http?.status) return error;
  return withHttp(error, http.headers ? { headers: http.headers } : undefined);
}

/** An error of a request that did not run: 400 marks a GraphQL request error (200 for application/json). */
function requestErrorStatus(error: GraphQLError): GraphQLError {
  const http = httpOf(error);
  const code = (error.extensions as { code?: unknown } | undefined)?.code;
  // Refused before GraphQL, or not a well-formed GraphQL-over-HTTP request (Yoga's BAD_REQUEST: `query`
  // not a string, `variables` not an object...): keep the status.
  if (http?.status && (http.status !== 400 || code === 'BAD_REQUEST')) return error;
  if (!http?.status && code === 'INTERNAL_SERVER_ERROR') return error; // unexpected: 500
  if (http?.status === 400 && http.spec) return error;
  return withHttp(error, { ...http, status: 400, spec: true });
}

function withHttp(error: GraphQLError, http: HttpExtension | undefined): GraphQLError {
  const { http: _old, ...extensions } = error.extensions as Record<string, unknown>;
  return withExtensions(error, http ? { ...extensions, http } : extensions);
}

function isSingleResult(value: unknown): value is ExecutionResult {
  return typeof value === 'object' && value !== null && !(Symbol.asyncIterator in value);
}

function isFormRequest(request: Request): boolean {
  return request.headers.get('content-type')?.startsWith('application/x-www-form-urlencoded') ?? false;
}
