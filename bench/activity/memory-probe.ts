/**
 * Loaded into a server process by the idle-memory benchmark only (`NODE_OPTIONS=--expose-gc --import <this file>`,
 * with MEMORY_PROBE_DIR set): on SIGUSR2 it runs a full garbage collection, then writes `memory-<n>.json`
 * (process.memoryUsage() after the collection) to that directory, and `heap-<n>.heapsnapshot` when
 * MEMORY_PROBE_SNAPSHOT=1. Nothing of it is part of the server.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';

const dir = process.env['MEMORY_PROBE_DIR'];
if (dir) {
  let n = 0;
  process.on('SIGUSR2', () => {
    const id = n++;
    const gc = (globalThis as { gc?: (options?: unknown) => void }).gc;
    gc?.();
    gc?.();
    const usage = process.memoryUsage();
    const heap = v8.getHeapStatistics();
    const spaces = v8.getHeapSpaceStatistics();
    // Then a memory-reducing collection (V8's "last resort" GC, what its memory reducer does to an idle process):
    // it also shrinks the young generation, whose size (up to ~100 MiB here) follows the allocation rate of the
    // last seconds, not what the process keeps.
    gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    const reduced = { ...process.memoryUsage(), heapSpaces: v8.getHeapSpaceStatistics() };
    if (process.env['MEMORY_PROBE_SNAPSHOT'] === '1') v8.writeHeapSnapshot(path.join(dir, `heap-${id}.heapsnapshot`));
    fs.writeFileSync(path.join(dir, `memory-${id}.json`), JSON.stringify({ ...usage, heapStatistics: heap, heapSpaces: spaces, reduced }));
  });
}
