import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const wright = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('wright CLI (built bin)', () => {
  it('prints its version as buildah does', () => {
    const r = wright('--version');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('wright version 0.1.0\n');
  });

  it('exits 125 for usage errors, as buildah does', () => {
    const r = wright('info', '--bogus');
    expect(r.status).toBe(125);
    expect(r.stderr).toBe('Error: unknown flag: --bogus\n');
    expect(wright('--bogus').status).toBe(125);
  });

  it('info prints JSON by default and takes --format', () => {
    const r = wright('info');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).host.os).toBe('linux');
    expect(wright('info', '--format', '{{.Host.Os}}').stdout).toBe('linux\n');
  });
});
