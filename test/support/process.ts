import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ServerProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the GraphQL URL once the server logs that it listens. */
  ready: Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * Starts `src/main.ts` in a real Node process, as `npm start` does, with exactly the given environment.
 * `root`: another checkout of trackql to run (benchmarks compare a previous version in the same run).
 * `nodeArgs`: options for Node itself (V8 tracing flags, which NODE_OPTIONS refuses).
 */
export function startServerProcess(env: Record<string, string>, readyTimeoutMs = 60_000, root = repoRoot, nodeArgs: string[] = []): ServerProcess {
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'src/main.ts'],
    { cwd: root, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready in time:\n${output}`)), readyTimeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /trackql is running: (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${output}`));
    });
  });
  ready.catch(() => {});
  return { child, output: () => output, ready, exited };
}
