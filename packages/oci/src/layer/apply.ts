/**
 * Apply a layer tar (gzip, zstd or uncompressed, detected) to a directory, as containers/storage
 * does: regular files, directories, symbolic and hard links, devices and FIFOs, modes, ownership,
 * mtimes, xattrs, whiteouts and opaque directories (as deletions for a plain directory, or as
 * overlay whiteouts for an overlay upper directory).
 *
 * Containment is a security boundary. Every entry name is cleaned relative to the target (a
 * leading `/` is dropped; a `..` that would climb above the target rejects the layer), and every
 * parent component is resolved with lstat, one component at a time, as a chroot would: a symlink
 * met on the way is resolved inside the target (an absolute link restarts at the target, `..`
 * stops at it), never on the host. The last component is never followed: what is there is
 * removed and replaced, files are created with O_EXCL|O_NOFOLLOW. Hard link targets are
 * resolved the same way. Device nodes are only made when running as root.
 *
 * Durability: every file and directory written is on disk before the promise resolves, as
 * podman ensures before it reports a layer: one syncfs of the target's filesystem (measured:
 * ~0.2 s after 20,000 files, where fsyncing each file took ~10 s on this disk), or per-file
 * fsync in parallel batches when syncfs is unavailable or asked for.
 *
 * xattrs (PAX `SCHILY.xattr.*`, overlay's `trusted.overlay.opaque`): Node has no xattr API, so
 * they are set with `setfattr -h` (Debian's attr) when installed, else with one batch run of
 * the system python3 (`os.setxattr(..., follow_symlinks=False)`), else skipped with a warning.
 */

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as tar from 'tar-stream';
import { SkiffError } from '../errors.js';
import type { Digest } from '../spec/digest.js';
import { Coalescer, decompressStream, peekCompression } from './compression.js';
import { resolveInRoot } from './resolve.js';
import { readTar, type TarBody } from './tar-reader.js';
import { LayerWriter } from './write-pool.js';

export interface IdPair {
  uid: number;
  gid: number;
}

export interface ApplyLayerOptions {
  /**
   * How whiteouts are written: `vfs` deletes what they hide from the directory (which holds the
   * lower layers' content); `overlay` records them as overlay does in an upper directory (a 0/0
   * character device for `.wh.NAME`, the opaque xattr for `.wh..wh..opq`).
   */
  whiteouts?: 'vfs' | 'overlay';
  /** Map an entry's owner (rootless: in-image ids to ids the caller may set). */
  mapIds?: (ids: IdPair) => IdPair;
  /** Set ownership (lchown); default: when running as root. */
  chown?: boolean;
  /** Make device nodes; default: when running as root. Skipped with a warning otherwise. */
  devices?: boolean;
  /** The xattr that marks an opaque directory in overlay mode (`user.overlay.opaque` with userxattr). */
  opaqueXattr?: string;
  /**
   * Durability before returning: `syncfs` (default) flushes the target's filesystem with one
   * syncfs(2) (`sync -f`), which covers every file and directory written, falling back to
   * `fsync`; `fsync` fsyncs each file and directory written, in parallel batches; false: none.
   */
  sync?: 'syncfs' | 'fsync' | boolean;
  /**
   * Hash the diffID on a writer thread rather than the thread unpacking: worth it for a layer of
   * large files, where that thread is the busiest; for a layer of many small files the writer
   * threads are. Default false.
   */
  hashOffThread?: boolean;
  /** The diffID the uncompressed tar must have; DIGEST_MISMATCH at the end otherwise. */
  expectedDiffId?: Digest;
  /** Names the layer in errors, e.g. "layer sha256:… of docker://…". */
  what?: string;
  signal?: AbortSignal;
}

export interface ApplyLayerStats {
  /** Regular files written (hard links not counted). */
  files: number;
  /** Bytes of regular file content written. */
  bytes: number;
  /** Size of the uncompressed tar. */
  tarBytes: number;
  /** sha256 of the uncompressed tar, computed while it streamed. */
  diffId: Digest;
  /** What could not be reproduced (devices when not root, xattrs without a tool). */
  warnings: string[];
}

/** Files from this size on are written by the thread unpacking, through the threadpool, not the writer pool. */
const BIG_FILE_BYTES = 256 << 10;

function writeAsync(fd: number, buf: Buffer, off: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, buf, off, len, null, (err, n) => (err ? reject(err) : resolve(n)));
  });
}
const FSYNC_BATCH = 64;
const isRoot = typeof process.geteuid === 'function' && process.geteuid() === 0;
const euid = process.geteuid?.() ?? -1;
const egid = process.getegid?.() ?? -1;
/** The process umask, read once (reading it is a set-and-restore: never while writing files). */
let umaskBits: number | undefined;
function currentUmask(): number {
  umaskBits ??= process.umask();
  return umaskBits;
}

/** Add `name` to the names kept for `dir`; true when `dir` had none yet. */
function addName(byDir: Map<string, Set<string>>, dir: string, name: string): boolean {
  const names = byDir.get(dir);
  if (names) {
    names.add(name);
    return false;
  }
  byDir.set(dir, new Set([name]));
  return true;
}

/**
 * tar-stream decodes PAX values as UTF-8, which corrupts binary xattrs (security.capability).
 * Its PAX decoder is wrapped once so that each `SCHILY.xattr.NAME` record's bytes also travel,
 * latin1-encoded (byte-preserving), under `RAW_XATTR_KEY + NAME` on `header.pax`.
 */
const RAW_XATTR_KEY = '\u0000skiff.raw-xattr.';
// A static import (not createRequire) so that bundlers patch the very module tar-stream uses.
const paxHeaders = tarStreamHeaders as {
  decodePax: (buf: Buffer) => Record<string, string>;
  skiffRawXattrs?: true;
};
if (!paxHeaders.skiffRawXattrs) {
  const decode = paxHeaders.decodePax;
  paxHeaders.decodePax = (buf: Buffer) => {
    const result = decode(buf);
    let rest = buf;
    while (rest.length > 0) {
      const space = rest.indexOf(0x20);
      const len = space > 0 ? Number.parseInt(rest.subarray(0, space).toString('latin1'), 10) : 0;
      if (!len || len > rest.length) break;
      const record = rest.subarray(space + 1, len - 1);
      const eq = record.indexOf(0x3d);
      if (eq > 0) {
        const key = record.subarray(0, eq).toString('utf8');
        if (key.startsWith('SCHILY.xattr.')) {
          result[`${RAW_XATTR_KEY}${key.slice('SCHILY.xattr.'.length)}`] = record
            .subarray(eq + 1)
            .toString('latin1');
        }
      }
      rest = rest.subarray(len);
    }
    return result;
  };
  paxHeaders.skiffRawXattrs = true;
}

/** tar-stream puts an entry's PAX records on `header.pax` (absent from its typings). */
function paxOf(header: tar.Headers): Record<string, string> | undefined {
  const pax = (header as { pax?: unknown }).pax;
  if (typeof pax !== 'object' || pax === null) return undefined;
  return pax as Record<string, string>;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** `join(dir, name)` for a clean absolute `dir` and one plain component (no normalising pass). */
function childPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/**
 * Clean a tar entry name into components relative to the target; a leading `/` is dropped.
 * Returns null when `..` would climb above the target.
 */
export function cleanEntryPath(name: string): string[] | null {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

interface PendingXattr {
  path: string;
  name: string;
  value: Buffer;
}

/** One layer being applied: state shared by the entry handlers. */
class Applier {
  readonly warnings: string[] = [];
  files = 0;
  bytes = 0;
  private readonly dirCache = new Map<string, string>();
  /**
   * What this layer created (or found and kept), by real directory: the names made in it. By
   * directory rather than full path: a name is hashed, not a 60-character path per entry.
   */
  private readonly created = new Map<string, Set<string>>();
  private readonly syncFiles: string[] = [];
  private readonly syncDirs = new Set<string>();
  private readonly dirTimes = new Map<string, { atime: Date; mtime: Date }>();
  private readonly xattrs = new Map<string, PendingXattr[]>();
  private readonly chown: boolean;
  private readonly devices: boolean;
  private readonly overlay: boolean;
  /**
   * Regular files are written by the worker pool (set when the target started empty, so that
   * nothing but what this layer creates can be in the way).
   */
  writer: LayerWriter | undefined;
  /** Files handed to the writer since the last barrier: names by real directory. */
  private readonly pendingFiles = new Map<string, Set<string>>();
  /** Files and directories handed to the writer since the last barrier. */
  private pendingCount = 0;
  /** Directories handed to the writer since the last barrier (the main thread may not see them yet). */
  private pendingDirs = 0;
  /** Directories whose mode has the set-group-ID bit (new files inherit their group). */
  private readonly setgidDirs = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly options: ApplyLayerOptions,
    private readonly what: string,
  ) {
    this.chown = options.chown ?? isRoot;
    this.devices = options.devices ?? isRoot;
    this.overlay = options.whiteouts === 'overlay';
  }

  private fail(message: string, cause?: unknown): SkiffError {
    return new SkiffError(
      'INVALID_ARCHIVE',
      `${this.what}: ${message}`,
      cause === undefined ? {} : { cause },
    );
  }

  /**
   * Resolve components to an absolute path inside the root, following symlinks as a chroot
   * would (inside the root only). With `followLast` false the last component is not followed.
   */
  private resolve(comps: readonly string[], followLast: boolean): string {
    return resolveInRoot(this.root, comps, followLast, () =>
      this.fail(`too many levels of symbolic links at ${comps.join('/')}`),
    );
  }

  /** Wait until every file handed to the writer is on disk. */
  private async drain(): Promise<void> {
    if (!this.writer) return;
    await this.writer.barrier();
    this.pendingFiles.clear();
    this.pendingCount = 0;
    this.pendingDirs = 0;
  }

  /**
   * Whether a directory not resolved yet runs through a file still being written (which must be
   * waited for, to be seen as the file it is).
   */
  private runsThroughPending(parentComps: readonly string[]): boolean {
    // A directory the writer has not made yet would be seen missing (and made here).
    if (this.pendingDirs > 0) return true;
    const dir = this.resolve(parentComps, true);
    for (let p = dir; p.length > this.root.length; p = p.slice(0, p.lastIndexOf('/'))) {
      const at = p.lastIndexOf('/');
      if (this.pendingFiles.get(p.slice(0, at))?.has(p.slice(at + 1))) return true;
    }
    return false;
  }

  /** The real directory an entry's parent components name (created when missing). */
  private parentDir(parentComps: readonly string[], key: string): string {
    const cached = this.dirCache.get(key);
    if (cached !== undefined) return cached;
    const dir = this.resolve(parentComps, true);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(dir);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
    if (!st) {
      this.mkdirs(dir);
    } else if (!st.isDirectory()) {
      throw this.fail(`${key} is not a directory`);
    }
    this.dirCache.set(key, dir);
    return dir;
  }

  /** mkdir -p below the root for a path whose existing prefix holds no symlinks (resolved). */
  private mkdirs(dir: string): void {
    const rel = dir.slice(this.root.length + 1).split('/');
    let cur = this.root;
    for (const c of rel) {
      cur = join(cur, c);
      try {
        fs.mkdirSync(cur, 0o755);
        this.syncDirs.add(cur);
        this.markCreated(cur);
      } catch (err) {
        if (errno(err) !== 'EEXIST') throw err;
        if (!fs.lstatSync(cur).isDirectory())
          throw this.fail(`${cur.slice(this.root.length)} is not a directory`);
      }
    }
  }

  private markCreated(path: string): void {
    let p = path;
    while (p.length > this.root.length) {
      const at = p.lastIndexOf('/');
      if (!this.markChild(p.slice(0, at), p.slice(at + 1))) return;
      p = p.slice(0, at);
    }
  }

  /**
   * Record `name` in `dir` as created; true when `dir` itself is still to be recorded (its first
   * name: the names of a directory are recorded only once the directory is).
   */
  private markChild(dir: string, name: string): boolean {
    return addName(this.created, dir, name);
  }

  /** Whether this layer created `name` in `dir` (a real directory). */
  private hasChild(dir: string, name: string): boolean {
    return this.created.get(dir)?.has(name) === true;
  }

  /** Whether this layer created the real path `path` (the root counts as created). */
  private isCreated(path: string): boolean {
    if (path === this.root) return true;
    const at = path.lastIndexOf('/');
    return this.hasChild(path.slice(0, at), path.slice(at + 1));
  }

  /** Remove whatever is at `path` (not following it). Invalidates resolved directories. */
  private removeExisting(path: string, keepDir: boolean): fs.Stats | undefined {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path);
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
    if (st.isDirectory()) {
      if (keepDir) return st;
      fs.rmSync(path, { recursive: true, force: true });
      this.dirCache.clear();
    } else {
      fs.unlinkSync(path);
      if (st.isSymbolicLink()) this.dirCache.clear();
    }
    this.xattrs.delete(path);
    return undefined;
  }

  private owner(header: tar.Headers): IdPair | undefined {
    if (!this.chown) return undefined;
    const ids = { uid: header.uid ?? 0, gid: header.gid ?? 0 };
    return this.options.mapIds ? this.options.mapIds(ids) : ids;
  }

  private times(header: tar.Headers): { atime: Date; mtime: Date } {
    const mtime = header.mtime ?? new Date(0);
    const pax = paxOf(header);
    const atime = pax?.atime ? new Date(Number(pax.atime) * 1000) : mtime;
    return { atime: Number.isNaN(atime.getTime()) ? mtime : atime, mtime };
  }

  private collectXattrs(path: string, header: tar.Headers): void {
    const pax = paxOf(header);
    if (!pax) return;
    const list: PendingXattr[] = [];
    for (const [key, value] of Object.entries(pax)) {
      if (!key.startsWith('SCHILY.xattr.')) continue;
      const name = key.slice('SCHILY.xattr.'.length);
      const raw = pax[`${RAW_XATTR_KEY}${name}`];
      list.push({
        path,
        name,
        value: raw !== undefined ? Buffer.from(raw, 'latin1') : Buffer.from(value, 'utf8'),
      });
    }
    if (list.length > 0) this.xattrs.set(path, list);
  }

  async entry(header: tar.Headers, body: TarBody): Promise<void> {
    const comps = cleanEntryPath(header.name);
    if (comps === null) throw this.fail(`entry "${header.name}" points outside the layer`);
    const type = header.type ?? 'file';
    if (comps.length === 0) {
      // The root itself ("./"): directories may set its metadata; anything else is refused.
      if (type !== 'directory') throw this.fail(`entry "${header.name}" would replace the layer root`);
      this.applyDirMeta(this.root, header);
      return;
    }
    const base = comps[comps.length - 1]!;
    const parentComps = comps.slice(0, -1);
    const parentKey = parentComps.join('/');
    if (this.pendingCount > 0 && !this.dirCache.has(parentKey) && this.runsThroughPending(parentComps)) {
      await this.drain();
    }
    const parent = this.parentDir(parentComps, parentKey);
    const whiteout = base.startsWith('.wh.');
    const isNew = !this.hasChild(parent, base);
    const isFile = type === 'file' || type === 'contiguous-file';
    // Written by the worker pool: new small files, new directories (the target started empty).
    const pooled =
      this.writer !== undefined &&
      isNew &&
      !whiteout &&
      (type === 'directory' || (isFile && (header.size ?? 0) < BIG_FILE_BYTES));
    if (
      this.pendingCount > 0 &&
      !pooled &&
      ((!isFile && type !== 'directory') || whiteout || !isNew || this.pendingDirs > 0)
    ) {
      // Links, removals and replacements see (and change) what is already written; nothing is
      // made here below a directory the writer has not made yet.
      await this.drain();
    }

    if (whiteout) {
      this.whiteout(parent, base, header.name);
      return;
    }
    const dest = childPath(parent, base);
    switch (type) {
      case 'directory':
        if (pooled) {
          this.pooledDirectory(this.writer!, parent, base, dest, comps.join('/'), header);
          if (this.writer!.pace()) await this.writer!.room();
          return; // recorded as created there
        }
        this.directory(dest, header);
        break;
      case 'file':
      case 'contiguous-file':
        if (pooled) {
          await this.pooledFile(this.writer!, parent, base, dest, header, body);
          return; // recorded as created there
        }
        await this.file(dest, header, body);
        break;
      case 'symlink':
        this.removeExisting(dest, false);
        fs.symlinkSync(header.linkname ?? '', dest);
        this.dirCache.clear();
        this.finishNonFile(dest, header, false);
        break;
      case 'link':
        this.hardLink(dest, header);
        break;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await this.special(dest, header, type);
        break;
      default:
        // pax/gnu headers are consumed by tar-stream; anything else (sparse, multi-volume) is refused.
        throw this.fail(`entry "${header.name}" has unsupported type ${type}`);
    }
    this.markCreated(dest);
    this.syncDirs.add(parent);
  }

  private applyDirMeta(path: string, header: tar.Headers): void {
    const owner = this.owner(header);
    if (owner) fs.lchownSync(path, owner.uid, owner.gid);
    const mode = (header.mode ?? 0o755) & 0o7777;
    fs.chmodSync(path, mode);
    if (mode & 0o2000) this.setgidDirs.add(path);
    else this.setgidDirs.delete(path);
    this.dirTimes.set(path, this.times(header));
    this.collectXattrs(path, header);
    this.syncDirs.add(path);
  }

  /**
   * What a new entry made by the writer pool needs beyond its creation with `perm`: chown to
   * uid/gid and chmod to `mode` (-1: not needed). A new entry is already the caller's, with its
   * permission bits unless the umask took some; in a set-group-ID directory it takes that
   * directory's group (and a new directory its set-group-ID bit). Set-ID and sticky bits are set
   * by the chmod after the chown, which would clear them.
   */
  private pooledMeta(
    header: tar.Headers,
    parent: string,
    defaultMode: number,
    isDir: boolean,
  ): { perm: number; uid: number; gid: number; mode: number } {
    const mode = (header.mode ?? defaultMode) & 0o7777;
    const perm = mode & 0o777;
    const owner = this.owner(header);
    const setgidParent = this.setgidDirs.has(parent);
    const chown = owner && (owner.uid !== euid || owner.gid !== egid || setgidParent);
    const chmod = mode !== perm || (isDir && setgidParent) || (perm & ~currentUmask()) !== perm;
    return {
      perm,
      uid: chown ? owner.uid : -1,
      gid: chown ? owner.gid : -1,
      mode: chmod ? mode : -1,
    };
  }

  /**
   * A new directory through the writer pool (as directory() does, skipping calls that change
   * nothing): the entries below it find it in the directory cache, and their writes queue after
   * it on the same worker.
   */
  private pooledDirectory(
    writer: LayerWriter,
    parent: string,
    base: string,
    dest: string,
    key: string,
    header: tar.Headers,
  ): void {
    const { mode, perm, uid, gid } = this.pooledMeta(header, parent, 0o755, true);
    writer.addDir(dest, perm, uid, gid, mode);
    this.pendingCount += 1;
    this.pendingDirs += 1;
    this.dirCache.set(key, dest);
    if ((header.mode ?? 0o755) & 0o2000) this.setgidDirs.add(dest);
    this.dirTimes.set(dest, this.times(header));
    this.collectXattrs(dest, header);
    this.syncDirs.add(dest);
    this.syncDirs.add(parent);
    if (this.markChild(parent, base)) this.markCreated(parent);
  }

  private directory(dest: string, header: tar.Headers): void {
    const existing = this.removeExisting(dest, true);
    if (!existing) fs.mkdirSync(dest, 0o700);
    this.applyDirMeta(dest, header);
  }

  /** A small regular file through the writer pool: the same calls as file(), fewer when they change nothing. */
  private async pooledFile(
    writer: LayerWriter,
    parent: string,
    base: string,
    dest: string,
    header: tar.Headers,
    body: TarBody,
  ): Promise<void> {
    let content: Buffer[];
    if (Array.isArray(body)) content = body;
    else {
      content = [];
      for await (const chunk of body) content.push(chunk as Buffer);
    }
    let sizeBytes = 0;
    for (const c of content) sizeBytes += c.length;
    const { mode, perm, uid, gid } = this.pooledMeta(header, parent, 0o644, false);
    const t = this.times(header);
    writer.add(
      {
        path: dest,
        perm,
        content,
        sizeBytes,
        uid,
        gid,
        mode,
        atime: t.atime.getTime() / 1000,
        mtime: t.mtime.getTime() / 1000,
      },
      parent,
    );
    addName(this.pendingFiles, parent, base);
    this.pendingCount += 1;
    this.files += 1;
    this.bytes += sizeBytes;
    this.collectXattrs(dest, header);
    this.syncFiles.push(dest);
    this.syncDirs.add(parent);
    if (this.markChild(parent, base)) this.markCreated(parent);
    if (writer.pace()) await writer.room();
  }

  private async file(dest: string, header: tar.Headers, body: TarBody): Promise<void> {
    const flags =
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
    let fd: number;
    try {
      fd = fs.openSync(dest, flags, 0o600);
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
      this.removeExisting(dest, false);
      fd = fs.openSync(dest, flags, 0o600);
    }
    try {
      let written = 0;
      // Large files are written through the threadpool (the main thread keeps decompressing and
      // hashing meanwhile); small ones at once.
      const big = (header.size ?? 0) >= BIG_FILE_BYTES;
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        let off = 0;
        while (off < buf.length) {
          off += big
            ? await writeAsync(fd, buf, off, buf.length - off)
            : fs.writeSync(fd, buf, off, buf.length - off);
        }
        written += buf.length;
      }
      const owner = this.owner(header);
      if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
      fs.fchmodSync(fd, (header.mode ?? 0o644) & 0o7777);
      const t = this.times(header);
      fs.futimesSync(fd, t.atime, t.mtime);
      this.files += 1;
      this.bytes += written;
    } finally {
      fs.closeSync(fd);
    }
    this.collectXattrs(dest, header);
    this.syncFiles.push(dest);
  }

  private finishNonFile(dest: string, header: tar.Headers, chmod: boolean): void {
    const owner = this.owner(header);
    if (owner) fs.lchownSync(dest, owner.uid, owner.gid);
    if (chmod) fs.chmodSync(dest, (header.mode ?? 0o644) & 0o7777);
    const t = this.times(header);
    fs.lutimesSync(dest, t.atime, t.mtime);
    this.collectXattrs(dest, header);
  }

  private hardLink(dest: string, header: tar.Headers): void {
    const linkname = header.linkname ?? '';
    const comps = cleanEntryPath(linkname);
    if (comps === null || comps.length === 0) {
      throw this.fail(`hard link "${header.name}" points outside the layer ("${linkname}")`);
    }
    const target = this.resolve(comps, false);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(target);
    } catch (err) {
      throw this.fail(`hard link "${header.name}": target "${linkname}" does not exist in the layer`, err);
    }
    if (st.isDirectory()) throw this.fail(`hard link "${header.name}": target "${linkname}" is a directory`);
    if (target === dest) return;
    this.removeExisting(dest, false);
    fs.linkSync(target, dest);
  }

  private async special(dest: string, header: tar.Headers, type: string): Promise<void> {
    if (type !== 'fifo' && !this.devices) {
      this.warnings.push(
        `skipped device ${header.name} (${header.devmajor ?? 0}:${header.devminor ?? 0}): device nodes need root`,
      );
      return;
    }
    this.removeExisting(dest, false);
    const kind =
      type === 'fifo'
        ? ['p']
        : [type === 'block-device' ? 'b' : 'c', String(header.devmajor ?? 0), String(header.devminor ?? 0)];
    const ok = await mknod(dest, kind);
    if (!ok.ok) {
      if (type === 'fifo') throw this.fail(`cannot make FIFO ${header.name}: ${ok.error}`);
      this.warnings.push(`skipped device ${header.name}: ${ok.error}`);
      return;
    }
    this.finishNonFile(dest, header, true);
  }

  private whiteout(parent: string, base: string, name: string): void {
    if (base === '.wh..wh..opq') {
      if (this.overlay) {
        const list = this.xattrs.get(parent) ?? [];
        list.push({
          path: parent,
          name: this.options.opaqueXattr ?? 'trusted.overlay.opaque',
          value: Buffer.from('y'),
        });
        this.xattrs.set(parent, list);
        return;
      }
      for (const child of fs.readdirSync(parent)) {
        const p = join(parent, child);
        if (!this.hasChild(parent, child)) this.removeExisting(p, false);
      }
      this.syncDirs.add(parent);
      return;
    }
    if (base.startsWith('.wh..wh.')) return; // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): ignored
    const hidden = base.slice('.wh.'.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw this.fail(`invalid whiteout "${name}"`);
    const path = join(parent, hidden);
    if (this.overlay) {
      this.pendingWhiteouts.push(path);
      return;
    }
    if (!this.hasChild(parent, hidden)) this.removeExisting(path, false);
    this.syncDirs.add(parent);
  }

  private readonly pendingWhiteouts: string[] = [];

  async finish(): Promise<void> {
    await this.drain();
    for (const path of this.pendingWhiteouts) {
      if (this.isCreated(path)) continue; // hides lower content only, never this layer's own entry
      this.removeExisting(path, false);
      const ok = await mknod(path, ['c', '0', '0']);
      if (!ok.ok)
        throw this.fail(`cannot make overlay whiteout ${path.slice(this.root.length)}: ${ok.error}`);
      this.syncDirs.add(path.slice(0, path.lastIndexOf('/')));
    }
    await this.applyXattrs();
    for (const [path, t] of this.dirTimes) {
      try {
        fs.utimesSync(path, t.atime, t.mtime);
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err; // removed later by a whiteout
      }
    }
    const sync = this.options.sync ?? 'syncfs';
    if (sync === false) return;
    if (sync === 'fsync' || !(await syncFilesystem(this.root))) await this.fsyncAll();
  }

  private async applyXattrs(): Promise<void> {
    const all = [...this.xattrs.values()].flat();
    if (all.length === 0) return;
    const tool = xattrTool();
    if (tool === 'none') {
      this.warnings.push(
        `skipped ${all.length} extended attribute(s): neither setfattr (attr) nor python3 is installed`,
      );
      return;
    }
    if (tool === 'setfattr') {
      for (const x of all) {
        const r = await run('setfattr', [
          '-h',
          '-n',
          x.name,
          '-v',
          `0x${x.value.toString('hex')}`,
          '--',
          x.path,
        ]);
        if (!r.ok)
          this.warnings.push(`cannot set xattr ${x.name} on ${x.path.slice(this.root.length)}: ${r.error}`);
      }
      return;
    }
    const input = all.map((x) => JSON.stringify([x.path, x.name, x.value.toString('hex')])).join('\n');
    const r = await run(PYTHON, ['-c', PY_SETXATTR], input);
    if (!r.ok) throw this.fail(`cannot set extended attributes: ${r.error}`);
    for (const line of r.stdout.split('\n')) if (line) this.warnings.push(line);
  }

  private async fsyncAll(): Promise<void> {
    const paths = [...this.syncFiles, ...this.syncDirs];
    for (let i = 0; i < paths.length; i += FSYNC_BATCH) {
      await Promise.all(paths.slice(i, i + FSYNC_BATCH).map((p) => fsyncPath(p)));
    }
    await fsyncPath(this.root);
  }
}

async function fsyncPath(path: string): Promise<void> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ELOOP') return; // replaced or removed later in the layer
    throw err;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * syncfs(2) on the filesystem holding `path` (Node has no binding: coreutils' `sync -f`).
 * Since Linux 5.8 it reports writeback errors. False when it could not be run.
 */
export async function syncFilesystem(path: string): Promise<boolean> {
  const r = await run('sync', ['-f', '--', path]);
  return r.ok;
}

const PYTHON = '/usr/bin/python3';
const PY_SETXATTR = `
import json, os, sys
for line in sys.stdin:
    if not line.strip():
        continue
    p, n, v = json.loads(line)
    try:
        os.setxattr(p, n, bytes.fromhex(v), follow_symlinks=False)
    except OSError as e:
        print("cannot set xattr %s on %s: %s" % (n, p, e.strerror))
`;

import tarStreamHeaders from 'tar-stream/headers.js';

let cachedTool: 'setfattr' | 'python' | 'none' | undefined;
function xattrTool(): 'setfattr' | 'python' | 'none' {
  if (cachedTool) return cachedTool;
  const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  cachedTool = has('setfattr', ['--version'])
    ? 'setfattr'
    : has(PYTHON, ['-c', 'import os; os.setxattr'])
      ? 'python'
      : 'none';
  return cachedTool;
}

function run(
  cmd: string,
  args: string[],
  input?: string,
): Promise<{ ok: boolean; error: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', (err) => resolve({ ok: false, error: err.message, stdout }));
    child.on('close', (code) =>
      resolve({ ok: code === 0, error: stderr.trim() || `exit status ${code}`, stdout }),
    );
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** mknod through coreutils' `mknod` (Node has no mknod): p, or c/b MAJOR MINOR. Mode set after. */
function mknod(path: string, kind: string[]): Promise<{ ok: boolean; error: string }> {
  return run('mknod', ['-m', '0600', '--', path, ...kind]);
}

/**
 * Apply the layer tar `input` (gzip, zstd or uncompressed) to the directory `target`, which
 * must exist. Resolves after every entry is written and synced, with the layer's diffID.
 */
export async function applyLayer(
  target: string,
  input: Readable,
  options: ApplyLayerOptions = {},
): Promise<ApplyLayerStats> {
  const what = options.what ?? `layer applied to ${target}`;
  let root: string;
  try {
    root = fs.realpathSync(target);
    if (!fs.statSync(root).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    input.destroy();
    throw new SkiffError(
      'IO',
      `${what}: target ${target} is not a usable directory: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const applier = new Applier(root, options, what);
  const { compression, stream } = await peekCompression(input);
  const decompress = decompressStream(compression);
  if (fs.readdirSync(root).length === 0) applier.writer = new LayerWriter();
  let read: { sha256: string; bytes: number } | undefined;
  const consume = async (source: AsyncIterable<Buffer>) => {
    read = await readTar(source, (header, body) => applier.entry(header, body), {
      wholeBytes: BIG_FILE_BYTES,
      hashOffThread: options.hashOffThread ?? false,
    });
  };
  const piping = options.signal ? { signal: options.signal } : {};
  try {
    if (compression === 'gzip') await pipeline(stream, new Coalescer(), decompress, consume, piping);
    else await pipeline(stream, decompress, consume, piping);
    await applier.finish();
    await applier.writer?.dispose();
  } catch (err) {
    stream.destroy();
    // Nothing may still be writing into the target once the caller hears of the failure.
    await applier.writer?.dispose();
    if (options.signal?.aborted) throw new SkiffError('ABORTED', `${what}: aborted`, { cause: err });
    if (err instanceof SkiffError) throw err;
    const code = errno(err);
    if (code === 'ENOSPC') {
      throw new SkiffError('IO', `${what}: no space left on device`, { cause: err });
    }
    throw new SkiffError(code ? 'IO' : 'INVALID_ARCHIVE', `${what}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!read) throw new SkiffError('INTERNAL', `${what}: the tar was not read`);
  const diffId: Digest = `sha256:${read.sha256}`;
  if (options.expectedDiffId && options.expectedDiffId !== diffId) {
    throw new SkiffError(
      'DIGEST_MISMATCH',
      `${what}: uncompressed content has digest ${diffId}, expected ${options.expectedDiffId}`,
    );
  }
  return {
    files: applier.files,
    bytes: applier.bytes,
    tarBytes: read.bytes,
    diffId,
    warnings: applier.warnings,
  };
}
