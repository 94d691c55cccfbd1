import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey } from '../../scripts/bundle-loader.mjs';

describe('bundle-loader cacheKey', () => {
  const SKIFF = ['--root', '--runroot', '--storage-driver', '--log-level'];

  it('is the command word, after flags and the values of global flags that take one', () => {
    expect(cacheKey(['run', '--rm', 'busybox'])).toBe('run');
    expect(cacheKey(['--root', '/var/x', '--runroot', '/run/x', 'run', 'img'], SKIFF)).toBe('run');
    expect(cacheKey(['--storage-driver=vfs', 'images'], SKIFF)).toBe('images');
    expect(cacheKey(['--debug', 'inspect', 'docker://x'])).toBe('inspect');
  });

  it('is `other` when no command-like word comes first', () => {
    expect(cacheKey(['--root', '/var/x', 'images'])).toBe('other');
    expect(cacheKey([])).toBe('other');
    expect(cacheKey(['--', 'run'])).toBe('other');
    expect(cacheKey(['docker://registry/x:1'])).toBe('other');
  });
});

describe('bundle-loader code cache', () => {
  // A bundle that compiles WebAssembly (as undici's HTTP parser does), so baselineWasm sets a V8
  // flag during the run: the cache written at exit must still be one the next run accepts.
  const loader = fileURLToPath(new URL('../../scripts/bundle-loader.mjs', import.meta.url));
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-loader-'));
    const body = [
      // The smallest valid module: magic and version.
      'const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);',
      'module.exports.instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));',
      'module.exports.answer = [1, 2, 3].map((n) => n * 14).find((n) => n === 42);',
    ].join('\n');
    writeFileSync(join(dir, 'entry.cjs'), `// bundle:0123456789abcdef\n${body}\n`);
    writeFileSync(
      join(dir, 'main.mjs'),
      [
        `const { baselineWasm, loadBundle } = await import(${JSON.stringify(loader)});`,
        'baselineWasm();',
        `const m = await loadBundle(${JSON.stringify(dir)}, ['probe']);`,
        'process.stdout.write(String(m.answer));',
      ].join('\n'),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = () => {
    const r = spawnSync(process.execPath, [join(dir, 'main.mjs')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('42');
  };
  const caches = () => readdirSync(dir).filter((f) => f.endsWith('.probe.cache'));

  it('is written by the first run and accepted, not rewritten, by the next', () => {
    run();
    expect(caches()).toHaveLength(1);
    const file = join(dir, caches()[0] as string);
    const first = statSync(file).ino;
    run();
    // A rejected cache (V8 flags differing from those it was made under) is replaced by a new file.
    expect(statSync(file).ino).toBe(first);
    expect(caches()).toHaveLength(1);
  });
});
