/**
 * The rootless user namespace, kept as podman keeps it: one long-lived pause process per user
 * (catatonit -P) holds a user namespace (the caller mapped to root, the subordinate ids after
 * it) and a mount namespace; its PID is in RUNTIME_DIR/skiff/pause.pid. A rootless command that
 * changes the store or runs containers re-enters those namespaces with `nsenter`, so every skiff
 * process of the user sees the same overlay mounts and the same ownership of layer files, and
 * detached containers (their conmon was started inside) stay reachable from later commands.
 *
 * The re-entered process learns the caller's uid from ROOTLESS_UID_ENV, checked against its own
 * uid_map (see rootlessCallerUid in config/paths.ts).
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { ROOTLESS_UID_ENV, xdgRuntimeDir } from '../config/paths.js';
import { SkiffError } from '../errors.js';
import { exitCodeOf } from './exec.js';
import { idMapHelpers, subordinateIds, unshareArgs, userNameOf } from './rootless.js';

export interface UserNamespaceOptions {
  env?: NodeJS.ProcessEnv;
  /** The caller's uid (default: the effective uid). */
  uid?: number;
  /** Where pause.pid lives (default RUNTIME_DIR/skiff, or /tmp/skiff-run-UID/skiff). */
  dir?: string;
  subuidFile?: string;
  subgidFile?: string;
}

const PAUSE_CANDIDATES = ['/usr/libexec/podman/catatonit', '/usr/bin/catatonit', '/usr/local/bin/catatonit'];

/** The directory holding pause.pid, created 0700 and checked to be the caller's own. */
export function pauseDir(options: UserNamespaceOptions = {}): string {
  const env = options.env ?? process.env;
  const uid = options.uid ?? process.geteuid?.() ?? 0;
  const dir = options.dir ?? join(xdgRuntimeDir(env) ?? join('/tmp', `skiff-run-${uid}`), 'skiff');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid) {
    throw new SkiffError('ROOTLESS', `${dir} is not a directory owned by uid ${uid}`, {
      hint: 'set XDG_RUNTIME_DIR to a private directory of yours',
    });
  }
  return dir;
}

function nsLink(pid: number | 'self', ns: 'user' | 'mnt'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return undefined;
  }
}

/** The PID in `file` when it is a live process of `uid` holding a user namespace other than ours. */
function livePause(file: string, uid: number): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    if (fs.statSync(`/proc/${pid}`).uid !== uid) return undefined;
  } catch {
    return undefined;
  }
  const ns = nsLink(pid, 'user');
  return ns !== undefined && ns !== nsLink('self', 'user') ? pid : undefined;
}

function pauseCommand(): string[] {
  for (const p of PAUSE_CANDIDATES) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return [p, '-P'];
    } catch {}
  }
  return ['sleep', 'infinity'];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start a pause process in new user and mount namespaces; resolves with its PID once mapped. */
async function startPause(options: UserNamespaceOptions, uid: number): Promise<number> {
  const env = options.env ?? process.env;
  idMapHelpers(env);
  const name = userNameOf(uid);
  const ranges = subordinateIds({
    user: { uid, ...(name ? { name } : {}) },
    ...(options.subuidFile ? { subuidFile: options.subuidFile } : {}),
    ...(options.subgidFile ? { subgidFile: options.subgidFile } : {}),
  });
  const child = spawn('unshare', [...unshareArgs(ranges, { fork: false }), ...pauseCommand()], {
    env,
    cwd: '/',
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  let exited: string | undefined;
  child.on('exit', (code, sig) => {
    exited = sig ? `signal ${sig}` : `code ${code}`;
  });
  const failed = new Promise<never>((_, reject) =>
    child.on('error', (err) =>
      reject(new SkiffError('ROOTLESS', `cannot start unshare: ${err.message}`, { cause: err })),
    ),
  );
  const ready = (async () => {
    const pid = child.pid as number;
    const own = nsLink('self', 'user');
    for (let i = 0; i < 1000; i++) {
      if (exited !== undefined) {
        await sleep(20); // let the last stderr arrive
        throw new SkiffError(
          'ROOTLESS',
          `cannot create the rootless user namespace (unshare exited with ${exited}): ${stderr.trim()}`,
          { hint: 'check /etc/subuid, /etc/subgid and that newuidmap/newgidmap are setuid' },
        );
      }
      // Mapped once the pause command runs: unshare execs it after newuidmap/newgidmap ran.
      const ns = nsLink(pid, 'user');
      let comm = '';
      try {
        comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {}
      if (ns !== undefined && ns !== own && comm !== 'unshare') return pid;
      await sleep(5);
    }
    child.kill('SIGKILL');
    throw new SkiffError('ROOTLESS', 'the rootless user namespace was not ready within 5 s');
  })();
  try {
    return await Promise.race([ready, failed]);
  } finally {
    child.stderr?.destroy();
    child.unref();
  }
}

/**
 * The PID of the user's pause process, started when there is none. Concurrent callers agree on
 * one: the creator holds pause.lock (its PID inside, so a crashed creator's lock is taken over)
 * and publishes pause.pid atomically.
 */
export async function ensurePauseProcess(options: UserNamespaceOptions = {}): Promise<number> {
  const uid = options.uid ?? process.geteuid?.() ?? 0;
  const dir = pauseDir({ ...options, uid });
  const pidFile = join(dir, 'pause.pid');
  const lockFile = join(dir, 'pause.lock');
  for (let attempt = 0; attempt < 1000; attempt++) {
    const live = livePause(pidFile, uid);
    if (live !== undefined) return live;
    let fd: number;
    try {
      fd = fs.openSync(lockFile, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SkiffError('ROOTLESS', `cannot create ${lockFile}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      const holder = Number(fs.readFileSync(lockFile, 'utf8').trim() || '0');
      if (holder > 0 && !fs.existsSync(`/proc/${holder}`)) fs.rmSync(lockFile, { force: true });
      await sleep(10);
      continue;
    }
    try {
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      const again = livePause(pidFile, uid);
      if (again !== undefined) return again;
      const pid = await startPause(options, uid);
      const tmp = `${pidFile}.${process.pid}`;
      fs.writeFileSync(tmp, `${pid}\n`, { mode: 0o600 });
      fs.renameSync(tmp, pidFile);
      return pid;
    } finally {
      fs.rmSync(lockFile, { force: true });
    }
  }
  throw new SkiffError('ROOTLESS', `timed out waiting for ${lockFile}`);
}

/** Signals passed on to the re-entered command (SIGINT from a terminal reaches it directly). */
const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * Run `command args…` inside the user's rootless namespaces as root there, with the caller's
 * stdio, cwd and environment (plus ROOTLESS_UID_ENV); resolves with its exit code.
 */
export async function runInRootlessNamespace(
  command: string,
  args: readonly string[],
  options: UserNamespaceOptions = {},
): Promise<number> {
  const uid = options.uid ?? process.geteuid?.() ?? 0;
  const pid = await ensurePauseProcess({ ...options, uid });
  const env = { ...(options.env ?? process.env), [ROOTLESS_UID_ENV]: String(uid) };
  const child = spawn(
    'nsenter',
    [`--target=${pid}`, '--user', '--mount', `--wd=${process.cwd()}`, '--', command, ...args],
    { env, stdio: 'inherit' },
  );
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  const ignoreInt = () => {};
  for (const s of FORWARDED) process.on(s, forward);
  process.on('SIGINT', ignoreInt);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', (err) =>
        reject(new SkiffError('ROOTLESS', `cannot run nsenter: ${err.message}`, { cause: err })),
      );
      child.on('close', (code, sig) => resolve(exitCodeOf(code, sig)));
    });
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
    process.off('SIGINT', ignoreInt);
  }
}
