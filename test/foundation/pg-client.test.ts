import { describe, expect, it } from 'vitest';
import { CallbackQueryClient, QUERY_READ_TIMEOUT } from '../../src/db/pg-client.ts';
import { isDatabaseUnavailableError } from '../../src/db/availability.ts';

/**
 * The client-side query timeout (orm.ts: DB_STATEMENT_TIMEOUT_MS plus a margin): a query with no answer fails as
 * "the database is unavailable" and its connection is dropped; a transaction that raises its own statement_timeout
 * (the fold's batches) gets that long instead. PostgreSQL only.
 */
const url = process.env['DATABASE_URL'];
/** The promise form of `query` (typed `never` by the subclass's override signature). */
const run = (client: CallbackQueryClient, text: string) => client.query(text) as unknown as Promise<{ rows: unknown[] }>;

describe.skipIf(!url)('CallbackQueryClient query timeout', () => {
  it('fails a query past query_timeout as UNAVAILABLE and drops its connection', async () => {
    const client = new CallbackQueryClient({ connectionString: url, query_timeout: 300 });
    client.on('error', () => undefined);
    await client.connect();
    const error = await run(client, 'select pg_sleep(1)').then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toBe(QUERY_READ_TIMEOUT);
    expect(isDatabaseUnavailableError(error)).toBe(true);
    // The connection is gone: the next query is refused at once rather than queued behind the lost one.
    await expect(run(client, 'select 1')).rejects.toThrow();
    await client.end().catch(() => undefined);
  });

  it("gives a transaction's queries its raised statement_timeout (plus the margin), until it ends", async () => {
    const client = new CallbackQueryClient({ connectionString: url, query_timeout: 300 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await run(client, 'begin');
      await run(client, `select set_config('statement_timeout', '5s', true)`);
      expect((await run(client, 'select pg_sleep(1) as slept')).rows).toHaveLength(1);
      await run(client, 'commit');
      const after = await run(client, 'select pg_sleep(1)').then(
        () => null,
        (e: Error) => e,
      );
      expect(after?.message).toBe(QUERY_READ_TIMEOUT);
    } finally {
      await client.end().catch(() => undefined);
    }
  });
});
