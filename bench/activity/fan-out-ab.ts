/**
 * The fan-out statement side by side with another tree's (issue 13: the counter cells' share of logAction to
 * 1,000 feeds). On a kept inbox data set (`KEEP_DB=1 … bench/activity/inbox.ts`), alternating in one session:
 * this tree's `fanOut` and the one of `FANOUT_AB_OTHER` (a worktree of the previous version), each in a
 * transaction rolled back, for an action on the hot item (1,000 trackers). `FANOUT_AB_OTHER_SETUP`: SQL run inside
 * the other tree's transaction before its fan-out (rolled back with it), for a schema it does not know, e.g.
 * `alter table activity_feed_entry alter column cell_id drop not null` for a tree from before the counter cells.
 * `FANOUT_AB_OTHER_DATABASE_URL`: the other tree runs on its own copy of the data set (a schema that differs in a
 * way a statement in its transaction cannot undo cheaply); the copies must be made from one database.
 *
 *   FANOUT_AB_OTHER=/work/wt/inbox-ref node --experimental-strip-types bench/activity/fan-out-ab.ts
 */
import pg from 'pg';
import { fanOut } from '../../src/activity/fan-out.ts';
import { median, percentile } from '../machine.ts';
import { HOT_ITEM } from './dataset.ts';
import { insertMention, pgEm } from './fan-out-direct.ts';

type FanOut = typeof fanOut;
const other = process.env['FANOUT_AB_OTHER'];
if (!other) throw new Error('FANOUT_AB_OTHER: the path of the other worktree');
const otherFanOut = (await import(`${other}/src/activity/fan-out.ts`)).fanOut as FanOut;
const otherSetup = process.env['FANOUT_AB_OTHER_SETUP'];
const mineUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/trackql_bench_inbox';
const mineClient = new pg.Client({ connectionString: mineUrl });
await mineClient.connect();
const otherClient = new pg.Client({ connectionString: process.env['FANOUT_AB_OTHER_DATABASE_URL'] ?? mineUrl });
await otherClient.connect();
let client = mineClient;

const explain = process.env['FANOUT_AB_EXPLAIN'] ? (plan: string) => console.log(plan) : undefined;
const em = pgEm(() => client, explain);

async function once(fn: FanOut, isOther: boolean): Promise<number> {
  client = isOther ? otherClient : mineClient;
  await client.query('begin');
  try {
    if (isOther && otherSetup) await client.query(otherSetup);
    const action = await insertMention(client, 'u5000', HOT_ITEM);
    const t0 = performance.now();
    const out = await fn(em, action, false, { readable: 30, unmutable: 50 });
    const ms = performance.now() - t0;
    if (out.length !== 1000) throw new Error(`fanned out to ${out.length}`);
    return ms;
  } finally {
    await client.query('rollback');
  }
}

const n = Number(process.env['FANOUT_AB_ITERATIONS'] ?? 40);
const mine: number[] = [];
const theirs: number[] = [];
for (let i = 0; i < n + 3; i++) {
  const a = await once(otherFanOut, true);
  const b = await once(fanOut, false);
  if (i >= 3) {
    theirs.push(a);
    mine.push(b);
  }
}
const row = (name: string, s: number[]) => `| ${name} | ${s.length} | ${median(s).toFixed(2)} ms | ${percentile(s, 95).toFixed(2)} ms |`;
console.log('| fan-out statement to 1,000 feeds | n | p50 | p95 |\n| --- | --- | --- | --- |');
console.log(row(`previous (${other})`, theirs));
console.log(row(`this tree (${process.cwd()})`, mine));
console.log(`ratio p50 ${(median(mine) / median(theirs)).toFixed(2)} ×, p95 ${(percentile(mine, 95) / percentile(theirs, 95)).toFixed(2)} ×`);
await mineClient.end();
await otherClient.end();
