import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTmpfsFlag, parseUlimit, parseVolumeFlag } from '../../src/runtime/options.js';
import {
  convertSeccompProfile,
  parseSeccompProfile,
  type SeccompProfile,
} from '../../src/runtime/seccomp.js';
import {
  containerUserEntries,
  generateRuntimeSpec,
  type HostFacts,
  type RunSpecOptions,
  type RuntimeSpecInput,
  resolveArgs,
  resolveCapabilities,
  resolveUser,
} from '../../src/runtime/spec.js';
import type { ImageConfig } from '../../src/spec/schemas.js';

const IMAGE: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: {
    Env: ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8'],
    Cmd: ['/bin/sh'],
    WorkingDir: '/srv',
  },
  rootfs: { type: 'layers', diff_ids: [] },
};

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1000:App:/home/app:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
const GROUP = ['root:x:0:', 'wheel:x:10:app,daemon', 'audio:x:29:app', 'app:x:1000:', 'staff:x:50:', ''].join(
  '\n',
);

const HOST: HostFacts = {
  arch: 'amd64',
  rlimits: { nofile: { soft: 1024, hard: 20000 }, nproc: { soft: 96365, hard: 96365 } },
};

const PROFILE: SeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 38,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls: [
    { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
    { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
    { names: ['arm_fadvise64_64'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
    { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
    { names: ['chroot'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_CHROOT'] } },
    { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['newsyscall'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '6.9' } },
  ],
};

function input(options: Partial<RunSpecOptions> = {}, image: ImageConfig = IMAGE): RuntimeSpecInput {
  return {
    image,
    passwd: PASSWD,
    group: GROUP,
    host: HOST,
    options: { id: 'c0ffee'.padEnd(64, '0'), rootfs: '/var/lib/skiff/containers/c0ffee/rootfs', ...options },
  };
}

const gen = (options: Partial<RunSpecOptions> = {}, image?: ImageConfig) =>
  generateRuntimeSpec(input(options, image));

function rejects(fn: () => unknown, ...parts: string[]) {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a rejection').toMatchObject({ code: 'INVALID_ARGUMENT' });
  for (const p of parts) expect((err as Error).message).toContain(p);
}

describe('generateRuntimeSpec: snapshots', () => {
  it('defaults (podman run IMAGE)', () => {
    expect(gen({ seccomp: PROFILE })).toMatchSnapshot();
  });

  it('a full set of options', () => {
    expect(
      gen({
        name: 'web',
        command: ['-c', 'echo hi'],
        entrypoint: ['/bin/sh'],
        env: ['LANG=en_US.UTF-8', 'EXTRA=1'],
        workdir: '/work',
        user: 'app',
        groupAdd: ['staff', '4242'],
        terminal: true,
        hostname: 'web1',
        readOnly: true,
        mounts: [
          parseVolumeFlag('/srv/data:/data:ro,z'),
          {
            type: 'volume',
            name: 'cache',
            target: '/var/cache',
            hostPath: '/var/lib/skiff/volumes/cache/_data',
          },
          parseTmpfsFlag('/scratch:size=16m,mode=700'),
          parseVolumeFlag('/srv/data/sub:/data/sub'),
        ],
        shmSizeBytes: 128 * 1024 * 1024,
        network: 'none',
        capAdd: ['net_admin'],
        capDrop: ['chown', 'CAP_KILL'],
        seccomp: PROFILE,
        noNewPrivileges: true,
        ulimits: [parseUlimit('nofile=512:1024'), parseUlimit('core=0')],
        memoryBytes: 256 * 1024 * 1024,
        cpus: 1.5,
        pidsLimit: 100,
        annotations: { 'com.example/a': 'b' },
        initPath: '/usr/bin/catatonit',
        etcFiles: {
          hosts: '/run/skiff/c/hosts',
          resolvConf: '/run/skiff/c/resolv.conf',
          hostname: '/run/skiff/c/hostname',
        },
        autoRemove: true,
        cgroupsPath: '/skiff/c0ffee',
      }),
    ).toMatchSnapshot();
  });

  it('--privileged --network host, rootless', () => {
    expect(gen({ privileged: true, network: 'host', rootless: true, seccomp: PROFILE })).toMatchSnapshot();
  });

  it('a user namespace (keep-id style mappings)', () => {
    const spec = gen({
      userns: {
        uidMappings: [
          { containerID: 0, hostID: 1, size: 1000 },
          { containerID: 1000, hostID: 0, size: 1 },
        ],
        gidMappings: [{ containerID: 0, hostID: 0, size: 65536 }],
      },
    });
    expect(spec.linux).toMatchInlineSnapshot(`
      {
        "gidMappings": [
          {
            "containerID": 0,
            "hostID": 0,
            "size": 65536,
          },
        ],
        "maskedPaths": [
          "/proc/acpi",
          "/proc/kcore",
          "/proc/keys",
          "/proc/latency_stats",
          "/proc/timer_list",
          "/proc/timer_stats",
          "/proc/sched_debug",
          "/proc/scsi",
          "/sys/firmware",
          "/sys/fs/selinux",
          "/sys/dev/block",
        ],
        "namespaces": [
          {
            "type": "pid",
          },
          {
            "type": "network",
          },
          {
            "type": "ipc",
          },
          {
            "type": "uts",
          },
          {
            "type": "mount",
          },
          {
            "type": "cgroup",
          },
          {
            "type": "user",
          },
        ],
        "readonlyPaths": [
          "/proc/asound",
          "/proc/bus",
          "/proc/fs",
          "/proc/irq",
          "/proc/sys",
          "/proc/sysrq-trigger",
        ],
        "uidMappings": [
          {
            "containerID": 0,
            "hostID": 1,
            "size": 1000,
          },
          {
            "containerID": 1000,
            "hostID": 0,
            "size": 1,
          },
        ],
      }
    `);
  });
});

describe('generateRuntimeSpec: process', () => {
  it('combines ENTRYPOINT, CMD, --entrypoint and the command as podman', () => {
    const img = (Entrypoint?: string[], Cmd?: string[]): ImageConfig => ({
      ...IMAGE,
      config: { Entrypoint, Cmd },
    });
    expect(resolveArgs(img(['/ep'], ['a']))).toEqual(['/ep', 'a']);
    expect(resolveArgs(img(['/ep'], ['a']), ['b', 'c'])).toEqual(['/ep', 'b', 'c']);
    expect(resolveArgs(img(['/ep'], ['a']), undefined, ['/other'])).toEqual(['/other']);
    expect(resolveArgs(img(['/ep'], ['a']), ['x'], ['/other'])).toEqual(['/other', 'x']);
    expect(resolveArgs(img(['/ep'], ['a']), ['/bin/true'], [])).toEqual(['/bin/true']);
    expect(resolveArgs(img(undefined, ['/bin/sh']))).toEqual(['/bin/sh']);
    expect(resolveArgs(img(undefined, ['/bin/sh']), ['echo', 'hi'])).toEqual(['echo', 'hi']);
    rejects(() => resolveArgs(img(undefined, undefined)), 'no command or entrypoint');
    rejects(() => resolveArgs(img(['/ep'], ['a']), undefined, []), 'no command or entrypoint');
  });

  it('merges the environment: defaults < image < -e, with HOSTNAME and HOME', () => {
    const spec = gen({ env: ['LANG=de_DE', 'NEW=1', 'PATH=/only'] });
    expect(spec.process.env).toEqual([
      'PATH=/only',
      'container=podman',
      'LANG=de_DE',
      `HOSTNAME=${'c0ffee000000'}`,
      'NEW=1',
      'HOME=/root',
    ]);
    expect(gen({ user: 'app', env: ['HOME=/custom'] }).process.env).toContain('HOME=/custom');
    expect(gen({ terminal: true }).process.env).toContain('TERM=xterm');
  });

  it('workdir: flag, image, /', () => {
    expect(gen().process.cwd).toBe('/srv');
    expect(gen({ workdir: '/w' }).process.cwd).toBe('/w');
    expect(gen({}, { ...IMAGE, config: { Cmd: ['x'] } }).process.cwd).toBe('/');
    rejects(() => gen({ workdir: 'rel' }), '--workdir rel', 'absolute');
  });

  it('resolves users and groups by name and number', () => {
    expect(resolveUser(undefined, PASSWD, GROUP)).toEqual({
      uid: 0,
      gid: 0,
      additionalGids: [0],
      home: '/root',
    });
    expect(resolveUser('app', PASSWD, GROUP)).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 10, 29],
      home: '/home/app',
    });
    expect(resolveUser('1000', PASSWD, GROUP)).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 10, 29],
      home: '/home/app',
    });
    expect(resolveUser('app:staff', PASSWD, GROUP)).toEqual({
      uid: 1000,
      gid: 50,
      additionalGids: [50],
      home: '/home/app',
    });
    expect(resolveUser('4000:4001', PASSWD, GROUP)).toEqual({
      uid: 4000,
      gid: 4001,
      additionalGids: [4001],
      home: '/',
    });
    expect(resolveUser('4000', undefined, undefined)).toEqual({
      uid: 4000,
      gid: 0,
      additionalGids: [0],
      home: '/',
    });
    expect(resolveUser('daemon', PASSWD, GROUP, ['audio', '77', 'wheel'])).toEqual({
      uid: 1,
      gid: 1,
      additionalGids: [1, 10, 29, 77],
      home: '/usr/sbin',
    });
    rejects(() => resolveUser('ghost', PASSWD, GROUP), '--user ghost', 'unable to find user ghost');
    rejects(() => resolveUser('app:ghosts', PASSWD, GROUP), 'unable to find group ghosts');
    rejects(() => resolveUser('root', undefined, undefined), 'unable to find user root');
    rejects(() => resolveUser('0', PASSWD, GROUP, ['nogroup']), '--group-add nogroup');
    rejects(() => resolveUser('a:b:c', PASSWD, GROUP), '--user');
  });

  it('adds passwd and group entries for a container user the image lacks, as podman does', () => {
    expect(containerUserEntries(PASSWD, GROUP, { uid: 1000, gid: 1000 }, '/srv')).toEqual({});
    const added = containerUserEntries(PASSWD, GROUP, { uid: 4000, gid: 4001 }, '/srv');
    expect(added.passwd).toBe(
      `${PASSWD.endsWith('\n') ? PASSWD : `${PASSWD}\n`}4000:*:4000:4001:container user:/srv:/bin/sh\n`,
    );
    expect(added.group).toBe(`${GROUP.endsWith('\n') ? GROUP : `${GROUP}\n`}4001:x:4001:4000\n`);
    expect(containerUserEntries(undefined, undefined, { uid: 2, gid: 3 }, '/')).toEqual({
      passwd: '2:*:2:3:container user:/:/bin/sh\n',
      group: '3:x:3:2\n',
    });
  });

  it('takes the user from the image, and names the image in errors', () => {
    const img: ImageConfig = { ...IMAGE, config: { ...IMAGE.config, User: 'app' } };
    expect(gen({}, img).process.user).toEqual({
      uid: 1000,
      gid: 1000,
      umask: 18,
      additionalGids: [1000, 10, 29],
    });
    expect(gen({ user: '0' }, img).process.user.uid).toBe(0);
    rejects(() => gen({}, { ...IMAGE, config: { ...IMAGE.config, User: 'ghost' } }), "the image's User");
  });

  it('capabilities: defaults, drop, add, ALL, privileged; non-root keeps only added ones', () => {
    expect(resolveCapabilities({})).toHaveLength(11);
    expect(resolveCapabilities({ capDrop: ['all'], capAdd: ['chown'] })).toEqual(['CAP_CHOWN']);
    expect(resolveCapabilities({ capAdd: ['ALL'], capDrop: ['sys_admin'] })).not.toContain('CAP_SYS_ADMIN');
    expect(resolveCapabilities({ capAdd: ['ALL'] }).length).toBeGreaterThan(38);
    expect(resolveCapabilities({ privileged: true })).toContain('CAP_SYS_ADMIN');
    rejects(() => resolveCapabilities({ capAdd: ['ALL'], capDrop: ['ALL'] }), 'together');
    rejects(() => resolveCapabilities({ capAdd: ['WINGS'] }), '--cap-add', 'WINGS');
    const app = gen({ user: 'app', capAdd: ['NET_RAW'] }).process.capabilities;
    expect(app.bounding).toContain('CAP_CHOWN');
    expect(app.effective).toEqual(['CAP_NET_RAW']);
    expect(app.ambient).toEqual(['CAP_NET_RAW']);
    const root = gen().process.capabilities;
    expect(root.effective).toEqual(root.bounding);
    expect(root.ambient).toBeUndefined();
  });

  it('rlimits: defaults clamped to the hard limits, --ulimit checked against them', () => {
    expect(gen().process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 },
      { type: 'RLIMIT_NPROC', soft: 96365, hard: 96365 },
    ]);
    const roomy = generateRuntimeSpec({
      ...input(),
      host: { arch: 'amd64', rlimits: { nofile: { soft: 1, hard: 'unlimited' } } },
    });
    expect(roomy.process.rlimits[0]).toEqual({ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 });
    expect(gen({ ulimits: [parseUlimit('nofile=100:200')] }).process.rlimits[0]).toEqual({
      type: 'RLIMIT_NOFILE',
      soft: 100,
      hard: 200,
    });
    expect(gen({ ulimits: [parseUlimit('core=-1')] }).process.rlimits[2]).toEqual({
      type: 'RLIMIT_CORE',
      soft: 2 ** 64 - 1,
      hard: 2 ** 64 - 1,
    });
    rejects(
      () => gen({ ulimits: [parseUlimit('nofile=1048576')] }),
      '--ulimit nofile=1048576:1048576',
      'exceeds 20000',
    );
  });
});

describe('generateRuntimeSpec: mounts, namespaces, security', () => {
  const dests = (o: Partial<RunSpecOptions>) => gen(o).mounts.map((m) => m.destination);

  it('orders mounts parents first and lets user mounts replace defaults', () => {
    const d = dests({
      mounts: [parseVolumeFlag('/a/b:/x/y/z'), parseVolumeFlag('/a:/x'), parseTmpfsFlag('/dev/shm:size=1m')],
    });
    expect(d.indexOf('/x')).toBeLessThan(d.indexOf('/x/y/z'));
    expect(d.indexOf('/dev')).toBeLessThan(d.indexOf('/dev/shm'));
    const shm = gen({ mounts: [parseTmpfsFlag('/dev/shm:size=1m')] }).mounts.filter(
      (m) => m.destination === '/dev/shm',
    );
    expect(shm).toEqual([
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['rw', 'rprivate', 'noexec', 'nosuid', 'nodev', 'tmpcopyup', 'size=1048576'],
      },
    ]);
    rejects(() => gen({ mounts: [parseVolumeFlag('/a:/x'), parseVolumeFlag('/b:/x')] }), '/x', 'duplicate');
    rejects(() => gen({ mounts: [parseVolumeFlag('/a:/')] }), 'root');
    expect(() => gen({ mounts: [parseVolumeFlag('vol:/v')] })).toThrow(
      expect.objectContaining({ code: 'INTERNAL' }),
    );
  });

  it('--shm-size, --read-only and its tmpfs', () => {
    expect(gen({ shmSizeBytes: 1024 }).mounts.find((m) => m.destination === '/dev/shm')?.options).toContain(
      'size=1024',
    );
    const ro = gen({ readOnly: true });
    expect(ro.root.readonly).toBe(true);
    expect(ro.mounts.filter((m) => m.type === 'tmpfs').map((m) => m.destination)).toEqual([
      '/dev',
      '/tmp',
      '/run',
      '/dev/shm',
      '/var/tmp',
    ]);
    expect(gen({ readOnly: true, readOnlyTmpfs: false }).mounts.map((m) => m.destination)).not.toContain(
      '/tmp',
    );
    expect(gen().root.readonly).toBeUndefined();
  });

  it('namespaces per --network and hostname', () => {
    const types = (o: Partial<RunSpecOptions>) => gen(o).linux.namespaces.map((n) => n.type);
    expect(types({})).toEqual(['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']);
    expect(types({ network: 'host' })).toEqual(['pid', 'ipc', 'mount', 'cgroup']);
    expect(gen({ network: 'host' }).hostname).toBeUndefined();
    expect(types({ network: 'host', hostname: 'h' })).toContain('uts');
    expect(gen({ network: { path: '/run/netns/x' } }).linux.namespaces[1]).toEqual({
      type: 'network',
      path: '/run/netns/x',
    });
    expect(types({ pid: 'host', ipc: 'host', cgroupns: 'host' })).toEqual(['network', 'uts', 'mount']);
    rejects(() => gen({ uts: 'host', hostname: 'x' }), '--hostname');
    expect(gen().hostname).toBe('c0ffee000000');
  });

  it('seccomp: the profile for this arch and caps; privileged has none and no masks', () => {
    const s = gen({ seccomp: PROFILE }).linux.seccomp;
    expect(s?.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const names = s?.syscalls?.map((c) => `${c.names.join('+')}:${c.action}`);
    expect(names).toEqual([
      'read+write:SCMP_ACT_ALLOW',
      'personality:SCMP_ACT_ALLOW',
      'arch_prctl:SCMP_ACT_ALLOW',
      'chroot:SCMP_ACT_ALLOW',
      'bpf:SCMP_ACT_ERRNO',
      'newsyscall:SCMP_ACT_ALLOW',
    ]);
    const admin = gen({ seccomp: PROFILE, capAdd: ['SYS_ADMIN'], capDrop: ['SYS_CHROOT'] }).linux.seccomp;
    expect(admin?.syscalls?.map((c) => `${c.names[0]}:${c.action}`)).toContain('bpf:SCMP_ACT_ALLOW');
    expect(admin?.syscalls?.find((c) => c.names[0] === 'chroot')).toEqual({
      names: ['chroot'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: 1,
    });
    const old = convertSeccompProfile(PROFILE, {
      arch: 'arm64',
      capabilities: [],
      kernelVersion: '5.10.0-20-amd64',
    });
    expect(old.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(old.syscalls?.map((c) => c.names[0])).toEqual([
      'read',
      'personality',
      'arm_fadvise64_64',
      'chroot',
      'bpf',
    ]);
    expect(gen().linux.seccomp).toBeUndefined();
    const priv = gen({ privileged: true, seccomp: PROFILE }).linux;
    expect(priv.seccomp).toBeUndefined();
    expect(priv.maskedPaths).toBeUndefined();
  });

  it('converts the host seccomp.json (containers-common)', () => {
    const file = '/usr/share/containers/seccomp.json';
    const profile = parseSeccompProfile(fs.readFileSync(file, 'utf8'), file);
    const s = gen({ seccomp: profile }).linux.seccomp;
    expect(s?.defaultAction).toBe('SCMP_ACT_ERRNO');
    const allowed = new Set(
      s?.syscalls?.filter((c) => c.action === 'SCMP_ACT_ALLOW').flatMap((c) => c.names),
    );
    expect(allowed.has('read')).toBe(true);
    expect(allowed.has('arch_prctl')).toBe(true);
    expect(allowed.has('bpf')).toBe(false);
    expect(allowed.has('s390_runtime_instr')).toBe(false);
    for (const c of s?.syscalls ?? []) expect(c.names.length).toBeGreaterThan(0);
  });

  it('rejects bad seccomp files naming them', () => {
    rejects(() => parseSeccompProfile('{', '/tmp/x.json'), '/tmp/x.json', 'not JSON');
    rejects(() => parseSeccompProfile('{"syscalls":[]}', '/tmp/y.json'), '/tmp/y.json', 'defaultAction');
  });

  it('resources and init', () => {
    expect(
      gen({ memoryBytes: 1 << 30, memorySwapBytes: -1, cpus: 0.5, pidsLimit: 7 }).linux.resources,
    ).toEqual({
      memory: { limit: 1 << 30, swap: -1 },
      cpu: { quota: 50000, period: 100000 },
      pids: { limit: 7 },
    });
    rejects(() => gen({ memoryBytes: 1 << 30, memorySwapBytes: 1 << 20 }), '--memory-swap');
    const init = gen({ initPath: '/usr/libexec/podman/catatonit' });
    expect(init.process.args).toEqual(['/run/podman-init', '--', '/bin/sh']);
    expect(init.mounts.find((m) => m.destination === '/run/podman-init')?.source).toBe(
      '/usr/libexec/podman/catatonit',
    );
    expect(init.annotations?.['io.podman.annotations.init']).toBe('TRUE');
  });

  it('is pure: the same input gives the same output and the input is not changed', () => {
    const i = input({ mounts: [parseVolumeFlag('/a:/b')], seccomp: PROFILE });
    const before = JSON.stringify(i);
    expect(generateRuntimeSpec(i)).toEqual(generateRuntimeSpec(i));
    expect(JSON.stringify(i)).toBe(before);
  });
});
