/**
 * `skiff top`: a container's processes as podman shows them (psgo's descriptors and headers),
 * read from /proc for the PIDs the runtime reports (`RUNTIME ps`, the container's cgroup), or,
 * where that fails, every process in the container's PID namespace.
 *
 * Parsing /proc text and rendering rows are pure functions; reading /proc is a thin adapter.
 */

import * as fs from 'node:fs';
import { SkiffError } from '../errors.js';
import { splitProcStat } from '../storage/fs-util.js';
import type { Store } from '../storage/store.js';
import type { ContainerDb } from './containers.js';
import type { OciRuntime } from './discovery.js';
import { execFile } from './exec.js';
import { readFileInRoot } from './host.js';
import { refreshContainer, runtimeStateDir } from './run.js';

/** podman top's default descriptors. */
export const DEFAULT_TOP_DESCRIPTORS = ['user', 'pid', 'ppid', 'pcpu', 'etime', 'tty', 'time', 'args'];

/** Descriptor → column header (psgo's names). */
export const TOP_HEADERS: Readonly<Record<string, string>> = {
  args: 'COMMAND',
  comm: 'COMMAND',
  etime: 'ELAPSED',
  group: 'GROUP',
  hgroup: 'HGROUP',
  hpid: 'HPID',
  huser: 'HUSER',
  nice: 'NI',
  pcpu: '%CPU',
  pgid: 'PGID',
  pid: 'PID',
  ppid: 'PPID',
  rgroup: 'RGROUP',
  ruser: 'RUSER',
  rss: 'RSS',
  state: 'STATE',
  stime: 'STIME',
  time: 'TIME',
  tty: 'TTY',
  user: 'USER',
  vsz: 'VSZ',
};

/** AIX format descriptors (ps(1)'s `%X`) and the descriptor each stands for. */
export const AIX_DESCRIPTORS: Readonly<Record<string, string>> = {
  '%C': 'pcpu',
  '%G': 'group',
  '%P': 'ppid',
  '%U': 'user',
  '%a': 'args',
  '%c': 'comm',
  '%g': 'rgroup',
  '%n': 'nice',
  '%p': 'pid',
  '%r': 'pgid',
  '%t': 'etime',
  '%u': 'ruser',
  '%x': 'time',
  '%y': 'tty',
  '%z': 'vsz',
};

/**
 * The descriptors a user gave (`pid user`, `pid,user`, `%p %U`, or nothing for the default);
 * INVALID_ARGUMENT naming the first unknown one.
 */
export function parseTopDescriptors(args: readonly string[]): string[] {
  const words = args.flatMap((a) => a.split(/[\s,]+/)).filter(Boolean);
  if (words.length === 0) return [...DEFAULT_TOP_DESCRIPTORS];
  return words.map((w) => {
    const d = AIX_DESCRIPTORS[w] ?? w;
    if (!(d in TOP_HEADERS))
      throw new SkiffError('INVALID_ARGUMENT', `unknown descriptor: ${w}`, {
        hint: `descriptors: ${Object.keys(TOP_HEADERS).join(', ')} (or AIX %C %G %P %U %a %c %g %n %p %r %t %u %x %y %z)`,
      });
    return d;
  });
}

/** What top needs of one process, from /proc/PID/{stat,status,cmdline}. */
export interface ProcessInfo {
  hostPid: number;
  /** PID inside the container's PID namespace (NSpid's last value). */
  pid: number;
  hostPpid: number;
  /** Real and effective ids as seen from the host. */
  ruid: number;
  euid: number;
  rgid: number;
  egid: number;
  comm: string;
  args: string[];
  state: string;
  pgid: number;
  ttyNr: number;
  nice: number;
  utimeTicks: number;
  stimeTicks: number;
  startTicks: number;
  vszBytes: number;
  rssPages: number;
}

/** Parse /proc/PID/stat (comm may hold spaces and parentheses) and /proc/PID/status. */
export function parseProcess(hostPid: number, stat: string, status: string, cmdline: string): ProcessInfo {
  const { comm, fields: f } = splitProcStat(stat);
  const field = (n: number) => Number(f[n - 3] ?? 0);
  const line = (key: string): string[] => {
    const m = new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status);
    return m ? (m[1] as string).trim().split(/\s+/) : [];
  };
  const nspid = line('NSpid').map(Number);
  const uids = line('Uid').map(Number);
  const gids = line('Gid').map(Number);
  return {
    hostPid,
    pid: nspid.at(-1) ?? hostPid,
    hostPpid: field(4),
    ruid: uids[0] ?? 0,
    euid: uids[1] ?? 0,
    rgid: gids[0] ?? 0,
    egid: gids[1] ?? 0,
    comm,
    args: cmdline.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1),
    state: f[0] ?? '?',
    pgid: field(5),
    ttyNr: field(7),
    nice: field(19),
    utimeTicks: field(14),
    stimeTicks: field(15),
    startTicks: field(22),
    vszBytes: field(23),
    rssPages: field(24),
  };
}

/** Go's time.Duration String() for a duration in nanoseconds ("1h2m3.5s", "0s", "12.3ms"). */
export function goDuration(ns: number): string {
  const n = Math.max(0, Math.round(ns));
  if (n === 0) return '0s';
  if (n < 1e3) return `${n}ns`;
  if (n < 1e6) return `${trimFrac(n / 1e3)}µs`;
  if (n < 1e9) return `${trimFrac(n / 1e6)}ms`;
  const totalSec = n / 1e9;
  const h = Math.floor(totalSec / 3600);
  const m = Math.floor((totalSec - h * 3600) / 60);
  const s = n - (h * 3600 + m * 60) * 1e9;
  const sec = `${trimFrac(s / 1e9)}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

function trimFrac(x: number): string {
  return x.toFixed(9).replace(/\.?0+$/, '');
}

/** The terminal name of a tty_nr (pts/N, ttyN, console), `?` for none. */
export function ttyName(ttyNr: number): string {
  if (ttyNr === 0) return '?';
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${minor + (major - 136) * 256}`;
  if (major === 4) return minor < 64 ? `tty${minor}` : `ttyS${minor - 64}`;
  if (major === 5 && minor === 1) return 'console';
  return '?';
}

/** `name:…:id:…` files (/etc/passwd, /etc/group) → id → name. */
export function idNames(text: string | undefined): Map<number, string> {
  const out = new Map<number, string>();
  for (const l of (text ?? '').split('\n')) {
    const parts = l.split(':');
    const id = Number(parts[2]);
    if (parts[0] && parts.length > 2 && Number.isInteger(id) && !out.has(id)) out.set(id, parts[0]);
  }
  return out;
}

/** A user namespace's id map (/proc/PID/uid_map): host id → id inside. */
export function mapToInside(map: string | undefined, hostId: number): number {
  if (!map) return hostId;
  for (const l of map.split('\n')) {
    const [inside, outside, count] = l.trim().split(/\s+/).map(Number);
    if (inside === undefined || outside === undefined || count === undefined) continue;
    if (hostId >= outside && hostId < outside + count) return inside + (hostId - outside);
  }
  return 65534;
}

export interface TopContext {
  /** Seconds since boot now (/proc/uptime). */
  uptimeSec: number;
  /** Clock ticks per second (USER_HZ). */
  ticksPerSec: number;
  pageBytes: number;
  /** The container's /etc/passwd and /etc/group (id → name). */
  users: Map<number, string>;
  groups: Map<number, string>;
  /** The host's (for huser/hgroup). */
  hostUsers: Map<number, string>;
  hostGroups: Map<number, string>;
  uidMap?: string;
  gidMap?: string;
}

function nameOr(names: Map<number, string>, id: number): string {
  return names.get(id) ?? String(id);
}

/** One cell of a process row. */
export function topCell(
  p: ProcessInfo,
  descriptor: string,
  ctx: TopContext,
  pidOf: (hostPid: number) => number,
): string {
  const elapsedSec = Math.max(0, ctx.uptimeSec - p.startTicks / ctx.ticksPerSec);
  const cpuSec = (p.utimeTicks + p.stimeTicks) / ctx.ticksPerSec;
  const uid = (id: number) => mapToInside(ctx.uidMap, id);
  const gid = (id: number) => mapToInside(ctx.gidMap, id);
  switch (descriptor) {
    case 'args':
      // psgo's rendering: the command line's NULs as spaces (so a trailing space).
      return p.args.length ? p.args.map((a) => `${a} `).join('') : `[${p.comm}]`;
    case 'comm':
      return p.comm;
    case 'etime':
      return goDuration(elapsedSec * 1e9);
    case 'group':
      return nameOr(ctx.groups, gid(p.egid));
    case 'rgroup':
      return nameOr(ctx.groups, gid(p.rgid));
    case 'hgroup':
      return nameOr(ctx.hostGroups, p.egid);
    case 'user':
      return nameOr(ctx.users, uid(p.euid));
    case 'ruser':
      return nameOr(ctx.users, uid(p.ruid));
    case 'huser':
      return nameOr(ctx.hostUsers, p.euid);
    case 'hpid':
      return String(p.hostPid);
    case 'nice':
      return String(p.nice);
    case 'pcpu':
      return (elapsedSec > 0 ? (cpuSec / elapsedSec) * 100 : 0).toFixed(3);
    case 'pgid':
      return String(pidOf(p.pgid));
    case 'pid':
      return String(p.pid);
    case 'ppid':
      return String(pidOf(p.hostPpid));
    case 'rss':
      return String(Math.round((p.rssPages * ctx.pageBytes) / 1024));
    case 'vsz':
      return String(Math.round(p.vszBytes / 1024));
    case 'state':
      return p.state;
    case 'stime': {
      const started = new Date(Date.now() - elapsedSec * 1000);
      return started
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' +0000 UTC');
    }
    case 'time':
      return goDuration(Math.floor(cpuSec) * 1e9);
    case 'tty':
      return ttyName(p.ttyNr);
    default:
      return '';
  }
}

/** Header row + one row per process (ordered by PID), as podman top prints them. */
export function topRows(
  procs: readonly ProcessInfo[],
  descriptors: readonly string[],
  ctx: TopContext,
): string[][] {
  const byHost = new Map(procs.map((p) => [p.hostPid, p.pid]));
  // A parent outside the container (the runtime, conmon) is PID 0 inside it.
  const pidOf = (hostPid: number) => byHost.get(hostPid) ?? 0;
  const sorted = [...procs].sort((a, b) => a.pid - b.pid);
  return [
    descriptors.map((d) => TOP_HEADERS[d] ?? d.toUpperCase()),
    ...sorted.map((p) => descriptors.map((d) => topCell(p, d, ctx, pidOf))),
  ];
}

/** Columns at least 12 wide, each its widest cell plus 2 (podman's tabwriter: minwidth 12, padding 2). */
export function formatColumns(rows: readonly string[][]): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, [...c].length);
    });
  }
  return rows
    .map((r) =>
      r
        .map((c, i) =>
          i === r.length - 1 ? c : c + ' '.repeat(Math.max(12, (widths[i] ?? 0) + 2) - [...c].length),
        )
        .join(''),
    )
    .map((l) => `${l}\n`)
    .join('');
}

// ---- reading /proc -----------------------------------------------------------------------------

function read(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function readProcess(hostPid: number, proc = '/proc'): ProcessInfo | undefined {
  const stat = read(`${proc}/${hostPid}/stat`);
  const status = read(`${proc}/${hostPid}/status`);
  if (stat === undefined || status === undefined) return undefined;
  return parseProcess(hostPid, stat, status, read(`${proc}/${hostPid}/cmdline`) ?? '');
}

/** Every process sharing `hostPid`'s PID namespace. */
function pidNamespaceMembers(hostPid: number): number[] {
  let ns: string;
  try {
    ns = fs.readlinkSync(`/proc/${hostPid}/ns/pid`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/pid`) === ns) out.push(Number(e));
    } catch {}
  }
  return out;
}

/**
 * `skiff top CONTAINER [DESCRIPTORS…]`: the table podman top prints, for a running container.
 */
export async function containerTop(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  id: string,
  descriptorArgs: readonly string[] = [],
): Promise<string> {
  const descriptors = parseTopDescriptors(descriptorArgs);
  const rec = refreshContainer(store, db, id);
  if (!rec)
    throw new SkiffError('NOT_FOUND', `no container with name or ID "${id}" found: no such container`);
  if (rec.status !== 'running' || rec.pid === undefined)
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `top can only be used on running containers: container state improper`,
    );
  const ps = await execFile(
    runtime.path,
    ['--root', runtimeStateDir(store.location, runtime), ...runtime.flags, 'ps', '--format', 'json', rec.id],
    { timeoutMs: 10_000 },
  );
  let pids: number[] = [];
  if (ps.status === 0) {
    try {
      const parsed: unknown = JSON.parse(ps.stdout);
      if (Array.isArray(parsed)) pids = parsed.filter((p): p is number => Number.isInteger(p));
    } catch {}
  }
  if (pids.length === 0) pids = pidNamespaceMembers(rec.pid);
  const procs = pids.map((p) => readProcess(p)).filter((p): p is ProcessInfo => p !== undefined);
  // The container's own files, through its init's root (works for overlay and vfs alike).
  const root = `/proc/${rec.pid}/root`;
  const uptime = Number((read('/proc/uptime') ?? '0').split(' ')[0]);
  const ctx: TopContext = {
    uptimeSec: uptime,
    ticksPerSec: 100,
    pageBytes: 4096,
    users: idNames(readFileInRoot(root, '/etc/passwd')),
    groups: idNames(readFileInRoot(root, '/etc/group')),
    hostUsers: idNames(read('/etc/passwd')),
    hostGroups: idNames(read('/etc/group')),
  };
  const uidMap = read(`/proc/${rec.pid}/uid_map`);
  const gidMap = read(`/proc/${rec.pid}/gid_map`);
  if (uidMap && !/^\s*0\s+0\s+4294967295\s*$/.test(uidMap)) ctx.uidMap = uidMap;
  if (gidMap && !/^\s*0\s+0\s+4294967295\s*$/.test(gidMap)) ctx.gidMap = gidMap;
  return formatColumns(topRows(procs, descriptors, ctx));
}
