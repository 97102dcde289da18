/**
 * The group commit alone, with and without ids, next to a key table that holds a window of keys (issue 17):
 * where the time of increment ids goes, without HTTP, GraphQL or a load generator.
 *
 *   1. a fresh database (DATABASE_URL, default the local server; dropped afterwards), migrated;
 *   2. BENCH_KEYS keys put into metric_increment_key first (default 1,000,000; 10,000,000 is a 24 h window at
 *      ~116 keyed increments/s), inserted in created_at order over the last 24 h with random hashes, as the
 *      group commit leaves them;
 *   3. group commits of BENCH_BATCH rows (default 5,000) through the real Inbox, alternated: without ids, then a
 *      fresh random id (UUID) on every row; each timed from enqueue to its resolution (the statement and its
 *      COMMIT), BENCH_REPS of each (default 9), medians; a CHECKPOINT first, so that the first commits after it
 *      pay the full-page images as they would in production.
 *
 *   node --experimental-strip-types bench/metrics/increment-keys.ts      (writes bench/results/metrics.md)
 *
 * The same statement with EXPLAIN (ANALYZE, BUFFERS, WAL) is quoted in bench/results.md.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../../src/config.ts';
import { applyMigrations, createOrm } from '../../src/db/orm.ts';
import { createLogger } from '../../src/logger.ts';
import { Inbox } from '../../src/metrics/inbox.ts';
import type { InboxRow } from '../../src/metrics/model.ts';
import { createTestDatabase } from '../../test/support/database.ts';
import { median } from '../machine.ts';
import { writeSection, type BenchRow } from './report.ts';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 1_000_000);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 5_000);
const REPS = Number(process.env['BENCH_REPS'] ?? 9);

function rows(withIds: boolean): InboxRow[] {
  const now = Date.now();
  return Array.from({ length: BATCH }, (_, i) => ({
    metricId: 1,
    objectType: 'Page',
    objectId: `p${i % 50}`,
    category: 'web',
    domId: '',
    amount: 1,
    occurredAt: now,
    key: withIds ? `e:${crypto.randomUUID()}` : null,
  }));
}

export async function run(): Promise<{ rows: BenchRow[]; notes: string[] }> {
  process.env['DATABASE_URL'] ??= 'postgres://postgres@127.0.0.1:5432/postgres';
  const database = await createTestDatabase();
  const orm = await createOrm(database.target);
  const inbox = new Inbox(orm, loadConfig({}).metrics, createLogger('warn'));
  const admin = new pg.Client({ connectionString: database.url });
  try {
    await applyMigrations(orm);
    await admin.connect();
    const filled = performance.now();
    // In chunks, so that no single statement holds a huge transaction; created_at ascending like the real table.
    const chunk = 500_000;
    for (let start = 0; start < KEYS; start += chunk) {
      const end = Math.min(KEYS, start + chunk);
      await admin.query(
        `insert into metric_increment_key (hash, scope, key, created_at)
         select ('x' || md5(g::text || $3))::bit(64)::bigint, 'service:bench', 'e:' || g, now() - interval '24 hours' + g * ($4::float8 * interval '1 ms')
         from generate_series($1::bigint, $2::bigint) g on conflict do nothing`,
        [start + 1, end, String(Date.now()), 86_400_000 / KEYS],
      );
    }
    await admin.query('vacuum analyze metric_increment_key');
    const fillSeconds = (performance.now() - filled) / 1000;
    const size = (await admin.query(
      `select pg_size_pretty(pg_relation_size('metric_increment_key_pkey')) as idx, pg_size_pretty(pg_relation_size('metric_increment_key')) as heap,
              current_setting('shared_buffers') as sb`,
    )).rows[0] as { idx: string; heap: string; sb: string };

    const time = async (withIds: boolean) => {
      const batch = rows(withIds);
      const started = performance.now();
      const duplicates = await inbox.enqueue(batch, 'service:bench');
      if (duplicates.length > 0) throw new Error(`unexpected duplicates: ${duplicates.length}`);
      return performance.now() - started;
    };
    await time(false);
    await time(true);
    await admin.query('checkpoint');
    const without: number[] = [];
    const withIds: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      without.push(await time(false));
      withIds.push(await time(true));
    }
    const m = { without: median(without), withIds: median(withIds) };
    const ratio = m.without / m.withIds;
    const result: BenchRow[] = [
      { benchmark: `group commit of ${BATCH} rows without ids (statement and COMMIT)`, value: `${m.without.toFixed(1)} ms`, target: '–', met: null },
      { benchmark: `the same with a fresh random id on every row, ${KEYS.toLocaleString('en')} keys in the table`, value: `${m.withIds.toFixed(1)} ms`, target: '–', met: null },
      { benchmark: 'rate ratio with ids / without (the statement alone)', value: `**${ratio.toFixed(2)} ×**`, target: 'report (issue 17: >= 0.80 × end to end)', met: null },
    ];
    const notes = [
      `Key table: ${KEYS.toLocaleString('en')} keys filled in ${fillSeconds.toFixed(0)} s; primary key ${size.idx}, heap ${size.heap}; shared_buffers ${size.sb}.`,
      `${REPS} commits of each, alternated after a CHECKPOINT; per commit without ids ${without.map((v) => v.toFixed(0)).join(', ')} ms; with ids ${withIds.map((v) => v.toFixed(0)).join(', ')} ms.`,
      'One Inbox on one connection at a time (no concurrent commits); other engineers\' work shared the machine, so only the ratio of one run means much.',
    ];
    return { rows: result, notes };
  } finally {
    await inbox.close();
    await admin.end().catch(() => {});
    await orm.close(true);
    await database.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows: result, notes } = await run();
  console.table(result);
  for (const note of notes) console.log(`- ${note}`);
  writeSection('increment-keys', 'Group commit with and without ids next to a window of keys (bench/metrics/increment-keys.ts)', result, notes);
}
