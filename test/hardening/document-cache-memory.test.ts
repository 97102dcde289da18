import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmallHeapServer, type SmallHeapServer } from './small-heap-server.ts';

/**
 * Large documents, each new: a real server process with a small heap takes 3,000 documents of ~200 KB (a long
 * comment, within every query limit; half of them do not parse), 600 MB of document text. Yoga's parser caches
 * kept 1,024 entries of any size (~200 MB of text each): the process ran out of heap. Bounded by the text they
 * hold (src/server/document-cache.ts), the heap stays far below the limit.
 */

const HEAP_LIMIT_MB = 128;
const DOCUMENTS = 3000;
const COMMENT_CHARS = 200_000;

let memory: SmallHeapServer;

beforeAll(async () => {
  // Rate limits off: this is about memory, not about one client's budget.
  memory = await startSmallHeapServer(HEAP_LIMIT_MB, { RATE_LIMIT_REQUESTS: '0' });
}, 150_000);

afterAll(async () => memory?.stop());

describe('large documents', () => {
  it(`${DOCUMENTS} new documents of ~200 KB (parsed or not): the server stays up with ${HEAP_LIMIT_MB} MB of heap, and its heap well under it`, async () => {
    const filler = 'x'.repeat(COMMENT_CHARS);
    let next = 0;
    const outcomes = new Map<string, number>();
    const worker = async () => {
      while (next < DOCUMENTS) {
        const i = next++;
        // Every document is new text; odd ones do not parse (GRAPHQL_PARSE_FAILED, kept by the error cache).
        const query = `# ${i} ${filler}\n${i % 2 === 0 ? '{ __typename }' : '{ ( }'}`;
        const response = await fetch(memory.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
        const body = (await response.json()) as { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> };
        const outcome = body.data ? 'data' : (body.errors?.[0]?.extensions?.code ?? `HTTP ${response.status}`);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(memory.server.child.exitCode).toBeNull();
    expect(Object.fromEntries(outcomes)).toEqual({ data: DOCUMENTS / 2, GRAPHQL_PARSE_FAILED: DOCUMENTS / 2 });
    const idle: number[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      idle.push(await memory.heapUsedMb());
    }
    // The caches hold at most 16 M characters of text each (~32 MB for both) on top of the server's own ~60 MB.
    expect(Math.min(...idle)).toBeLessThan(110);
  }, 240_000);
});
