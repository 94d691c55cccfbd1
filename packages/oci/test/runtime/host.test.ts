import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkCommandInRoot,
  hostFacts,
  loadSeccompProfile,
  parseProcLimits,
  readFileInRoot,
  resolveInRoot,
} from '../../src/runtime/host.js';

let root: string;
let outside: string;
beforeAll(() => {
  const base = fs.mkdtempSync(join(tmpdir(), 'skiff-host-'));
  root = join(base, 'rootfs');
  outside = join(base, 'secret');
  fs.mkdirSync(join(root, 'etc'), { recursive: true });
  fs.mkdirSync(join(root, 'bin'));
  fs.mkdirSync(join(root, 'usr/bin'), { recursive: true });
  fs.writeFileSync(outside, 'host secret\n');
  fs.writeFileSync(join(root, 'etc/group.real'), 'root:x:0:\n');
  fs.symlinkSync('/etc/group.real', join(root, 'etc/group'));
  fs.symlinkSync('../../../secret', join(root, 'etc/passwd'));
  fs.symlinkSync(outside, join(root, 'etc/shadow'));
  fs.symlinkSync('loop', join(root, 'etc/loop'));
  fs.writeFileSync(join(root, 'usr/bin/tool'), '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(join(root, 'usr/bin/data'), 'x', { mode: 0o644 });
  fs.symlinkSync('/usr/bin/tool', join(root, 'bin/alias'));
});
afterAll(() => {
  fs.rmSync(join(root, '..'), { recursive: true, force: true });
});

describe('files inside a rootfs', () => {
  it('resolves symlinks against the rootfs, never outside it', () => {
    expect(readFileInRoot(root, '/etc/group')).toBe('root:x:0:\n');
    // ../../../secret climbs to the rootfs root and stops there; /secret does not exist inside.
    expect(readFileInRoot(root, '/etc/passwd')).toBeUndefined();
    expect(readFileInRoot(root, '/etc/shadow')).toBeUndefined();
    expect(readFileInRoot(root, '/etc/loop')).toBeUndefined();
    expect(readFileInRoot(root, '/etc/missing')).toBeUndefined();
    expect(resolveInRoot(root, '/bin/alias')).toBe(join(root, 'usr/bin/tool'));
    expect(resolveInRoot(root, '/../../etc/group')).toBe(join(root, 'etc/group.real'));
  });

  it('checks the command as the runtime would find it (127 / 126)', () => {
    const env = ['PATH=/bin:/usr/bin'];
    expect(() => checkCommandInRoot(root, 'tool', env, '/')).not.toThrow();
    expect(() => checkCommandInRoot(root, 'alias', env, '/')).not.toThrow();
    expect(() => checkCommandInRoot(root, '/usr/bin/tool', env, '/')).not.toThrow();
    expect(() => checkCommandInRoot(root, './tool', env, '/usr/bin')).not.toThrow();
    expect(() => checkCommandInRoot(root, 'nope', env, '/')).toThrow(
      expect.objectContaining({
        code: 'COMMAND_NOT_FOUND',
        message: expect.stringContaining('nope: executable file not found in $PATH'),
      }),
    );
    expect(() => checkCommandInRoot(root, 'data', env, '/')).toThrow(
      expect.objectContaining({ code: 'COMMAND_NOT_EXECUTABLE' }),
    );
    expect(() => checkCommandInRoot(root, '/usr/bin', env, '/')).toThrow(
      expect.objectContaining({ code: 'COMMAND_NOT_EXECUTABLE' }),
    );
    expect(() => checkCommandInRoot(root, 'tool', ['PATH=/bin'], '/')).toThrow(
      expect.objectContaining({ code: 'COMMAND_NOT_FOUND' }),
    );
  });
});

describe('host facts', () => {
  it('parses /proc/self/limits', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max cpu time              unlimited            unlimited            seconds   ',
      'Max processes             96365                96365                processes ',
      'Max open files            1024                 20000                files     ',
      'Max pending signals       96365                96365                signals   ',
    ].join('\n');
    expect(parseProcLimits(text)).toEqual({
      cpu: { soft: 'unlimited', hard: 'unlimited' },
      nproc: { soft: 96365, hard: 96365 },
      nofile: { soft: 1024, hard: 20000 },
      sigpending: { soft: 96365, hard: 96365 },
    });
    const facts = hostFacts();
    expect(facts.arch).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
    expect(facts.rlimits.nofile?.hard).toBeDefined();
  });

  it('loads seccomp profiles: default, unconfined, a file, a bad file', () => {
    expect(loadSeccompProfile()?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(loadSeccompProfile('unconfined')).toBeUndefined();
    expect(() => loadSeccompProfile('/nonexistent.json')).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('/nonexistent.json'),
      }),
    );
    const bad = join(root, '..', 'bad.json');
    fs.writeFileSync(bad, '[]');
    expect(() => loadSeccompProfile(bad)).toThrow(
      expect.objectContaining({ message: expect.stringContaining(bad) }),
    );
  });

  it('keeps a checked seccomp profile in the cache directory until its file changes', () => {
    const dir = fs.mkdtempSync(join(root, '..', 'cache-'));
    const file = join(dir, 'profile.json');
    const cache = join(dir, 'seccomp-profile.json');
    fs.writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [] }));
    expect(loadSeccompProfile(file, dir)?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(JSON.parse(fs.readFileSync(cache, 'utf8'))).toMatchObject({ file, profile: { syscalls: [] } });
    // Unchanged file: the cached profile (edited here to tell it apart) is what comes back.
    const c = JSON.parse(fs.readFileSync(cache, 'utf8'));
    fs.writeFileSync(
      cache,
      JSON.stringify({ ...c, profile: { ...c.profile, defaultAction: 'SCMP_ACT_LOG' } }),
    );
    expect(loadSeccompProfile(file, dir)?.defaultAction).toBe('SCMP_ACT_LOG');
    // Another file, or this one rewritten (even invalid now): read and checked again.
    expect(loadSeccompProfile(undefined, dir)?.syscalls?.length).toBeGreaterThan(10);
    fs.writeFileSync(file, JSON.stringify({ syscalls: 'x' }));
    expect(() => loadSeccompProfile(file, dir)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(file) }),
    );
    // A cache that is not JSON is ignored.
    fs.writeFileSync(cache, '{');
    expect(loadSeccompProfile(undefined, dir)?.defaultAction).toBe('SCMP_ACT_ERRNO');
  });
});
