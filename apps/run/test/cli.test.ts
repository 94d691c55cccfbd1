import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const skiff = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('skiff CLI (built bin)', () => {
  it('prints its version as podman does', () => {
    const r = skiff('--version');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('skiff version 0.1.0\n');
    expect(skiff('-v').stdout).toBe('skiff version 0.1.0\n');
  });

  it('exits 125 with one error line for an unknown flag, command or bad flag value', () => {
    for (const args of [
      ['--bogus'],
      ['info', '--bogus'],
      ['nosuchcommand'],
      ['info', '--log-level', 'loud'],
    ]) {
      const r = skiff(...args);
      expect(r.status, args.join(' ')).toBe(125);
      expect(r.stderr, args.join(' ')).toMatch(/^Error: .+\n$/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(skiff('info', '--bogus').stderr).toBe('Error: unknown flag: --bogus\n');
  });

  it('info --format json parses and describes this host', () => {
    const r = skiff('info', '--format', 'json');
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.host.os).toBe('linux');
    expect(info.host.arch).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
    expect(info.host.nodeVersion).toBe(process.version);
    expect(['v1', 'v2']).toContain(info.host.cgroupVersion);
    expect(info.host.ociRuntimes.map((r: { name: string }) => r.name)).toContain('runc');
    expect(info.version.Version).toBe('0.1.0');
  });

  it('info takes a Go template, and global flags before the command', () => {
    const r = skiff('--root', '/tmp/skiff-root', 'info', '--format', '{{.Host.Os}}|{{.Store.GraphRoot}}');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('linux|/tmp/skiff-root\n');
    const bad = skiff('info', '--format', '{{.Host.Nope.X}}');
    expect(bad.status).toBe(125);
    expect(bad.stderr).toBe('Error: template "{{.Host.Nope.X}}": nil pointer evaluating <.Host.Nope.X>\n');
  });

  it('prints the stack only with --log-level debug', () => {
    const r = skiff('--log-level', 'debug', 'info', '--format', '{{.Nope.X}}');
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/^Error: template/);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('info prints YAML by default', () => {
    const r = skiff('info');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^host:\n {2}arch: /);
    expect(r.stdout).not.toContain('&a1');
  });
});
