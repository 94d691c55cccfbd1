import { describe, expect, it } from 'vitest';
import {
  parseBytes,
  parseCapability,
  parseCpus,
  parseEntrypoint,
  parseEnvFile,
  parseEnvFlag,
  parseMemory,
  parseMountFlag,
  parsePidsLimit,
  parseTmpfsFlag,
  parseUlimit,
  parseUserSpec,
  parseVolumeFlag,
} from '../../src/runtime/options.js';

const rejects = (fn: () => unknown, ...parts: string[]) => {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a rejection').toMatchObject({ code: 'INVALID_ARGUMENT' });
  for (const p of parts) expect((err as Error).message).toContain(p);
};

describe('--volume', () => {
  it('parses binds, named and anonymous volumes with options', () => {
    expect(parseVolumeFlag('/srv/data:/data:ro,Z')).toEqual({
      type: 'bind',
      source: '/srv/data',
      target: '/data',
      readOnly: true,
      relabel: 'private',
    });
    expect(parseVolumeFlag('./d:/x//y/:U,rshared,nosuid', '/home/u')).toEqual({
      type: 'bind',
      source: '/home/u/d',
      target: '/x/y',
      chown: true,
      propagation: 'rshared',
      flags: ['nosuid'],
    });
    expect(parseVolumeFlag('cache:/cache:z,nocopy')).toEqual({
      type: 'volume',
      name: 'cache',
      target: '/cache',
      relabel: 'shared',
      noCopy: true,
    });
    expect(parseVolumeFlag('/anon')).toEqual({ type: 'volume', target: '/anon' });
    expect(parseVolumeFlag('/anon:ro')).toEqual({ type: 'volume', target: '/anon', readOnly: true });
    expect(parseVolumeFlag('/a:/b')).toEqual({ type: 'bind', source: '/a', target: '/b' });
  });

  it('rejects bad values naming the flag and the value', () => {
    rejects(() => parseVolumeFlag('/a:relative'), '--volume', '"/a:relative"', 'unknown option');
    rejects(() => parseVolumeFlag('a:b:c:d'), 'expected [SOURCE:]DESTINATION');
    rejects(() => parseVolumeFlag('/a:b:ro'), 'not an absolute path');
    rejects(() => parseVolumeFlag('/a:/b:ro,rw'), 'more than once');
    rejects(() => parseVolumeFlag('/a:/b:z,Z'), 'mutually exclusive');
    rejects(() => parseVolumeFlag('/a:/b:bogus'), 'unknown option "bogus"');
    rejects(() => parseVolumeFlag('bad name:/b'), 'not a valid volume name');
    rejects(() => parseVolumeFlag('vol:/b:rshared'), 'propagation');
    rejects(() => parseVolumeFlag('vol:/b:O'), 'overlay');
    rejects(() => parseVolumeFlag(':/b'), 'empty source');
    rejects(() => parseVolumeFlag(''), '--volume');
  });
});

describe('--mount', () => {
  it('parses bind, volume and tmpfs mounts', () => {
    expect(parseMountFlag('type=bind,source=/s,target=/t,ro,bind-propagation=rslave,relabel=shared')).toEqual(
      {
        type: 'bind',
        source: '/s',
        target: '/t',
        readOnly: true,
        propagation: 'rslave',
        relabel: 'shared',
      },
    );
    expect(parseMountFlag('type=bind,src=/s,dst=/t,readonly=false,U=true,bind-nonrecursive')).toEqual({
      type: 'bind',
      source: '/s',
      target: '/t',
      chown: true,
      nonRecursive: true,
    });
    expect(parseMountFlag('type=volume,source=v1,destination=/v,volume-nocopy')).toEqual({
      type: 'volume',
      name: 'v1',
      target: '/v',
      noCopy: true,
    });
    expect(parseMountFlag('type=tmpfs,target=/tmp,tmpfs-size=64m,tmpfs-mode=1777,noexec')).toEqual({
      type: 'tmpfs',
      target: '/tmp',
      sizeBytes: 64 * 1024 * 1024,
      mode: 0o1777,
      flags: ['noexec'],
    });
  });

  it('rejects bad --mount strings', () => {
    rejects(() => parseMountFlag('source=/a,target=/b'), '--mount', 'missing type');
    rejects(() => parseMountFlag('type=nfs,target=/b'), 'unsupported type "nfs"');
    rejects(() => parseMountFlag('type=bind,target=/b'), 'need source');
    rejects(() => parseMountFlag('type=bind,source=/a'), 'no destination');
    rejects(() => parseMountFlag('type=bind,source=/a,target=b'), 'not an absolute path');
    rejects(() => parseMountFlag('type=bind,source=/a,target=/b,foo=1'), 'unknown option "foo"');
    rejects(() => parseMountFlag('type=bind,source=/a,target=/b,ro=maybe'), 'expected true or false');
    rejects(() => parseMountFlag('type=bind,source=/a,target=/b,bind-propagation=up'), 'bind-propagation=up');
    rejects(() => parseMountFlag('type=tmpfs,target=/b,tmpfs-size=lots'), 'not a size');
    rejects(() => parseMountFlag('type=tmpfs,target=/b,tmpfs-mode=999'), 'octal');
    rejects(() => parseMountFlag('type=tmpfs,source=/x,target=/b'), 'no source');
    rejects(() => parseMountFlag('type=bind,source=/a,source=/c,target=/b'), 'more than once');
    rejects(() => parseMountFlag('type=bind,source=/a,target=/b,ro,rw'), 'together');
    rejects(() => parseMountFlag('type=volume,source=a/b,target=/b'), 'not a valid volume name');
  });
});

describe('--tmpfs', () => {
  it('parses destinations and options', () => {
    expect(parseTmpfsFlag('/run')).toEqual({ type: 'tmpfs', target: '/run' });
    expect(parseTmpfsFlag('/tmp:rw,size=1g,mode=700,exec,uid=1000')).toEqual({
      type: 'tmpfs',
      target: '/tmp',
      sizeBytes: 1024 ** 3,
      mode: 0o700,
      flags: ['exec', 'uid=1000'],
    });
    rejects(() => parseTmpfsFlag('tmp'), '--tmpfs', 'absolute');
    rejects(() => parseTmpfsFlag('/tmp:size=big'), 'not a size');
    rejects(() => parseTmpfsFlag('/tmp:whatever'), 'unknown option');
  });
});

describe('sizes and limits', () => {
  it('parses sizes with binary units', () => {
    expect(parseBytes('512')).toBe(512);
    expect(parseBytes('64k')).toBe(65536);
    expect(parseBytes('1.5g')).toBe(1.5 * 1024 ** 3);
    expect(parseBytes('10MB')).toBe(10 * 1024 ** 2);
    expect(parseBytes('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseBytes('x')).toBeUndefined();
    expect(parseBytes('-1')).toBeUndefined();
    expect(parseMemory('512m')).toBe(512 * 1024 ** 2);
    rejects(() => parseMemory('lots'), '--memory', '"lots"');
    rejects(() => parseMemory('1k'), 'minimum memory limit is 6m');
  });

  it('parses --cpus and --pids-limit', () => {
    expect(parseCpus('1.5')).toBe(1.5);
    expect(parseCpus('.5')).toBe(0.5);
    rejects(() => parseCpus('two'), '--cpus', '"two"');
    rejects(() => parseCpus('0'), 'greater than 0');
    expect(parsePidsLimit('100')).toBe(100);
    expect(parsePidsLimit('-1')).toBeUndefined();
    rejects(() => parsePidsLimit('ten'), '--pids-limit');
    rejects(() => parsePidsLimit('-5'), '--pids-limit');
  });

  it('parses --ulimit', () => {
    expect(parseUlimit('nofile=1024:2048')).toEqual({ name: 'nofile', soft: 1024, hard: 2048 });
    expect(parseUlimit('core=-1')).toEqual({ name: 'core', soft: 'unlimited', hard: 'unlimited' });
    expect(parseUlimit('nproc=10:unlimited')).toEqual({ name: 'nproc', soft: 10, hard: 'unlimited' });
    rejects(() => parseUlimit('nofile'), '--ulimit', 'NAME=SOFT');
    rejects(() => parseUlimit('files=1'), 'unknown limit "files"');
    rejects(() => parseUlimit('nofile=2048:1024'), 'soft limit is greater');
    rejects(() => parseUlimit('nofile=x'), '"x" is not a number');
    rejects(() => parseUlimit('nofile=-1:10'), 'soft limit is greater');
  });
});

describe('user, entrypoint, env, capabilities', () => {
  it('parses USER[:GROUP]', () => {
    expect(parseUserSpec('nobody')).toEqual({ user: 'nobody' });
    expect(parseUserSpec('1000:wheel')).toEqual({ user: '1000', group: 'wheel' });
    rejects(() => parseUserSpec('a:b:c'), '--user', '"a:b:c"');
    rejects(() => parseUserSpec(':g'), '--user');
    rejects(() => parseUserSpec('u:'), '--user');
  });

  it('parses --entrypoint as JSON or one string', () => {
    expect(parseEntrypoint('["/bin/sh","-c"]')).toEqual(['/bin/sh', '-c']);
    expect(parseEntrypoint('/bin/echo hi')).toEqual(['/bin/echo hi']);
    expect(parseEntrypoint('')).toEqual([]);
    expect(parseEntrypoint('[not json')).toEqual(['[not json']);
    rejects(() => parseEntrypoint('[1,2]'), '--entrypoint', 'array of strings');
  });

  it('expands -e and --env-file from the host environment', () => {
    const host = { HOME: '/root', LANG: 'C', LC_ALL: 'C.UTF-8', LC_X: 'x' };
    expect(parseEnvFlag('A=b=c', host)).toEqual(['A=b=c']);
    expect(parseEnvFlag('LANG', host)).toEqual(['LANG=C']);
    expect(parseEnvFlag('UNSET', host)).toEqual([]);
    expect(parseEnvFlag('LC_*', host)).toEqual(['LC_ALL=C.UTF-8', 'LC_X=x']);
    rejects(() => parseEnvFlag('=x', host), '--env', 'empty variable name');
    expect(parseEnvFile('# comment\n\nA=1\n  LANG\nB=\n', host)).toEqual(['A=1', 'LANG=C', 'B=']);
    rejects(() => parseEnvFile('A=1\n=2\n', host, 'vars.env'), '--env-file', 'vars.env:2');
  });

  it('normalises capabilities', () => {
    expect(parseCapability('net_admin')).toBe('CAP_NET_ADMIN');
    expect(parseCapability('CAP_SYS_ADMIN')).toBe('CAP_SYS_ADMIN');
    expect(parseCapability('all')).toBe('ALL');
    rejects(() => parseCapability('fly', '--cap-drop'), '--cap-drop', '"fly"', 'unknown capability');
  });
});
