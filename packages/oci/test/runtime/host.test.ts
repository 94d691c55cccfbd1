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
});
