/** One young-generation collection (scavenge) as V8's --trace-gc-nvp logs it. */
export interface Scavenge {
  /** Milliseconds the main thread was paused. */
  pauseMs: number;
  /** Bytes moved to the old generation (NaN when the line has no `promoted=`). */
  promotedBytes: number;
}

/** The scavenges logged in a process's output by --trace-gc-nvp (lines with `gc=s … pause=… promoted=…`). */
export function scavengesIn(output: string): Scavenge[] {
  return output
    .split('\n')
    .filter((line) => /\bgc=s\b/.test(line))
    .map((line) => ({
      pauseMs: Number(/\bpause=([\d.]+)/.exec(line)?.[1] ?? 'NaN'),
      promotedBytes: Number(/\bpromoted=(\d+)/.exec(line)?.[1] ?? 'NaN'),
    }));
}
