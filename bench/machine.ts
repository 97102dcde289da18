import fs from 'node:fs';
import os from 'node:os';

/** One result line of a benchmark, as `npm run bench` tabulates it. */
export interface BenchRow {
  benchmark: string;
  value: string;
  target: string;
  /** null when the row has no target (a reported number). */
  met: boolean | null;
}

/** One line describing the machine a benchmark ran on, for results files. */
export function describeMachine(): string {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    const match = /model name\s*:\s*(.+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) cpu = match[1].trim();
  } catch {
    // not Linux
  }
  const gib = (os.totalmem() / 1024 ** 3).toFixed(0);
  return `${os.cpus().length} cores (${cpu}), ${gib} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux; NaN elsewhere or once it has
 * exited). On a shared machine the CPU a process spends per request or per row is steadier than its rate,
 * which also depends on how much of the cores it got.
 */
export function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}
