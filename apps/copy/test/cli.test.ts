import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

describe('start-up through the code cache (dist/bundle/load.mjs)', () => {
  const bundle = fileURLToPath(new URL('../dist/bundle/', import.meta.url));
  const hash = /^\/\/ bundle:([0-9a-f]+)/.exec(readFileSync(join(bundle, 'entry.cjs'), 'latin1'))?.[1];
  const caches = () =>
    readdirSync(bundle).filter((f) => f.startsWith(`entry.${hash}.`) && f.endsWith('.manifest-digest.cache'));

  it('the first successful run of a command writes its cache; a corrupt cache is rejected and rewritten', () => {
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    const file = join(dir, 'manifest.json');
    writeFileSync(file, '{"schemaVersion":2}');
    const first = ferry('manifest-digest', file);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(caches()).toHaveLength(1);
    const cache = join(bundle, caches()[0]!);
    expect(readFileSync(cache).length).toBeGreaterThan(10_000);
    // Garbage where the cache was: V8 refuses it, the command runs from source, the cache is made again.
    writeFileSync(cache, Buffer.alloc(4096, 7));
    const again = ferry('manifest-digest', file);
    expect(again).toMatchObject({ status: 0, stdout: first.stdout });
    expect(readFileSync(cache).equals(Buffer.alloc(4096, 7))).toBe(false);
    expect(ferry('manifest-digest', file)).toMatchObject({ status: 0, stdout: first.stdout });
  });

  it('a failed run writes no cache, and SKIFF_CODE_CACHE=0 writes none', () => {
    const key = (k: string) => readdirSync(bundle).filter((f) => f.endsWith(`.${k}.cache`));
    for (const f of key('list-tags')) rmSync(join(bundle, f), { force: true });
    expect(ferry('list-tags', 'oci:/nonexistent/layout').status).toBe(1);
    expect(key('list-tags')).toEqual([]);
    // A flag value first (a path): the cache key is `other`.
    const file = join(dir, 'other.json');
    writeFileSync(file, '{}');
    for (const f of key('other')) rmSync(join(bundle, f), { force: true });
    const off = spawnSync(process.execPath, [bin, '--tmpdir', dir, 'manifest-digest', file], {
      encoding: 'utf8',
      env: { ...env, SKIFF_CODE_CACHE: '0' },
    });
    expect(off.status).toBe(0);
    expect(key('other')).toEqual([]);
    expect(ferry('--tmpdir', dir, 'manifest-digest', file)).toMatchObject({ status: 0, stdout: off.stdout });
    expect(key('other')).toHaveLength(1);
  });
});
