import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess } from '../support/process.ts';
import { loadConfig } from '../../src/config.ts';

const dirs: string[] = [];
function tempDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-start-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function typename(url: string): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
  return response.json();
}

describe('npm start on the embedded database', () => {
  it('starts with no environment, prints tokens, survives SIGKILL, refuses a second process and stops on SIGTERM', async () => {
    const dataDir = tempDataDir();
    const env = { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', FOLD_CRON: 'off' };

    const first = startServerProcess(env);
    const url = await first.ready;
    expect(await typename(url)).toEqual({ data: { __typename: 'Query' } });
    expect(first.output()).toContain('service   : Bearer ey');
    expect(first.output()).toContain('demo-user : Bearer ey');

    // A second process on the same data directory is refused while the first one lives.
    const second = startServerProcess({ ...env });
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/in use by another trackql process \(pid \d+\)/);

    // Crash: PGlite leaves its stale postmaster.pid behind; the next start must not hang on it.
    first.child.kill('SIGKILL');
    await first.exited;
    expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(true);

    const third = startServerProcess(env);
    const url3 = await third.ready;
    expect(await typename(url3)).toEqual({ data: { __typename: 'Query' } });
    // Same generated secret: tokens printed before the crash stay valid.
    const token = /service {3}: Bearer (\S+)/.exec(first.output())?.[1];
    const viewer = await fetch(url3, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ viewer { role } }' }),
    });
    expect(await viewer.json()).toEqual({ data: { viewer: { role: 'SERVICE' } } });

    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'trackql.lock'))).toBe(false);
  }, 120_000);
});

describe('configuration errors stop start-up with a message naming the variable', () => {
  it.each([
    [{ PORT: 'eighty' }, /PORT/],
    [{ DATABASE_URL: 'mysql://localhost/x' }, /DATABASE_URL: must be a URL starting with postgres/],
    [{ FOLD_CRON: 'every minute' }, /FOLD_CRON: must be a cron expression/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET: must be at least 32 characters/],
    [{ NODE_ENV: 'production' }, /JWT_SECRET: is required when NODE_ENV=production/],
    [{ CORS_ORIGINS: 'https://app.example/' }, /CORS_ORIGINS: must be "\*" or a comma list of origins/],
    [{ CORS_ORIGINS: 'https://app.example.com,not an origin' }, /CORS_ORIGINS/],
  ])('%o', async (bad, message) => {
    const server = startServerProcess({ DATA_DIR: tempDataDir(), PORT: '0', ...bad });
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(message);
  });
});

describe('CORS_ORIGINS', () => {
  it('takes every origin as browsers send it, webviews and extensions included; refuses what no browser sends', () => {
    const ok = 'https://app.example.com,http://localhost:3000,http://[::1]:3000,https://app.example.com:8443,capacitor://localhost,chrome-extension://abcdefghijklmnop,null,*';
    expect(loadConfig({ CORS_ORIGINS: ok }).corsOrigins).toEqual(ok.split(','));
    for (const bad of ['https://app.example/', 'HTTPS://APP.EXAMPLE.COM', 'https://app.example.com:443', 'https://app.example.com/path', 'not an origin']) {
      expect(() => loadConfig({ CORS_ORIGINS: bad }), bad).toThrow(/CORS_ORIGINS/);
    }
  });
});

describe('npm run migrate and npm run fold', () => {
  it('fail with one line naming the database and the reason, exit code 1, no stack trace', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const lockedDir = tempDataDir();
    fs.mkdirSync(path.join(lockedDir, 'pg'), { recursive: true });
    for (const [script, env, reason] of [
      ['migrate', { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:9/x' }, /^npm run migrate \(PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:9\/x\): connect ECONNREFUSED/],
      ['fold', { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:9/x' }, /^npm run fold \(PostgreSQL at .*\): connect ECONNREFUSED/],
    ] as const) {
      const run = spawnSync(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', `src/cli/${script}.ts`], {
        cwd: root,
        env: { PATH: process.env['PATH'], DATA_DIR: lockedDir, ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.status, run.stderr).toBe(1);
      const lines = run.stderr.trim().split('\n');
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(reason);
      expect(run.stderr).not.toMatch(/secret|\n\s+at /);
    }
  }, 120_000);
});
