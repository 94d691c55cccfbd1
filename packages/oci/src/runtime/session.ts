/**
 * What every container command needs: the store, its container database and (lazily) the OCI
 * runtime; plus the operations built on run.ts that several commands share (stop with the
 * container's stop signal and timeout, logs from conmon's k8s-file).
 */

import * as fs from 'node:fs';
import { join } from 'node:path';
import { SkiffError } from '../errors.js';
import { resolveStoreLocation } from '../storage/config.js';
import { type OpenStoreOptions, openStore, type Store } from '../storage/store.js';
import { ContainerDb, type ContainerRecord } from './containers.js';
import { storedConfigOf } from './create-flags.js';
import { findRuntime, type OciRuntime } from './discovery.js';
import { signalNumber } from './exec.js';
import { unpauseContainer } from './pause.js';
import { cleanupContainer, containerPaths, killContainer, refreshContainer } from './run.js';

export interface ContainerSession {
  store: Store;
  db: ContainerDb;
  /** The runtime (probed once, cached under the runroot). */
  runtime(): Promise<OciRuntime>;
  /** The record, refreshed; NOT_FOUND with podman's wording when there is none. */
  require(idOrName: string): ContainerRecord;
}

export interface SessionOptions {
  /** --runtime NAME|PATH */
  runtime?: string;
  runtimeFlags?: string[];
  /**
   * The command only reads the image store (exec, stop...: container records are written through
   * their own connection either way): open it read-only, without the clean-up pass and its write
   * lock. A store with no database yet is opened as usual (and so created).
   */
  readOnlyStore?: boolean;
}

export async function withContainerSession<T>(
  storeOptions: OpenStoreOptions,
  fn: (s: ContainerSession) => Promise<T> | T,
  options: SessionOptions = {},
): Promise<T> {
  const store = await openStore(
    options.readOnlyStore && fs.existsSync(join(resolveStoreLocation(storeOptions).root, 'skiff.db'))
      ? { ...storeOptions, readOnly: true }
      : storeOptions,
  );
  let db: ContainerDb | undefined;
  try {
    db = ContainerDb.open(store.location.root);
    const theDb = db;
    let rt: Promise<OciRuntime> | undefined;
    const session: ContainerSession = {
      store,
      db: theDb,
      runtime: () => {
        rt ??= findRuntime({
          runroot: store.location.runroot,
          ...(options.runtime ? { runtime: options.runtime } : {}),
          ...(options.runtimeFlags?.length ? { runtimeFlags: options.runtimeFlags } : {}),
        });
        return rt;
      },
      require: (idOrName) => {
        const rec = theDb.get(idOrName);
        if (!rec)
          throw new SkiffError(
            'NOT_FOUND',
            `no container with name or ID "${idOrName}" found: no such container`,
          );
        return refreshContainer(store, theDb, rec.id) ?? rec;
      },
    };
    return await fn(session);
  } finally {
    db?.close();
    store.close();
  }
}

/**
 * Stop a container: its stop signal (or `signal`), then SIGKILL after `timeoutSec` (the
 * container's --stop-timeout by default). Waits until it has exited and cleans up after it
 * (unmount; with --rm the container is removed, as conmon's exit command would). A container
 * that is not running is left as it is.
 */
export async function stopContainer(
  s: ContainerSession,
  id: string,
  options: { timeoutSec?: number; signal?: string | number } = {},
): Promise<ContainerRecord> {
  const rec = s.require(id);
  const cfg = storedConfigOf(rec.config);
  if (rec.status !== 'running' && rec.status !== 'paused') return rec;
  const runtime = await s.runtime();
  // As podman: a paused container is thawed to take its stop signal.
  if (rec.status === 'paused') await unpauseContainer(s.store, s.db, runtime, rec.id);
  const sig = options.signal ?? cfg.stopSignal ?? 15;
  if (signalNumber(sig) === undefined) throw new SkiffError('INVALID_ARGUMENT', `invalid signal: ${sig}`);
  const timeoutSec = options.timeoutSec ?? cfg.stopTimeoutSec ?? 10;
  const exited = () => refreshContainer(s.store, s.db, rec.id)?.status !== 'running';
  const exitDir = containerPaths(s.store.location, rec.id).exitDir;
  const waitExit = (ms: number) => waitUntil(exited, exitDir, ms);
  markStoppedByUser(rec.bundle, true);
  if (timeoutSec > 0) {
    await killContainer(s.store, s.db, runtime, rec.id, sig).catch((err) => {
      if (!exited()) throw err;
    });
    if (!(await waitExit(timeoutSec * 1000))) {
      await killContainer(s.store, s.db, runtime, rec.id, 'KILL').catch(() => {});
    }
  } else {
    await killContainer(s.store, s.db, runtime, rec.id, 'KILL').catch(() => {});
  }
  if (!(await waitExit(15_000)))
    throw new SkiffError('RUNTIME', `container ${rec.name} did not exit after SIGKILL`);
  // Record a kill the monitor did not report (attached run whose caller is gone).
  await cleanupContainer(s.store, s.db, runtime, rec.id, cfg.autoRemove ? { remove: true } : {}).catch(
    () => {},
  );
  return s.db.get(rec.id) ?? { ...rec, status: 'exited' };
}

/**
 * Resolve true once `done()` holds, false after `timeoutMs`. Checked when `dir` changes (conmon
 * writes its exit file there: no polling delay for a monitored container) and every 50 ms (a
 * container run attached has no exit file).
 */
function waitUntil(done: () => boolean, dir: string, timeoutMs: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    let watcher: fs.FSWatcher | undefined;
    let finished = false;
    const finish = (v: boolean) => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      watcher?.close();
      resolve(v);
    };
    const check = () => {
      if (finished) return;
      if (done()) finish(true);
      else if (Date.now() >= deadline) finish(false);
    };
    const timer = setInterval(check, 50);
    try {
      watcher = fs.watch(dir, check);
      watcher.on('error', () => watcher?.close());
    } catch {
      // No such directory (nothing detached ran yet) or no inotify: the interval does it.
    }
  });
}

export interface LogLine {
  time: Date;
  stream: 'stdout' | 'stderr';
  /** The line's text without its newline (partial lines are joined). */
  text: string;
  /** False when the line had no newline at the end (k8s-file `P`). */
  newline: boolean;
}

/** Parse conmon's k8s-file lines: `TIMESTAMP STREAM F|P TEXT`. */
export function parseK8sLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const a = raw.indexOf(' ');
    const b = raw.indexOf(' ', a + 1);
    const c = raw.indexOf(' ', b + 1);
    if (a < 0 || b < 0) continue;
    const tag = c < 0 ? raw.slice(b + 1) : raw.slice(b + 1, c);
    const stream = raw.slice(a + 1, b) === 'stderr' ? 'stderr' : 'stdout';
    out.push({
      time: new Date(raw.slice(0, a)),
      stream,
      text: c < 0 ? '' : raw.slice(c + 1),
      newline: tag !== 'P',
    });
  }
  return out;
}

/** The container's log file (k8s-file), or undefined with --log-driver none. */
export function logFileOf(s: ContainerSession, rec: ContainerRecord): string | undefined {
  const f = containerPaths(s.store.location, rec.id).logFile;
  return fs.existsSync(f) ? f : undefined;
}

/** `skiff stop` marks the container so that its restart policy does not start it again. */
export function markStoppedByUser(bundle: string, stopped: boolean): void {
  const f = `${bundle}/stopped-by-user`;
  try {
    if (stopped) fs.writeFileSync(f, '');
    else fs.rmSync(f, { force: true });
  } catch {}
}

export function stoppedByUser(bundle: string): boolean {
  return fs.existsSync(`${bundle}/stopped-by-user`);
}
