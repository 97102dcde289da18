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
  override query(...args: unknown[]): never {
    const [config, values, callback] = args;
    const plainText = typeof config === 'string' || (typeof config === 'object' && config !== null && typeof (config as { submit?: unknown }).submit !== 'function');
    if (!plainText || typeof values === 'function' || typeof callback === 'function') {
      return (super.query as (...a: unknown[]) => never)(...args);
    }
    return new Promise<pg.QueryResult>((resolve, reject) => {
      const done: QueryCallback = (error, result) => (error ? reject(error) : resolve(result));
      (super.query as (...a: unknown[]) => unknown)(config, values, done);
    }) as never;
  }
}
