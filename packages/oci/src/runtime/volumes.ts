/**
 * Volumes, as podman's local driver keeps them: STORE_ROOT/volumes/NAME/_data, with the volume's
 * metadata in STORE_ROOT/volumes/NAME/volume.json (written atomically). A volume is created by
 * `skiff volume create`, on first use by `-v NAME:/path`, or anonymously (a random 64-hex name)
 * by `-v /path`, `--mount type=volume` without a source, and the image's VOLUME entries.
 * Creation is a mkdir, so two processes racing for one name agree on one volume.
 *
 * A new volume is filled from the image's content at its target the first time a container
 * mounts it (podman's copy-up: `NeedsCopyUp`), and its root takes that directory's owner and
 * mode, or the container user's when the image has nothing there (`NeedsChown`). Anonymous
 * volumes go with their container on `rm -v` and `--rm`; named ones stay until `volume rm`.
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SkiffError } from '../errors.js';
import type { StoreLocation } from '../storage/config.js';
import { fsyncDirSync, processAlive } from '../storage/fs-util.js';
import type { ContainerDb } from './containers.js';
import { execFile } from './exec.js';
import { resolveInRoot } from './host.js';
import type { MountSpec, VolumeMount } from './options.js';
import type { IdMapping } from './spec.js';

export interface VolumeInfo {
  name: string;
  /** The _data directory mounted into containers. */
  mountpoint: string;
  created: Date;
  labels: Record<string, string>;
  /** Made for one container (`-v /path`, an image VOLUME); removed with it by `rm -v` / `--rm`. */
  anonymous: boolean;
  /** No container has mounted it yet: the image's content at the target will be copied in. */
  needsCopyUp: boolean;
  /** No container has mounted it yet: its root will take the target's owner and mode. */
  needsChown: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const VolumeMetaSchema = z.object({
  name: z.string().optional(),
  created: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  anonymous: z.boolean().optional(),
  needsCopyUp: z.boolean().optional(),
  needsChown: z.boolean().optional(),
});
type VolumeMeta = z.infer<typeof VolumeMetaSchema>;

export function volumesDir(location: StoreLocation): string {
  return join(location.root, 'volumes');
}

/** A name for an anonymous volume: 64 hex digits, as podman's. */
export function randomVolumeName(): string {
  return randomBytes(32).toString('hex');
}

function readMeta(dir: string, name: string): VolumeInfo | undefined {
  let meta: VolumeMeta;
  try {
    const parsed = VolumeMetaSchema.safeParse(JSON.parse(fs.readFileSync(join(dir, 'volume.json'), 'utf8')));
    if (!parsed.success) return undefined;
    meta = parsed.data;
  } catch {
    return undefined;
  }
  return {
    name,
    mountpoint: join(dir, '_data'),
    created: new Date(meta.created ?? 0),
    labels: meta.labels ?? {},
    anonymous: meta.anonymous ?? false,
    needsCopyUp: meta.needsCopyUp ?? false,
    needsChown: meta.needsChown ?? false,
  };
}

function writeMeta(dir: string, v: Omit<VolumeInfo, 'mountpoint'>): void {
  const meta: VolumeMeta = {
    name: v.name,
    created: v.created.toISOString(),
    labels: v.labels,
    ...(v.anonymous ? { anonymous: true } : {}),
    ...(v.needsCopyUp ? { needsCopyUp: true } : {}),
    ...(v.needsChown ? { needsChown: true } : {}),
  };
  const tmp = join(dir, `.volume.json.${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(meta));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, join(dir, 'volume.json'));
  fsyncDirSync(dir);
}

export function getVolume(location: StoreLocation, name: string): VolumeInfo | undefined {
  if (!NAME.test(name)) return undefined;
  return readMeta(join(volumesDir(location), name), name);
}

/**
 * A volume by its full name or a unique prefix of it (podman's lookup: handy for anonymous
 * volumes' 64-hex names); undefined when none matches, INVALID_ARGUMENT when several do.
 */
export function findVolume(location: StoreLocation, nameOrPrefix: string): VolumeInfo | undefined {
  const exact = getVolume(location, nameOrPrefix);
  if (exact || nameOrPrefix === '') return exact;
  const matches = listVolumes(location).filter((v) => v.name.startsWith(nameOrPrefix));
  if (matches.length > 1)
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `more than one result for volume name ${nameOrPrefix}: volume prefix is ambiguous`,
    );
  return matches[0];
}

/**
 * Create a volume (or return the existing one with `created: false` when `ifMissing`). A name in
 * use is refused otherwise, as podman's `volume create`.
 */
export function createVolume(
  location: StoreLocation,
  name: string,
  options: { labels?: Record<string, string>; ifMissing?: boolean; anonymous?: boolean } = {},
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
  try {
    fs.mkdirSync(join(dir, '_data'), { mode: 0o755 });
    writeMeta(dir, {
      name,
      created: new Date(),
      labels: options.labels ?? {},
      anonymous: Boolean(options.anonymous),
      needsCopyUp: true,
      needsChown: true,
    });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
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

/** The volumes a container's record says it mounts (its `config.volumes` / `anonymousVolumes`). */
export function containerVolumeNames(config: unknown): { all: string[]; anonymous: string[] } {
  const c = (config && typeof config === 'object' ? config : {}) as {
    volumes?: unknown;
    anonymousVolumes?: unknown;
  };
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  return { all: strings(c.volumes), anonymous: strings(c.anonymousVolumes) };
}

/** The names of the volumes containers use (from their records), each with the containers' IDs. */
export function volumesInUse(db: ContainerDb): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const c of db.list())
    for (const n of containerVolumeNames(c.config).all) used.set(n, [...(used.get(n) ?? []), c.id]);
  return used;
}

/**
 * Rename the volume away first (to a dot name no listing shows: a removal is all or nothing to
 * readers), then delete it. What a crash leaves behind is deleted by the next prune.
 */
function removeVolumeDir(location: StoreLocation, name: string): void {
  const base = volumesDir(location);
  const trash = join(base, `.removing-${name}-${randomBytes(4).toString('hex')}`);
  fs.renameSync(join(base, name), trash);
  fs.rmSync(trash, { recursive: true, force: true });
}

/** Delete what interrupted removals left (`.removing-*`). */
function removeLeftovers(location: StoreLocation): void {
  let names: string[];
  try {
    names = fs.readdirSync(volumesDir(location));
  } catch {
    return;
  }
  for (const n of names)
    if (n.startsWith('.removing-'))
      fs.rmSync(join(volumesDir(location), n), { recursive: true, force: true });
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
  removeVolumeDir(location, name);
}

/**
 * Remove every volume no container uses (`volume prune`), keeping those `keep` rejects. Returns
 * the names removed. A volume a container starts using meanwhile may be removed under it only
 * as podman's prune may: the in-use check and the removal are not one transaction.
 */
export function pruneVolumes(
  location: StoreLocation,
  db: ContainerDb,
  keep: (v: VolumeInfo) => boolean = () => false,
): string[] {
  removeLeftovers(location);
  const used = volumesInUse(db);
  const removed: string[] = [];
  for (const v of listVolumes(location)) {
    if (used.has(v.name) || keep(v)) continue;
    removeVolumeDir(location, v.name);
    removed.push(v.name);
  }
  return removed;
}

/**
 * After a container's record is gone: remove its anonymous volumes that no other container uses
 * (`rm -v`, `--rm`). Named volumes are never removed here.
 */
export function removeAnonymousVolumes(location: StoreLocation, db: ContainerDb, config: unknown): string[] {
  const { anonymous } = containerVolumeNames(config);
  if (!anonymous.length) return [];
  const used = volumesInUse(db);
  const removed: string[] = [];
  for (const name of anonymous) {
    const v = getVolume(location, name);
    if (!v?.anonymous || used.has(name)) continue;
    removeVolumeDir(location, name);
    removed.push(name);
  }
  return removed;
}

/** podman's --image-volume: what the image's VOLUME entries become. */
export type ImageVolumeMode = 'anonymous' | 'tmpfs' | 'ignore';

export interface VolumePlan {
  /** The mounts for the spec: the caller's, anonymous ones named, the image's VOLUMEs added. */
  mounts: MountSpec[];
  /** Every volume name the container mounts (named and anonymous). */
  volumes: string[];
  /** Those of `volumes` made for this container. */
  anonymous: string[];
}

function normalizeTarget(p: string): string {
  return `/${p
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/')}`;
}

/**
 * Pure: name the anonymous volumes among `mounts` and add one per image VOLUME that no mount
 * already has as its destination (podman's rule), or a tmpfs with `imageVolume: 'tmpfs'`.
 * The mounts are copied, not changed.
 */
export function planVolumes(
  mounts: readonly MountSpec[],
  imageVolumes: readonly string[],
  imageVolume: ImageVolumeMode = 'anonymous',
  newName: () => string = randomVolumeName,
): VolumePlan {
  const out: MountSpec[] = mounts.map((m) => ({ ...m }));
  const targets = new Set(out.map((m) => m.target));
  if (imageVolume !== 'ignore') {
    for (const raw of [...imageVolumes].sort()) {
      if (!raw.startsWith('/')) continue;
      const target = normalizeTarget(raw);
      if (targets.has(target) || target === '/') continue;
      targets.add(target);
      // podman's image tmpfs: empty (no copy-up of the image's content), exec.
      out.push(
        imageVolume === 'tmpfs'
          ? { type: 'tmpfs', target, flags: ['exec', 'notmpcopyup'] }
          : { type: 'volume', target },
      );
    }
  }
  const volumes: string[] = [];
  const anonymous: string[] = [];
  for (const m of out) {
    if (m.type !== 'volume') continue;
    if (m.name === undefined) {
      m.name = newName();
      m.anonymous = true;
      anonymous.push(m.name);
    }
    if (!volumes.includes(m.name)) volumes.push(m.name);
  }
  return { mounts: out, volumes, anonymous };
}

/**
 * Create the planned volumes that do not exist yet and set each volume mount's hostPath.
 * Returns the names created now (for the caller to remove when the container cannot be made).
 */
export function attachVolumes(location: StoreLocation, plan: VolumePlan): string[] {
  const created: string[] = [];
  try {
    for (const m of plan.mounts) {
      if (m.type !== 'volume' || m.name === undefined) continue;
      const r = createVolume(location, m.name, { ifMissing: true, anonymous: Boolean(m.anonymous) });
      m.hostPath = r.volume.mountpoint;
      if (r.created) created.push(m.name);
    }
  } catch (err) {
    discardVolumes(location, created);
    throw err;
  }
  return created;
}

/** Remove volumes this process just created (a failed create): nothing is left behind. */
export function discardVolumes(location: StoreLocation, names: readonly string[]): void {
  for (const n of names) {
    try {
      removeVolumeDir(location, n);
    } catch {}
  }
}

/** A container ID → the ID it has outside the container's user namespace (identity without one). */
export function toHostId(id: number, mappings: readonly IdMapping[] | undefined): number {
  if (!mappings?.length) return id;
  for (const m of mappings)
    if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  throw new SkiffError('INVALID_ARGUMENT', `id ${id} is not mapped into the container's user namespace`);
}

export interface ContainerOwner {
  /** The container process's uid and gid (inside the container). */
  uid: number;
  gid: number;
  userns?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
}

/** Recursively chown a tree, not following symbolic links (podman's `U`). */
export function chownTree(path: string, uid: number, gid: number): void {
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    fs.lchownSync(p, uid, gid);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(join(p, e));
  };
  try {
    walk(path);
  } catch (err) {
    throw new SkiffError('STORAGE', `cannot change the owner of ${path} (U): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Ready a container's volumes and `U` mounts before it runs: a volume not mounted before gets
 * the image's content at its target (unless nocopy) and that directory's owner and mode, or the
 * container user's when the image has nothing there; `U` chowns the source to the container's
 * user and group (mapped through its user namespace). `rootfs` is the container's mounted root.
 */
export async function prepareMountContents(
  location: StoreLocation,
  rootfs: string,
  mounts: readonly MountSpec[],
  owner: ContainerOwner,
): Promise<void> {
  const hostUid = toHostId(owner.uid, owner.userns?.uidMappings);
  const hostGid = toHostId(owner.gid, owner.userns?.gidMappings);
  for (const m of mounts) {
    if (m.type === 'volume' && m.name !== undefined && m.hostPath) {
      const name = m.name;
      const first = getVolume(location, name);
      if (first && (first.needsCopyUp || first.needsChown))
        await withVolumeLock(location, name, async () => {
          // Another container may have initialised it while this one waited for the lock.
          const v = getVolume(location, name);
          if (v && (v.needsCopyUp || v.needsChown))
            await initVolume(location, rootfs, m, v, hostUid, hostGid);
        });
    }
    if (m.type !== 'tmpfs' && m.chown) {
      const src = m.type === 'bind' ? m.source : m.hostPath;
      if (src) chownTree(src, hostUid, hostGid);
    }
  }
}

/**
 * Run `fn` holding the volume's init lock (VOLUME/init.lock, made with O_EXCL and holding the
 * holder's PID): two containers created at once with one new volume copy the image into it
 * once. A lock whose holder died is taken over.
 */
async function withVolumeLock<T>(location: StoreLocation, name: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(volumesDir(location), name, 'init.lock');
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      const fd = fs.openSync(lock, 'wx', 0o600);
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = Number.NaN;
      try {
        holder = Number(fs.readFileSync(lock, 'utf8'));
      } catch {}
      const stale =
        holder > 0
          ? !processAlive(holder)
          : Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 10_000;
      if (stale) fs.rmSync(lock, { force: true });
      else if (Date.now() > deadline)
        throw new SkiffError(
          'STORAGE',
          `volume ${name} is being initialised by process ${holder} for too long`,
        );
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

async function initVolume(
  location: StoreLocation,
  rootfs: string,
  m: VolumeMount,
  v: VolumeInfo,
  hostUid: number,
  hostGid: number,
): Promise<void> {
  const src = resolveInRoot(rootfs, m.target);
  let st: fs.Stats | undefined;
  try {
    st = src === undefined ? undefined : fs.statSync(src);
  } catch {}
  const dir = st?.isDirectory() ? src : undefined;
  let copied = false;
  if (v.needsCopyUp && !m.noCopy && dir !== undefined && fs.readdirSync(v.mountpoint).length === 0) {
    const r = await execFile('cp', ['-a', `${dir}/.`, v.mountpoint], { timeoutMs: 600_000 });
    if (r.status !== 0)
      throw new SkiffError(
        'STORAGE',
        `cannot copy ${m.target} of the image into volume ${v.name}: ${r.stderr.trim()}`,
      );
    copied = true;
  }
  if (v.needsChown) {
    if (st?.isDirectory()) {
      fs.chownSync(v.mountpoint, st.uid, st.gid);
      fs.chmodSync(v.mountpoint, st.mode & 0o7777);
    } else fs.chownSync(v.mountpoint, hostUid, hostGid);
  }
  const needsCopyUp = v.needsCopyUp && !copied && Boolean(m.noCopy);
  writeMeta(join(volumesDir(location), v.name), { ...v, needsCopyUp, needsChown: false });
}

/** podman's `volume inspect` fields (also `volume ls --format json`). */
export function volumeInspectData(v: VolumeInfo): Record<string, unknown> {
  return {
    Name: v.name,
    Driver: 'local',
    Mountpoint: v.mountpoint,
    CreatedAt: v.created.toISOString(),
    Labels: v.labels,
    Scope: 'local',
    Options: {},
    MountCount: 0,
    NeedsCopyUp: v.needsCopyUp,
    NeedsChown: v.needsChown,
    ...(v.anonymous ? { Anonymous: true } : {}),
  };
}

/**
 * `volume ls --filter` / `volume prune --filter`: name=, label=KEY[=VALUE], label!=…, driver=,
 * scope=, dangling=true|false, until=TIMESTAMP. Keys repeat as OR, different
 * keys AND, as podman's. `used` is volumesInUse (for dangling).
 */
export function volumeFilter(
  filters: readonly string[],
  used: ReadonlyMap<string, string[]>,
): (v: VolumeInfo) => boolean {
  const tests = new Map<string, Array<(v: VolumeInfo) => boolean>>();
  const bool = (f: string, val: string): boolean => {
    if (val === 'true' || val === '1') return true;
    if (val === 'false' || val === '0') return false;
    throw new SkiffError('INVALID_ARGUMENT', `invalid filter "${f}": expected true or false`);
  };
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new SkiffError('INVALID_ARGUMENT', `invalid filter "${f}": expected KEY=VALUE`);
    let key = f.slice(0, eq);
    const val = f.slice(eq + 1);
    const negate = key.endsWith('!');
    if (negate) key = key.slice(0, -1);
    let test: (v: VolumeInfo) => boolean;
    if (key === 'name') test = (v) => v.name.includes(val);
    else if (key === 'label') {
      const i = val.indexOf('=');
      const k = i < 0 ? val : val.slice(0, i);
      test = (v) => k in v.labels && (i < 0 || v.labels[k] === val.slice(i + 1));
    } else if (key === 'driver') test = () => val === 'local';
    else if (key === 'scope') test = () => val === 'local';
    else if (key === 'dangling') {
      const want = bool(f, val);
      test = (v) => !used.has(v.name) === want;
    } else if (key === 'until') {
      const t = /^\d+$/.test(val) ? Number(val) * 1000 : Date.parse(val);
      if (Number.isNaN(t))
        throw new SkiffError('INVALID_ARGUMENT', `invalid filter "${f}": "${val}" is not a timestamp`);
      test = (v) => v.created.getTime() < t;
    } else
      throw new SkiffError('INVALID_ARGUMENT', `invalid filter "${f}": unknown key "${key}"`, {
        hint: 'volume filters: name, label, driver, scope, dangling, until',
      });
    const id = negate ? `${key}!` : key;
    tests.set(id, [...(tests.get(id) ?? []), negate ? (v) => !test(v) : test]);
  }
  return (v) =>
    [...tests.entries()].every(([k, list]) =>
      k.endsWith('!') ? list.every((t) => t(v)) : list.some((t) => t(v)),
    );
}
