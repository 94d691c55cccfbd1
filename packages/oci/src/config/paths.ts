/**
 * Where the containers tools keep per-user and system state: the same XDG rules podman and
 * containers/image follow. Every function takes the environment explicitly so callers (and tests)
 * can point it anywhere; the default is the process environment.
 */

import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Set by skiff when it re-enters its rootless user namespace: the caller's uid outside. */
export const ROOTLESS_UID_ENV = 'SKIFF_ROOTLESS_UID';

/**
 * The uid the caller has on the host: the effective uid, except inside skiff's rootless user
 * namespace (root there), where it is the uid ROOTLESS_UID_ENV names, provided this process's
 * uid_map really maps root to it. 0 where the platform has no uids.
 */
export function currentUid(): number {
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : 0;
  if (euid !== 0) return euid;
  const outer = process.env[ROOTLESS_UID_ENV];
  if (outer === undefined || !/^[1-9]\d*$/.test(outer)) return 0;
  try {
    const map = readFileSync('/proc/self/uid_map', 'utf8');
    return /^\s*0\s+(\d+)\s+/m.exec(map)?.[1] === outer ? Number(outer) : 0;
  } catch {
    return 0;
  }
}

/** True when running as a non-root user (podman's "rootless"), also inside its user namespace. */
export function isRootless(): boolean {
  return currentUid() !== 0;
}

/** $HOME, else the password database entry. */
export function homeDir(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME;
  return home !== undefined && home !== '' ? home : homedir();
}

/** $XDG_CONFIG_HOME, else ~/.config. */
export function xdgConfigHome(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.XDG_CONFIG_HOME;
  return dir !== undefined && dir !== '' ? dir : join(homeDir(env), '.config');
}

/** $XDG_DATA_HOME, else ~/.local/share. */
export function xdgDataHome(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.XDG_DATA_HOME;
  return dir !== undefined && dir !== '' ? dir : join(homeDir(env), '.local', 'share');
}

/** $XDG_CACHE_HOME, else ~/.cache. */
export function xdgCacheHome(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.XDG_CACHE_HOME;
  return dir !== undefined && dir !== '' ? dir : join(homeDir(env), '.cache');
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * $XDG_RUNTIME_DIR when set; for a rootless user without it, /run/user/UID when that directory
 * exists (what podman falls back to); otherwise undefined (root normally has none and uses /run).
 */
export function xdgRuntimeDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env.XDG_RUNTIME_DIR;
  if (dir !== undefined && dir !== '') return dir;
  if (isRootless()) {
    const fallback = `/run/user/${currentUid()}`;
    if (isDirectory(fallback)) return fallback;
  }
  return undefined;
}
