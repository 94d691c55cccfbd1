/**
 * Rootless containers: the caller's subordinate id ranges (/etc/subuid, /etc/subgid), the
 * setuid helpers that install them (newuidmap/newgidmap), and a user namespace with podman's
 * mapping (caller → 0, subordinate ids → 1…) entered through util-linux `unshare`. Also the
 * container user namespace mappings for `--userns host|keep-id|nomap` inside it.
 */

import { type StdioOptions, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { delimiter, join } from 'node:path';
import { SkiffError } from '../errors.js';
import { exitCodeOf } from './exec.js';
import type { IdMapping } from './spec.js';

export interface IdRange {
  start: number;
  count: number;
}

export interface SubIdRanges {
  uids: IdRange[];
  gids: IdRange[];
}

/**
 * The ranges of one user in a subuid/subgid file's text (`NAME_OR_UID:START:COUNT` lines);
 * an entry matches the user's name or their numeric uid.
 */
export function parseSubIdFile(text: string, user: { name?: string; uid: number }): IdRange[] {
  const out: IdRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [who, start, count] = line.split(':');
    if (who === undefined || !/^\d+$/.test(start ?? '') || !/^\d+$/.test(count ?? '')) continue;
    if (who !== user.name && who !== String(user.uid)) continue;
    const r = { start: Number(start), count: Number(count) };
    if (r.count > 0) out.push(r);
  }
  return out;
}

export interface SubIdOptions {
  /** User name (from the password database) and uid. */
  user: { name?: string; uid: number };
  subuidFile?: string;
  subgidFile?: string;
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new SkiffError('ROOTLESS', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The caller's ranges; a ROOTLESS error naming the file when one has none. */
export function subordinateIds(options: SubIdOptions): SubIdRanges {
  const subuid = options.subuidFile ?? '/etc/subuid';
  const subgid = options.subgidFile ?? '/etc/subgid';
  const uids = parseSubIdFile(readOrEmpty(subuid), options.user);
  const gids = parseSubIdFile(readOrEmpty(subgid), options.user);
  const who = options.user.name ?? `uid ${options.user.uid}`;
  for (const [ranges, file] of [
    [uids, subuid],
    [gids, subgid],
  ] as const) {
    if (ranges.length === 0) {
      throw new SkiffError('ROOTLESS', `no subordinate ids for ${who} in ${file}`, {
        hint: `add a range as root, e.g. \`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${options.user.name ?? options.user.uid}\``,
      });
    }
  }
  return { uids, gids };
}

/** The user name of a uid from /etc/passwd (undefined when absent). */
export function userNameOf(uid: number, passwdFile = '/etc/passwd'): string | undefined {
  for (const line of readOrEmpty(passwdFile).split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[2] === String(uid)) return f[0];
  }
  return undefined;
}

/** newuidmap and newgidmap (from the uidmap package), or a ROOTLESS error saying what to install. */
export function idMapHelpers(env: NodeJS.ProcessEnv = process.env): { newuidmap: string; newgidmap: string } {
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/bin', '/sbin'].filter((d) =>
    d.startsWith('/'),
  );
  const find = (name: string) => {
    for (const d of dirs) {
      const p = join(d, name);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return p;
      } catch {}
    }
    throw new SkiffError(
      'ROOTLESS',
      `${name} is not installed: rootless containers need it to map subordinate ids`,
      {
        hint: 'install the uidmap package (apt-get install uidmap)',
      },
    );
  };
  return { newuidmap: find('newuidmap'), newgidmap: find('newgidmap') };
}

/**
 * The outer user namespace as podman makes it: the caller is root (0), the first subordinate
 * range follows from 1. Expressed as util-linux `unshare` arguments; with `fork: false` the
 * command replaces unshare (its PID is the namespace holder's).
 */
export function unshareArgs(ranges: SubIdRanges, options: { fork?: boolean } = {}): string[] {
  const first = (r: IdRange[]) => r[0] as IdRange;
  const u = first(ranges.uids);
  const g = first(ranges.gids);
  return [
    '--user',
    '--map-user=0',
    '--map-group=0',
    `--map-users=${u.start},1,${u.count}`,
    `--map-groups=${g.start},1,${g.count}`,
    '--mount',
    ...(options.fork === false ? [] : ['--fork']),
  ];
}

/** Size of the outer namespace: 1 (the caller) + the first subordinate range. */
export function namespaceSize(ranges: SubIdRanges): { uids: number; gids: number } {
  return { uids: 1 + (ranges.uids[0]?.count ?? 0), gids: 1 + (ranges.gids[0]?.count ?? 0) };
}

export interface UsernsRunOptions {
  ranges: SubIdRanges;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stdio?: StdioOptions;
  /** `unshare` binary (util-linux ≥ 2.38 for --map-users). */
  unshare?: string;
  signal?: AbortSignal;
}

/**
 * Run `command args…` inside a new user (and mount) namespace with podman's mapping, as a
 * child; resolves with its exit code (128+N for signal N). Needs newuidmap/newgidmap.
 */
export function runInUserNamespace(
  command: string,
  args: readonly string[],
  options: UsernsRunOptions,
): Promise<number> {
  idMapHelpers(options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(options.unshare ?? 'unshare', [...unshareArgs(options.ranges), command, ...args], {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: options.stdio ?? 'inherit',
      signal: options.signal,
    });
    child.on('error', (err) =>
      reject(
        new SkiffError('ROOTLESS', `cannot start unshare for a user namespace: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    child.on('close', (code, sig) => resolve(exitCodeOf(code, sig)));
  });
}

export type UsernsMode =
  | { mode: 'host' }
  | { mode: 'keep-id'; uid?: number; gid?: number }
  | { mode: 'nomap' };

/** --userns host | keep-id[:uid=U,gid=G] | nomap. */
export function parseUserns(value: string): UsernsMode {
  if (value === '' || value === 'host') return { mode: 'host' };
  if (value === 'nomap') return { mode: 'nomap' };
  const m = /^keep-id(?::(.*))?$/.exec(value);
  if (m) {
    const r: { mode: 'keep-id'; uid?: number; gid?: number } = { mode: 'keep-id' };
    for (const opt of m[1] ? m[1].split(',') : []) {
      const kv = /^(uid|gid)=(\d+)$/.exec(opt);
      if (!kv)
        throw new SkiffError('INVALID_ARGUMENT', `invalid --userns "${value}": unknown option "${opt}"`);
      r[kv[1] as 'uid' | 'gid'] = Number(kv[2]);
    }
    return r;
  }
  throw new SkiffError('INVALID_ARGUMENT', `invalid --userns "${value}"`, {
    hint: 'use host, keep-id or nomap',
  });
}

/**
 * Mappings for the container's own user namespace, nested in the rootless namespace (where the
 * caller is 0 and subordinate ids are 1…size-1). `host` needs none (the container shares the
 * rootless namespace: its root is the caller). `keep-id`: the caller keeps their uid/gid
 * inside; `nomap`: the caller is not mapped at all. Rootful, only `host` is accepted.
 */
export function usernsMappings(
  mode: UsernsMode,
  caller: { uid: number; gid: number },
  size: { uids: number; gids: number },
  rootless: boolean,
): { uidMappings: IdMapping[]; gidMappings: IdMapping[] } | undefined {
  if (mode.mode === 'host') return undefined;
  if (!rootless) throw new SkiffError('INVALID_ARGUMENT', `--userns ${mode.mode} is only supported rootless`);
  if (mode.mode === 'nomap') {
    return {
      uidMappings: [{ containerID: 0, hostID: 1, size: size.uids - 1 }],
      gidMappings: [{ containerID: 0, hostID: 1, size: size.gids - 1 }],
    };
  }
  const keep = (id: number, total: number): IdMapping[] => {
    if (id >= total)
      throw new SkiffError(
        'INVALID_ARGUMENT',
        `--userns keep-id: id ${id} is outside the ${total} ids available`,
      );
    const maps: IdMapping[] = [];
    // container 0..id-1 ← namespace 1..id; container id ← namespace 0 (the caller); the rest above.
    if (id > 0) maps.push({ containerID: 0, hostID: 1, size: id });
    maps.push({ containerID: id, hostID: 0, size: 1 });
    if (total - 1 - id > 0) maps.push({ containerID: id + 1, hostID: id + 1, size: total - 1 - id });
    return maps;
  };
  return {
    uidMappings: keep(mode.uid ?? caller.uid, size.uids),
    gidMappings: keep(mode.gid ?? caller.gid, size.gids),
  };
}

/** The caller and the id count of the rootless user namespace this process is in (from /proc). */
export interface RootlessNamespaceInfo {
  caller: { uid: number; gid: number };
  size: { uids: number; gids: number };
}

/**
 * Where this process runs as root of a rootless user namespace (skiff's, see userns.ts): the
 * host ids mapped to 0 are the caller's, and the ids mapped in all are the namespace's size.
 * Undefined outside one (the initial namespace maps 0 to 0).
 */
export function rootlessNamespaceInfo(procDir = '/proc/self'): RootlessNamespaceInfo | undefined {
  const read = (file: string) => {
    try {
      return fs
        .readFileSync(join(procDir, file), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/).map(Number) as [number, number, number]);
    } catch {
      return [];
    }
  };
  const uids = read('uid_map');
  const gids = read('gid_map');
  const root = (m: [number, number, number][]) => m.find(([inside]) => inside === 0)?.[1];
  const uid = root(uids);
  const gid = root(gids);
  if (uid === undefined || gid === undefined || uid === 0) return undefined;
  const total = (m: [number, number, number][]) => m.reduce((n, [, , count]) => n + count, 0);
  return { caller: { uid, gid }, size: { uids: total(uids), gids: total(gids) } };
}
