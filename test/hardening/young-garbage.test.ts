import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { scavengesIn } from '../support/gc-trace.ts';
import { post, signTestToken, startInstance, type Instance } from '../support/instances.ts';

/**
 * A finished request leaves nothing that V8's young-generation collector must keep. A real server process runs
 * with --trace-gc-nvp (one line per collection, with the bytes it promoted to the old generation) and a 1 MB
 * semi-space (a scavenge every few requests); after a warm-up, REQUESTS requests that read the database through
 * scope-checked fields. What those scavenges promote, per request, must stay under PROMOTED_PER_REQUEST.
 *
 * It failed at 11–23 KB per request before request-release.ts: Pothos' scope cache (a WeakMap entry whose value
 * reaches its key, the context) kept every request's context, EntityManager fork and promises alive through two
 * scavenges, so they were promoted and only freed by a full collection (5–20 ms scavenge pauses in the p95 of every
 * request, bench/results.md "Request tail"). With pg's promise-form queries (pg-client.ts) each query's objects were
 * promoted too (~1 KB per query).
 */
const REQUESTS = 1_500;
const WARM_UP = 300;
// Measured with PostgreSQL: 22.9 KB per request before both changes, 10.9 KB with only the release, 13.9 KB with
// only the callback-form queries, 1.8 KB with both.
const PROMOTED_PER_REQUEST = 4_000;
// The embedded database (no DATABASE_URL) runs inside the server process, and this run promotes ~25 KB per request
// there even with both changes (PGlite's own JavaScript side; not investigated further): the bound is checked
// against PostgreSQL, as production runs.
const EMBEDDED = !process.env['DATABASE_URL'];

let database: TestDatabase;
let dataDir: string;
let instance: Instance;

beforeAll(async () => {
  if (EMBEDDED) return;
  database = await createTestDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-young-'));
  instance = await startInstance({
    databaseUrl: database.url,
    dataDir,
    env: { RATE_LIMIT_REQUESTS: '0' },
    nodeArgs: ['--trace-gc-nvp', '--max-semi-space-size=1'],
  });
}, 120_000);
afterAll(async () => {
  await instance?.stop();
  await database?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('young garbage', () => {
  it.skipIf(EMBEDDED)('queries that read the database through scope-checked fields leave (almost) nothing to promote', async () => {
    const token = await signTestToken('young-garbage-user');
    const query = `query YoungGarbage { unreadCount unseenCount trackers { id } feed(first: 5) { edges { node { id } } } }`;
    const run = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const { status, body } = await post(instance.url, query, {}, token);
        expect(status).toBe(200);
        expect(body.errors).toBeUndefined();
      }
    };
    await run(WARM_UP);
    const before = instance.server.output().length;
    await run(REQUESTS);
    const scavenges = scavengesIn(instance.server.output().slice(before)).map((s) => s.promotedBytes);
    // The 1 MB semi-space makes the run span many scavenges: the figure is an average, not one collection's luck.
    expect(scavenges.length).toBeGreaterThan(20);
    expect(scavenges.every((bytes) => Number.isFinite(bytes))).toBe(true);
    const perRequest = scavenges.reduce((sum, bytes) => sum + bytes, 0) / REQUESTS;
    expect(perRequest, `promoted per request over ${scavenges.length} scavenges`).toBeLessThan(PROMOTED_PER_REQUEST);
  }, 180_000);
});
