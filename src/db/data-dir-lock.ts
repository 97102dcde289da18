import fs from 'node:fs';
import path from 'node:path';

/**
 * One trackql process per data directory.
 *
 * PGlite writes `postmaster.pid` with the fake PID -42, so after a SIGKILL that file is left behind and
 * the next open hangs. trackql keeps its own lock file with the real PID: a live owner means refuse to
 * start; a dead one means the previous run crashed, so its lock and PGlite's stale pid file are removed.
 */
export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(`Data directory ${dir} is in use by another trackql process (pid ${pid}). Stop it or set DATA_DIR to another directory.`);
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function acquireDataDirLock(dataDir: string, pgDataDir: string): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, 'trackql.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
      // We own the directory now; whatever pid file PGlite left is stale by definition.
      fs.rmSync(path.join(pgDataDir, 'postmaster.pid'), { force: true });
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          try {
            if (fs.readFileSync(lockPath, 'utf8').trim() === String(process.pid)) fs.rmSync(lockPath, { force: true });
          } catch {
            // already gone
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(fs.readFileSync(lockPath, 'utf8').trim(), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new DataDirLockedError(dataDir, owner);
      }
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`Could not take the lock on data directory ${dataDir}`);
}
