/**
 * Parsers for the `skiff run` flags that carry a small grammar of their own: --mount, -v/--volume,
 * --tmpfs, --ulimit, --memory, --cpus, --pids-limit, -u/--user, --entrypoint, -e/--env,
 * --env-file, --cap-add/--cap-drop. Pure functions; every rejection is a SkiffError
 * INVALID_ARGUMENT that names the flag and the value, as podman's messages do.
 */

import { SkiffError } from '../errors.js';

function invalid(flag: string, value: string, why: string, hint?: string): SkiffError {
  return new SkiffError('INVALID_ARGUMENT', `invalid ${flag} "${value}": ${why}`, hint ? { hint } : {});
}

// ---------------------------------------------------------------------------------------------
// Mounts

export type Propagation =
  | 'private'
  | 'rprivate'
  | 'shared'
  | 'rshared'
  | 'slave'
  | 'rslave'
  | 'unbindable'
  | 'runbindable';
const PROPAGATIONS: readonly Propagation[] = [
  'private',
  'rprivate',
  'shared',
  'rshared',
  'slave',
  'rslave',
  'unbindable',
  'runbindable',
];

export interface BindMount {
  type: 'bind';
  /** Absolute host path. */
  source: string;
  target: string;
  readOnly?: boolean;
  /** SELinux relabel: z shared, Z private (accepted; no SELinux on hosts without it). */
  relabel?: 'shared' | 'private';
  /** U: chown the source to the container's root user (done by the caller before start). */
  chown?: boolean;
  propagation?: Propagation;
  /** bind instead of the default rbind. */
  nonRecursive?: boolean;
  /** Extra mount flags passed through: nosuid, nodev, noexec, suid, dev, exec. */
  flags?: string[];
  /** O: an overlay with the source as its lower layer; writes go to the container's own upper. */
  overlay?: boolean;
  /** The overlay's upper and work directories (set by createContainer). */
  overlayDirs?: { upper: string; work: string; userxattr?: boolean };
}

export interface VolumeMount {
  type: 'volume';
  /** Named volume; undefined for an anonymous volume (the caller names it). */
  name?: string;
  /** Made for this container (no source given, or an image VOLUME): named by planVolumes. */
  anonymous?: boolean;
  target: string;
  readOnly?: boolean;
  relabel?: 'shared' | 'private';
  chown?: boolean;
  /** Do not copy the image's content at target into a new volume. */
  noCopy?: boolean;
  flags?: string[];
  /** The volume's host directory, resolved by the caller before generating the spec. */
  hostPath?: string;
}

export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  readOnly?: boolean;
  sizeBytes?: number;
  /** Octal permission bits of the mount's root. */
  mode?: number;
  /** Other tmpfs/mount options (noexec, nosuid, nodev, exec, suid, dev, notmpcopyup, …). */
  flags?: string[];
  /** U: owned by the container's user and group (uid=/gid= mount options). */
  chown?: boolean;
}

export type MountSpec = BindMount | VolumeMount | TmpfsMount;

const PASSTHROUGH_FLAGS = new Set(['nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec']);

function checkTarget(flag: string, value: string, target: string | undefined): string {
  if (target === undefined || target === '') throw invalid(flag, value, 'no destination given');
  if (!target.startsWith('/')) throw invalid(flag, value, `destination "${target}" is not an absolute path`);
  return normalizePath(target);
}

/** Collapse `//`, `/./` and a trailing slash (no `..` resolution needed: rejected). */
function normalizePath(p: string): string {
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    parts.push(part);
  }
  return `/${parts.join('/')}`;
}

function isHostPath(src: string): boolean {
  return src.startsWith('/') || src.startsWith('./') || src.startsWith('../') || src === '.' || src === '..';
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * -v/--volume `[SRC:]DST[:OPTS]`. SRC absolute (or ./relative, resolved against `cwd`) is a bind
 * mount; otherwise a named volume; no SRC is an anonymous volume. OPTS: ro, rw, z, Z, U,
 * [r]shared|[r]slave|[r]private|[r]unbindable, [r]bind, nosuid/nodev/noexec and their opposites,
 * copy/nocopy (volumes), O (binds: an overlay whose writes the container keeps to itself).
 */
export function parseVolumeFlag(value: string, cwd = '/'): MountSpec {
  const flag = '--volume';
  const parts = value.split(':');
  if (parts.length > 3 || value === '') throw invalid(flag, value, 'expected [SOURCE:]DESTINATION[:OPTIONS]');
  let src: string | undefined;
  let dst: string | undefined;
  let opts = '';
  if (parts.length === 1) dst = parts[0];
  else if (parts.length === 2) {
    // "DST:OPTS" when the first part is an absolute path and the second no path at all
    if (parts[0]?.startsWith('/') && !parts[1]?.includes('/')) [dst, opts = ''] = parts;
    else [src, dst] = parts;
  } else [src, dst, opts = ''] = parts;
  if (src === '') throw invalid(flag, value, 'empty source');
  const target = checkTarget(flag, value, dst);
  const base = { target } as {
    target: string;
    readOnly?: boolean;
    relabel?: 'shared' | 'private';
    chown?: boolean;
    flags?: string[];
  };
  let propagation: Propagation | undefined;
  let noCopy: boolean | undefined;
  let bindMode: 'bind' | 'rbind' | undefined;
  let overlay = false;
  let seenRw = false;
  const flags: string[] = [];
  for (const o of opts === '' ? [] : opts.split(',')) {
    if (o === 'ro' || o === 'rw') {
      if (seenRw) throw invalid(flag, value, 'ro and rw given more than once');
      seenRw = true;
      if (o === 'ro') base.readOnly = true;
    } else if (o === 'z' || o === 'Z') {
      if (base.relabel) throw invalid(flag, value, 'z and Z are mutually exclusive');
      base.relabel = o === 'z' ? 'shared' : 'private';
    } else if (o === 'U') base.chown = true;
    else if ((PROPAGATIONS as readonly string[]).includes(o)) {
      if (propagation) throw invalid(flag, value, 'more than one propagation mode');
      propagation = o as Propagation;
    } else if (PASSTHROUGH_FLAGS.has(o)) flags.push(o);
    else if (o === 'nocopy' || o === 'copy') {
      if (noCopy !== undefined) throw invalid(flag, value, 'copy and nocopy given more than once');
      noCopy = o === 'nocopy';
    } else if (o === 'bind' || o === 'rbind') {
      if (bindMode) throw invalid(flag, value, 'bind and rbind given more than once');
      bindMode = o;
    } else if (o === 'O') overlay = true;
    else throw invalid(flag, value, `unknown option "${o}"`);
  }
  if (flags.length) base.flags = flags;
  if (src !== undefined && isHostPath(src)) {
    if (noCopy !== undefined) throw invalid(flag, value, 'copy/nocopy apply to volumes, not bind mounts');
    const source = src.startsWith('/') ? normalizePath(src) : normalizePath(`${cwd}/${src}`);
    const m: BindMount = { type: 'bind', source, ...base };
    if (propagation) m.propagation = propagation;
    if (bindMode === 'bind') m.nonRecursive = true;
    if (overlay) {
      if (/[,:]/.test(source)) throw invalid(flag, value, 'an overlay (O) source cannot contain "," or ":"');
      if (base.chown) throw invalid(flag, value, 'U cannot be combined with O');
      m.overlay = true;
    }
    return m;
  }
  if (propagation) throw invalid(flag, value, 'propagation applies to bind mounts only');
  if (bindMode) throw invalid(flag, value, 'bind and rbind apply to bind mounts only');
  if (overlay) throw invalid(flag, value, 'overlay (O) applies to host directories only, not volumes');
  if (src !== undefined && !VOLUME_NAME.test(src))
    throw invalid(flag, value, `"${src}" is not a valid volume name (nor an absolute path)`);
  const m: VolumeMount = { type: 'volume', ...base };
  if (src !== undefined) m.name = src;
  if (noCopy) m.noCopy = true;
  return m;
}

function parseSize(flag: string, value: string, text: string): number {
  const bytes = parseBytes(text);
  if (bytes === undefined) throw invalid(flag, value, `"${text}" is not a size (e.g. 64m)`);
  return bytes;
}

function parseMode(flag: string, value: string, text: string): number {
  if (!/^[0-7]{1,4}$/.test(text)) throw invalid(flag, value, `"${text}" is not an octal mode`);
  return Number.parseInt(text, 8);
}

/**
 * --mount `type=bind|volume|tmpfs,source=…,target=…,…` (podman's keys: src/source,
 * dst/destination/target, ro/readonly[=true|false], rw, bind-propagation, relabel=shared|private
 * or z/Z, U/chown, bind-nonrecursive, volume-nocopy, tmpfs-size, tmpfs-mode, notmpcopyup, nosuid, …).
 * Keys are case-insensitive except z (shared relabel) and Z (private relabel).
 */
export function parseMountFlag(value: string, cwd = '/'): MountSpec {
  const flag = '--mount';
  const fields = new Map<string, string | undefined>();
  for (const item of value.split(',')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const rawKey = (eq < 0 ? item : item.slice(0, eq)).trim();
    const key = rawKey === 'Z' || rawKey === 'z' ? rawKey : rawKey.toLowerCase();
    const val = eq < 0 ? undefined : item.slice(eq + 1);
    if (fields.has(key) && key !== 'tmpcopyup') throw invalid(flag, value, `"${key}" given more than once`);
    fields.set(key, val);
  }
  const type = fields.get('type');
  if (type === undefined) throw invalid(flag, value, 'missing type=bind|volume|tmpfs');
  fields.delete('type');
  const take = (...keys: string[]): string | undefined => {
    let found: string | undefined;
    for (const k of keys) {
      if (fields.has(k)) {
        if (found !== undefined) throw invalid(flag, value, `${keys.join('/')} given more than once`);
        found = fields.get(k);
        if (found === undefined || found === '') throw invalid(flag, value, `${k} needs a value`);
        fields.delete(k);
      }
    }
    return found;
  };
  const boolOpt = (...keys: string[]): boolean | undefined => {
    for (const k of keys) {
      if (fields.has(k)) {
        const v = fields.get(k);
        fields.delete(k);
        if (v === undefined || v === 'true' || v === '1') return true;
        if (v === 'false' || v === '0') return false;
        throw invalid(flag, value, `${k}=${v}: expected true or false`);
      }
    }
    return undefined;
  };
  const source = take('source', 'src');
  const target = checkTarget(flag, value, take('target', 'destination', 'dst'));
  let readOnly = boolOpt('readonly', 'ro');
  const rw = boolOpt('rw');
  if (rw !== undefined) {
    if (readOnly !== undefined) throw invalid(flag, value, 'ro and rw given together');
    readOnly = !rw;
  }
  const flags: string[] = [];
  for (const f of PASSTHROUGH_FLAGS) {
    if (fields.has(f)) {
      if (fields.get(f) !== undefined) throw invalid(flag, value, `${f} takes no value`);
      fields.delete(f);
      flags.push(f);
    }
  }
  const common = { target } as { target: string; readOnly?: boolean; flags?: string[] };
  if (readOnly) common.readOnly = true;
  if (flags.length) common.flags = flags;
  const relabelOf = (): 'shared' | 'private' | undefined => {
    const short = (['z', 'Z'] as const).filter((k) => fields.has(k));
    for (const k of short) if (fields.get(k) !== undefined) throw invalid(flag, value, `${k} takes no value`);
    if (short.length > 1) throw invalid(flag, value, 'z and Z are mutually exclusive');
    for (const k of short) fields.delete(k);
    const r = take('relabel');
    if (short.length && r !== undefined) throw invalid(flag, value, `relabel and ${short[0]} given together`);
    if (short[0]) return short[0] === 'z' ? 'shared' : 'private';
    if (r === undefined) return undefined;
    if (r !== 'shared' && r !== 'private')
      throw invalid(flag, value, `relabel=${r}: expected shared or private`);
    return r;
  };
  let result: MountSpec;
  if (type === 'bind') {
    if (source === undefined) throw invalid(flag, value, 'bind mounts need source=');
    if (!isHostPath(source)) throw invalid(flag, value, `bind source "${source}" is not a path`);
    const m: BindMount = {
      type: 'bind',
      source: source.startsWith('/') ? normalizePath(source) : normalizePath(`${cwd}/${source}`),
      ...common,
    };
    const p = take('bind-propagation');
    if (p !== undefined) {
      if (!(PROPAGATIONS as readonly string[]).includes(p))
        throw invalid(flag, value, `bind-propagation=${p}: expected one of ${PROPAGATIONS.join(', ')}`);
      m.propagation = p as Propagation;
    }
    const relabel = relabelOf();
    if (relabel) m.relabel = relabel;
    if (boolOpt('u', 'chown')) m.chown = true;
    if (boolOpt('bind-nonrecursive')) m.nonRecursive = true;
    result = m;
  } else if (type === 'volume') {
    const m: VolumeMount = { type: 'volume', ...common };
    if (source !== undefined) {
      if (!VOLUME_NAME.test(source)) throw invalid(flag, value, `"${source}" is not a valid volume name`);
      m.name = source;
    }
    const relabel = relabelOf();
    if (relabel) m.relabel = relabel;
    if (boolOpt('u', 'chown')) m.chown = true;
    if (boolOpt('volume-nocopy')) m.noCopy = true;
    result = m;
  } else if (type === 'tmpfs') {
    if (source !== undefined) throw invalid(flag, value, 'tmpfs mounts take no source');
    const m: TmpfsMount = { type: 'tmpfs', ...common };
    const size = take('tmpfs-size');
    if (size !== undefined) m.sizeBytes = parseSize(flag, value, size);
    const mode = take('tmpfs-mode');
    if (mode !== undefined) m.mode = parseMode(flag, value, mode);
    if (fields.has('notmpcopyup')) {
      fields.delete('notmpcopyup');
      m.flags = [...(m.flags ?? []), 'notmpcopyup'];
    }
    if (fields.has('tmpcopyup')) fields.delete('tmpcopyup');
    if (boolOpt('u', 'chown')) m.chown = true;
    result = m;
  } else {
    throw invalid(flag, value, `unsupported type "${type}"`, 'use type=bind, type=volume or type=tmpfs');
  }
  const rest = [...fields.keys()];
  if (rest.length) throw invalid(flag, value, `unknown option "${rest[0]}" for type=${type}`);
  return result;
}

/** --tmpfs `DST[:OPTS]` with OPTS like size=64m,mode=1777,ro,noexec. */
export function parseTmpfsFlag(value: string): TmpfsMount {
  const flag = '--tmpfs';
  const colon = value.indexOf(':');
  const dst = colon < 0 ? value : value.slice(0, colon);
  const opts = colon < 0 ? '' : value.slice(colon + 1);
  const m: TmpfsMount = { type: 'tmpfs', target: checkTarget(flag, value, dst) };
  const flags: string[] = [];
  for (const o of opts === '' ? [] : opts.split(',')) {
    const [k = '', v] = o.split('=', 2) as [string, string | undefined];
    if (k === 'size' && v !== undefined) m.sizeBytes = parseSize(flag, value, v);
    else if (k === 'mode' && v !== undefined) m.mode = parseMode(flag, value, v);
    else if (k === 'ro' && v === undefined) m.readOnly = true;
    else if (k === 'rw' && v === undefined) m.readOnly = false;
    else if (k === 'U' && v === undefined) m.chown = true;
    else if ((PASSTHROUGH_FLAGS.has(k) || k === 'notmpcopyup' || k === 'tmpcopyup') && v === undefined)
      flags.push(k);
    else if ((k === 'uid' || k === 'gid' || k === 'nr_inodes') && v !== undefined && /^\d+$/.test(v))
      flags.push(o);
    else throw invalid(flag, value, `unknown option "${o}"`);
  }
  if (m.readOnly === false) delete m.readOnly;
  if (flags.length) m.flags = flags;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Sizes and limits

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** `512`, `64k`, `1.5g`, `10MB`, `2GiB` → bytes (binary units, as podman); undefined when not a size. */
export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** --memory: at least 6 MiB as podman requires; `-1`/`0`? refused except as "no limit" by omission. */
export function parseMemory(value: string, flag = '--memory'): number {
  const bytes = parseBytes(value);
  if (bytes === undefined) throw invalid(flag, value, 'expected a size such as 512m or 1g');
  if (bytes < 6 * 1024 * 1024) throw invalid(flag, value, 'the minimum memory limit is 6m');
  return bytes;
}

/** --cpus: a positive decimal number of CPUs. */
export function parseCpus(value: string): number {
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(value.trim()))
    throw invalid('--cpus', value, 'expected a number of CPUs such as 1.5');
  const n = Number(value);
  if (!(n > 0)) throw invalid('--cpus', value, 'must be greater than 0');
  if (n > 1024) throw invalid('--cpus', value, 'too large');
  return n;
}

/** --pids-limit: a positive integer, or -1/0 for unlimited (returned as undefined). */
export function parsePidsLimit(value: string): number | undefined {
  if (!/^-?\d+$/.test(value.trim())) throw invalid('--pids-limit', value, 'expected an integer');
  const n = Number(value);
  if (n === -1 || n === 0) return undefined;
  if (n < -1) throw invalid('--pids-limit', value, 'must be -1 (unlimited) or positive');
  return n;
}

export type RlimitName =
  | 'core'
  | 'cpu'
  | 'data'
  | 'fsize'
  | 'locks'
  | 'memlock'
  | 'msgqueue'
  | 'nice'
  | 'nofile'
  | 'nproc'
  | 'rss'
  | 'rtprio'
  | 'rttime'
  | 'sigpending'
  | 'stack'
  | 'as';

export const RLIMIT_NAMES: readonly RlimitName[] = [
  'as',
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
];

/** An rlimit value: a non-negative integer, or `unlimited` (2^64-1 in the spec). */
export type RlimitValue = number | 'unlimited';

export interface Ulimit {
  name: RlimitName;
  soft: RlimitValue;
  hard: RlimitValue;
}

function parseRlimitValue(flag: string, value: string, text: string): RlimitValue {
  if (text === '-1' || text === 'unlimited') return 'unlimited';
  if (!/^\d+$/.test(text)) throw invalid(flag, value, `"${text}" is not a number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw invalid(flag, value, `"${text}" is too large`);
  return n;
}

export function rlimitLess(a: RlimitValue, b: RlimitValue): boolean {
  if (a === 'unlimited') return false;
  if (b === 'unlimited') return true;
  return a < b;
}

/** --ulimit `NAME=SOFT[:HARD]` (`-1` = unlimited; hard defaults to soft). */
export function parseUlimit(value: string): Ulimit {
  const flag = '--ulimit';
  const m = /^([a-z]+)=([^:]+)(?::(.+))?$/.exec(value);
  if (!m) throw invalid(flag, value, 'expected NAME=SOFT[:HARD]');
  const name = m[1] as RlimitName;
  if (!RLIMIT_NAMES.includes(name))
    throw invalid(flag, value, `unknown limit "${m[1]}"`, `use one of ${RLIMIT_NAMES.join(', ')}`);
  const soft = parseRlimitValue(flag, value, m[2] ?? '');
  const hard = m[3] === undefined ? soft : parseRlimitValue(flag, value, m[3]);
  if (rlimitLess(hard, soft)) throw invalid(flag, value, 'the soft limit is greater than the hard limit');
  return { name, soft, hard };
}

// ---------------------------------------------------------------------------------------------
// User, command, environment, capabilities

export interface UserSpec {
  /** A name or a number, as given. */
  user: string;
  group?: string;
}

/** -u/--user `USER[:GROUP]` (names or numbers). */
export function parseUserSpec(value: string, flag = '--user'): UserSpec {
  const m = /^([^:]+)(?::([^:]+))?$/.exec(value);
  const ok = /^[a-zA-Z0-9_.][a-zA-Z0-9_.$-]*$/;
  if (!m || !ok.test(m[1] ?? '') || (m[2] !== undefined && !ok.test(m[2])))
    throw invalid(flag, value, 'expected USER[:GROUP] with names or numeric ids');
  const spec: UserSpec = { user: m[1] as string };
  if (m[2] !== undefined) spec.group = m[2];
  return spec;
}

/**
 * --entrypoint: a JSON array (`["/bin/sh","-c"]`) or a single command string (podman does not
 * split it on spaces); "" clears the image's entrypoint.
 */
export function parseEntrypoint(value: string): string[] {
  const t = value.trim();
  if (t.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch {
      return [value];
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string'))
      throw invalid('--entrypoint', value, 'a JSON entrypoint must be an array of strings');
    return parsed as string[];
  }
  return value === '' ? [] : [value];
}

const ENV_NAME = /^[^=\s]+$/;

/**
 * One -e/--env value: `NAME=VALUE`, or `NAME` (taken from `hostEnv`, dropped when unset), or
 * `PREFIX*` (every host variable with that prefix), as podman.
 */
export function parseEnvFlag(value: string, hostEnv: NodeJS.ProcessEnv, flag = '--env'): string[] {
  const eq = value.indexOf('=');
  if (eq === 0) throw invalid(flag, value, 'empty variable name');
  if (eq > 0) return [value];
  if (value.endsWith('*')) {
    const prefix = value.slice(0, -1);
    return Object.entries(hostEnv)
      .filter(([k, v]) => k.startsWith(prefix) && v !== undefined)
      .map(([k, v]) => `${k}=${v}`)
      .sort();
  }
  if (!ENV_NAME.test(value)) throw invalid(flag, value, 'not a variable name');
  const v = hostEnv[value];
  return v === undefined ? [] : [`${value}=${v}`];
}

/** An --env-file's text: one NAME=VALUE or NAME per line, `#` comments and blank lines skipped. */
export function parseEnvFile(text: string, hostEnv: NodeJS.ProcessEnv, file = 'env file'): string[] {
  const out: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('=')) throw invalid('--env-file', `${file}:${i + 1}`, 'empty variable name');
    out.push(...parseEnvFlag(line, hostEnv, '--env-file'));
  }
  return out;
}

/** Every capability Linux 6.x knows, with the CAP_ prefix. */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** `net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `all`/`ALL` → `ALL`. */
export function parseCapability(value: string, flag = '--cap-add'): string {
  const up = value.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const cap = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPABILITIES.includes(cap)) throw invalid(flag, value, 'unknown capability');
  return cap;
}
