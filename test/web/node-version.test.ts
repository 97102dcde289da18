import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `npm install` and `npm start` on a Node.js older than engines.node refuse with one clear message
 * (scripts/check-node.cjs, run as package.json's "preinstall" and "prestart").
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const CHECK = path.join(ROOT, 'scripts/check-node.cjs');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
};

/** Runs the check as if the running Node.js were `version`. */
function checkAs(version: string) {
  return spawnSync(
    process.execPath,
    ['-e', `Object.defineProperty(process.versions, 'node', { value: ${JSON.stringify(version)} }); require(${JSON.stringify(CHECK)})`],
    { encoding: 'utf8' },
  );
}

/** A Node.js older than 22.17 on this machine (Debian's), to run npm's scripts with. */
function oldNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!fs.existsSync(candidate)) continue;
    const version = execFileSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    const [major, minor] = version.split('.').map(Number) as [number, number];
    if (major < 22 || (major === 22 && minor < 17)) return candidate;
  }
  return undefined;
}
const old = oldNode();
const hasNpm = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;

describe('Node.js version check', () => {
  it('engines.node is the requirement that the check reads', () => {
    expect(pkg.engines.node).toBe('>=22.17');
    expect(pkg.scripts['preinstall']).toBe('node scripts/check-node.cjs');
    expect(pkg.scripts['prestart']).toBe('node scripts/check-node.cjs');
  });

  it.each(['22.17.0', '22.18.1', '23.0.0', '24.21.0', '30.1.2'])('accepts %s silently', (version) => {
    const result = checkAs(version);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
  });

  it.each(['20.19.2', '22.16.9', '22.6.0', '18.20.8', '0.12.18'])('refuses %s and says how to get a newer one', (version) => {
    const result = checkAs(version);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`trackql needs Node.js \u2265 22.17 (found ${version}):`);
    expect(result.stderr).toMatch(/nvm install 24/);
    expect(result.stderr).toMatch(/nodejs\.org/);
  });

  it.skipIf(!old || !hasNpm)('npm install and npm start refuse on an old Node.js with that message', () => {
    // A copy of the project's scripts and engines, without dependencies (nothing to download).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackql-node-check-'));
    try {
      fs.mkdirSync(path.join(dir, 'scripts'));
      fs.copyFileSync(CHECK, path.join(dir, 'scripts/check-node.cjs'));
      const { preinstall, prestart, start } = pkg.scripts;
      fs.writeFileSync(
        path.join(dir, 'package.json'),
        JSON.stringify({ name: 'trackql-copy', private: true, engines: pkg.engines, scripts: { preinstall, prestart, start } }),
      );
      // The old Node.js first on PATH: npm's scripts run with it (as for someone whose `node` is that one).
      const env = { ...process.env, PATH: `${path.dirname(old!)}:${process.env['PATH']}`, npm_config_update_notifier: 'false' };
      for (const command of ['install', 'start']) {
        const result = spawnSync('npm', [command, '--no-audit', '--no-fund'], { cwd: dir, env, encoding: 'utf8' });
        expect(result.status, command).not.toBe(0);
        expect(result.stderr, command).toMatch(/trackql needs Node\.js \u2265 22\.17 \(found (1\d|2[01]|22\.(\d|1[0-6]))\./);
        expect(result.stderr, command).not.toContain('bad option');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
