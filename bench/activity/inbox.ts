/**
 * Inbox benchmark (issue 13), short on purpose (the machine is shared): on the activity data set (1M actions,
 * the measured user with ~200,000 feed entries, 100,000 unread and unseen), side by side in the same run:
 * unreadCount (today's reference), unseenCount, feedCounts(by: 4 keys), unreadCount with a verb filter, the
 * feed page of 50, and markAllSeen over 100,000 unseen entries (unseen restored by SQL between samples).
 *
 *   node --experimental-strip-types bench/activity/inbox.ts
 *
 * Env: DATABASE_URL, INBOX_BENCH_ITERATIONS (default 30), KEEP_DB=1.
 */
import os from 'node:os';
import pg from 'pg';
import { post, signTestToken, startInstance } from '../../test/support/instances.ts';
import { describeMachine, median, percentile } from '../machine.ts';
import { UNLIMITED_SERVER_ENV } from '../load.ts';
import { createDatabase, dropDatabase, generate, MEASURED_USER } from './dataset.ts';

const DB_NAME = 'trackql_bench_inbox';

async function gql(url: string, query: string, token: string): Promise<any> {
  const { status, body } = await post(url, query, {}, token);
  if (status !== 200 || body.errors?.length) throw new Error(`GraphQL failed (${status}): ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function main() {
  const serverUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const iterations = Number(process.env['INBOX_BENCH_ITERATIONS'] ?? 30);
  const databaseUrl = await createDatabase(serverUrl, DB_NAME);
  const instance = await startInstance({ databaseUrl, env: { ...UNLIMITED_SERVER_ENV, LOG_LEVEL: 'warn' } });
  const client = new pg.Client({ connectionString: databaseUrl });
  const rows: string[] = [];
  try {
    const dataset = await generate(databaseUrl, 0, console.log);
    console.log(JSON.stringify(dataset));
    await client.connect();
    const me = await signTestToken(MEASURED_USER);
    const measure = async (name: string, fn: () => Promise<void>, before?: () => Promise<void>, n = iterations) => {
      const samples: number[] = [];
      for (let i = 0; i < n + 3; i++) {
        if (before) await before();
        const t0 = performance.now();
        await fn();
        if (i >= 3) samples.push(performance.now() - t0);
      }
      const line = `| ${name} | ${samples.length} | ${median(samples).toFixed(2)} ms | ${percentile(samples, 95).toFixed(2)} ms |`;
      console.log(line);
      rows.push(line);
    };
    await measure('unreadCount (reference: one counter row)', async () => void (await gql(instance.url, `{ unreadCount }`, me)));
    await measure('unseenCount', async () => void (await gql(instance.url, `{ unseenCount }`, me)));
    await measure('feed page of 50', async () => void (await gql(instance.url, `{ feed(first: 50) { edges { node { id unread seen } } } }`, me)));
    await measure('unreadCount(verbs: ["posted"]) (counted over the unread entries)', async () => void (await gql(instance.url, `{ unreadCount(verbs: ["posted"]) }`, me)));
    await measure('feedCounts(by: [VERB, OBJECT_TYPE, TRACKER, LEVEL])', async () => {
      await gql(instance.url, `{ feedCounts(by: [VERB, OBJECT_TYPE, TRACKER, LEVEL]) { by key unread unseen total } }`, me);
    });
    const restore = async () => {
      await client.query(`update activity_feed_entry set unseen = true where user_id = $1 and unread and not unseen`, [MEASURED_USER]);
      await client.query(`update activity_unread_counter set unseen = count where user_id = $1`, [MEASURED_USER]);
    };
    await measure('markAllSeen over 100,000 unseen', async () => {
      const data = await gql(instance.url, `mutation { markAllSeen }`, me);
      if (data.markAllSeen !== dataset.measuredUnread) throw new Error(`markAllSeen changed ${data.markAllSeen}`);
    }, restore, 5); // each restore rewrites 100,000 rows: few samples
  } finally {
    await client.end().catch(() => {});
    await instance.stop();
    if (!process.env['KEEP_DB']) await dropDatabase(serverUrl, DB_NAME);
  }
  console.log(`\nMachine: ${describeMachine()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} (measured under load from parallel work)`);
  console.log('| measurement | n | p50 | p95 |\n| --- | --- | --- | --- |\n' + rows.join('\n'));
}

await main();
