/**
 * Named volumes, as podman's local driver keeps them: STORE_ROOT/volumes/NAME/_data, with the
 * volume's metadata in STORE_ROOT/volumes/NAME/volume.json (written atomically). A volume is
 * created on first use by `run -v NAME:/path` (and filled from the image's content at that path
 * when it is new, unless `nocopy`) or by `skiff volume create`. Creation is a mkdir, so two
 * processes racing for one name agree on one volume.
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { SkiffError } from '../errors.js';
import type { StoreLocation } from '../storage/config.js';
import type { ContainerDb } from './containers.js';
import { execFile } from './exec.js';
import { resolveInRoot } from './host.js';
import type { MountSpec } from './options.js';

export interface VolumeInfo {
  name: string;
  /** The _data directory mounted into containers. */
  mountpoint: string;
  created: Date;
  labels: Record<string, string>;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function volumesDir(location: StoreLocation): string {
  return join(location.root, 'volumes');
}

function readMeta(dir: string, name: string): VolumeInfo | undefined {
  try {
    const raw = JSON.parse(fs.readFileSync(join(dir, 'volume.json'), 'utf8')) as {
      created?: string;
      labels?: Record<string, string>;
    };
    return {
      name,
      mountpoint: join(dir, '_data'),
      created: new Date(raw.created ?? 0),
      labels: raw.labels ?? {},
    };
  } catch {
    return undefined;
  }
}

export function getVolume(location: StoreLocation, name: string): VolumeInfo | undefined {
  if (!NAME.test(name)) return undefined;
  return readMeta(join(volumesDir(location), name), name);
}

/**
 * Create a volume (or return the existing one with `created: false` when `ifMissing`). A name in
 * use is refused otherwise, as podman's `volume create`.
 */
export function createVolume(
  location: StoreLocation,
  name: string,
  options: { labels?: Record<string, string>; ifMissing?: boolean } = {},
): { volume: VolumeInfo; created: boolean } {
  if (!NAME.test(name))
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `invalid volume name "${name}": names match [a-zA-Z0-9][a-zA-Z0-9_.-]*`,
    );
  const base = volumesDir(location);
  fs.mkdirSync(base, { recursive: true, mode: 0o700 });
  const dir = join(base, name);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process may be writing its metadata right now: give it a moment.
    for (let i = 0; i < 50; i++) {
      const v = readMeta(dir, name);
      if (v) {
        if (options.ifMissing) return { volume: v, created: false };
        throw new SkiffError('IN_USE', `volume with name ${name} already exists: volume already exists`);
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    throw new SkiffError('STORAGE', `volume ${name} has no metadata (${dir}/volume.json)`);
  }
  fs.mkdirSync(join(dir, '_data'), { mode: 0o755 });
  const meta = JSON.stringify({ name, created: new Date().toISOString(), labels: options.labels ?? {} });
  const tmp = join(dir, `.volume.json.${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, meta);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, join(dir, 'volume.json'));
  return { volume: readMeta(dir, name) as VolumeInfo, created: true };
}

export function listVolumes(location: StoreLocation): VolumeInfo[] {
  let names: string[];
  try {
    names = fs.readdirSync(volumesDir(location));
  } catch {
    return [];
  }
  return names
    .map((n) => getVolume(location, n))
    .filter((v): v is VolumeInfo => v !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The names of the volumes containers use (from their stored mounts). */
export function volumesInUse(db: ContainerDb): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const c of db.list()) {
    const names = (c.config as { volumes?: unknown } | null)?.volumes;
    if (!Array.isArray(names)) continue;
    for (const n of names) if (typeof n === 'string') used.set(n, [...(used.get(n) ?? []), c.id]);
  }
  return used;
}

/** Remove a volume; refused while a container uses it unless `force` (the caller removed those). */
export function removeVolume(location: StoreLocation, db: ContainerDb, name: string, force = false): void {
  const v = getVolume(location, name);
  if (!v) throw new SkiffError('NOT_FOUND', `no volume with name "${name}" found: no such volume`);
  const users = volumesInUse(db).get(name);
  if (users?.length && !force)
    throw new SkiffError(
      'IN_USE',
      `volume ${name} is being used by the following container(s): ${users.join(', ')}: volume is being used`,
    );
  const dir = join(volumesDir(location), name);
  const trash = `${dir}.removing-${randomBytes(4).toString('hex')}`;
  fs.renameSync(dir, trash);
  fs.rmSync(trash, { recursive: true, force: true });
}

/**
 * Resolve the named volumes among `mounts` (creating missing ones): sets each hostPath and
 * returns the names and which were created now (to fill from the image).
 */
export function resolveVolumeMounts(
  location: StoreLocation,
  mounts: MountSpec[],
): { names: string[]; fresh: Array<{ name: string; target: string; hostPath: string }> } {
  const names: string[] = [];
  const fresh: Array<{ name: string; target: string; hostPath: string }> = [];
  for (const m of mounts) {
    if (m.type !== 'volume') continue;
    if (m.name === undefined)
      throw new SkiffError('UNSUPPORTED', `anonymous volumes are not supported yet (${m.target})`, {
        hint: `name it: -v NAME:${m.target}`,
      });
    const { volume, created } = createVolume(location, m.name, { ifMissing: true });
    m.hostPath = volume.mountpoint;
    names.push(m.name);
    if (created && !m.noCopy) fresh.push({ name: m.name, target: m.target, hostPath: volume.mountpoint });
  }
  return { names, fresh };
}

/** Fill a new volume with the image's content at its target (podman's copy-up). */
export async function copyUpVolume(rootfs: string, target: string, hostPath: string): Promise<void> {
  const src = resolveInRoot(rootfs, target);
  if (src === undefined) return;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(src);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  const r = await execFile('cp', ['-a', `${src}/.`, hostPath], { timeoutMs: 120_000 });
  if (r.status !== 0)
    throw new SkiffError('STORAGE', `cannot copy ${target} of the image into its volume: ${r.stderr.trim()}`);
}
