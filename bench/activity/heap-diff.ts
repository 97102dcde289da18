/**
 * What a set of subscribers added to the heap: `node bench/activity/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [n]`
 * prints, per (node type, constructor name), the count and self size added between the two snapshots, and per
 * subscriber when `n` (the number of subscribers) is given. Objects are matched by (type, name) only, so read it
 * as a census, not as retainer paths.
 */
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

function census(file: string): Map<string, { count: number; size: number }> {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    let name = snap.strings[snap.nodes[i + nameAt]!]!;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '(string)';
    else if (type === 'number') name = '(number)';
    else if (name.length > 60) name = name.slice(0, 60) + '…';
    const key = `${type}\t${name}`;
    const entry = out.get(key) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += snap.nodes[i + sizeAt]!;
    out.set(key, entry);
  }
  return out;
}

const [beforeFile, afterFile, nArg] = process.argv.slice(2);
const n = Number(nArg ?? 1);
const before = census(beforeFile!);
const after = census(afterFile!);
const rows: Array<[string, number, number]> = [];
let total = 0;
for (const [key, a] of after) {
  const b = before.get(key) ?? { count: 0, size: 0 };
  const dc = a.count - b.count;
  const ds = a.size - b.size;
  total += ds;
  if (Math.abs(ds) / n >= 8) rows.push([key, dc / n, ds / n]);
}
rows.sort((x, y) => y[2] - x[2]);
console.log(`self size added per subscriber: ${(total / n).toFixed(0)} B (n = ${n})`);
console.log('bytes/sub\tcount/sub\ttype\tname');
for (const [key, dc, ds] of rows.slice(0, 60)) console.log(`${ds.toFixed(0)}\t${dc.toFixed(2)}\t${key}`);
