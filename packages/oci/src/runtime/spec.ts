/**
 * The OCI runtime spec (config.json) of a container, generated as podman generates it, by one
 * PURE function of the image config, the image's /etc/passwd and /etc/group, the caller's facts
 * (architecture, rlimits) and the run options. No fs, no process: the caller reads files and
 * passes their contents, so this is snapshot-tested without root.
 */

import { SkiffError } from '../errors.js';
import type { ImageConfig } from '../spec/schemas.js';
import {
  ALL_CAPABILITIES,
  type MountSpec,
  parseCapability,
  parseUserSpec,
  type RlimitName,
  type RlimitValue,
  rlimitLess,
  type Ulimit,
} from './options.js';
import { convertSeccompProfile, type LinuxSeccomp, type SeccompProfile } from './seccomp.js';

// ---------------------------------------------------------------------------------------------
// The runtime spec (the parts we write)

export interface SpecMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface LinuxNamespace {
  type: 'pid' | 'network' | 'ipc' | 'uts' | 'mount' | 'cgroup' | 'user';
  path?: string;
}

export interface POSIXRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface LinuxCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; umask?: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: LinuxCapabilities;
    rlimits: POSIXRlimit[];
    noNewPrivileges?: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: SpecMount[];
  annotations?: Record<string, string>;
  linux: {
    uidMappings?: IdMapping[];
    gidMappings?: IdMapping[];
    sysctl?: Record<string, string>;
    resources?: {
      memory?: { limit?: number; swap?: number };
      cpu?: { quota?: number; period?: number };
      pids?: { limit: number };
    };
    cgroupsPath?: string;
    namespaces: LinuxNamespace[];
    seccomp?: LinuxSeccomp;
    maskedPaths?: string[];
    readonlyPaths?: string[];
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs

export type NamespaceMode = 'private' | 'host';

export interface RunSpecOptions {
  /** Container ID (annotations, default hostname = its first 12 characters). */
  id: string;
  name?: string;
  /** Host path of the root filesystem (the bundle's rootfs or a mount). */
  rootfs: string;
  /** Positional arguments after the image (CMD override). */
  command?: string[];
  /** --entrypoint (already parsed: JSON array or one string; [] clears). */
  entrypoint?: string[];
  /** -e and --env-file already expanded, in order (later wins). */
  env?: string[];
  workdir?: string;
  /** -u USER[:GROUP]; default the image's User, else root. */
  user?: string;
  groupAdd?: string[];
  terminal?: boolean;
  hostname?: string;
  readOnly?: boolean;
  /** With --read-only: tmpfs on /tmp, /var/tmp, /run (podman's --read-only-tmpfs, default true). */
  readOnlyTmpfs?: boolean;
  mounts?: MountSpec[];
  /** --shm-size (default 64 MiB). */
  shmSizeBytes?: number;
  /** none | host | a namespace path set up by a network backend (pluggable). */
  network?: 'none' | 'host' | { path: string };
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  uts?: NamespaceMode;
  cgroupns?: NamespaceMode;
  /** A user namespace for the container (keep-id, nomap, rootful --userns): its mappings. */
  userns?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
  /** Running rootless (inside the caller's user namespace): /sys and the cgroup tree are bind mounts. */
  rootless?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** The seccomp profile to apply (already read and parsed); undefined = unconfined. */
  seccomp?: SeccompProfile;
  noNewPrivileges?: boolean;
  ulimits?: Ulimit[];
  memoryBytes?: number;
  memorySwapBytes?: number;
  cpus?: number;
  pidsLimit?: number;
  cgroupsPath?: string;
  annotations?: Record<string, string>;
  /** Run catatonit as PID 1: the host path of the binary to bind-mount at /run/podman-init. */
  initPath?: string;
  /**
   * Host files bind-mounted at /etc/hosts, /etc/resolv.conf, /etc/hostname, and /etc/passwd and
   * /etc/group when the container's user needs entries the image lacks (made by the caller).
   */
  etcFiles?: { hosts?: string; resolvConf?: string; hostname?: string; passwd?: string; group?: string };
  stopSignal?: string;
  /** Recorded in annotations as podman does. */
  autoRemove?: boolean;
  sysctl?: Record<string, string>;
}

export interface HostFacts {
  /** GOARCH of the host (amd64, arm64, …): selects the seccomp architectures. */
  arch: string;
  /** The caller's own limits (getrlimit): defaults and --ulimit are clamped/checked against hard. */
  rlimits: Partial<Record<RlimitName, { soft: RlimitValue; hard: RlimitValue }>>;
  /** uname -r, for seccomp minKernel conditions (optional). */
  kernelVersion?: string;
}

export interface RuntimeSpecInput {
  image: ImageConfig;
  /** The image's /etc/passwd and /etc/group contents; undefined when the file does not exist. */
  passwd?: string;
  group?: string;
  host: HostFacts;
  options: RunSpecOptions;
}

// ---------------------------------------------------------------------------------------------
// Defaults (podman 4 / containers-common)

export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYS_CHROOT',
];

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/fs/selinux',
  '/sys/dev/block',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Where --init's catatonit is mounted in the container (podman's path). */
export const INIT_PATH_IN_CONTAINER = '/run/podman-init';
const DEFAULT_SHM_BYTES = 64 * 1024 * 1024;
/** podman's default for nofile and nproc when it may raise them. */
const DEFAULT_NOFILE = 1_048_576;
const DEFAULT_NPROC = 4_194_304;
const RLIM_INFINITY = 2 ** 64 - 1;

function invalid(message: string, hint?: string): SkiffError {
  return new SkiffError('INVALID_ARGUMENT', message, hint ? { hint } : {});
}

// ---------------------------------------------------------------------------------------------
// /etc/passwd and /etc/group

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (f.length < 4 || !Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === '' || f[3] === '')
      continue;
    out.push({ name: f[0] ?? '', uid, gid, home: f[5] || '/' });
  }
  return out;
}

export function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = Number(f[2]);
    if (f.length < 3 || f[2] === '' || !Number.isInteger(gid)) continue;
    out.push({
      name: f[0] ?? '',
      gid,
      members: (f[3] ?? '')
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean),
    });
  }
  return out;
}

const isNumeric = (s: string) => /^\d+$/.test(s);

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/**
 * USER[:GROUP] resolved as runc/podman resolve it: names must exist in the image's files,
 * numbers need not (an unknown uid gets gid 0 and home /). Without an explicit group, the
 * groups listing the user as a member are supplementary; --group-add adds more (names or ids).
 */
export function resolveUser(
  userSpec: string | undefined,
  passwd: string | undefined,
  group: string | undefined,
  groupAdd: readonly string[] = [],
  flag = '--user',
): ResolvedUser {
  const spec = parseUserSpec(userSpec === undefined || userSpec === '' ? '0' : userSpec, flag);
  const users = parsePasswd(passwd);
  const groups = parseGroup(group);
  let entry: PasswdEntry | undefined;
  if (isNumeric(spec.user)) entry = users.find((u) => u.uid === Number(spec.user));
  else {
    entry = users.find((u) => u.name === spec.user);
    if (!entry)
      throw invalid(
        `${flag} ${userSpec}: unable to find user ${spec.user}: no matching entries in passwd file`,
      );
  }
  const uid = isNumeric(spec.user) ? Number(spec.user) : (entry?.uid ?? 0);
  let gid = entry?.gid ?? 0;
  const additional: number[] = [];
  if (spec.group !== undefined) {
    if (isNumeric(spec.group)) gid = Number(spec.group);
    else {
      const g = groups.find((x) => x.name === spec.group);
      if (!g)
        throw invalid(
          `${flag} ${userSpec}: unable to find group ${spec.group}: no matching entries in group file`,
        );
      gid = g.gid;
    }
  } else if (entry) {
    for (const g of groups) if (g.members.includes(entry.name) && g.gid !== gid) additional.push(g.gid);
  }
  for (const a of groupAdd) {
    if (a === 'keep-groups')
      throw invalid('--group-add keep-groups is not supported', 'name the groups to add instead');
    let id: number;
    if (isNumeric(a)) id = Number(a);
    else {
      const g = groups.find((x) => x.name === a);
      if (!g) throw invalid(`--group-add ${a}: unable to find group ${a}: no matching entries in group file`);
      id = g.gid;
    }
    if (!additional.includes(id)) additional.push(id);
  }
  // As podman: the primary group is also a supplementary one (`id` lists it under groups=).
  return {
    uid,
    gid,
    additionalGids: [gid, ...additional.filter((g) => g !== gid)],
    home: entry?.home ?? '/',
  };
}

/**
 * The image's /etc/passwd and /etc/group with an entry added for a container user or group
 * they lack, as podman adds them (named by the number, home the working directory); undefined
 * where the image's file is fine as it is.
 */
export function containerUserEntries(
  passwd: string | undefined,
  group: string | undefined,
  user: { uid: number; gid: number },
  workdir: string,
): { passwd?: string; group?: string } {
  const out: { passwd?: string; group?: string } = {};
  const withLine = (text: string | undefined, line: string) =>
    `${text === undefined || text === '' || text.endsWith('\n') ? (text ?? '') : `${text}\n`}${line}\n`;
  if (!parsePasswd(passwd).some((u) => u.uid === user.uid))
    out.passwd = withLine(passwd, `${user.uid}:*:${user.uid}:${user.gid}:container user:${workdir}:/bin/sh`);
  if (!parseGroup(group).some((g) => g.gid === user.gid))
    out.group = withLine(group, `${user.gid}:x:${user.gid}:${user.uid}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pieces

/** ENTRYPOINT/CMD as podman combines them with --entrypoint and the command after the image. */
export function resolveArgs(image: ImageConfig, command?: string[], entrypoint?: string[]): string[] {
  const cfg = image.config ?? {};
  const ep = entrypoint ?? cfg.Entrypoint ?? [];
  // An overridden entrypoint drops the image's CMD, as podman and Docker do.
  const cmd = command?.length ? command : entrypoint !== undefined ? [] : (cfg.Cmd ?? []);
  const args = [...ep, ...cmd];
  if (args.length === 0)
    throw invalid(
      'no command or entrypoint provided, and no CMD or ENTRYPOINT from image',
      'give a command after the image name',
    );
  return args;
}

function envKey(e: string): string {
  const i = e.indexOf('=');
  return i < 0 ? e : e.slice(0, i);
}

/** Merge environment lists, later keys replacing earlier ones in place. */
export function mergeEnv(...lists: ReadonlyArray<readonly string[] | null | undefined>): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const list of lists) {
    for (const e of list ?? []) {
      const k = envKey(e);
      if (!values.has(k)) order.push(k);
      values.set(k, e);
    }
  }
  return order.map((k) => values.get(k) as string);
}

/** The capability set: defaults (or all with --privileged), then --cap-drop, then --cap-add. */
export function resolveCapabilities(
  options: Pick<RunSpecOptions, 'capAdd' | 'capDrop' | 'privileged'>,
): string[] {
  const add = (options.capAdd ?? []).map((c) => parseCapability(c, '--cap-add'));
  const drop = (options.capDrop ?? []).map((c) => parseCapability(c, '--cap-drop'));
  let caps = options.privileged ? [...ALL_CAPABILITIES] : [...DEFAULT_CAPABILITIES];
  if (drop.includes('ALL')) {
    if (add.includes('ALL')) throw invalid('--cap-add ALL and --cap-drop ALL given together');
    caps = [];
  } else caps = caps.filter((c) => !drop.includes(c));
  if (add.includes('ALL')) caps = [...ALL_CAPABILITIES].filter((c) => !drop.includes(c));
  else for (const c of add) if (!caps.includes(c)) caps.push(c);
  return caps.sort();
}

function toRlimit(v: RlimitValue): number {
  return v === 'unlimited' ? RLIM_INFINITY : v;
}

/**
 * rlimits: podman raises nofile and nproc to 1048576 / 4194304, which needs CAP_SYS_RESOURCE
 * beyond the caller's hard limit, so defaults are clamped to the hard limit; an explicit
 * --ulimit above the hard limit is refused (the runtime would fail with EPERM).
 */
export function resolveRlimits(ulimits: readonly Ulimit[] = [], host: HostFacts['rlimits']): POSIXRlimit[] {
  const out = new Map<string, POSIXRlimit>();
  const clampDefault = (name: RlimitName, want: number) => {
    const h = host[name]?.hard ?? 'unlimited';
    const v = rlimitLess(want, h) || h === 'unlimited' ? want : h;
    out.set(name, { type: `RLIMIT_${name.toUpperCase()}`, hard: toRlimit(v), soft: toRlimit(v) });
  };
  clampDefault('nofile', DEFAULT_NOFILE);
  clampDefault('nproc', DEFAULT_NPROC);
  for (const u of ulimits) {
    const h = host[u.name]?.hard;
    if (h !== undefined && rlimitLess(h, u.hard)) {
      const shown = (v: RlimitValue) => (v === 'unlimited' ? '-1' : String(v));
      throw invalid(
        `--ulimit ${u.name}=${shown(u.soft)}:${shown(u.hard)}: the hard limit exceeds ${shown(h)}, the most this process may set`,
        `use --ulimit ${u.name}=${shown(rlimitLess(h, u.soft) ? h : u.soft)}:${shown(h)} or lower`,
      );
    }
    out.set(u.name, {
      type: `RLIMIT_${u.name.toUpperCase()}`,
      hard: toRlimit(u.hard),
      soft: toRlimit(u.soft),
    });
  }
  return [...out.values()];
}

function depth(p: string): number {
  return p === '/' ? 0 : p.split('/').length - 1;
}

function tmpfsOptions(m: {
  readOnly?: boolean;
  sizeBytes?: number;
  mode?: number;
  flags?: string[];
}): string[] {
  const flags = m.flags ?? [];
  const opts = [m.readOnly ? 'ro' : 'rw', 'rprivate'];
  const pick = (on: string, off: string) => (flags.includes(off) ? off : on);
  opts.push(pick('noexec', 'exec'), pick('nosuid', 'suid'), pick('nodev', 'dev'));
  if (!flags.includes('notmpcopyup')) opts.push('tmpcopyup');
  for (const f of flags) if (/^(uid|gid|nr_inodes)=/.test(f)) opts.push(f);
  if (m.sizeBytes !== undefined) opts.push(`size=${m.sizeBytes}`);
  if (m.mode !== undefined) opts.push(`mode=${m.mode.toString(8)}`);
  return opts;
}

/** One -v/--mount/--tmpfs mount; `owner` is the process's uid/gid (a tmpfs with U gets them). */
function userMount(m: MountSpec, owner: { uid: number; gid: number }): SpecMount {
  if (m.type === 'tmpfs') {
    const options = tmpfsOptions(m);
    if (m.chown) {
      // uid=/gid= given explicitly win over U.
      if (!options.some((o) => o.startsWith('uid='))) options.push(`uid=${owner.uid}`);
      if (!options.some((o) => o.startsWith('gid='))) options.push(`gid=${owner.gid}`);
    }
    return { destination: m.target, type: 'tmpfs', source: 'tmpfs', options };
  }
  if (m.type === 'bind' && m.overlay) {
    if (!m.overlayDirs)
      throw new SkiffError('INTERNAL', `overlay mount at ${m.target} has no upper directory resolved`);
    const d = m.overlayDirs;
    const options = [`lowerdir=${m.source}`, `upperdir=${d.upper}`, `workdir=${d.work}`];
    if (d.userxattr) options.push('userxattr');
    if (m.readOnly) options.push('ro');
    for (const f of m.flags ?? []) options.push(f);
    options.push(m.propagation ?? 'rprivate');
    return { destination: m.target, type: 'overlay', source: 'overlay', options };
  }
  let source: string;
  if (m.type === 'bind') source = m.source;
  else {
    if (!m.hostPath)
      throw new SkiffError(
        'INTERNAL',
        `volume ${m.name ?? '(anonymous)'} at ${m.target} has no host path resolved`,
      );
    source = m.hostPath;
  }
  const opts = [m.type === 'bind' && m.nonRecursive ? 'bind' : 'rbind'];
  if (m.readOnly) opts.push('ro');
  for (const f of m.flags ?? []) opts.push(f);
  opts.push(m.type === 'bind' && m.propagation ? m.propagation : 'rprivate');
  return { destination: m.target, type: 'bind', source, options: opts };
}

function defaultMounts(o: RunSpecOptions): SpecMount[] {
  const netHost = o.network === 'host';
  const mounts: SpecMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${o.shmSizeBytes ?? DEFAULT_SHM_BYTES}`],
    },
  ];
  const sysRo = o.privileged ? [] : ['ro'];
  if (o.rootless && netHost) {
    // sysfs cannot be mounted from a user namespace that does not own the network namespace.
    mounts.push({
      destination: '/sys',
      type: 'bind',
      source: '/sys',
      options: ['rbind', 'nosuid', 'noexec', 'nodev', ...sysRo],
    });
  } else {
    mounts.push({
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', ...sysRo],
    });
  }
  if (o.rootless) {
    mounts.push({
      destination: '/sys/fs/cgroup',
      type: 'bind',
      source: '/sys/fs/cgroup',
      options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
    });
  } else {
    mounts.push({
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['rprivate', 'nosuid', 'noexec', 'nodev', 'relatime', o.privileged ? 'rw' : 'ro'],
    });
  }
  if (o.readOnly && o.readOnlyTmpfs !== false) {
    for (const d of ['/tmp', '/var/tmp', '/run'])
      mounts.push({
        destination: d,
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['rw', 'rprivate', 'nosuid', 'nodev', 'tmpcopyup'],
      });
  }
  const etc = o.etcFiles ?? {};
  const etcMounts: Array<[string, string | undefined]> = [
    ['/etc/hosts', etc.hosts],
    ['/etc/resolv.conf', etc.resolvConf],
    ['/etc/hostname', etc.hostname],
    ['/etc/passwd', etc.passwd],
    ['/etc/group', etc.group],
  ];
  for (const [dest, src] of etcMounts)
    if (src) mounts.push({ destination: dest, type: 'bind', source: src, options: ['bind', 'rprivate'] });
  if (o.initPath) {
    mounts.push({
      destination: INIT_PATH_IN_CONTAINER,
      type: 'bind',
      source: o.initPath,
      options: ['bind', 'ro', 'nosuid', 'nodev', 'rprivate'],
    });
  }
  return mounts;
}

function checkMounts(mounts: readonly MountSpec[]): void {
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.target))
      throw invalid(`${m.target}: duplicate mount destination`, 'give each mount its own destination');
    seen.add(m.target);
    if (m.target === '/') throw invalid('cannot mount over the container\'s root "/"');
  }
}

// ---------------------------------------------------------------------------------------------
// The generator

/** The complete config.json for one container. Throws SkiffError INVALID_ARGUMENT on bad options. */
export function generateRuntimeSpec(input: RuntimeSpecInput): RuntimeSpec {
  const { image, host, options: o } = input;
  const cfg = image.config ?? {};
  if (!o.id) throw new SkiffError('INTERNAL', 'generateRuntimeSpec: no container id');
  if (!o.rootfs.startsWith('/')) throw new SkiffError('INTERNAL', `rootfs "${o.rootfs}" is not absolute`);

  // process
  const entrypoint = o.entrypoint;
  let args = resolveArgs(image, o.command, entrypoint);
  if (o.initPath) args = [INIT_PATH_IN_CONTAINER, '--', ...args];
  const cwd = o.workdir || cfg.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw invalid(`--workdir ${cwd}: must be an absolute path`);
  const userFlag = o.user !== undefined ? '--user' : "the image's User";
  const user = resolveUser(o.user ?? cfg.User, input.passwd, input.group, o.groupAdd ?? [], userFlag);
  const netHost = o.network === 'host';
  const uts: NamespaceMode = o.uts ?? (netHost && o.hostname === undefined ? 'host' : 'private');
  if (uts === 'host' && o.hostname !== undefined) throw invalid('--hostname cannot be set with --uts host');
  const hostname = uts === 'private' ? (o.hostname ?? o.id.slice(0, 12)) : undefined;
  const env = mergeEnv(
    [DEFAULT_PATH, 'container=podman'],
    o.terminal ? ['TERM=xterm'] : [],
    cfg.Env,
    hostname !== undefined ? [`HOSTNAME=${hostname}`] : [],
    o.env,
  );
  if (!env.some((e) => envKey(e) === 'HOME')) env.push(`HOME=${user.home}`);

  const caps = resolveCapabilities(o);
  // A non-root process keeps only the capabilities added explicitly, as podman does.
  const added = new Set((o.capAdd ?? []).map((c) => parseCapability(c)));
  const effective = user.uid === 0 ? caps : caps.filter((c) => added.has('ALL') || added.has(c));

  const process: RuntimeSpec['process'] = {
    terminal: o.terminal ?? false,
    user: {
      uid: user.uid,
      gid: user.gid,
      umask: 0o022,
      ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}),
    },
    args,
    env,
    cwd,
    capabilities: {
      bounding: caps,
      effective,
      permitted: effective,
      ...(user.uid === 0 ? {} : { ambient: effective }),
    },
    rlimits: resolveRlimits(o.ulimits, host.rlimits),
  };
  if (o.noNewPrivileges) process.noNewPrivileges = true;

  // mounts
  const user_ = o.mounts ?? [];
  checkMounts(user_);
  const userTargets = new Set(user_.map((m) => m.target));
  const all = [
    ...defaultMounts(o).filter((m) => !userTargets.has(m.destination)),
    ...user_.map((m) => userMount(m, user)),
  ];
  // parents before children, otherwise in order given
  const mounts = all
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i)
    .map((x) => x.m);

  // namespaces
  const namespaces: LinuxNamespace[] = [];
  if ((o.pid ?? 'private') === 'private') namespaces.push({ type: 'pid' });
  if (o.network === undefined || o.network === 'none') namespaces.push({ type: 'network' });
  else if (typeof o.network === 'object') namespaces.push({ type: 'network', path: o.network.path });
  if ((o.ipc ?? 'private') === 'private') namespaces.push({ type: 'ipc' });
  if (uts === 'private') namespaces.push({ type: 'uts' });
  namespaces.push({ type: 'mount' });
  if ((o.cgroupns ?? 'private') === 'private') namespaces.push({ type: 'cgroup' });

  const linux: RuntimeSpec['linux'] = { namespaces };
  if (o.userns) {
    namespaces.push({ type: 'user' });
    linux.uidMappings = o.userns.uidMappings;
    linux.gidMappings = o.userns.gidMappings;
  }
  if (o.sysctl && Object.keys(o.sysctl).length) linux.sysctl = { ...o.sysctl };
  const resources: NonNullable<RuntimeSpec['linux']['resources']> = {};
  if (o.memoryBytes !== undefined) {
    resources.memory = { limit: o.memoryBytes };
    if (o.memorySwapBytes !== undefined) {
      if (o.memorySwapBytes !== -1 && o.memorySwapBytes < o.memoryBytes)
        throw invalid('--memory-swap must be larger than --memory');
      resources.memory.swap = o.memorySwapBytes;
    }
  }
  if (o.cpus !== undefined) resources.cpu = { quota: Math.round(o.cpus * 100_000), period: 100_000 };
  if (o.pidsLimit !== undefined) resources.pids = { limit: o.pidsLimit };
  if (Object.keys(resources).length) linux.resources = resources;
  if (o.cgroupsPath) linux.cgroupsPath = o.cgroupsPath;
  if (!o.privileged) {
    if (o.seccomp)
      linux.seccomp = convertSeccompProfile(o.seccomp, {
        arch: host.arch,
        capabilities: caps,
        ...(host.kernelVersion ? { kernelVersion: host.kernelVersion } : {}),
      });
    linux.maskedPaths = [...DEFAULT_MASKED_PATHS];
    linux.readonlyPaths = [...DEFAULT_READONLY_PATHS];
  }

  const annotations: Record<string, string> = {
    'io.container.manager': 'skiff',
    'org.opencontainers.image.stopSignal': o.stopSignal ?? cfg.StopSignal ?? '15',
    ...(o.autoRemove ? { 'io.podman.annotations.autoremove': 'TRUE' } : {}),
    ...(o.initPath ? { 'io.podman.annotations.init': 'TRUE' } : {}),
    ...(o.privileged ? { 'io.podman.annotations.privileged': 'TRUE' } : {}),
    ...(o.name ? { 'io.podman.annotations.name': o.name } : {}),
    ...(o.annotations ?? {}),
  };

  const spec: RuntimeSpec = {
    ociVersion: '1.0.2-dev',
    process,
    root: { path: o.rootfs, ...(o.readOnly ? { readonly: true } : {}) },
    mounts,
    annotations,
    linux,
  };
  if (hostname !== undefined) spec.hostname = hostname;
  return spec;
}
