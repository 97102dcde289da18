import { GraphQLError } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';

/**
 * Errors that are part of the API contract. Each carries a stable `extensions.code`; everything else a
 * resolver throws is masked by Yoga ("Unexpected error.") and logged with the request id.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE';

const httpStatus: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

export function apiError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  const status = httpStatus[code];
  return new GraphQLError(message, {
    extensions: { code, ...extensions, ...(status ? { http: { status } } : {}) },
  });
}

/** A message that names its field, `path: what is wrong` (e.g. "verb: must not be empty"). */
const FIELD_MESSAGE = /^([A-Za-z_][\w]*(?:\.[\w]+)*): (.+)$/s;

/**
 * BAD_USER_INPUT, always with `extensions.issues` (as the validation plugin's failures list theirs), unless
 * `extensions` brings its own: a message of the form `path: what is wrong` (several joined by "; ") gives one
 * issue per field; any other message one issue with an empty path (the call as a whole).
 */
export function badInput(message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  if ('issues' in extensions) return apiError('BAD_USER_INPUT', message, extensions);
  const fields = message.split('; ').map((part) => FIELD_MESSAGE.exec(part));
  const issues = fields.every((f) => f !== null) ? fields.map((f) => ({ path: f![1]!, message: f![2]! })) : [{ path: '', message }];
  return apiError('BAD_USER_INPUT', message, { issues, ...extensions });
}

/**
 * `error` as the failure of item `prefix` of a list (e.g. "inputs.3"): a BAD_USER_INPUT's message and issue paths
 * get the prefix; any other error is returned as it is.
 */
export function atListItem(error: unknown, prefix: string): unknown {
  if (!isContractError(error) || error.extensions['code'] !== 'BAD_USER_INPUT') return error;
  const issues = (error.extensions['issues'] as Array<{ path: string; message: string }> | undefined) ?? [{ path: '', message: error.message }];
  const prefixed = issues.map((issue) => ({ path: issue.path ? `${prefix}.${issue.path}` : prefix, message: issue.message }));
  const { http: _http, code: _code, issues: _issues, ...rest } = error.extensions as Record<string, unknown>;
  return badInput(prefixed.map((i) => `${i.path}: ${i.message}`).join('; '), { ...rest, issues: prefixed });
}
export const notFound = (message: string) => apiError('NOT_FOUND', message);
export const forbidden = (message: string) => apiError('FORBIDDEN', message);
export const unauthenticated = (message: string) => apiError('UNAUTHENTICATED', message);
export const conflict = (message: string) => apiError('CONFLICT', message);

/** RATE_LIMITED with a retry hint: HTTP 429, a `Retry-After` header and `extensions.retryAfterSeconds`. */
export function rateLimited(message: string, retryAfterSeconds: number, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, {
    extensions: {
      code: 'RATE_LIMITED',
      retryAfterSeconds,
      ...extensions,
      http: { status: 429, headers: { 'retry-after': String(retryAfterSeconds) } },
    },
  });
}

/** Whether an error is one of ours (or any GraphQL error not caused by an unexpected exception). */
export function isContractError(error: unknown): error is GraphQLError {
  if (!(error instanceof Error) || error.name !== 'GraphQLError') return false;
  const original = (error as GraphQLError).originalError;
  return original == null || isContractError(original);
}

/**
 * A copy of `error` with `extensions` instead of its own (message, locations, path and original error kept). Built
 * with Yoga's `createGraphQLError` so that the copy belongs to the same `graphql` module instance as Yoga and
 * graphql-ws (they check `instanceof`).
 */
export function withExtensions(error: GraphQLError, extensions: Record<string, unknown>): GraphQLError {
  return createGraphQLError(error.message, {
    nodes: error.nodes ?? null,
    source: error.source ?? null,
    positions: error.positions ?? null,
    path: error.path ?? null,
    originalError: error.originalError ?? null,
    extensions,
  });
}
