import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, type BenchRow } from '../machine.ts';

export type { BenchRow };


export const resultsFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results/metrics.md');

/**
 * bench/results/metrics.md has one section per script (increment, fold), so each can be re-run alone;
 * a section is replaced, the others kept.
 */
export function writeSection(name: string, title: string, rows: BenchRow[], notes: string[]): void {
  const table = [
    '| benchmark | measured | target | met |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.benchmark} | ${r.value} | ${r.target} | ${r.met === null ? '–' : r.met ? 'yes' : 'no'} |`),
  ].join('\n');
  const section = [
    `<!-- ${name}:start -->`,
    `## ${title}`,
    '',
    `Run ${new Date().toISOString()} on ${describeMachine()}.`,
    '',
    table,
    '',
    ...notes.map((n) => `- ${n}`),
    `<!-- ${name}:end -->`,
  ].join('\n');
  fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
  let text = fs.existsSync(resultsFile)
    ? fs.readFileSync(resultsFile, 'utf8')
    : '# Metrics benchmarks\n\nProduced by `bench/metrics/increment.ts` and `bench/metrics/fold.ts` against a real PostgreSQL (DATABASE_URL).\n';
  const pattern = new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->`);
  text = pattern.test(text) ? text.replace(pattern, section) : `${text.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(resultsFile, text);
}
