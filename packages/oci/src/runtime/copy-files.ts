/**
 * `skiff cp`: copy files between a container's root filesystem and the host, as podman cp.
 * Both directions go through one tar stream (a packer over the source, an extractor at the
 * destination), so `-` (a tar on stdin or stdout) is the same code path with one side cut off.
 *
 * Container paths are resolved inside the rootfs as a chroot would (absolute symlinks re-rooted,
 * `..` stops at the root); the extractor resolves every entry the same way, so nothing — a
 * symlink in the container, an entry of a user's tar — writes outside the rootfs. Files are
 * written to a temporary name in their directory, fsynced, then renamed over the old one.
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { SkiffError } from '../errors.js';
import { cleanEntryPath } from '../layer/apply.js';
import { resolveInRoot } from '../layer/resolve.js';
import type { StoreLocation } from '../storage/config.js';
import { runCommand } from '../storage/fs-util.js';
import type { Store } from '../storage/store.js';
import type { ContainerDb } from './containers.js';
import { containerPaths, mountContainerRootfs, refreshContainer } from './run.js';

/** One side of a copy: a path of a container (`container:path`) or of the host. */
export interface CopyLocation {
  /** The container's name or ID; absent for a host path. */
  container?: string;
  /** The path (`-` alone: a tar stream on stdin or stdout). */
  path: string;
}

/**
 * Split `[container:]path` as podman does: a colon makes a container reference only when what
 * precedes it looks like a name (no `/`, not starting with `.`); `./a:b` is a host path.
 */
export function parseCopyLocation(arg: string): CopyLocation {
  const colon = arg.indexOf(':');
  if (colon <= 0) return { path: arg };
  const head = arg.slice(0, colon);
  if (head.includes('/') || head.startsWith('.')) return { path: arg };
  return { container: head, path: arg.slice(colon + 1) };
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function invalid(message: string, hint?: string): SkiffError {
  return new SkiffError('INVALID_ARGUMENT', message, hint ? { hint } : {});
}

/**
 * The host path of `path` inside `root` (a container's rootfs), following symlinks inside the
 * root only (absolute targets re-rooted, `..` stopping at the root). With `followLast` false a
 * final symlink is not followed. Components that do not exist are kept as written, after every
 * symlink before them was resolved (so a dangling link to /x means ROOT/x, never the link).
 */
export function resolveInRootfs(root: string, path: string, followLast = true): string {
  return resolveInRoot(root, path.split('/'), followLast, () =>
    invalid(`${path}: too many levels of symbolic links in the container`),
  );
}

/** A path as the user wrote it ends with `/` or `/.`: "the directory's contents" / "a directory". */
function endsWithDot(path: string): boolean {
  return path === '.' || path.endsWith('/.');
}

// ---- packing --------------------------------------------------------------------------------

export interface PackOptions {
  /** The name of the top entry in the tar (`.` to pack a directory's contents). */
  name: string;
  /** Follow `source` itself when it is a symlink. */
  followLast?: boolean;
  signal?: AbortSignal;
}

/**
 * A tar stream of `source` (a host path that exists: file, directory tree, symlink, FIFO or
 * device) with the first entry named `name`. Mode, ownership, mtime and hard links are kept.
 */
export function packPath(source: string, options: PackOptions): Readable {
  const pack = tar.pack();
  const links = new Map<string, string>();
  const entry = (header: tar.Headers, body?: Readable): Promise<void> =>
    new Promise((resolve, reject) => {
      const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
      if (body) {
        body.on('error', (err) => {
          sink.destroy(err);
          reject(err);
        });
        body.pipe(sink);
      }
    });
  const walk = async (path: string, name: string, follow: boolean): Promise<void> => {
    if (options.signal?.aborted) throw new SkiffError('ABORTED', 'copy aborted');
    const st = follow ? fs.statSync(path) : fs.lstatSync(path);
    const base = {
      name,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: st.mtime,
    };
    if (st.isDirectory()) {
      await entry({ ...base, type: 'directory' });
      for (const child of fs.readdirSync(path).sort())
        await walk(join(path, child), name === '.' ? child : `${name}/${child}`, false);
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        await entry({ ...base, type: 'link', linkname: first });
        return;
      }
      if (st.nlink > 1) links.set(key, name);
      await entry({ ...base, type: 'file', size: st.size }, fs.createReadStream(path));
    } else if (st.isSymbolicLink()) {
      await entry({ ...base, type: 'symlink', linkname: fs.readlinkSync(path) });
    } else if (st.isFIFO()) {
      await entry({ ...base, type: 'fifo' });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      await entry({
        ...base,
        type: st.isCharacterDevice() ? 'character-device' : 'block-device',
        devmajor: Math.floor(st.rdev / 256) & 0xfff,
        devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
      });
    }
    // Sockets cannot be archived: skipped, as tar does.
  };
  walk(source, options.name, Boolean(options.followLast)).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return pack;
}

// ---- extracting -----------------------------------------------------------------------------

export interface ExtractOptions {
  /**
   * Nothing is written outside this directory; symlinks resolve against it (a container's
   * rootfs, or /proc/PID/root). An absolute path without symlinks in it.
   */
  root: string;
  /** Where entries go (inside `root`; default `root`). */
  dir?: string;
  /** Rename the top entry: entries named `from` or `from/…` land as `to`/`to/…`. */
  rebase?: { from: string; to: string };
  /** Owner of everything written (podman's --archive into a container); default: the tar's. */
  owner?: { uid: number; gid: number };
  /** Set ownership at all (default: when running as root). */
  chown?: boolean;
  /** Replace a directory by a non-directory and the reverse (podman's --overwrite). */
  overwrite?: boolean;
  /** Names errors, e.g. "copying to container web". */
  what?: string;
  signal?: AbortSignal;
}

export interface ExtractStats {
  entries: number;
  warnings: string[];
}

const isRoot = process.geteuid?.() === 0;

class Extractor {
  readonly warnings: string[] = [];
  entries = 0;
  private readonly dirTimes: Array<{ path: string; mtime: Date }> = [];
  private readonly dirPrefix: string[];

  constructor(private readonly options: ExtractOptions & { root: string }) {
    const dir = options.dir ?? options.root;
    const rel = dir === options.root ? '' : dir.slice(options.root.length + 1);
    this.dirPrefix = rel.split('/').filter(Boolean);
  }

  private fail(message: string): SkiffError {
    return new SkiffError('INVALID_ARCHIVE', `${this.options.what ?? 'copying'}: ${message}`);
  }

  private tempName(dir: string): string {
    return join(dir, `.skiff-cp-${process.pid}-${randomBytes(4).toString('hex')}`);
  }

  private owner(h: tar.Headers): { uid: number; gid: number } | undefined {
    if (!(this.options.chown ?? isRoot)) return undefined;
    return this.options.owner ?? { uid: h.uid ?? 0, gid: h.gid ?? 0 };
  }

  /** The existing thing at `dest`, after checking a type change is allowed. */
  private existing(dest: string, name: string, wantDir: boolean): fs.Stats | undefined {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dest);
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
    if (st.isDirectory() !== wantDir && !this.options.overwrite) {
      throw this.fail(
        wantDir
          ? `cannot overwrite non-directory "${name}" with a directory`
          : `cannot overwrite directory "${name}" with a non-directory`,
      );
    }
    return st;
  }

  /** Put a finished temporary file/link in place of `dest` (a directory there is removed first). */
  private replace(tmp: string, dest: string, old: fs.Stats | undefined): void {
    if (old?.isDirectory()) fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(tmp, dest);
  }

  async entry(h: tar.Headers, body: Readable): Promise<void> {
    let comps = cleanEntryPath(h.name);
    if (comps === null) throw this.fail(`entry "${h.name}" points outside the destination`);
    const rebase = this.options.rebase;
    if (rebase) {
      const from = rebase.from === '.' ? [] : rebase.from.split('/').filter(Boolean);
      if (from.every((c, i) => comps?.[i] === c)) comps = [rebase.to, ...comps.slice(from.length)];
    }
    const type = h.type ?? 'file';
    if (comps.length === 0) {
      // The tar's `.`: the destination directory itself; its metadata is left alone.
      if (type !== 'directory') throw this.fail(`entry "${h.name}" would replace the destination`);
      return;
    }
    const root = this.options.root;
    const parent = resolveInRootfs(root, [...this.dirPrefix, ...comps.slice(0, -1)].join('/'));
    try {
      if (!fs.statSync(parent).isDirectory()) throw this.fail(`${dirname(h.name)} is not a directory`);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
      fs.mkdirSync(parent, { recursive: true, mode: 0o755 });
    }
    const name = comps[comps.length - 1] as string;
    const dest = join(parent, name);
    const owner = this.owner(h);
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date();
    this.entries += 1;
    switch (type) {
      case 'directory': {
        const old = this.existing(dest, h.name, true);
        if (old && !old.isDirectory()) fs.unlinkSync(dest);
        if (!old?.isDirectory()) fs.mkdirSync(dest, 0o700);
        if (owner) fs.lchownSync(dest, owner.uid, owner.gid);
        fs.chmodSync(dest, mode);
        this.dirTimes.push({ path: dest, mtime });
        return;
      }
      case 'file':
      case 'contiguous-file': {
        const old = this.existing(dest, h.name, false);
        const tmp = this.tempName(parent);
        const fd = fs.openSync(tmp, 'wx', 0o600);
        try {
          for await (const chunk of body) {
            const buf = chunk as Buffer;
            let off = 0;
            while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
          }
          if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
          fs.fchmodSync(fd, mode);
          fs.futimesSync(fd, mtime, mtime);
          fs.fsyncSync(fd);
        } catch (err) {
          fs.closeSync(fd);
          fs.rmSync(tmp, { force: true });
          throw err;
        }
        fs.closeSync(fd);
        this.replace(tmp, dest, old);
        return;
      }
      case 'symlink': {
        const old = this.existing(dest, h.name, false);
        const tmp = this.tempName(parent);
        fs.symlinkSync(h.linkname ?? '', tmp);
        if (owner) fs.lchownSync(tmp, owner.uid, owner.gid);
        fs.lutimesSync(tmp, mtime, mtime);
        this.replace(tmp, dest, old);
        return;
      }
      case 'link': {
        const target = cleanEntryPath(h.linkname ?? '');
        if (!target?.length) throw this.fail(`hard link "${h.name}" points outside the destination`);
        let tcomps = target;
        if (rebase) {
          const from = rebase.from === '.' ? [] : rebase.from.split('/').filter(Boolean);
          if (from.every((c, i) => target[i] === c)) tcomps = [rebase.to, ...target.slice(from.length)];
        }
        const src = resolveInRootfs(root, [...this.dirPrefix, ...tcomps].join('/'), false);
        const old = this.existing(dest, h.name, false);
        const tmp = this.tempName(parent);
        try {
          fs.linkSync(src, tmp);
        } catch (err) {
          throw this.fail(`hard link "${h.name}" to "${h.linkname}": ${(err as Error).message}`);
        }
        this.replace(tmp, dest, old);
        return;
      }
      case 'fifo':
      case 'character-device':
      case 'block-device': {
        if (type !== 'fifo' && !isRoot) {
          this.warnings.push(`skipped device ${h.name}: device nodes need root`);
          return;
        }
        const old = this.existing(dest, h.name, false);
        const tmp = this.tempName(parent);
        const kind =
          type === 'fifo'
            ? ['p']
            : [type === 'block-device' ? 'b' : 'c', String(h.devmajor ?? 0), String(h.devminor ?? 0)];
        const r = await runCommand('mknod', ['-m', '0600', '--', tmp, ...kind]);
        if (!r.ok) throw this.fail(`cannot make ${h.name}: ${r.stderr}`);
        if (owner) fs.lchownSync(tmp, owner.uid, owner.gid);
        fs.chmodSync(tmp, mode);
        this.replace(tmp, dest, old);
        return;
      }
      default:
        throw this.fail(`entry "${h.name}" has unsupported type ${type}`);
    }
  }

  finish(): void {
    // Deepest first, after their contents, so writing children does not bump a restored time.
    for (const d of this.dirTimes.reverse()) {
      try {
        fs.utimesSync(d.path, d.mtime, d.mtime);
      } catch {}
    }
  }
}

/**
 * Extract the tar `input` into `options.dir` (default `options.root`), contained in
 * `options.root`. Every regular file is written to a temporary name, fsynced and renamed.
 */
export async function extractTar(input: Readable, options: ExtractOptions): Promise<ExtractStats> {
  const root = options.root;
  const dir = options.dir === undefined ? root : options.dir;
  if (dir !== root && !dir.startsWith(`${root}/`))
    throw new SkiffError('INTERNAL', `extraction directory ${dir} is not inside ${root}`);
  const extractor = new Extractor({ ...options, root, dir });
  const extract = tar.extract();
  const piping = pipeline(input, extract, options.signal ? { signal: options.signal } : {});
  let failure: unknown;
  piping.catch((err: unknown) => {
    failure ??= err;
  });
  try {
    for await (const entry of extract) {
      try {
        await extractor.entry(entry.header, entry);
      } finally {
        entry.resume();
      }
    }
    await piping;
  } catch (err) {
    const cause = failure ?? err;
    extract.destroy();
    await piping.catch(() => {});
    if (cause instanceof SkiffError) throw cause;
    throw new SkiffError(
      errno(cause) ? 'IO' : 'INVALID_ARCHIVE',
      `${options.what ?? 'copying'}: ${(cause as Error).message}`,
      { cause },
    );
  } finally {
    extractor.finish();
  }
  return { entries: extractor.entries, warnings: extractor.warnings };
}

// ---- the copy plan ----------------------------------------------------------------------------

/** A resolved side of a copy: `root` is the container's rootfs (absent: the host). */
export interface CopyEndpoint {
  root?: string;
  /** The path as the user gave it (inside the container, or on the host). */
  path: string;
  /** Names the side in messages ("container web", "the host"). */
  what: string;
}

export interface CopySource {
  /** The host path to pack (already resolved inside the rootfs). */
  hostPath: string;
  /** Whether a trailing `/.` asked for a directory's contents. */
  contentsOnly: boolean;
  isDir: boolean;
  /** The name the tar's top entry gets (`.` for contents). */
  name: string;
  followLast: boolean;
}

/** Resolve the source side (it must exist). */
export function resolveCopySource(src: CopyEndpoint): CopySource {
  const trailing = src.path.endsWith('/') || endsWithDot(src.path);
  const followLast = trailing;
  const hostPath = src.root
    ? resolveInRootfs(src.root, src.path, followLast)
    : resolvePath(src.path.replace(/\/\.$/, '/'));
  let st: fs.Stats;
  try {
    st = followLast ? fs.statSync(hostPath) : fs.lstatSync(hostPath);
  } catch (err) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR')
      throw new SkiffError(
        'NOT_FOUND',
        `"${src.path}" could not be found on ${src.what}: no such file or directory`,
      );
    throw new SkiffError('IO', `${src.path} on ${src.what}: ${(err as Error).message}`, { cause: err });
  }
  const contentsOnly = st.isDirectory() && endsWithDot(src.path);
  if (!st.isDirectory() && trailing) throw invalid(`"${src.path}" on ${src.what} is not a directory`);
  const name = contentsOnly
    ? '.'
    : src.root && src.path.split('/').filter((c) => c && c !== '.').length === 0
      ? '.'
      : basename(hostPath) || '.';
  return { hostPath, contentsOnly, isDir: st.isDirectory(), name, followLast };
}

export interface CopyTarget {
  /** Where to extract (a directory that exists, inside `root`). */
  dir: string;
  /** The containment root for extraction. */
  root: string;
  /** Rename of the source's top entry (source name → destination name). */
  rebase?: { from: string; to: string };
}

/**
 * podman cp's destination rules: an existing directory receives the source (or its contents
 * with `SRC/.`); an existing file is replaced by a file; a missing path is created (its
 * parent must exist, and a path ending in `/` must be an existing directory).
 */
export function resolveCopyTarget(dst: CopyEndpoint, source: Pick<CopySource, 'isDir' | 'name'>): CopyTarget {
  const trailing = dst.path.endsWith('/') || endsWithDot(dst.path);
  const root = dst.root ?? '/';
  const hostPath = dst.root ? resolveInRootfs(dst.root, dst.path, true) : resolvePath(dst.path);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(hostPath);
  } catch (err) {
    if (errno(err) !== 'ENOENT')
      throw new SkiffError('IO', `${dst.path} on ${dst.what}: ${(err as Error).message}`);
  }
  if (st?.isDirectory()) return containedTarget(dst, root, hostPath);
  if (st) {
    if (source.isDir)
      throw invalid(
        `cannot copy a directory to "${dst.path}" on ${dst.what}: destination is not a directory`,
      );
    return containedTarget(dst, root, dirname(hostPath), { from: source.name, to: basename(hostPath) });
  }
  if (trailing && !source.isDir)
    throw new SkiffError('NOT_FOUND', `"${dst.path}" could not be found on ${dst.what}: no such directory`);
  const parent = dirname(hostPath);
  let pst: fs.Stats | undefined;
  try {
    pst = fs.statSync(parent);
  } catch {}
  if (!pst?.isDirectory())
    throw new SkiffError(
      'NOT_FOUND',
      `"${dirname(dst.path.replace(/\/+$/, '')) || '/'}" could not be found on ${dst.what}: no such file or directory`,
    );
  return containedTarget(dst, root, parent, { from: source.name, to: basename(hostPath) });
}

function containedTarget(
  dst: CopyEndpoint,
  root: string,
  dir: string,
  rebase?: { from: string; to: string },
): CopyTarget {
  // In a container `dir` was resolved inside its root already (and /proc/PID/root must not go
  // through realpath, which would name the host's directories); on the host the destination
  // directory itself is the boundary.
  if (dst.root) return { dir, root, ...(rebase ? { rebase } : {}) };
  const realDir = fs.realpathSync(dir);
  return { dir: realDir, root: realDir, ...(rebase ? { rebase } : {}) };
}

export interface CopyOptions {
  /** Owner for files written into a container (podman's --archive: the container's user). */
  owner?: { uid: number; gid: number };
  overwrite?: boolean;
  signal?: AbortSignal;
}

/** Copy `src` to `dst` (either may be in a container, given by its mounted rootfs). */
export async function copyPath(
  src: CopyEndpoint,
  dst: CopyEndpoint,
  options: CopyOptions = {},
): Promise<ExtractStats> {
  const source = resolveCopySource(src);
  const target = resolveCopyTarget(dst, source);
  const stream = packPath(source.hostPath, {
    name: source.name,
    followLast: source.followLast,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return extractTar(stream, {
    root: target.root,
    dir: target.dir,
    ...(target.rebase ? { rebase: target.rebase } : {}),
    ...(options.owner ? { owner: options.owner } : {}),
    ...(options.overwrite ? { overwrite: true } : {}),
    what: `copying ${src.path} to ${dst.path} on ${dst.what}`,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** `cp SRC -`: the tar stream of `src` (for stdout). */
export function copyToStream(src: CopyEndpoint, options: { signal?: AbortSignal } = {}): Readable {
  const source = resolveCopySource(src);
  const out = new PassThrough();
  const pack = packPath(source.hostPath, {
    name: source.name,
    followLast: source.followLast,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  pack.on('error', (err) => out.destroy(err));
  return pack.pipe(out);
}

/** `cp - DST`: extract a tar stream into `dst`, which must be an existing directory. */
export async function copyFromStream(
  input: Readable,
  dst: CopyEndpoint,
  options: CopyOptions = {},
): Promise<ExtractStats> {
  const hostPath = dst.root ? resolveInRootfs(dst.root, dst.path, true) : resolvePath(dst.path);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(hostPath);
  } catch {}
  if (!st?.isDirectory()) {
    input.destroy();
    throw invalid(`destination "${dst.path}" on ${dst.what} must be a directory when copying from stdin`);
  }
  const target = containedTarget(dst, dst.root ?? '/', hostPath);
  return extractTar(input, {
    root: target.root,
    dir: target.dir,
    ...(options.owner ? { owner: options.owner } : {}),
    ...(options.overwrite ? { overwrite: true } : {}),
    what: `copying a tar stream to ${dst.path} on ${dst.what}`,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

// ---- containers -------------------------------------------------------------------------------

/** The container's primary user (its process user in config.json; root when unknown). */
function containerOwner(location: StoreLocation, id: string): { uid: number; gid: number } {
  try {
    const spec = JSON.parse(fs.readFileSync(containerPaths(location, id).configFile, 'utf8')) as {
      process?: { user?: { uid?: unknown; gid?: unknown } };
    };
    const uid = spec.process?.user?.uid;
    const gid = spec.process?.user?.gid;
    return { uid: typeof uid === 'number' ? uid : 0, gid: typeof gid === 'number' ? gid : 0 };
  } catch {
    return { uid: 0, gid: 0 };
  }
}

interface OpenedRoot {
  endpoint: CopyEndpoint;
  owner: { uid: number; gid: number };
}

/**
 * A container's root for a copy: a running container's as its processes see it; a created or
 * exited one's rootfs, mounted here as the runtime code does, which stays mounted (as after
 * create) until the container is cleaned up or removed: unmounting after the copy could pull
 * the rootfs from under a concurrent copy or start.
 */
async function openRoot(store: Store, db: ContainerDb, loc: CopyLocation): Promise<OpenedRoot> {
  if (loc.container === undefined)
    return {
      endpoint: { path: loc.path, what: 'the host' },
      owner: { uid: 0, gid: 0 },
    };
  const rec = refreshContainer(store, db, loc.container);
  if (!rec)
    throw new SkiffError(
      'NOT_FOUND',
      `no container with name or ID "${loc.container}" found: no such container`,
    );
  // A running (or paused) container is reached through its init's root: the container's own
  // view, its volumes, tmpfs and /etc files included. Otherwise its rootfs is mounted.
  const live = (rec.status === 'running' || rec.status === 'paused') && rec.pid !== undefined;
  const procRoot = live ? `/proc/${rec.pid}/root` : undefined;
  const root =
    procRoot && fs.existsSync(`${procRoot}/`) ? procRoot : await mountContainerRootfs(store, db, rec);
  const path = loc.path === '' ? '/' : loc.path;
  return {
    endpoint: { root, path, what: `container ${rec.name}` },
    owner: containerOwner(store.location, rec.id),
  };
}

export interface ContainerCopyOptions {
  /** podman's --archive (default true): files written into a container belong to its user. */
  archive?: boolean;
  overwrite?: boolean;
  /** Where `-` reads a tar (source `-`). */
  stdin?: Readable;
  /** Where `-` writes a tar (destination `-`). */
  stdout?: NodeJS.WritableStream;
  signal?: AbortSignal;
}

/**
 * `skiff cp SRC DST`: between a container and the host, two containers, or a tar stream (`-`)
 * and a container. At least one side must be a container, as podman requires.
 */
export async function copyContainerFiles(
  store: Store,
  db: ContainerDb,
  src: CopyLocation,
  dst: CopyLocation,
  options: ContainerCopyOptions = {},
): Promise<ExtractStats | undefined> {
  if (src.container === undefined && dst.container === undefined)
    throw invalid(
      'copying between two local paths is not supported: one side must be CONTAINER:PATH',
      'use cp(1) on the host',
    );
  if (src.container === undefined && src.path === '-' && dst.container === undefined)
    throw invalid('a tar stream from stdin can only be copied into a container');
  const from = await openRoot(store, db, src);
  const to = await openRoot(store, db, dst);
  const owner = dst.container !== undefined && options.archive !== false ? to.owner : undefined;
  const common = {
    ...(owner ? { owner } : {}),
    ...(options.overwrite ? { overwrite: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  if (src.container === undefined && src.path === '-') {
    if (!options.stdin) throw invalid('no standard input to read a tar stream from');
    return copyFromStream(options.stdin, to.endpoint, common);
  }
  if (dst.container === undefined && dst.path === '-') {
    if (!options.stdout) throw invalid('no standard output to write a tar stream to');
    const stream = copyToStream(from.endpoint, options.signal ? { signal: options.signal } : {});
    await pipeline(stream, options.stdout, { end: false });
    return undefined;
  }
  return copyPath(from.endpoint, to.endpoint, common);
}
