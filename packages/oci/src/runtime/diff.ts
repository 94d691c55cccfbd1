/**
 * `skiff diff`: what a container changed in its root filesystem, or what an image's top layer
 * changed over its parent, as podman lists it (`A`dded, `C`hanged, `D`eleted paths, sorted).
 *
 * Overlay: the container's upper directory (or the layer's diff directory) is walked; a 0/0
 * character device or an opaque directory there is a deletion, anything else is added unless a
 * lower layer has the path (then changed). vfs: the container's full copy is compared with the
 * image's top layer (a full tree as well). A directory is `C` when its own metadata changed or
 * something below it was added or deleted.
 */

import * as fs from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { SkiffError } from '../errors.js';
import type { Store } from '../storage/store.js';
import type { ContainerDb } from './containers.js';
import { execFile } from './exec.js';
import { containerPaths, mountContainerRootfs } from './run.js';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  kind: ChangeKind;
  /** Absolute path inside the container or image. */
  path: string;
}

/** podman's `--format json`: the paths of each kind, each list only when not empty. */
export interface ChangesJson {
  changed?: string[];
  added?: string[];
  deleted?: string[];
}

/**
 * Paths the runtime creates in every container (mount points, /etc files it bind-mounts):
 * podman leaves them out of a container's diff.
 */
export const CONTAINER_INIT_PATHS: ReadonlySet<string> = new Set([
  '/dev',
  '/etc/hostname',
  '/etc/hosts',
  '/etc/resolv.conf',
  '/etc/mtab',
  '/proc',
  '/run',
  '/run/.containerenv',
  '/run/secrets',
  '/run/notify',
  '/sys',
]);

/** Sort by path (bytewise), one entry per path. */
export function sortChanges(changes: readonly Change[]): Change[] {
  const byPath = new Map<string, Change>();
  for (const c of changes) byPath.set(c.path, c);
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function changesText(changes: readonly Change[]): string {
  return changes.map((c) => `${c.kind} ${c.path}\n`).join('');
}

export function changesJson(changes: readonly Change[]): ChangesJson {
  const pick = (k: ChangeKind) => changes.filter((c) => c.kind === k).map((c) => c.path);
  const out: ChangesJson = {};
  const changed = pick('C');
  const added = pick('A');
  const deleted = pick('D');
  if (changed.length) out.changed = changed;
  if (added.length) out.added = added;
  if (deleted.length) out.deleted = deleted;
  return out;
}

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function sameMeta(a: fs.Stats, b: fs.Stats): boolean {
  return (a.mode & 0o177777) === (b.mode & 0o177777) && a.uid === b.uid && a.gid === b.gid;
}

function sameFile(a: fs.Stats, b: fs.Stats, linkA?: string, linkB?: string): boolean {
  if (!sameMeta(a, b)) return false;
  if (a.isDirectory()) return true;
  if (a.isSymbolicLink()) return linkA === linkB;
  if (a.isCharacterDevice() || a.isBlockDevice()) return a.rdev === b.rdev;
  // Milliseconds: a copy made with utimes(2) from JS keeps no more (cp -a keeps all).
  return a.size === b.size && Math.abs(a.mtimeMs - b.mtimeMs) < 1;
}

export interface DiffResult {
  changes: Change[];
  /** Directories reported `C` only because of their children (for init-path filtering). */
  dirsChangedByChildren: Set<string>;
}

/**
 * Changes recorded in an overlay upper directory over its lower directories (top first).
 * `opaque` lists upper directories (absolute paths) marked opaque.
 */
export function overlayChanges(
  upper: string,
  lowers: readonly string[],
  opaque: ReadonlySet<string> = new Set(),
): DiffResult {
  const changes: Change[] = [];
  const byChildren = new Set<string>();
  const inLower = (rel: string): fs.Stats | undefined => {
    for (const l of lowers) {
      const st = lstat(join(l, rel));
      if (st) return st;
      // A whiteout in a higher lower layer hides the rest; lower layers here are image layers
      // whose whiteouts are 0/0 devices too.
    }
    return undefined;
  };
  const walk = (rel: string): boolean => {
    let any = false;
    for (const name of fs.readdirSync(join(upper, rel)).sort()) {
      const r = `${rel}/${name}`;
      const st = fs.lstatSync(join(upper, r));
      if (isWhiteout(st)) {
        const below = inLower(r);
        if (below && !isWhiteout(below)) {
          changes.push({ kind: 'D', path: r });
          any = true;
        }
        continue;
      }
      const below = inLower(r);
      const existed = below !== undefined && !isWhiteout(below);
      if (st.isDirectory()) {
        const opaqueDir = opaque.has(join(upper, r));
        let childChanged = walk(r);
        if (existed && opaqueDir && below?.isDirectory()) {
          // Everything the lower layers had below it and the upper does not is gone.
          for (const l of lowers) {
            let names: string[] = [];
            try {
              names = fs.readdirSync(join(l, r));
            } catch {}
            for (const n of names) {
              if (lstat(join(upper, r, n))) continue;
              changes.push({ kind: 'D', path: `${r}/${n}` });
              childChanged = true;
            }
          }
        }
        if (!existed) {
          changes.push({ kind: 'A', path: r });
          any = true;
        } else if (!below?.isDirectory() || !sameMeta(st, below)) {
          changes.push({ kind: 'C', path: r });
          any = true;
        } else if (childChanged) {
          changes.push({ kind: 'C', path: r });
          byChildren.add(r);
          any = true;
        }
        continue;
      }
      changes.push({ kind: existed ? 'C' : 'A', path: r });
      any = true;
    }
    return any;
  };
  walk('');
  return { changes: sortChanges(changes), dirsChangedByChildren: byChildren };
}

/** Changes from the tree `oldRoot` to the tree `newRoot` (vfs: both full copies). */
export function treeChanges(oldRoot: string | undefined, newRoot: string): DiffResult {
  const changes: Change[] = [];
  const byChildren = new Set<string>();
  const addAll = (rel: string) => {
    for (const name of fs.readdirSync(join(newRoot, rel)).sort()) {
      const r = `${rel}/${name}`;
      changes.push({ kind: 'A', path: r });
      if (lstat(join(newRoot, r))?.isDirectory()) addAll(r);
    }
  };
  const walk = (rel: string): boolean => {
    if (oldRoot === undefined) {
      addAll(rel);
      return true;
    }
    let any = false;
    const newNames = new Set(fs.readdirSync(join(newRoot, rel)));
    for (const name of fs.readdirSync(join(oldRoot, rel))) {
      if (!newNames.has(name)) {
        changes.push({ kind: 'D', path: `${rel}/${name}` });
        any = true;
      }
    }
    for (const name of [...newNames].sort()) {
      const r = `${rel}/${name}`;
      const n = fs.lstatSync(join(newRoot, r));
      const o = lstat(join(oldRoot, r));
      if (!o) {
        changes.push({ kind: 'A', path: r });
        if (n.isDirectory()) addAll(r);
        any = true;
        continue;
      }
      if (n.isDirectory() && o.isDirectory()) {
        const child = walk(r);
        if (!sameMeta(n, o)) changes.push({ kind: 'C', path: r });
        else if (child) {
          changes.push({ kind: 'C', path: r });
          byChildren.add(r);
        }
        any ||= child || !sameMeta(n, o);
        continue;
      }
      const ln = n.isSymbolicLink() ? fs.readlinkSync(join(newRoot, r)) : undefined;
      const lo = o.isSymbolicLink() ? fs.readlinkSync(join(oldRoot, r)) : undefined;
      if (n.isDirectory() !== o.isDirectory() || !sameFile(n, o, ln, lo)) {
        changes.push({ kind: 'C', path: r });
        if (n.isDirectory()) addAll(r);
        any = true;
      }
    }
    return any;
  };
  walk('');
  return { changes: sortChanges(changes), dirsChangedByChildren: byChildren };
}

/** Drop the runtime's own paths from a container's changes (see CONTAINER_INIT_PATHS). */
export function containerChangesOnly(
  result: DiffResult,
  init: ReadonlySet<string> = CONTAINER_INIT_PATHS,
): Change[] {
  const isInit = (p: string) => {
    for (let q = p; q.length > 1; q = q.slice(0, q.lastIndexOf('/')) || '/') if (init.has(q)) return true;
    return false;
  };
  const kept = result.changes.filter((c) => !isInit(c.path));
  const below = (p: string) => kept.some((c) => c.path.startsWith(`${p}/`));
  // A directory that was `C` only through its children stays only if a kept child remains.
  return kept.filter((c) => !result.dirsChangedByChildren.has(c.path) || below(c.path));
}

/** Upper directories marked opaque (trusted. or user.overlay.opaque = y), read with python3. */
async function opaqueDirs(upper: string, xattr: string): Promise<Set<string>> {
  const script = `
import os, sys
root, name = sys.argv[1], sys.argv[2]
for d, dirs, files in os.walk(root):
    for x in dirs:
        p = os.path.join(d, x)
        try:
            if os.getxattr(p, name, follow_symlinks=False) == b"y":
                print(p)
        except OSError:
            pass
`;
  const r = await execFile('/usr/bin/python3', ['-c', script, upper, xattr], { timeoutMs: 60_000 });
  if (r.status !== 0) return new Set();
  return new Set(r.stdout.split('\n').filter(Boolean));
}

function layerPaths(store: Store, imageId: string, what: string): string[] {
  const image = store.getImage(imageId);
  if (!image) throw new SkiffError('NOT_FOUND', `image ${imageId} of ${what} is not in the store`);
  return image.layers.map((c) => {
    const l = store.getLayer(c);
    if (!l) throw new SkiffError('STORAGE', `layer ${c} of image ${image.id.slice(0, 12)} is missing`);
    return l.path;
  });
}

/**
 * `skiff diff NAME`: a container's changes to its image, or an image's top layer over its
 * parent. Containers are looked up first, as podman does.
 */
export async function diffContainerOrImage(
  store: Store,
  db: ContainerDb,
  nameOrId: string,
): Promise<Change[]> {
  const rec = db.get(nameOrId);
  const overlay = store.location.driver !== 'vfs';
  if (rec) {
    const layers = layerPaths(store, rec.imageId, `container ${rec.name}`);
    const paths = containerPaths(store.location, rec.id);
    let result: DiffResult;
    if (overlay) {
      if (!fs.existsSync(paths.upperDir)) return [];
      const opaque = await opaqueDirs(paths.upperDir, `${db.overlayXattrs()}.overlay.opaque`);
      result = overlayChanges(paths.upperDir, [...layers].reverse(), opaque);
    } else {
      if (!fs.existsSync(paths.vfsRootfs)) return [];
      result = treeChanges(layers.at(-1), paths.vfsRootfs);
    }
    return containerChangesOnly(result);
  }
  const image = store.getImage(nameOrId);
  if (!image)
    throw new SkiffError('NOT_FOUND', `${nameOrId} not found: no container or image with that name or ID`);
  const layers = layerPaths(store, image.id, `image ${nameOrId}`);
  const top = layers.at(-1);
  if (top === undefined) return [];
  const parents = layers.slice(0, -1);
  if (overlay) {
    const opaque = await opaqueDirs(top, `${db.overlayXattrs()}.overlay.opaque`);
    return overlayChanges(top, [...parents].reverse(), opaque).changes;
  }
  return treeChanges(parents.at(-1), top).changes;
}

interface Tree {
  root: string;
  /** A container's root (holds the runtime's mount points and /etc files). */
  container: boolean;
  release(): Promise<void>;
}

/** A read-only merged view of an image's layers (overlay store): the top layer alone, or a mount. */
async function imageTree(store: Store, db: ContainerDb, layers: string[], what: string): Promise<Tree> {
  const top = layers.at(-1);
  if (top === undefined) {
    const empty = fs.mkdtempSync(join(store.location.runroot, 'diff-empty-'));
    return {
      root: empty,
      container: false,
      release: async () => fs.rmSync(empty, { recursive: true, force: true }),
    };
  }
  if (store.location.driver === 'vfs' || layers.length === 1)
    return { root: top, container: false, release: async () => {} };
  const target = fs.mkdtempSync(join(store.location.runroot, 'diff-'));
  // Relative lowerdirs from the layers directory keep the option string short (as run.ts does).
  const cwd = dirname(dirname(top));
  const lower = [...layers].reverse().map((l) => relative(cwd, l));
  const opts = [db.overlayXattrs() === 'user' ? 'userxattr' : undefined, `lowerdir=${lower.join(':')}`]
    .filter(Boolean)
    .join(',');
  const r = await execFile('mount', ['-t', 'overlay', 'overlay', '-o', opts, target], {
    cwd,
    timeoutMs: 60_000,
  });
  if (r.status !== 0) {
    fs.rmSync(target, { recursive: true, force: true });
    throw new SkiffError('STORAGE', `cannot mount the layers of ${what}: ${r.stderr.trim()}`);
  }
  return {
    root: target,
    container: false,
    release: async () => {
      await execFile('umount', [target], { timeoutMs: 60_000 });
      fs.rmSync(target, { recursive: true, force: true });
    },
  };
}

async function treeOf(store: Store, db: ContainerDb, nameOrId: string): Promise<Tree> {
  const rec = db.get(nameOrId);
  if (rec) {
    const root = await mountContainerRootfs(store, db, rec);
    return { root, container: true, release: async () => {} };
  }
  const image = store.getImage(nameOrId);
  if (!image)
    throw new SkiffError('NOT_FOUND', `${nameOrId} not found: no container or image with that name or ID`);
  return imageTree(store, db, layerPaths(store, image.id, `image ${nameOrId}`), `image ${nameOrId}`);
}

/**
 * `skiff diff A B`: what A has that B does not (or has otherwise), each a container (its root
 * filesystem) or an image (its layers merged).
 */
export async function diffBetween(store: Store, db: ContainerDb, a: string, b: string): Promise<Change[]> {
  const first = await treeOf(store, db, a);
  try {
    const second = await treeOf(store, db, b);
    try {
      const result = treeChanges(second.root, first.root);
      return first.container || second.container ? containerChangesOnly(result) : result.changes;
    } finally {
      await second.release();
    }
  } finally {
    await first.release();
  }
}
