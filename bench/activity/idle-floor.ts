/** Idle memory of the ws floor (ws-floor.ts), measured like idle-memory.ts. IDLE_SUBSCRIBERS (default 5,000). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeIdle, measureIdle, probeEnv } from './idle-memory.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const n = Number(process.env['IDLE_SUBSCRIBERS'] ?? 5_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-floor-'));
const child = spawn(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', path.join(here, 'ws-floor.ts')], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, ...probeEnv(dir, process.env['IDLE_SNAPSHOT'] === '1') },
});
const url = await new Promise<string>((resolve) => {
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    const m = /listening (\S+)/.exec(out);
    if (m) resolve(m[1]!);
  });
});
try {
  const m = await measureIdle(child.pid!, url.replace(/^http/, 'ws'), (p, c) => Array.from({ length: c }, (_, i) => `${p}${i}`), false, n, dir, console.log);
  console.log(describeIdle('ws floor', m));
} finally {
  child.kill('SIGTERM');
}
