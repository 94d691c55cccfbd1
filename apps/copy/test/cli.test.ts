import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  HOME: dir,
  XDG_RUNTIME_DIR: dir,
  XDG_CONFIG_HOME: join(dir, 'config'),
  NODE_NO_WARNINGS: '1',
};
delete env.REGISTRY_AUTH_FILE;
const ferry = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function authFile(name: string, auths: Record<string, string>): string {
  const path = join(dir, name);
  const entries = Object.fromEntries(
    Object.entries(auths).map(([k, v]) => [k, { auth: Buffer.from(v).toString('base64') }]),
  );
  writeFileSync(path, JSON.stringify({ auths: entries }));
  return path;
}

describe('ferry CLI', () => {
  it('prints its version as skopeo does', () => {
    const r = ferry('--version');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ferry version 0.1.0\n');
  });

  it('exits 2 for usage errors with one error line', () => {
    const cases: string[][] = [
      ['--bogus'],
      ['logout', '--bogus'],
      ['nosuch'],
      ['logout'],
      ['logout', 'a', 'b'],
    ];
    for (const args of cases) {
      const r = ferry(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^Error: [^\n]+\n$/);
    }
    expect(ferry('logout', '--bogus').stderr).toBe('Error: unknown flag: --bogus\n');
    expect(ferry('nosuch').stderr).toBe('Error: unknown command "nosuch" for "ferry"\n');
  });

  it('accepts global flags before the command', () => {
    const file = authFile('global.json', {});
    const r = ferry('--debug', '--tmpdir', dir, 'logout', '--authfile', file, '127.0.0.1:1');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^Error: not logged into 127\.0\.0\.1:1\n/);
    expect(r.stderr).toMatch(/\n\s+at /); // --debug shows the stack
  });

  it('logout removes one registry from the auth file', () => {
    const file = authFile('one.json', { '127.0.0.1:5000': 'u:p', 'example.com': 'a:b' });
    const r = ferry('logout', '--authfile', file, '127.0.0.1:5000');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('Removed login credentials for 127.0.0.1:5000\n');
    const after = JSON.parse(readFileSync(file, 'utf8'));
    expect(Object.keys(after.auths)).toEqual(['example.com']);
  });

  it('logout of a registry not logged into fails with exit 1', () => {
    const file = authFile('none.json', { 'example.com': 'a:b' });
    const r = ferry('logout', '--authfile', file, '127.0.0.1:5000');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('Error: not logged into 127.0.0.1:5000\n');
  });

  it('logout --all empties the auth file', () => {
    const file = authFile('all.json', { '127.0.0.1:5000': 'u:p', 'example.com': 'a:b' });
    const r = ferry('logout', '-a', '--authfile', file);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('Removed login credentials for all registries\n');
    expect(JSON.parse(readFileSync(file, 'utf8')).auths ?? {}).toEqual({});
  });
});
