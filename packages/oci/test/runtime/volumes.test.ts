import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SkiffError } from '../../src/errors.js';
import { parseImageVolumeMode } from '../../src/runtime/create-flags.js';
import {
  type MountSpec,
  parseMountFlag,
  parseTmpfsFlag,
  parseVolumeFlag,
} from '../../src/runtime/options.js';
import { generateRuntimeSpec } from '../../src/runtime/spec.js';
import {
  attachVolumes,
  createVolume,
  discardVolumes,
  findVolume,
  getVolume,
  planVolumes,
  prepareMountContents,
  toHostId,
  type VolumeInfo,
  volumeFilter,
  volumeInspectData,
} from '../../src/runtime/volumes.js';
import type { StoreLocation } from '../../src/storage/config.js';

/** The SkiffError `fn` throws: INVALID_ARGUMENT, its message holding every part. */
function rejects(fn: () => unknown, ...parts: string[]): void {
  const err = (() => {
    try {
      fn();
    } catch (e) {
      return e as SkiffError;
    }
    throw new Error('expected a rejection');
  })();
  expect([err.code, ...parts.filter((p) => !err.message.includes(p))]).toEqual(['INVALID_ARGUMENT']);
}

describe('-v/--volume grammar', () => {
  it('no source is an anonymous volume, with or without options', () => {
    expect(parseVolumeFlag('/ctr/path')).toEqual({ type: 'volume', target: '/ctr/path' });
    expect(parseVolumeFlag('/ctr/path/:ro,nocopy')).toEqual({
      type: 'volume',
      target: '/ctr/path',
      readOnly: true,
      noCopy: true,
    });
  });

  it('named volumes take ro, z/Z, U, copy/nocopy and mount flags', () => {
    expect(parseVolumeFlag('data:/d:z,U,noexec')).toEqual({
      type: 'volume',
      name: 'data',
      target: '/d',
      relabel: 'shared',
      chown: true,
      flags: ['noexec'],
    });
    expect(parseVolumeFlag('data:/d:Z,ro')).toMatchObject({ relabel: 'private', readOnly: true });
  });

  it('O makes a bind an overlay of the source', () => {
    expect(parseVolumeFlag('/src:/dst:O')).toEqual({
      type: 'bind',
      source: '/src',
      target: '/dst',
      overlay: true,
    });
  });

  it('binds take propagation (with unbindable) and bind/rbind', () => {
    expect(parseVolumeFlag('/src:/dst:rslave,bind,nosuid,dev')).toEqual({
      type: 'bind',
      source: '/src',
      target: '/dst',
      propagation: 'rslave',
      nonRecursive: true,
      flags: ['nosuid', 'dev'],
    });
    expect(parseVolumeFlag('/src:/dst:runbindable,rbind')).toEqual({
      type: 'bind',
      source: '/src',
      target: '/dst',
      propagation: 'runbindable',
    });
    expect(parseVolumeFlag('./rel:/dst:U', '/work')).toMatchObject({ source: '/work/rel', chown: true });
  });

  it.each([
    ['', 'expected [SOURCE:]DESTINATION'],
    ['a:b:c:d', 'expected [SOURCE:]DESTINATION'],
    [':/x', 'empty source'],
    ['vol:rel', 'destination "rel" is not an absolute path'],
    ['/host:ctr/path', 'destination "ctr/path" is not an absolute path'],
    ['bad name:/x', 'not a valid volume name'],
    ['/a:/x:nocopy', 'copy/nocopy apply to volumes'],
    ['vol:/x:shared', 'propagation applies to bind mounts only'],
    ['vol:/x:rbind', 'bind and rbind apply to bind mounts only'],
    ['/a:/x:z,Z', 'z and Z are mutually exclusive'],
    ['/a:/x:ro,rw', 'ro and rw given more than once'],
    ['/a:/x:shared,slave', 'more than one propagation mode'],
    ['vol:/x:O', 'overlay (O) applies to host directories only'],
    ['/a:/x:O,U', 'U cannot be combined with O'],
    ['/a,b:/x:O', 'cannot contain'],
    ['/a:/x:idmap', 'unknown option "idmap"'],
    ['/a:/x:copy,nocopy', 'copy and nocopy given more than once'],
  ])('rejects %j naming the input', (value, why) => {
    rejects(() => parseVolumeFlag(value), '--volume', `"${value}"`, why);
  });
});

describe('--mount grammar', () => {
  it('type=volume without a source is anonymous; volume-nocopy, U, z', () => {
    expect(parseMountFlag('type=volume,dst=/v')).toEqual({ type: 'volume', target: '/v' });
    expect(parseMountFlag('type=volume,source=vol,target=/v,volume-nocopy,U=true,z,readonly')).toEqual({
      type: 'volume',
      name: 'vol',
      target: '/v',
      readOnly: true,
      relabel: 'shared',
      chown: true,
      noCopy: true,
    });
  });

  it('type=bind: Z and z are told apart; relabel=, bind-propagation, chown', () => {
    expect(parseMountFlag('type=bind,src=/a,dst=/b,Z')).toMatchObject({ relabel: 'private' });
    expect(parseMountFlag('type=bind,src=/a,dst=/b,z')).toMatchObject({ relabel: 'shared' });
    expect(parseMountFlag('type=bind,src=/a,dst=/b,relabel=private')).toMatchObject({ relabel: 'private' });
    expect(parseMountFlag('type=bind,src=/a,destination=/b,bind-propagation=rshared,chown=true,ro')).toEqual({
      type: 'bind',
      source: '/a',
      target: '/b',
      readOnly: true,
      propagation: 'rshared',
      chown: true,
    });
  });

  it('type=tmpfs: tmpfs-size, tmpfs-mode, U, noexec', () => {
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=0700,U,exec')).toEqual({
      type: 'tmpfs',
      target: '/t',
      sizeBytes: 64 * 1024 * 1024,
      mode: 0o700,
      chown: true,
      flags: ['exec'],
    });
  });

  it.each([
    ['target=/x', 'missing type='],
    ['type=nfs,target=/x', 'unsupported type "nfs"'],
    ['type=bind,target=/x', 'bind mounts need source='],
    ['type=bind,src=vol,target=/x', 'is not a path'],
    ['type=bind,src=/a', 'no destination given'],
    ['type=bind,src=/a,dst=/b,z,Z', 'z and Z are mutually exclusive'],
    ['type=bind,src=/a,dst=/b,Z=1', 'Z takes no value'],
    ['type=bind,src=/a,dst=/b,relabel=shared,Z', 'relabel and Z given together'],
    ['type=bind,src=/a,dst=/b,relabel=maybe', 'relabel=maybe'],
    ['type=bind,src=/a,dst=/b,bind-propagation=sideways', 'bind-propagation=sideways'],
    ['type=bind,src=/a,dst=/b,volume-nocopy', 'unknown option "volume-nocopy" for type=bind'],
    ['type=volume,src=bad/name,dst=/b', 'not a valid volume name'],
    ['type=volume,dst=/b,ro=maybe', 'expected true or false'],
    ['type=tmpfs,src=/a,dst=/b', 'tmpfs mounts take no source'],
    ['type=tmpfs,dst=/b,tmpfs-size=lots', '"lots" is not a size'],
    ['type=tmpfs,dst=/b,tmpfs-mode=999', '"999" is not an octal mode'],
    ['type=tmpfs,dst=/b,dst=/c', 'given more than once'],
  ])('rejects %j naming the input', (value, why) => {
    rejects(() => parseMountFlag(value), '--mount', `"${value}"`, why);
  });
});

describe('--tmpfs and --image-volume', () => {
  it('--tmpfs takes U', () => {
    expect(parseTmpfsFlag('/t:U,size=1k')).toEqual({
      type: 'tmpfs',
      target: '/t',
      chown: true,
      sizeBytes: 1024,
    });
    rejects(() => parseTmpfsFlag('/t:u'), '--tmpfs', 'unknown option "u"');
  });

  it('--image-volume bind|tmpfs|ignore', () => {
    expect(parseImageVolumeMode('bind')).toBe('anonymous');
    expect(parseImageVolumeMode('tmpfs')).toBe('tmpfs');
    expect(parseImageVolumeMode('ignore')).toBe('ignore');
    rejects(() => parseImageVolumeMode('anonymous'), '--image-volume', '"anonymous"');
  });
});

describe('planVolumes', () => {
  let n = 0;
  const names = () => `anon${++n}`;

  it('names anonymous volumes and adds the image VOLUMEs no mount already has', () => {
    n = 0;
    const mounts: MountSpec[] = [
      { type: 'volume', target: '/a' },
      { type: 'volume', name: 'named', target: '/b' },
      { type: 'bind', source: '/host', target: '/covered' },
    ];
    const plan = planVolumes(mounts, ['/covered', '/img/', '/a', 'relative'], 'anonymous', names);
    expect(plan.mounts).toEqual([
      { type: 'volume', target: '/a', name: 'anon1', anonymous: true },
      { type: 'volume', name: 'named', target: '/b' },
      { type: 'bind', source: '/host', target: '/covered' },
      { type: 'volume', target: '/img', name: 'anon2', anonymous: true },
    ]);
    expect(plan.volumes).toEqual(['anon1', 'named', 'anon2']);
    expect(plan.anonymous).toEqual(['anon1', 'anon2']);
    // the caller's mounts are not changed
    expect(mounts[0]).toEqual({ type: 'volume', target: '/a' });
  });

  it('--image-volume tmpfs and ignore', () => {
    expect(planVolumes([], ['/data'], 'tmpfs', names)).toEqual({
      mounts: [{ type: 'tmpfs', target: '/data', flags: ['exec', 'notmpcopyup'] }],
      volumes: [],
      anonymous: [],
    });
    expect(planVolumes([], ['/data'], 'ignore', names).mounts).toEqual([]);
  });

  it('random names are 64 hex digits', () => {
    const plan = planVolumes([{ type: 'volume', target: '/x' }], []);
    expect(plan.anonymous[0]).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('mounts in the runtime spec', () => {
  const specMounts = (mounts: MountSpec[], user?: string) =>
    generateRuntimeSpec({
      image: {
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: [] },
      },
      passwd: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n',
      group: 'root:x:0:\napp:x:1001:\n',
      host: { arch: 'amd64', rlimits: {} },
      options: { id: 'c'.repeat(64), rootfs: '/rootfs', mounts, ...(user ? { user } : {}) },
    }).mounts.filter((m) => ['/v', '/b', '/t', '/t/deep'].includes(m.destination));

  it('volumes, binds and tmpfs get their options; a tmpfs with U the process user; parents first', () => {
    const plan = planVolumes(
      [
        parseTmpfsFlag('/t/deep:U,size=1k,uid=7'),
        parseVolumeFlag('named:/v:ro,noexec'),
        parseVolumeFlag('/src:/b:rshared,bind,z'),
        parseMountFlag('type=tmpfs,dst=/t,tmpfs-mode=700'),
      ],
      [],
    );
    for (const m of plan.mounts) if (m.type === 'volume') m.hostPath = '/vols/named/_data';
    expect(specMounts(plan.mounts, 'app')).toEqual([
      {
        destination: '/v',
        type: 'bind',
        source: '/vols/named/_data',
        options: ['rbind', 'ro', 'noexec', 'rprivate'],
      },
      { destination: '/b', type: 'bind', source: '/src', options: ['bind', 'rshared'] },
      {
        destination: '/t',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['rw', 'rprivate', 'noexec', 'nosuid', 'nodev', 'tmpcopyup', 'mode=700'],
      },
      {
        destination: '/t/deep',
        type: 'tmpfs',
        source: 'tmpfs',
        options: [
          'rw',
          'rprivate',
          'noexec',
          'nosuid',
          'nodev',
          'tmpcopyup',
          'uid=7',
          'size=1024',
          'gid=1001',
        ],
      },
    ]);
  });

  it("an O bind is an overlay mount over the source with the container's upper", () => {
    const m = parseVolumeFlag('/src:/b:O,noexec');
    expect(() => specMounts([m])).toThrow(/no upper directory/);
    if (m.type === 'bind') m.overlayDirs = { upper: '/c/u', work: '/c/w', userxattr: true };
    expect(specMounts([m])).toEqual([
      {
        destination: '/b',
        type: 'overlay',
        source: 'overlay',
        options: ['lowerdir=/src', 'upperdir=/c/u', 'workdir=/c/w', 'userxattr', 'noexec', 'rprivate'],
      },
    ]);
  });

  it('a volume without its host directory is an internal error; duplicate destinations are refused', () => {
    expect(() => specMounts([{ type: 'volume', name: 'x', target: '/v' }])).toThrow(/no host path/);
    rejects(
      () => specMounts([parseTmpfsFlag('/t'), parseVolumeFlag('/a:/t')]),
      '/t: duplicate mount destination',
    );
  });
});

describe('ids and filters', () => {
  it('toHostId maps through the user namespace and refuses unmapped ids', () => {
    const maps = [
      { containerID: 0, hostID: 1000, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
    ];
    expect(toHostId(0, maps)).toBe(1000);
    expect(toHostId(1000, maps)).toBe(100999);
    expect(toHostId(7, undefined)).toBe(7);
    expect(() => toHostId(70000, maps)).toThrow(/not mapped/);
  });

  it('volumeFilter: name, label, dangling, until; bad filters are refused', () => {
    const vol = (name: string, labels: Record<string, string>, created: string): VolumeInfo => ({
      name,
      mountpoint: `/v/${name}/_data`,
      created: new Date(created),
      labels,
      anonymous: false,
      needsCopyUp: false,
      needsChown: false,
    });
    const vols = [vol('alpha', { tier: 'db' }, '2020-01-01'), vol('beta', { tier: 'web' }, '2024-01-01')];
    const used = new Map([['alpha', ['c1']]]);
    const pick = (...f: string[]) => vols.filter(volumeFilter(f, used)).map((v) => v.name);
    expect(pick('name=alp')).toEqual(['alpha']);
    expect(pick('label=tier=web')).toEqual(['beta']);
    expect(pick('label=tier')).toEqual(['alpha', 'beta']);
    expect(pick('label!=tier=web')).toEqual(['alpha']);
    expect(pick('dangling=true')).toEqual(['beta']);
    expect(pick('name=alpha', 'name=beta')).toEqual(['alpha', 'beta']);
    expect(pick('name=alpha', 'dangling=true')).toEqual([]);
    expect(pick('until=2022-01-01T00:00:00Z')).toEqual(['alpha']);
    rejects(() => volumeFilter(['colour=red'], used), 'colour=red', 'unknown key');
    rejects(() => volumeFilter(['dangling=maybe'], used), 'expected true or false');
    rejects(() => volumeFilter(['until=soon'], used), 'not a timestamp');
  });
});

describe('volumes on disk', () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'skiff-volumes-'));
  const location: StoreLocation = { root: dir, runroot: join(dir, 'run'), driver: 'vfs', rootless: false };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

  it('a new volume is filled from the image once, taking the directory mode; nocopy leaves it empty', async () => {
    const rootfs = join(dir, 'rootfs');
    fs.mkdirSync(join(rootfs, 'data', 'sub'), { recursive: true });
    fs.writeFileSync(join(rootfs, 'data', 'sub', 'f'), 'from image\n', { mode: 0o640 });
    fs.chmodSync(join(rootfs, 'data'), 0o750);
    fs.symlinkSync('/etc/passwd', join(rootfs, 'data', 'link'));

    const plan = planVolumes(
      [
        { type: 'volume', name: 'filled', target: '/data' },
        { type: 'volume', name: 'empty', target: '/other', noCopy: true },
      ],
      [],
    );
    const created = attachVolumes(location, plan);
    expect(created).toEqual(['filled', 'empty']);
    expect(getVolume(location, 'filled')).toMatchObject({
      needsCopyUp: true,
      needsChown: true,
      anonymous: false,
    });
    await prepareMountContents(location, rootfs, plan.mounts, me);

    const filled = getVolume(location, 'filled') as VolumeInfo;
    expect(filled).toMatchObject({ needsCopyUp: false, needsChown: false });
    expect(fs.readFileSync(join(filled.mountpoint, 'sub', 'f'), 'utf8')).toBe('from image\n');
    expect(fs.statSync(join(filled.mountpoint, 'sub', 'f')).mode & 0o777).toBe(0o640);
    expect(fs.statSync(filled.mountpoint).mode & 0o7777).toBe(0o750);
    expect(fs.readlinkSync(join(filled.mountpoint, 'link'))).toBe('/etc/passwd');
    expect(volumeInspectData(filled)).toMatchObject({ Name: 'filled', NeedsCopyUp: false, Driver: 'local' });

    // a second container does not copy again
    fs.rmSync(join(filled.mountpoint, 'sub'), { recursive: true });
    await prepareMountContents(location, rootfs, plan.mounts, me);
    expect(fs.existsSync(join(filled.mountpoint, 'sub'))).toBe(false);

    const empty = getVolume(location, 'empty') as VolumeInfo;
    expect(fs.readdirSync(empty.mountpoint)).toEqual([]);
    expect(empty.needsChown).toBe(false);
    discardVolumes(location, ['filled', 'empty']);
    expect(getVolume(location, 'filled')).toBeUndefined();
  });

  it('a lock left by a dead process is taken over; concurrent first uses fill the volume once', async () => {
    const rootfs = join(dir, 'rootfs2');
    fs.mkdirSync(join(rootfs, 'data'), { recursive: true });
    fs.writeFileSync(join(rootfs, 'data', 'f'), 'image\n');
    const plan = planVolumes([{ type: 'volume', name: 'locked', target: '/data' }], []);
    attachVolumes(location, plan);
    const lock = join(dir, 'volumes', 'locked', 'init.lock');
    fs.writeFileSync(lock, '999999999');
    await Promise.all([1, 2, 3].map(() => prepareMountContents(location, rootfs, plan.mounts, me)));
    expect(fs.existsSync(lock)).toBe(false);
    const v = getVolume(location, 'locked') as VolumeInfo;
    expect(v.needsCopyUp).toBe(false);
    expect(fs.readdirSync(v.mountpoint)).toEqual(['f']);
    discardVolumes(location, ['locked']);
    expect(fs.readdirSync(join(dir, 'volumes')).filter((n) => n.startsWith('.removing-'))).toEqual([]);
  });

  it('anonymous volumes are marked so; a name in use is refused by volume create', () => {
    const plan = planVolumes([{ type: 'volume', target: '/x' }], []);
    attachVolumes(location, plan);
    const name = plan.anonymous[0] as string;
    expect(getVolume(location, name)).toMatchObject({ anonymous: true });
    expect(volumeInspectData(getVolume(location, name) as VolumeInfo)).toMatchObject({ Anonymous: true });
    expect(() => createVolume(location, name)).toThrow(/already exists/);
    expect(findVolume(location, name.slice(0, 12))?.name).toBe(name);
    createVolume(location, `${name.slice(0, 12)}x`);
    rejects(() => findVolume(location, name.slice(0, 12)), 'more than one result');
    expect(findVolume(location, 'zzz-none')).toBeUndefined();
    discardVolumes(location, [`${name.slice(0, 12)}x`]);
    expect(createVolume(location, name, { ifMissing: true }).created).toBe(false);
    discardVolumes(location, [name]);
  });

  it('U chowns a bind source recursively to the container user', async () => {
    const src = join(dir, 'bind-src');
    fs.mkdirSync(join(src, 'a'), { recursive: true });
    fs.writeFileSync(join(src, 'a', 'f'), 'x');
    await prepareMountContents(
      location,
      join(dir, 'rootfs'),
      [{ type: 'bind', source: src, target: '/b', chown: true }],
      {
        uid: 0,
        gid: 0,
        userns: {
          uidMappings: [{ containerID: 0, hostID: me.uid, size: 1 }],
          gidMappings: [{ containerID: 0, hostID: me.gid, size: 1 }],
        },
      },
    );
    expect(fs.statSync(join(src, 'a', 'f')).uid).toBe(me.uid);
    if (me.uid === 0) {
      await prepareMountContents(
        location,
        join(dir, 'rootfs'),
        [{ type: 'bind', source: src, target: '/b', chown: true }],
        { uid: 1234, gid: 4321 },
      );
      for (const p of [src, join(src, 'a'), join(src, 'a', 'f')])
        expect([fs.statSync(p).uid, fs.statSync(p).gid]).toEqual([1234, 4321]);
    }
  });
});
