/**
 * `skiff pause` / `unpause`: freeze and thaw every process of a running container through the
 * OCI runtime (`RUNTIME pause|resume ID`, the cgroup freezer); the record is `paused` between.
 */

import * as fs from 'node:fs';
import { SkiffError } from '../errors.js';
import { inUserNamespace, type Store } from '../storage/store.js';
import type { ContainerDb, ContainerRecord } from './containers.js';
import type { OciRuntime } from './discovery.js';
import { execFile } from './exec.js';
import { refreshContainer, runtimeStateDir } from './run.js';

/** The cgroup v2 unified hierarchy is mounted at /sys/fs/cgroup (not hybrid v1). */
export function cgroupV2(root = '/sys/fs/cgroup'): boolean {
  return fs.existsSync(`${root}/cgroup.controllers`);
}

/** Why the freezer is unusable for this caller, or undefined when it should work. */
export function freezerUnavailable(facts: { rootless: boolean; cgroupV2: boolean }): string | undefined {
  if (facts.rootless && !facts.cgroupV2)
    return 'can not pause containers on rootless containers with cgroup V1: the cgroup freezer is not delegated to unprivileged users';
  return undefined;
}

function rootless(): boolean {
  return process.geteuid?.() !== 0 || inUserNamespace();
}

async function runtimeCall(
  store: Store,
  runtime: OciRuntime,
  verb: 'pause' | 'resume',
  id: string,
): Promise<{ ok: boolean; stderr: string }> {
  const r = await execFile(
    runtime.path,
    ['--root', runtimeStateDir(store.location, runtime), ...runtime.flags, verb, id],
    { timeoutMs: 30_000 },
  );
  return { ok: r.status === 0, stderr: (r.error?.message ?? r.stderr).trim() };
}

function notFound(id: string): SkiffError {
  return new SkiffError('NOT_FOUND', `no container with name or ID "${id}" found: no such container`);
}

/** Freeze a running container; its record becomes `paused`. */
export async function pauseContainer(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  id: string,
): Promise<ContainerRecord> {
  const rec = refreshContainer(store, db, id);
  if (!rec) throw notFound(id);
  if (rec.status !== 'running')
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `"${rec.status}" is not running, can't pause: container state improper`,
    );
  const why = freezerUnavailable({ rootless: rootless(), cgroupV2: cgroupV2() });
  if (why) throw new SkiffError('UNSUPPORTED', why, { hint: 'run as root, or on a host with cgroup v2' });
  const r = await runtimeCall(store, runtime, 'pause', rec.id);
  if (!r.ok)
    throw new SkiffError('RUNTIME', `${runtime.name} could not pause container ${rec.name}: ${r.stderr}`, {
      ...(/freezer|cgroup/i.test(r.stderr) ? { hint: 'the cgroup freezer is unavailable here' } : {}),
    });
  return db.update(rec.id, { status: 'paused' }, ['running']) ?? rec;
}

/** Thaw a paused container; its record becomes `running` again (or `exited` if it died meanwhile). */
export async function unpauseContainer(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  id: string,
): Promise<ContainerRecord> {
  const rec = db.get(id);
  if (!rec) throw notFound(id);
  if (rec.status !== 'paused')
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `"${rec.id}" is not paused, can't unpause: container state improper`,
    );
  const r = await runtimeCall(store, runtime, 'resume', rec.id);
  // Whatever the runtime said, a container that is no longer frozen is `running` for the record;
  // refreshContainer then notices one that has exited.
  const state = await execFile(
    runtime.path,
    ['--root', runtimeStateDir(store.location, runtime), ...runtime.flags, 'state', rec.id],
    { timeoutMs: 10_000 },
  );
  const stillPaused = state.status === 0 && /"status":\s*"paused"/.test(state.stdout);
  if (!r.ok && stillPaused)
    throw new SkiffError('RUNTIME', `${runtime.name} could not unpause container ${rec.name}: ${r.stderr}`);
  db.update(rec.id, { status: 'running' }, ['paused']);
  return refreshContainer(store, db, rec.id) ?? rec;
}
