/**
 * Inbox benchmark (issue 13), short on purpose (the machine is shared): on the activity data set (1M actions,
 * the measured user with ~200,000 feed entries, 100,000 unread and unseen), side by side in the same run:
 * unreadCount (today's reference), unseenCount, feedCounts(by: 4 and 5 keys), unreadCount with a verb filter, the
 * feed page of 50, logAction fanning out to 1,000 feeds, and markAllSeen over 100,000 unseen entries, with and
 * without `before` (unseen restored by SQL between samples). The same file runs on a tree without the counter
 * cells (the previous version, for the side-by-side ratio): it then measures 4 keys only and restores the flags the
 * way that schema stores them.
 *
 *   node --experimental-strip-types bench/activity/inbox.ts
 *
 * Env: DATABASE_URL, INBOX_BENCH_ITERATIONS (default 30), INBOX_BENCH_READ_WARM_UP (requests before each read's
 * samples, default 500), KEEP_DB=1.
 */
import os from 'node:os';
import pg from 'pg';
import { post, signTestToken, startInstance } from '../../test/support/instances.ts';
import { describeMachine, median, percentile } from '../machine.ts';
import { UNLIMITED_SERVER_ENV } from '../load.ts';
import { createDatabase, dropDatabase, generate, HOT_ITEM, MEASURED_USER } from './dataset.ts';

const DB_NAME = 'trackql_bench_inbox';

async function gql(url: string, query: string, token: string): Promise<any> {
  const { status, body } = await post(url, query, {}, token);
  if (status !== 200 || body.errors?.length) throw new Error(`GraphQL failed (${status}): ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function main() {
  const serverUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const iterations = Number(process.env['INBOX_BENCH_ITERATIONS'] ?? 30);
  const readWarmUp = Number(process.env['INBOX_BENCH_READ_WARM_UP'] ?? 500);
  const databaseUrl = await createDatabase(serverUrl, DB_NAME);
  const instance = await startInstance({ databaseUrl, env: { ...UNLIMITED_SERVER_ENV, LOG_LEVEL: 'warn' } });
  const client = new pg.Client({ connectionString: databaseUrl });
  const rows: string[] = [];
  try {
    const dataset = await generate(databaseUrl, 0, console.log);
    console.log(JSON.stringify(dataset));
    await client.connect();
    const me = await signTestToken(MEASURED_USER);
    const service = await signTestToken('bench-service', ['service']);
    const cells = (await client.query(`select to_regclass('activity_feed_cell') is not null as present`)).rows[0].present as boolean;
    console.log(cells ? 'schema: counter cells and seen watermark' : 'schema: previous (counts at read time)');
    // `warm`: requests before the samples. Reads take READ_WARM_UP: a served process is warm, and with 3 the
    // p95 of 30 samples was the JIT's first requests (bench/activity/request-tail.ts); writes that rewrite
    // the data set take 3.
    const measure = async (name: string, fn: () => Promise<void>, before?: () => Promise<void>, n = iterations, warm = 3) => {
      const samples: number[] = [];
      for (let i = 0; i < n + warm; i++) {
        if (before) await before();
        const t0 = performance.now();
        await fn();
        if (i >= warm) samples.push(performance.now() - t0);
      }
      const line = `| ${name} | ${samples.length} | ${median(samples).toFixed(2)} ms | ${percentile(samples, 95).toFixed(2)} ms |`;
      console.log(line);
      rows.push(line);
    };
    await measure('unreadCount (reference: one counter row)', async () => void (await gql(instance.url, `{ unreadCount }`, me)), undefined, iterations, readWarmUp);
    await measure('unseenCount', async () => void (await gql(instance.url, `{ unseenCount }`, me)), undefined, iterations, readWarmUp);
    await measure('feed page of 50', async () => void (await gql(instance.url, `{ feed(first: 50) { edges { node { id unread seen } } } }`, me)), undefined, iterations, readWarmUp);
    await measure('unreadCount(verbs: ["posted"]) (counted over the unread entries)', async () => void (await gql(instance.url, `{ unreadCount(verbs: ["posted"]) }`, me)), undefined, iterations, readWarmUp);
    await measure('feedCounts(by: [VERB, OBJECT_TYPE, TRACKER, LEVEL])', async () => {
      await gql(instance.url, `{ feedCounts(by: [VERB, OBJECT_TYPE, TRACKER, LEVEL]) { by key unread unseen total } }`, me);
    }, undefined, iterations, readWarmUp);
    if (cells) {
      await measure('feedCounts(by: [VERB, OBJECT_TYPE, TRACKER, LEVEL, ACTOR_TYPE])', async () => {
        await gql(instance.url, `{ feedCounts(by: [VERB, OBJECT_TYPE, TRACKER, LEVEL, ACTOR_TYPE]) { by key unread unseen total } }`, me);
      }, undefined, iterations, readWarmUp);
    }
    await measure('logAction fanning out to 1,000 feeds', async () => {
      const { status, body } = await post(
        instance.url,
        `mutation($input: LogActionInput!) { logAction(input: $input) { id } }`,
        { input: { actor: { type: 'User', id: 'u5000', label: 'Someone' }, verb: 'mentioned', targets: [{ ...HOT_ITEM, label: 'The hot item' }] } },
        service,
      );
      if (status !== 200 || body.errors?.length) throw new Error(`logAction failed: ${JSON.stringify(body.errors)}`);
    });
    // Every unread entry of the measured user unseen again (and, with the watermark, written at the current epoch).
    const restore = async () => {
      if (cells) {
        await client.query(
          `update activity_feed_entry f set unseen = true, seen_epoch = c.seen_epoch from activity_unread_counter c
            where c.user_id = f.user_id and f.user_id = $1 and f.unread and not (f.unseen and f.seen_epoch >= c.seen_epoch)`,
          [MEASURED_USER],
        );
        await client.query(
          `update activity_feed_cell k set unseen = k.unread, seen_epoch = c.seen_epoch from activity_unread_counter c where c.user_id = k.user_id and k.user_id = $1`,
          [MEASURED_USER],
        );
      } else {
        await client.query(`update activity_feed_entry set unseen = true where user_id = $1 and unread and not unseen`, [MEASURED_USER]);
      }
      await client.query(`update activity_unread_counter set unseen = count where user_id = $1`, [MEASURED_USER]);
    };
    await measure('markAllSeen over 100,000 unseen', async () => {
      const data = await gql(instance.url, `mutation { markAllSeen }`, me);
      if (data.markAllSeen !== dataset.measuredUnread) throw new Error(`markAllSeen changed ${data.markAllSeen}`);
    }, restore, 5); // each restore rewrites 100,000 rows: few samples
    // `before` = the timestamp of the 1,000th newest unseen entry: about 99,000 become seen, 1,000 stay unseen.
    const { rows: cut } = await client.query(
      `select action_timestamp from activity_feed_entry where user_id = $1 and unread order by action_timestamp desc, action_id desc offset 999 limit 1`,
      [MEASURED_USER],
    );
    const before = (cut[0].action_timestamp as Date).toISOString(); // milliseconds: the expected count is taken at the same value
    const { rows: seen } = await client.query(`select count(*)::int as n from activity_feed_entry where user_id = $1 and unread and action_timestamp <= $2`, [
      MEASURED_USER,
      before,
    ]);
    await measure('markAllSeen(before) over 100,000 unseen, ~1,000 newer stay unseen', async () => {
      const data = await gql(instance.url, `mutation { markAllSeen(before: "${before}") }`, me);
      if (data.markAllSeen !== seen[0].n) throw new Error(`markAllSeen(before) changed ${data.markAllSeen}, expected ${seen[0].n}`);
    }, restore, 5);
  } finally {
    await client.end().catch(() => {});
    await instance.stop();
    if (!process.env['KEEP_DB']) await dropDatabase(serverUrl, DB_NAME);
  }
  console.log(`\nMachine: ${describeMachine()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} (measured under load from parallel work)`);
  console.log('| measurement | n | p50 | p95 |\n| --- | --- | --- | --- |\n' + rows.join('\n'));
}

await main();
