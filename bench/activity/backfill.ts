/**
 * `track` backfill (issue 10 item 1): a tracker created on an object with 100,000 past actions, and on a
 * type with 1,000,000, brings the ACTIVITY_TRACK_BACKFILL (1,000) most recently logged matching actions into
 * the feed in one INSERT…SELECT. Measured through GraphQL on a real trackql process against PostgreSQL, side
 * by side in the same run with `track` on an object without past actions (the reference), and the latency
 * of `logAction` on the same object while backfills run (does a backfill block writers?). Run directly:
 *
 *   node --experimental-strip-types bench/activity/backfill.ts
 *
 * writes bench/results/backfill.md. Env: DATABASE_URL, BACKFILL_TYPE_ACTIONS (default 1000000),
 * BACKFILL_ITERATIONS (default 15), KEEP_DB=1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { post, signTestToken, startInstance, type Instance } from '../../test/support/instances.ts';
import { describeMachine, median, percentile } from '../machine.ts';
import { UNLIMITED_SERVER_ENV } from '../load.ts';
import { createDatabase, dropDatabase } from './dataset.ts';

const DB_NAME = 'trackql_bench_backfill';
const OBJECT_ACTIONS = 100_000;
const TYPE_ACTIONS = Number(process.env['BACKFILL_TYPE_ACTIONS'] ?? 1_000_000);
const ITERATIONS = Number(process.env['BACKFILL_ITERATIONS'] ?? 15);

const TRACK = `mutation($i: TrackInput!) { track(input: $i) { id } }`;
const LOG = `mutation($i: LogActionInput!) { logAction(input: $i) { id } }`;

async function gql(url: string, query: string, variables: Record<string, unknown>, token: string): Promise<unknown> {
  const { status, body } = await post(url, query, variables, token);
  if (status !== 200 || body.errors?.length) throw new Error(`GraphQL failed (${status}): ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function seed(databaseUrl: string, log: (line: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const step = async (name: string, sql: string) => {
      const t0 = performance.now();
      await client.query(sql);
      log(`  ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    };
    // The big object: half of its actions as actor, half as target of someone else's action.
    await step(
      `${OBJECT_ACTIONS} actions of Item big`,
      `insert into activity_action (actor_type, actor_id, verb, level, "timestamp")
       select case when g % 2 = 0 then 'Item' else 'User' end, case when g % 2 = 0 then 'big' else 'u' || (g % 500) end,
              (array['edited','commented','viewed'])[1 + g % 3], 30, now() - make_interval(secs => ${OBJECT_ACTIONS} - g)
         from generate_series(1, ${OBJECT_ACTIONS}) g`,
    );
    await step(
      'their targets',
      `insert into activity_action_object (action_id, role, object_type, object_id, position)
       select id, 'target', 'Item', 'big', 0 from activity_action where actor_type = 'User'`,
    );
    await step(
      `${TYPE_ACTIONS} actions of type Thing (10,000 objects)`,
      `insert into activity_action (actor_type, actor_id, verb, level, "timestamp")
       select 'Thing', (g % 10000)::text, (array['made','moved'])[1 + g % 2], 30, now() - make_interval(secs => ${TYPE_ACTIONS} - g)
         from generate_series(1, ${TYPE_ACTIONS}) g`,
    );
    await step('analyze', 'analyze');
  } finally {
    await client.end();
  }
}

function stats(samples: number[]) {
  return { p50: median(samples), p95: percentile(samples, 95), max: Math.max(...samples) };
}

export async function run(log: (line: string) => void = console.log): Promise<string> {
  const serverUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const databaseUrl = await createDatabase(serverUrl, DB_NAME);
  let instance: Instance | undefined;
  try {
    instance = await startInstance({ databaseUrl, env: { ...UNLIMITED_SERVER_ENV } });
    log('seeding');
    await seed(databaseUrl, log);
    const service = await signTestToken('bench-service', ['service']);
    const url = instance.url;
    const timeTrack = async (input: Record<string, unknown>) => {
      const t0 = performance.now();
      await gql(url, TRACK, { i: input }, service);
      return performance.now() - t0;
    };
    const rows: Array<[string, ReturnType<typeof stats>]> = [];
    const reference: number[] = [];
    const object: number[] = [];
    const typeActor: number[] = [];
    // Alternate the cases so that load from parallel work falls on all of them alike.
    for (let i = 0; i < ITERATIONS; i++) {
      reference.push(await timeTrack({ owner: `ref${i}`, object: { type: 'Item', id: `empty${i}` }, actorOnly: false }));
      object.push(await timeTrack({ owner: `obj${i}`, object: { type: 'Item', id: 'big' }, actorOnly: false }));
      typeActor.push(await timeTrack({ owner: `type${i}`, objectType: 'Thing' }));
    }
    rows.push(['track on an object without past actions (reference)', stats(reference)]);
    rows.push([`track on an object with ${OBJECT_ACTIONS.toLocaleString('en')} past actions (actor and target; 1,000 backfilled)`, stats(object)]);
    rows.push([`track on a type with ${TYPE_ACTIONS.toLocaleString('en')} past actions (1,000 backfilled)`, stats(typeActor)]);

    // Writers during backfills: logAction on the big object alone, then while tracks run back to back.
    const logOnce = async () => {
      const t0 = performance.now();
      await gql(url, LOG, { i: { actor: { type: 'Item', id: 'big' }, verb: 'edited', groupingDelay: -1 } }, service);
      return performance.now() - t0;
    };
    const alone: number[] = [];
    for (let i = 0; i < ITERATIONS * 2; i++) alone.push(await logOnce());
    const during: number[] = [];
    let tracking = true;
    const tracker = (async () => {
      for (let i = 0; tracking; i++) await timeTrack({ owner: `busy${i}`, object: { type: 'Item', id: 'big' }, actorOnly: false });
    })();
    for (let i = 0; i < ITERATIONS * 2; i++) during.push(await logOnce());
    tracking = false;
    await tracker;
    rows.push(['logAction on the big object (reference)', stats(alone)]);
    rows.push(['logAction on the big object while backfilling tracks run back to back on it', stats(during)]);

    const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(1);
    const md = `# track backfill (bench/activity/backfill.ts)

Run ${new Date().toISOString()} on ${describeMachine()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')}
(measured under load from parallel work: other engineers' tests share the 2 cores). PostgreSQL local, fresh database;
one trackql process; ACTIVITY_TRACK_BACKFILL = 1,000 (default). ${ITERATIONS} iterations per case, alternated.

| case | p50 | p95 | max |
|---|---|---|---|
${rows.map(([name, s]) => `| ${name} | ${s.p50.toFixed(1)} ms | ${s.p95.toFixed(1)} ms | ${s.max.toFixed(1)} ms |`).join('\n')}

Ratios of medians: object backfill / reference ${ratio(object, reference)} ×; type backfill / reference ${ratio(typeActor, reference)} ×;
logAction during backfills / alone ${ratio(during, alone)} ×.
`;
    const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results', 'backfill.md');
    fs.writeFileSync(out, md);
    log(md);
    return md;
  } finally {
    await instance?.stop();
    if (!process.env['KEEP_DB']) await dropDatabase(serverUrl, DB_NAME);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await run();
}
