/**
 * Whether an error means "the database cannot be reached right now" (as opposed to a bug or bad input):
 * connection refused/reset/timed out, the connection-failure SQL states, server shutting down, or a
 * statement cancelled by `statement_timeout`. Such errors reach callers as UNAVAILABLE, not as a masked
 * internal error, so clients know to retry. Not the whole class 08: 08P01 (protocol violation) is what a
 * malformed message gets (e.g. a NUL character in a parameter), a bug to fix rather than an outage.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const UNAVAILABLE_SQLSTATES = new Set([
  // connection_exception, sqlclient_unable_to_establish_sqlconnection, connection_does_not_exist,
  // sqlserver_rejected_establishment_of_sqlconnection, connection_failure, transaction_resolution_unknown
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '08007',
  // admin/crash shutdown, cannot_connect_now, too_many_connections, query_canceled (statement_timeout)
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
]);
const MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection timeout/i,
  /Client has encountered a connection error/i,
  /Connection refused/i,
  /the database system is (starting up|shutting down)/i,
];

export function isDatabaseUnavailableError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as { code?: unknown; sqlState?: unknown; message?: unknown; cause?: unknown; originalError?: unknown };
    const code = typeof e.code === 'string' ? e.code : undefined;
    const sqlState = typeof e.sqlState === 'string' ? e.sqlState : code;
    if (code && NETWORK_CODES.has(code)) return true;
    if (sqlState && UNAVAILABLE_SQLSTATES.has(sqlState)) return true;
    if (typeof e.message === 'string' && MESSAGES.some((re) => re.test(e.message as string))) return true;
    current = e.originalError ?? e.cause;
  }
  return false;
}
