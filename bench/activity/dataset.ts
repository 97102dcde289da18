import pg from 'pg';

/**
 * The activity benchmark's data set, generated with set-based SQL (generate_series) straight into the
 * tables the service uses, shaped as the fan-out would have written it:
 *
 * - 10,000 users `u0`..`u9999` (actors), each with 10 trackers on random items (actorOnly: false);
 * - the measured user `bench-me` with 1,000 trackers on items 0..999;
 * - 1,000,000 actions (5 verbs, 10% at HIDDEN level) with one target item each; 20% of them target the
 *   measured user's items, so its feed holds about 200,000 entries, 100,000 of them unread;
 * - feed entries for every (tracker owner, matching action) and exact unread and unseen counters (unseen = unread);
 * - a "hot" item tracked by 1,000 users (logAction fan-out), and `ws-hot` tracked by the websocket users.
 */
export const MEASURED_USER = 'bench-me';
export const HOT_ITEM = { type: 'Item', id: 'hot' };
export const WS_ITEM = { type: 'Item', id: 'ws-hot' };

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
): Promise<DatasetReport> {
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
      return { actions: 0, feedEntries: 0, trackers: wsUsers, measuredFeed: 0, measuredUnread: 0, seconds: (performance.now() - started) / 1000 };
    }
    await step(
      'actions',
      `insert into activity_action (actor_type, actor_id, actor_label, verb, data, level, "timestamp", grouped_count)
       select 'User', 'u' || (g % 10000), 'User ' || (g % 10000),
              (array['posted','liked','shared','commented','edited'])[1 + g % 5],
              case when g % 3 = 0 then jsonb_build_object('n', g) end,
              case when g % 10 = 0 then 20 else 30 end,
              now() - interval '370 days' + g * interval '31 seconds', 1
         from generate_series(1, 1000000) g`,
    );
    await step(
      'action objects',
      `insert into activity_action_object (action_id, role, object_type, object_id, label, position)
       select id, 'target', 'Item',
              (case when id % 5 = 0 then (id / 5) % 1000 else 1000 + (id * 7919) % 99000 end)::text,
              'Item #' || (case when id % 5 = 0 then (id / 5) % 1000 else 1000 + (id * 7919) % 99000 end), 0
         from activity_action`,
    );
    await step(
      'trackers (measured user)',
      `insert into activity_tracker (owner_id, object_type, object_id, object_label, verbs, actor_only)
       select '${MEASURED_USER}', 'Item', i::text, 'Item #' || i, null, false from generate_series(0, 999) i`,
    );
    await step(
      'trackers (10,000 users x 10)',
      `insert into activity_tracker (owner_id, object_type, object_id, object_label, verbs, actor_only)
       select 'u' || u, 'Item', (1000 + (u * 131 + k * 9973) % 99000)::text, null, null, false
         from generate_series(0, 9999) u, generate_series(0, 9) k
       on conflict do nothing`,
    );
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
      'unread: 100,000 newest readable entries of the measured user',
      `update activity_feed_entry f set unread = true, unseen = true
        where f.user_id = '${MEASURED_USER}' and f.action_id in (
          select f2.action_id from activity_feed_entry f2 join activity_action a on a.id = f2.action_id
           where f2.user_id = '${MEASURED_USER}' and a.level >= 30
           order by f2.action_id desc limit 100000)`,
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
    await step('vacuum analyze', `vacuum analyze`);
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
