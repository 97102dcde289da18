import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post, signTestToken } from '../support/instances.ts';
import { startSmallHeapServer, type SmallHeapServer } from './small-heap-server.ts';

/**
 * Bounded memory under hostile input: a real server process with a small heap (--max-old-space-size)
 * takes MEMORY_REQUESTS requests in which everything a caller chooses is new every time:
 * operation names and aliases (Prometheus labels, error paths, parsed documents, compiled queries),
 * object refs, labels, categories and DOM ids of increments, client addresses (X-Forwarded-For behind
 * TRUST_PROXY: rate-limit windows), user tokens (verified-token cache), user agents and request ids.
 * The process (heap limited to 128 MB) must stay up, and once the load stops its heap must be under a fixed
 * bound and no larger than during the first half of the run (no trend).
 *
 * The suite sends 25,000 (its budget on a 2-core CI machine that runs other test files beside it); the catalog cache limit is lowered to 1,000 so that the run
 * is many times that cache's capacity and eviction is what keeps the heap flat (the token cache, 10,000, and the
 * rate-limit windows, 100,000, are only filled by the full run). The full run of the review (200,000, default
 * limits) is `MEMORY_REQUESTS=200000 MEMORY_DEFAULT_LIMITS=1 npx vitest run test/hardening/bounded-memory.test.ts`;
 * its figures are in bench/results.md.
 */

const REQUESTS = Number(process.env['MEMORY_REQUESTS'] ?? 25_000);
const DEFAULT_LIMITS = process.env['MEMORY_DEFAULT_LIMITS'] === '1';
/** The child's old-space limit: a leak of this run's size would crash it. */
const HEAP_LIMIT_MB = 128;
/** Heap in use once the load stops (live data, garbage collected). */
// With the embedded database (no DATABASE_URL) PGlite's JavaScript side lives in the server's heap too (its
// query results, prepared statements and the WASM module's bindings): the same run ends ~10 MB higher there.
const HEAP_BOUND_MB = process.env['DATABASE_URL'] ? 100 : 115;

let memory: SmallHeapServer;
let url: string;

beforeAll(async () => {
  memory = await startSmallHeapServer(HEAP_LIMIT_MB, {
    LOG_LEVEL: 'info',
    TRUST_PROXY: 'true',
    ...(DEFAULT_LIMITS ? {} : { METRICS_CATALOG_CACHE_MAX: '1000' }),
  });
  url = memory.url;
  const service = await signTestToken('memory-service', ['service']);
  const setup = await post(
    url,
    'mutation { registerDomain(ref: "mem", name: "Mem") { ref } registerMetric(domain: "mem", ref: "views", name: "Views", public: true) { ref } }',
    {},
    service,
  );
  expect(setup.body.errors).toBeUndefined();
}, 150_000);

afterAll(async () => memory?.stop());

describe('bounded memory', () => {
  it(`stays up with ${HEAP_LIMIT_MB} MB of heap, and under ${HEAP_BOUND_MB} MB after, ${REQUESTS} requests of ever-new names, refs, addresses and tokens`, async () => {
    // 2,000 distinct user tokens, each used a few times (more than the verified-token cache would keep
    // if it were per request; the cache is bounded by count either way).
    const tokens = await Promise.all(Array.from({ length: 2000 }, (_, i) => signTestToken(`memory-user-${i}-${Date.now()}`)));
    let sent = 0;
    const body = (i: number): string => {
      if (i % 20 === 0) return JSON.stringify({ query: `query Op${i}x { a${i}: node(id: "garbage-${i}") { id } }` });
      if (i % 2 === 0) {
        const event = { domain: 'mem', metric: 'views', object: { type: 'Page', id: `p${i}`, label: `Label ${i}` }, category: `c${i}`, domId: `d${i}` };
        return JSON.stringify({ query: 'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }', variables: { e: [event] } });
      }
      return JSON.stringify({ query: '{ viewer { role id } }' });
    };
    const samples: number[] = [];
    const sampler = setInterval(() => {
      memory.heapUsedMb().then((mb) => samples.push(mb), () => undefined);
    }, 1000);
    const started = Date.now();
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      autocannon(
        {
          url,
          method: 'POST',
          connections: 24,
          amount: REQUESTS,
          requests: [
            {
              setupRequest: (request) => {
                const i = sent++;
                const headers: Record<string, string> = {
                  'content-type': 'application/json',
                  'x-forwarded-for': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
                  'user-agent': `Mozilla/5.0 (X11; Linux x86_64) Chrome/${i}.0 Safari/537.36`,
                  'x-request-id': `req-${i}`,
                };
                if (i % 10 === 5) headers['authorization'] = `Bearer ${tokens[i % tokens.length]}`;
                return { ...request, headers, body: body(i) };
              },
            },
          ],
        },
        (error, r) => (error ? reject(error) : resolve(r)),
      );
    });
    clearInterval(sampler);
    const seconds = (Date.now() - started) / 1000;
    // Once idle, the heap is what is live (plus garbage of the last moments): the least of a few samples.
    const idle: number[] = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      idle.push(await memory.heapUsedMb());
    }
    const end = Math.min(...idle);
    const half = samples.slice(0, Math.ceil(samples.length / 2));
    const firstHalfMax = Math.max(...half);
    console.log(
      `memory: ${result['2xx']} 2xx of ${result.requests.total} requests in ${seconds.toFixed(0)} s; heap max ${Math.max(...samples).toFixed(0)} MB, first half max ${firstHalfMax.toFixed(0)} MB, end ${end.toFixed(0)} MB`,
    );
    expect(memory.server.child.exitCode).toBeNull();
    expect(result.errors).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result['2xx']).toBe(REQUESTS);
    expect(end).toBeLessThan(HEAP_BOUND_MB);
    // No trend: the end of the run holds no more than the first half's peak plus garbage not yet collected.
    expect(end).toBeLessThan(firstHalfMax + 30);
  }, Math.max(240_000, REQUESTS * 12));
});
