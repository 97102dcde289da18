import pg from 'pg';
import { REBUILD_CELLS_SQL } from '../../src/activity/feed-cells.ts';

/**
 * The activity benchmark's data set, generated with set-based SQL (generate_series) straight into the
 * tables the service uses, shaped as the fan-out would have written it. With `scale` s (1 by default,
 * 10 for bench/activity/scale.ts):
 *
 * - 10,000·s users `u0`.. (actors), each with 10 trackers on random items among 99,000·s (actorOnly: false);
 * - the measured user `bench-me` with 1,000 trackers on items 0..999;
 * - 1,000,000·s actions (5 verbs, 10% at HIDDEN level) with one target item each; 20% of them target the
 *   measured user's items, so its feed holds about 200,000·s entries, 100,000·s of them unread;
 * - feed entries for every (tracker owner, matching action) and exact unread and unseen counters (unseen = unread),
 *   and the counter cells per entry shape (filled from the entries as the migration fills them);
 * - a "hot" item tracked by 1,000 users (logAction fan-out), `ws-hot` tracked by the websocket users, and
 *   `hot-10k` tracked by 10,000 users (bench/activity/scale.ts).
 *
 * The tables' secondary indexes are dropped during the load and rebuilt after it (the same definitions,
 * read from pg_indexes): building an index once is much faster than maintaining it row by row.
 */
export const MEASURED_USER = 'bench-me';
export const HOT_ITEM = { type: 'Item', id: 'hot' };
export const WS_ITEM = { type: 'Item', id: 'ws-hot' };
export const HOT_10K_ITEM = { type: 'Item', id: 'hot-10k' };
/** Tracked by the idle-memory run's users `idle0`..: a separate item, so the delivery rounds reach exactly their users. */
export const WS_IDLE_ITEM = { type: 'Item', id: 'ws-idle' };

export interface DatasetReport {
  actions: number;
  feedEntries: number;
  trackers: number;
  measuredFeed: number;
  measuredUnread: number;
  seconds: number;
}

export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}

/** Fills a migrated, empty database. */
export async function generate(
  databaseUrl: string,
  wsUsers: number,
  log: (line: string) => void,
  onlyWebsocketTrackers = false,
  options: { scale?: number; idleUsers?: number } = {},
): Promise<DatasetReport> {
  const { scale = 1, idleUsers = 0 } = options;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`scale must be a positive integer, got ${scale}`);
  const actions = 1_000_000 * scale;
  const actors = 10_000 * scale;
  const otherItems = 99_000 * scale;
  const started = performance.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const step = async (label: string, sql: string) => {
    const t0 = performance.now();
    const result = await client.query(sql);
    log(`  ${label}: ${result.rowCount ?? 0} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  };
  try {
    await client.query(`set maintenance_work_mem = '512MB'`);
    await client.query(`set work_mem = '256MB'`);
    if (onlyWebsocketTrackers) {
      await step(
        `websocket item: tracked by ${wsUsers} users`,
        `insert into activity_tracker (owner_id, object_type, object_id, verbs, actor_only)
         select 'ws' || u, '${WS_ITEM.type}', '${WS_ITEM.id}', null, false from generate_series(0, ${wsUsers - 1}) u`,
      );
      if (idleUsers > 0) {
        await step(
          `idle websocket item: tracked by ${idleUsers} users`,
          `insert into activity_tracker (owner_id, object_type, object_id, verbs, actor_only)
           select 'idle' || u, '${WS_IDLE_ITEM.type}', '${WS_IDLE_ITEM.id}', null, false from generate_series(0, ${idleUsers - 1}) u`,
        );
      }
      return { actions: 0, feedEntries: 0, trackers: wsUsers + idleUsers, measuredFeed: 0, measuredUnread: 0, seconds: (performance.now() - started) / 1000 };
    }
    const { rows: secondary } = await client.query<{ name: string; definition: string }>(
      `select i.indexname as name, i.indexdef as definition from pg_indexes i
        where i.schemaname = current_schema() and i.tablename like 'activity%'
          and not exists (select 1 from pg_constraint c where c.conname = i.indexname)`,
    );
    for (const index of secondary) await client.query(`drop index "${index.name}"`);
    await step(
      'actions',
      `insert into activity_action (actor_type, actor_id, actor_label, verb, data, level, "timestamp", grouped_count)
       select 'User', 'u' || (g % ${actors}), 'User ' || (g % ${actors}),
              (array['posted','liked','shared','commented','edited'])[1 + g % 5],
              case when g % 3 = 0 then jsonb_build_object('n', g) end,
              case when g % 10 = 0 then 20 else 30 end,
              now() - interval '370 days' + g * interval '31 seconds' / ${scale}, 1
         from generate_series(1, ${actions}) g`,
    );
    await step(
      'action objects',
      `insert into activity_action_object (action_id, role, object_type, object_id, label, position)
       select id, 'target', 'Item',
              (case when id % 5 = 0 then (id / 5) % 1000 else 1000 + (id * 7919) % ${otherItems} end)::text,
              'Item #' || (case when id % 5 = 0 then (id / 5) % 1000 else 1000 + (id * 7919) % ${otherItems} end), 0
         from activity_action`,
    );
    await step(
      'trackers (measured user)',
      `insert into activity_tracker (owner_id, object_type, object_id, object_label, verbs, actor_only)
       select '${MEASURED_USER}', 'Item', i::text, 'Item #' || i, null, false from generate_series(0, 999) i`,
    );
    await step(
      `trackers (${actors.toLocaleString('en')} users x 10)`,
      `insert into activity_tracker (owner_id, object_type, object_id, object_label, verbs, actor_only)
       select 'u' || u, 'Item', (1000 + (u * 131 + k * 9973) % ${otherItems})::text, null, null, false
         from generate_series(0, ${actors - 1}) u, generate_series(0, 9) k
       on conflict do nothing`,
    );
    // Each entry's counter cell (src/activity/feed-cells.ts) is filled after the load, as the migration does.
    await client.query(`alter table activity_feed_entry alter column cell_id drop not null`);
    await step(
      'feed entries (fan-out of the generated actions)',
      `insert into activity_feed_entry (user_id, action_id, unread, tracker_ids, action_timestamp)
       select t.owner_id, o.action_id, false, array_agg(t.id), min(a."timestamp")
         from activity_action_object o
         join activity_action a on a.id = o.action_id
         join activity_tracker t on t.object_type = o.object_type and t.object_id = o.object_id
        group by t.owner_id, o.action_id`,
    );
    await step(
      `unread: ${(100_000 * scale).toLocaleString('en')} newest readable entries of the measured user`,
      `update activity_feed_entry f set unread = true, unseen = true
        where f.user_id = '${MEASURED_USER}' and f.action_id in (
          select f2.action_id from activity_feed_entry f2 join activity_action a on a.id = f2.action_id
           where f2.user_id = '${MEASURED_USER}' and a.level >= 30
           order by f2.action_id desc limit ${100_000 * scale})`,
    );
    await step(
      'unread: half of the other users\' readable entries',
      `update activity_feed_entry f set unread = true, unseen = true from activity_action a
        where a.id = f.action_id and a.level >= 30 and f.user_id <> '${MEASURED_USER}' and f.action_id % 2 = 0`,
    );
    await step(
      'unread and unseen counters',
      `insert into activity_unread_counter (user_id, count, unseen)
       select user_id, count(*) filter (where unread), count(*) filter (where unseen) from activity_feed_entry group by user_id`,
    );
    await client.query('begin');
    for (const [i, statement] of REBUILD_CELLS_SQL.entries()) await step(`counter cells (${i + 1}/${REBUILD_CELLS_SQL.length})`, statement);
    await client.query('commit');
    await client.query(`alter table activity_feed_entry alter column cell_id set not null`);
    await step(
      'hot item: tracked by 1,000 users',
      `insert into activity_tracker (owner_id, object_type, object_id, verbs, actor_only)
       select 'u' || u, '${HOT_ITEM.type}', '${HOT_ITEM.id}', null, false from generate_series(0, 999) u`,
    );
    await step(
      `websocket item: tracked by ${wsUsers} users`,
      `insert into activity_tracker (owner_id, object_type, object_id, verbs, actor_only)
       select 'ws' || u, '${WS_ITEM.type}', '${WS_ITEM.id}', null, false from generate_series(0, ${wsUsers - 1}) u`,
    );
    await step(
      'hot-10k item: tracked by 10,000 users',
      `insert into activity_tracker (owner_id, object_type, object_id, verbs, actor_only)
       select 'u' || u, '${HOT_10K_ITEM.type}', '${HOT_10K_ITEM.id}', null, false from generate_series(0, 9999) u`,
    );
    for (const index of secondary) await step(`index ${index.name}`, index.definition);
    await step('vacuum analyze', `vacuum analyze`);
    // Write the generated pages out now: otherwise the next checkpoint does it while the first measurement
    // runs (the inbox bench's first read, unreadCount, had an 11.6 ms p95 from that alone).
    await step('checkpoint', `checkpoint`);
    const count = async (sql: string) => Number((await client.query(sql)).rows[0].n);
    return {
      actions: await count(`select count(*) as n from activity_action`),
      feedEntries: await count(`select count(*) as n from activity_feed_entry`),
      trackers: await count(`select count(*) as n from activity_tracker`),
      measuredFeed: await count(`select count(*) as n from activity_feed_entry where user_id = '${MEASURED_USER}'`),
      measuredUnread: await count(`select count as n from activity_unread_counter where user_id = '${MEASURED_USER}'`),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await client.end();
  }
}
