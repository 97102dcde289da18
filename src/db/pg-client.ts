import pg from 'pg';

type QueryCallback = (error: Error | null, result: pg.QueryResult) => void;

/**
 * pg's Client, whose promise-form `query(text, values)` (the form Kysely, and so MikroORM, uses) runs pg's
 * callback form inside a plain promise.
 *
 * Why: with pg 8.23's own promise form, every query's objects (the Query, its Result, the parsed rows and
 * promises) survive two young-generation collections and are promoted to the old generation, to die only in the
 * next full collection; the callback form does not (measured: ~900 KB promoted per scavenge for a one-row
 * select in a loop against 1–5 KB, bench/results.md "Request tail"). In the server that made every scavenge
 * copy megabytes (5–20 ms pauses with a 64 MB young generation) and set the p95/p99 of every request that reads
 * the database. Everything else (config objects, submittables such as pg-cursor, callbacks) goes to pg as is.
 */
export class CallbackQueryClient extends pg.Client {
  /**
   * The client-side timeout (`query_timeout`, orm.ts) of the current transaction's queries when it raised its own
   * statement_timeout (`set_config('statement_timeout', '300s', true)`: the fold's batches): that, plus the margin.
   */
  #raisedTimeoutMs: number | undefined;

  override query(...args: unknown[]): never {
    const [config, values, callback] = args;
    const plainText = typeof config === 'string' || (typeof config === 'object' && config !== null && typeof (config as { submit?: unknown }).submit !== 'function');
    if (!plainText || typeof values === 'function' || typeof callback === 'function') {
      return (super.query as (...a: unknown[]) => never)(...args);
    }
    const text = typeof config === 'string' ? config : String((config as { text?: unknown }).text ?? '');
    const raised = RAISED_STATEMENT_TIMEOUT.exec(text);
    if (raised) this.#raisedTimeoutMs = Number(raised[1]) * 1000 + QUERY_TIMEOUT_MARGIN_MS;
    else if (TRANSACTION_BOUNDARY.test(text)) this.#raisedTimeoutMs = undefined;
    const sent =
      this.#raisedTimeoutMs === undefined
        ? config
        : { ...(typeof config === 'string' ? { text: config } : (config as object)), query_timeout: this.#raisedTimeoutMs };
    return new Promise<pg.QueryResult>((resolve, reject) => {
      const done: QueryCallback = (error, result) => {
        if (error) {
          this.#dropWhenStalled(error);
          reject(error);
        } else resolve(result);
      };
      (super.query as (...a: unknown[]) => unknown)(sent, values, done);
    }) as never;
  }

  /**
   * A query that got no answer within `query_timeout` (the database stalled: a partition, a frozen host) leaves its
   * connection waiting for that answer: the connection is destroyed, so the pool drops this client instead of
   * queueing the next query behind the lost one (that query would hang for the whole stall too).
   */
  #dropWhenStalled(error: Error): void {
    if (error.message === QUERY_READ_TIMEOUT) this.connection.stream.destroy();
  }
}

/** The message of pg's client-side `query_timeout` error. */
export const QUERY_READ_TIMEOUT = 'Query read timeout';

/** How long past the statement timeout the client waits for an answer before it calls the database stalled. */
export const QUERY_TIMEOUT_MARGIN_MS = 2_000;

const RAISED_STATEMENT_TIMEOUT = /set_config\('statement_timeout', '(\d+)s', true\)/;
const TRANSACTION_BOUNDARY = /^\s*(begin|commit|rollback)\b/i;
