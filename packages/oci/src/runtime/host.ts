/**
 * Facts about the calling process and host that the pure spec generator needs (adapters: these
 * read /proc and files so that spec.ts does not), and safe reads of files inside a rootfs.
 */

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { SkiffError } from '../errors.js';
import type { RlimitName, RlimitValue } from './options.js';
import { goArch, parseSeccompProfile, type SeccompProfile } from './seccomp.js';
import type { HostFacts } from './spec.js';

const LIMIT_NAMES: Record<string, RlimitName> = {
  'Max cpu time': 'cpu',
  'Max file size': 'fsize',
  'Max data size': 'data',
  'Max stack size': 'stack',
  'Max core file size': 'core',
  'Max resident set': 'rss',
  'Max processes': 'nproc',
  'Max open files': 'nofile',
  'Max locked memory': 'memlock',
  'Max address space': 'as',
  'Max file locks': 'locks',
  'Max pending signals': 'sigpending',
  'Max msgqueue size': 'msgqueue',
  'Max nice priority': 'nice',
  'Max realtime priority': 'rtprio',
  'Max realtime timeout': 'rttime',
};

/** /proc/self/limits's text → soft and hard limits by name. */
export function parseProcLimits(text: string): HostFacts['rlimits'] {
  const out: HostFacts['rlimits'] = {};
  for (const line of text.split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = LIMIT_NAMES[(m[1] ?? '').trim()];
    if (!name) continue;
    const v = (s: string): RlimitValue => (s === 'unlimited' ? 'unlimited' : Number(s));
    out[name] = { soft: v(m[2] ?? ''), hard: v(m[3] ?? '') };
  }
  return out;
}

/** This process's architecture, rlimits and kernel version. */
export function hostFacts(): HostFacts {
  let limits = '';
  try {
    limits = fs.readFileSync('/proc/self/limits', 'utf8');
  } catch {}
  return { arch: goArch(process.arch), rlimits: parseProcLimits(limits), kernelVersion: release() };
}

export const DEFAULT_SECCOMP_PROFILE = '/usr/share/containers/seccomp.json';

/** What RUNROOT/seccomp-profile.json keeps: a profile that passed the schema, and the file it came from. */
interface SeccompCache {
  file: string;
  /** sha256 of the file's bytes when it was checked. */
  sha256: string;
  profile: SeccompProfile;
}

/**
 * The seccomp profile for `--security-opt seccomp=VALUE`: `unconfined` → none; a file → that
 * profile; undefined → the default profile when installed (none otherwise, as podman warns).
 *
 * With `cacheDir` (the runroot), the profile checked by the last call is kept there with the
 * digest of the file's bytes: while the file reads the same, the next container skips the
 * schema check of its ~400 syscall names (a few ms). The cache is written only after the check
 * passed, beside the bundles the runtime trusts; a mismatch or an unreadable cache means the
 * file is checked again.
 */
export function loadSeccompProfile(value?: string, cacheDir?: string): SeccompProfile | undefined {
  if (value === 'unconfined') return undefined;
  const file = value ?? DEFAULT_SECCOMP_PROFILE;
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (value === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `cannot read seccomp profile ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!cacheDir) return parseSeccompProfile(raw, file);
  const cache = join(cacheDir, 'seccomp-profile.json');
  const sha256 = createHash('sha256').update(raw).digest('hex');
  const hit = readSeccompCache(cache, file, sha256);
  if (hit) return hit;
  const profile = parseSeccompProfile(raw, file);
  writeSeccompCache(cache, { file, sha256, profile });
  return profile;
}

function readSeccompCache(cache: string, file: string, sha256: string): SeccompProfile | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(cache, 'utf8')) as Partial<SeccompCache> | null;
    if (c?.file !== file || c.sha256 !== sha256) return undefined;
    const p = c.profile;
    return p && typeof p === 'object' && typeof p.defaultAction === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}

/** Whole or not at all (temp file + rename); a runroot we cannot write just means no cache. */
function writeSeccompCache(cache: string, c: SeccompCache): void {
  const tmp = `${cache}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(c), { mode: 0o600 });
    fs.renameSync(tmp, cache);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/** catatonit for --init: podman's path first, then Debian's. */
export function findInitBinary(): string {
  for (const p of [
    '/usr/libexec/podman/catatonit',
    '/usr/bin/catatonit',
    '/usr/local/libexec/podman/catatonit',
  ]) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  throw new SkiffError('RUNTIME', '--init needs catatonit, which is not installed', {
    hint: 'apt-get install catatonit',
  });
}

/**
 * The host path of `path` inside a container's root filesystem, resolving symlinks against
 * `root` (absolute links are re-rooted, `..` stops at the root) so nothing leads outside it.
 * undefined when a component does not exist.
 */
export function resolveInRoot(root: string, path: string): string | undefined {
  const parts = path.split('/').filter(Boolean);
  const resolved: string[] = [];
  let hops = 0;
  while (parts.length) {
    const part = parts.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = join(root, ...resolved, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = fs.readlinkSync(host);
      if (target.startsWith('/')) resolved.length = 0;
      parts.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}

/** Read a file of a container's root filesystem (see resolveInRoot); undefined when absent. */
export function readFileInRoot(root: string, path: string, maxBytes = 1 << 20): string | undefined {
  const file = resolveInRoot(root, path);
  if (!file) return undefined;
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.size > maxBytes) return undefined;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Check that a container's command can be run, as the runtime would find it: a path (relative
 * to `cwd`) or the first match in the container's PATH. COMMAND_NOT_FOUND (exit 127) or
 * COMMAND_NOT_EXECUTABLE (exit 126) otherwise, with podman's wording.
 */
export function checkCommandInRoot(root: string, command: string, env: readonly string[], cwd: string): void {
  const isExec = (p: string | undefined): 'ok' | 'missing' | 'noexec' => {
    if (!p) return 'missing';
    try {
      const st = fs.statSync(p);
      if (st.isDirectory()) return 'noexec';
      return st.mode & 0o111 ? 'ok' : 'noexec';
    } catch {
      return 'missing';
    }
  };
  let result: 'ok' | 'missing' | 'noexec';
  if (command.includes('/')) {
    result = isExec(resolveInRoot(root, command.startsWith('/') ? command : `${cwd}/${command}`));
  } else {
    const pathVar =
      env.find((e) => e.startsWith('PATH='))?.slice(5) ??
      '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    result = 'missing';
    for (const dir of pathVar.split(':')) {
      if (!dir.startsWith('/')) continue;
      const r = isExec(resolveInRoot(root, `${dir}/${command}`));
      if (r === 'ok') {
        result = 'ok';
        break;
      }
      if (r === 'noexec') result = 'noexec';
    }
  }
  if (result === 'missing') {
    throw new SkiffError(
      'COMMAND_NOT_FOUND',
      `${command}: executable file not found in $PATH: No such file or directory: OCI runtime attempted to invoke a command that was not found`,
    );
  }
  if (result === 'noexec') {
    throw new SkiffError('COMMAND_NOT_EXECUTABLE', `${command}: permission denied: OCI permission denied`);
  }
}
