/**
 * The local store shared by skiff, wright and ferry (containers/storage's role): blobs by
 * digest, unpacked layers by chain ID (shared between images), image records with names, all
 * described by one SQLite database.
 *
 * Crash safety: blobs and layers are written under tmp/PID-… names, synced, then renamed into
 * place and registered in the same IMMEDIATE transaction (the rename happens while holding the
 * write lock, so no other process can see a renamed-but-unregistered entry and mistake it for
 * an orphan). A kill -9 at any point leaves either nothing registered (and a temp entry or an
 * orphan that the next open removes) or a fully registered object. Images are registered in
 * one transaction after all their layers are. Layout under the root:
 *
 *   skiff.db                      metadata (WAL)
 *   blobs/sha256/HEX              blobs as pulled (compressed layers, configs)
 *   layers/HEX/                   vfs: the full root filesystem of that chain
 *   layers/HEX/diff/              overlay: this layer's own changes (overlay whiteouts)
 *   tmp/PID-RANDOM-what           in-progress writes
 */

import * as fs from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SkiffError } from '../errors.js';
import type { IdPair } from '../layer/apply.js';
import { chainIdOf, type Digest, DigestVerifier, digestOf, isDigest, parseDigest } from '../spec/digest.js';
import { type ImageManifest, parseImageConfig, parseManifest } from '../spec/manifest.js';
import type { ImageConfig } from '../spec/schemas.js';
import {
  resolveStoreLocation,
  type StorageDriver,
  type StoreLocation,
  type StoreLocationOptions,
} from './config.js';
import { type Db, fixedSetting, openDb } from './db.js';
import {
  errnoOf,
  fsyncDirSync,
  fsyncFile,
  fsyncTree,
  ioError,
  mkdirs,
  processAlive,
  runCommand,
  tempOwner,
  tempPath,
} from './fs-util.js';
import { parseLabels } from './image-records.js';

/** Layer blobs from this size on are synced with their unpacked layer (putBlob). */
const SHARED_SYNC_BLOB_BYTES = 32 << 20;
/** Layer blobs from this size on have their diffID hashed off the unpacking thread. */
const OFF_THREAD_HASH_BLOB_BYTES = 16 << 20;
/** The layer unpacker (tar, decompression, its worker pool) loads on the first pull: commands
 * that only read the store or run containers never compile it. */
const loadLayerApply = (): Promise<typeof import('../layer/apply.js')> => import('../layer/apply.js');

export interface OpenStoreOptions extends StoreLocationOptions {
  /** Map in-image owners when unpacking (rootless outside a user namespace). */
  mapIds?: (ids: IdPair) => IdPair;
  /** Skip the cleanup pass (read-only use); the store must exist. */
  readOnly?: boolean;
  /** How long to wait for another process's transaction (default 60 s). */
  busyTimeoutMs?: number;
}

export interface BlobInfo {
  digest: Digest;
  sizeBytes: number;
  mediaType?: string;
}

export interface PutBlobOptions {
  /** The digest the bytes must have; verified while streaming. */
  digest?: Digest;
  /** Expected size, -1/undefined when unknown. */
  sizeBytes?: number;
  mediaType?: string;
  signal?: AbortSignal;
  /**
   * The caller checks `digest` and `sizeBytes` upstream and fails the stream on a mismatch (the
   * copy engine does): the bytes are counted, not hashed a second time.
   */
  verified?: boolean;
}

export interface LayerInfo {
  chainId: Digest;
  parent?: Digest;
  diffId: Digest;
  blobDigest?: Digest;
  /** Bytes of file content in this layer. */
  sizeBytes: number;
  files: number;
  /** vfs: the layer's full root filesystem; overlay: its diff directory (a lowerdir). */
  path: string;
}

export interface ImageInfo {
  /** The config digest's hex, as containers/storage names images. */
  id: string;
  names: string[];
  manifestDigest: Digest;
  manifest: Buffer;
  manifestMediaType: string;
  config: Buffer;
  /** Chain IDs bottom to top. */
  layers: Digest[];
  /** From the config. */
  created?: string;
  /** Unpacked size of all layers. */
  sizeBytes: number;
  added: Date;
  /** The config's Labels (empty when it has none). */
  labels: Record<string, string>;
}

export interface PutImageInput {
  /** The image manifest bytes as pulled (kept byte for byte) and its media type. */
  manifest: Buffer;
  mediaType?: string;
  /** Names (tags) to give it; a name held by another image moves to this one. */
  names?: string[];
}

export interface RemoveResult {
  /** Names removed. */
  untagged: string[];
  /** Whether the image itself was deleted (false when only a name was removed). */
  deleted: boolean;
  removedLayers: number;
  removedBlobs: number;
}

export interface ImageMount {
  path: string;
  /** Unmount (overlay) and remove the mount point; a no-op for vfs. */
  unmount(): Promise<void>;
}

export interface CheckReport {
  ok: boolean;
  problems: string[];
  /** Orphans and dead temp entries found (removed by the next writable open). */
  leftovers: string[];
}

export interface Store {
  readonly location: StoreLocation;
  hasBlob(digest: Digest): boolean;
  blobInfo(digest: Digest): BlobInfo | undefined;
  getBlob(digest: Digest): { stream: Readable; sizeBytes: number };
  putBlob(stream: Readable, options?: PutBlobOptions): Promise<BlobInfo>;
  getLayer(chainId: Digest): LayerInfo | undefined;
  /** Unpack a layer on top of `parent` (idempotent by chain ID; `open` is called only when needed). */
  applyLayer(
    parent: Digest | undefined,
    diffId: Digest,
    blobDigest: Digest | undefined,
    open: () => Readable | Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<LayerInfo>;
  putImage(input: PutImageInput): ImageInfo;
  getImage(nameOrId: string): ImageInfo | undefined;
  /** The image whose manifest has this digest (the newest when several do). */
  findImageByManifest(manifestDigest: Digest): ImageInfo | undefined;
  listImages(): ImageInfo[];
  tag(nameOrId: string, name: string): void;
  untag(name: string): void;
  removeImage(nameOrId: string, options?: { force?: boolean }): RemoveResult;
  /**
   * Remove blobs and layers no image uses that were added more than `olderThanMs` ago (default
   * one hour, so a pull in progress in another process keeps what it already wrote).
   */
  collectGarbage(options?: { olderThanMs?: number }): { removedLayers: number; removedBlobs: number };
  check(): Promise<CheckReport>;
  /**
   * A read-only view of an image's root filesystem. overlay: a kernel overlay mount of the
   * layers' diff directories (lowerdir chain) under the runroot; vfs: the top layer's directory.
   */
  mountImage(nameOrId: string, options?: { target?: string }): Promise<ImageMount>;
  close(): void;
}

/** A layer's chain ID (defined by the OCI spec: spec/digest.ts). */
export { chainIdOf };

interface LayerRow {
  chain_id: string;
  parent: string | null;
  diff_id: string;
  blob_digest: string | null;
  size: number;
  files: number;
}

interface ImageRow {
  id: string;
  manifest_digest: string;
  manifest: Buffer;
  manifest_media_type: string;
  config: Buffer;
  created: string | null;
  size: number;
  added: number;
  labels?: string | null;
}

const MAX_CONFIG_BYTES = 16 << 20;

/** A layer blob unpacked while it was written, not registered yet. */
interface EarlyLayer {
  /** The temp layer directory (its diff/ holds the tree). */
  dir: string;
  diffId: Digest;
  bytes: number;
  files: number;
  /** The store's sync count when its writes were done (see durable()). */
  syncMark: number;
}

/** OCI and Docker layer media types (tar, gzip, zstd; foreign and non-distributable too). */
function isLayerMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && /\.layer\.v1\.tar|\.rootfs\.(diff|foreign\.diff)\.tar/.test(mediaType);
}

class LocalStore implements Store {
  private readonly db: Db;
  private readonly blobsDir: string;
  private readonly layersDir: string;
  private readonly tmpDir: string;
  private closed = false;
  /** Layers this process is unpacking, by chain ID (concurrent callers share the work). */
  private readonly unpacking = new Map<string, Promise<LayerInfo>>();
  /**
   * overlay: layer blobs unpacked while they were written (putBlob), by blob digest, waiting
   * for applyLayer to register them (a temp directory each; removed on close when unclaimed).
   */
  private readonly early = new Map<string, EarlyLayer>();
  /** syncfs runs started by this process, and the one running (durable()). */
  private syncsStarted = 0;
  /** The latest sync that completed (its epoch): writes done before it started are durable. */
  private syncsDone = 0;
  private syncing: { epoch: number; done: Promise<void> } | undefined;
  private noSyncfs = false;

  constructor(
    readonly location: StoreLocation,
    db: Db,
    private readonly options: OpenStoreOptions,
    private readonly overlayXattrs: 'trusted' | 'user' = 'trusted',
  ) {
    this.db = db;
    this.blobsDir = join(location.root, 'blobs', 'sha256');
    this.layersDir = join(location.root, 'layers');
    this.tmpDir = join(location.root, 'tmp');
  }

  private what(): string {
    return `store ${this.location.root}`;
  }

  private blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest, 'blob digest');
    if (algorithm !== 'sha256') return join(this.location.root, 'blobs', algorithm, hex);
    return join(this.blobsDir, hex);
  }

  private layerDir(chainId: string): string {
    return join(this.layersDir, parseDigest(chainId, 'chain ID').hex);
  }

  private layerPath(chainId: string): string {
    const dir = this.layerDir(chainId);
    return this.location.driver === 'overlay' ? join(dir, 'diff') : dir;
  }

  /**
   * Make everything written before `mark` (a value of syncsStarted read once the writes were
   * done) durable: one syncfs of the store's filesystem that started after the mark, shared by
   * every caller waiting at the time, as containers/storage syncs a layer once rather than each
   * file. The layers of an image unpacked side by side usually share one or two syncs.
   */
  private async durable(mark: number, dir: string | undefined): Promise<void> {
    for (;;) {
      // Without syncfs (no coreutils `sync`): fsync every file and directory of the tree.
      if (this.noSyncfs) return dir === undefined ? undefined : fsyncTree(dir);
      if (this.syncsDone > mark) return;
      const running = this.syncing;
      await (running && running.epoch <= mark ? running.done : (running?.done ?? this.startSync()));
    }
  }

  /** Start a syncfs of the store's filesystem (the caller checked that none is running). */
  private startSync(): Promise<void> {
    const epoch = ++this.syncsStarted;
    const entry = {
      epoch,
      done: loadLayerApply()
        .then((m) => m.syncFilesystem(this.location.root))
        .then((ok) => {
          if (!ok) this.noSyncfs = true;
          else this.syncsDone = Math.max(this.syncsDone, epoch);
          if (this.syncing === entry) this.syncing = undefined;
        }),
    };
    this.syncing = entry;
    return entry.done;
  }

  /**
   * A registration whose commit need not reach the disk at once (WAL, synchronous=NORMAL): the
   * image registration that ends a pull or build is committed with synchronous=FULL, which syncs
   * the WAL with every frame before it. A power loss can drop an unsynced registration, never
   * reorder it, so what it leaves is an unregistered file (removed by the next cleanup).
   */
  private registerLazily<T>(fn: () => T): T {
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.db.transaction(fn).immediate();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  // ---- blobs ----

  hasBlob(digest: Digest): boolean {
    return this.blobInfo(digest) !== undefined;
  }

  blobInfo(digest: Digest): BlobInfo | undefined {
    const row = this.db.prepare('SELECT digest, size, media_type FROM blobs WHERE digest = ?').get(digest) as
      | { digest: Digest; size: number; media_type: string | null }
      | undefined;
    if (!row) return undefined;
    const info: BlobInfo = { digest: row.digest, sizeBytes: row.size };
    if (row.media_type) info.mediaType = row.media_type;
    return info;
  }

  getBlob(digest: Digest): { stream: Readable; sizeBytes: number } {
    const info = this.blobInfo(digest);
    if (!info) throw new SkiffError('BLOB_UNKNOWN', `blob ${digest} is not in ${this.what()}`);
    return { stream: fs.createReadStream(this.blobPath(digest)), sizeBytes: info.sizeBytes };
  }

  async putBlob(stream: Readable, options: PutBlobOptions = {}): Promise<BlobInfo> {
    const what = `blob${options.digest ? ` ${options.digest}` : ''} into ${this.what()}`;
    const tmp = tempPath(this.tmpDir, 'blob');
    const verify = new DigestVerifier({
      ...(options.digest ? { digest: options.digest } : {}),
      ...(options.sizeBytes !== undefined ? { sizeBytes: options.sizeBytes } : {}),
      what: 'blob',
      ...(options.verified && options.digest ? { hash: false } : {}),
    });
    // Open before streaming: a stream that fails at once must not race the file's creation, or
    // the removal below could run before the open and leave the temp file behind.
    let fh: fs.promises.FileHandle | undefined;
    const early = this.startEarlyUnpack(options);
    // A large layer blob unpacked as it is written is made durable with its layer, by the syncfs
    // they share (durable()), rather than by an fsync of its own first (which writes the whole
    // blob out before that sync starts). A small one is fsynced: cheaper than waiting for a sync.
    const sharedSync =
      early !== undefined && !this.noSyncfs && (options.sizeBytes ?? 0) >= SHARED_SYNC_BLOB_BYTES;
    try {
      fh = await fs.promises.open(tmp, 'wx', 0o644);
      const out = fs.createWriteStream('', { fd: fh.fd, autoClose: false, highWaterMark: 1 << 20 });
      const stages = early ? [verify, early.tee, out] : [verify, out];
      await pipeline(stream, ...(stages as [Transform, fs.WriteStream]), {
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (!sharedSync) await fh.sync();
      await fh.close();
    } catch (err) {
      await fh?.close().catch(() => {});
      fs.rmSync(tmp, { force: true });
      if (early) await early.discard();
      if (options.signal?.aborted)
        throw new SkiffError('ABORTED', `writing ${what}: aborted`, { cause: err });
      throw ioError(err, `writing ${what}`);
    }
    const digest = verify.digest;
    const info: BlobInfo = { digest, sizeBytes: verify.bytes };
    if (options.mediaType) info.mediaType = options.mediaType;
    const final = this.blobPath(digest);
    if (early && sharedSync) {
      // On disk before it is registered: one syncfs after both the blob and its unpacked tree
      // were written (the tree's later durable() call then finds it done).
      const unpacked = await early.result;
      const mark = this.syncsStarted;
      try {
        await this.durable(mark, unpacked?.dir);
        if (this.noSyncfs) await fsyncFile(tmp); // syncfs turned out to be unusable
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        await early.discard();
        throw ioError(err, `writing ${what}`);
      }
      if (unpacked) unpacked.syncMark = mark;
    }
    let duplicate = false;
    try {
      this.registerLazily(() => {
        if (this.db.prepare('SELECT 1 FROM blobs WHERE digest = ?').get(digest)) {
          duplicate = true;
          return;
        }
        fs.mkdirSync(join(final, '..'), { recursive: true });
        fs.renameSync(tmp, final);
        fsyncDirSync(join(final, '..'));
        this.db
          .prepare('INSERT INTO blobs(digest, size, media_type, added) VALUES (?, ?, ?, ?)')
          .run(digest, info.sizeBytes, options.mediaType ?? null, Date.now());
      });
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      if (early) await early.discard();
      throw ioError(err, `registering ${what}`);
    }
    if (duplicate) fs.rmSync(tmp, { force: true });
    if (early) {
      // The blob is verified and registered: its unpacked tree (when the tar was good) waits
      // for applyLayer, which checks its diffID before registering it.
      const result = await early.result;
      if (result) {
        const previous = this.early.get(digest);
        if (previous) fs.rmSync(previous.dir, { recursive: true, force: true });
        this.early.set(digest, result);
      }
    }
    return info;
  }

  /**
   * overlay, for a layer blob of known digest: unpack it into a temp layer directory while it is
   * written (a tee after the digest check; the slower side sets the pace), so a pull downloads and
   * unpacks at once instead of one after the other. The result is used only once the blob's
   * digest is verified and only for the diffID it was unpacked to; any failure just discards it
   * and applyLayer unpacks from the stored blob as before.
   */
  private startEarlyUnpack(
    options: PutBlobOptions,
  ): { tee: Transform; result: Promise<EarlyLayer | undefined>; discard(): Promise<void> } | undefined {
    if (this.location.driver !== 'overlay' || !options.digest || !isLayerMediaType(options.mediaType)) {
      return undefined;
    }
    const dir = tempPath(this.tmpDir, 'layer');
    const diff = join(dir, 'diff');
    const feed = new PassThrough({ highWaterMark: 1 << 20 });
    // Errors reach the caller through the blob's own pipeline; the unpack just stops.
    feed.on('error', () => {});
    let failed = false;
    const tee = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        if (failed || feed.destroyed || feed.write(chunk)) {
          cb(null, chunk);
          return;
        }
        const go = () => {
          feed.off('drain', go);
          feed.off('close', go);
          cb(null, chunk);
        };
        feed.on('drain', go);
        feed.on('close', go);
      },
      flush(cb: TransformCallback) {
        feed.end();
        cb();
      },
    });
    // Stopping the unpack goes through its abort signal (a destroyed input alone may not end it).
    const stop = new AbortController();
    const halt = (reason: Error) => {
      stop.abort(reason);
      feed.destroy(reason);
    };
    tee.on('error', (err) => halt(err));
    tee.on('close', () => {
      if (!feed.writableEnded) halt(new Error('blob write ended early'));
    });
    const result = (async (): Promise<EarlyLayer | undefined> => {
      try {
        fs.mkdirSync(dir, 0o700);
        fs.mkdirSync(diff, 0o755);
        const { applyLayer: applyLayerTar } = await loadLayerApply();
        const stats = await applyLayerTar(diff, feed, {
          whiteouts: 'overlay',
          opaqueXattr: `${this.overlayXattrs}.overlay.opaque`,
          what: `layer blob ${options.digest} into ${this.what()}`,
          ...(this.options.mapIds ? { mapIds: this.options.mapIds } : {}),
          signal: options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal,
          // Synced before it is registered (durable()), with the other layers of the image.
          sync: false,
          // A large blob is mostly large files (a layer of many small ones compresses well).
          hashOffThread: (options.sizeBytes ?? 0) >= OFF_THREAD_HASH_BLOB_BYTES,
        });
        return {
          dir,
          diffId: stats.diffId,
          bytes: stats.bytes,
          files: stats.files,
          syncMark: this.syncsStarted,
        };
      } catch {
        failed = true;
        feed.resume();
        fs.rmSync(dir, { recursive: true, force: true });
        return undefined;
      }
    })();
    return {
      tee,
      result,
      discard: async () => {
        halt(new Error('blob not stored'));
        const r = await result;
        if (r) fs.rmSync(r.dir, { recursive: true, force: true });
      },
    };
  }

  // ---- layers ----

  private layerInfo(row: LayerRow): LayerInfo {
    const info: LayerInfo = {
      chainId: row.chain_id as Digest,
      diffId: row.diff_id as Digest,
      sizeBytes: row.size,
      files: row.files,
      path: this.layerPath(row.chain_id),
    };
    if (row.parent) info.parent = row.parent as Digest;
    if (row.blob_digest) info.blobDigest = row.blob_digest as Digest;
    return info;
  }

  getLayer(chainId: Digest): LayerInfo | undefined {
    const row = this.db.prepare('SELECT * FROM layers WHERE chain_id = ?').get(chainId) as
      | LayerRow
      | undefined;
    return row ? this.layerInfo(row) : undefined;
  }

  async applyLayer(
    parent: Digest | undefined,
    diffId: Digest,
    blobDigest: Digest | undefined,
    open: () => Readable | Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<LayerInfo> {
    parseDigest(diffId, 'diffID');
    const chainId = chainIdOf(parent, diffId);
    const existing = this.getLayer(chainId);
    if (existing) return existing;
    const running = this.unpacking.get(chainId);
    if (running) return running;
    const work = this.unpack(chainId, parent, diffId, blobDigest, open, signal);
    this.unpacking.set(chainId, work);
    try {
      return await work;
    } finally {
      this.unpacking.delete(chainId);
    }
  }

  /** The parent's record, waiting for it when this process is still unpacking it. */
  private async parentLayer(parent: Digest, diffId: Digest): Promise<LayerInfo> {
    const found = this.getLayer(parent);
    if (found) return found;
    const running = this.unpacking.get(parent);
    if (running) {
      try {
        return await running;
      } catch (err) {
        throw new SkiffError('NOT_FOUND', `parent layer ${parent} of ${diffId} could not be unpacked`, {
          cause: err,
        });
      }
    }
    throw new SkiffError('NOT_FOUND', `parent layer ${parent} of ${diffId} is not in ${this.what()}`);
  }

  /**
   * Unpack into a temp directory, then register. overlay unpacks each layer on its own (its
   * diff does not depend on the parent's content), so the layers of an image can be unpacked
   * concurrently: only the registration waits for the parent. vfs copies the parent first.
   */
  private async unpack(
    chainId: Digest,
    parent: Digest | undefined,
    diffId: Digest,
    blobDigest: Digest | undefined,
    open: () => Readable | Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<LayerInfo> {
    const overlay = this.location.driver === 'overlay';
    const parentLayer = parent && !overlay ? await this.parentLayer(parent, diffId) : undefined;
    if (parent && overlay && !this.getLayer(parent) && !this.unpacking.has(parent)) {
      throw new SkiffError('NOT_FOUND', `parent layer ${parent} of ${diffId} is not in ${this.what()}`);
    }
    const what = `layer ${diffId}${blobDigest ? ` (blob ${blobDigest})` : ''} into ${this.what()}`;
    const early = blobDigest && overlay ? this.early.get(blobDigest) : undefined;
    if (early && blobDigest) this.early.delete(blobDigest);
    if (early && early.diffId !== diffId) {
      fs.rmSync(early.dir, { recursive: true, force: true });
    }
    const tmp = early?.diffId === diffId ? early.dir : tempPath(this.tmpDir, 'layer');
    let stats: { bytes: number; files: number; syncMark: number };
    if (early?.diffId === diffId) stats = early;
    else stats = await this.unpackFresh(tmp, parent, parentLayer, diffId, what, open, signal);
    try {
      // Synced before waiting for the parent: the layers of an image share their syncs.
      await this.durable(stats.syncMark, tmp);
      if (parent && overlay) await this.parentLayer(parent, diffId);
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw ioError(err, `unpacking ${what}`);
    }
    const final = this.layerDir(chainId);
    let duplicate = false;
    try {
      this.registerLazily(() => {
        if (this.db.prepare('SELECT 1 FROM layers WHERE chain_id = ?').get(chainId)) {
          duplicate = true;
          return;
        }
        if (parent && !this.db.prepare('SELECT 1 FROM layers WHERE chain_id = ?').get(parent)) {
          throw new SkiffError('NOT_FOUND', `parent layer ${parent} was removed while unpacking ${what}`);
        }
        fs.renameSync(tmp, final);
        fsyncDirSync(this.layersDir);
        this.db
          .prepare(
            'INSERT INTO layers(chain_id, parent, diff_id, blob_digest, size, files, added) VALUES (?, ?, ?, ?, ?, ?, ?)',
          )
          .run(chainId, parent ?? null, diffId, blobDigest ?? null, stats.bytes, stats.files, Date.now());
      });
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw ioError(err, `registering ${what}`);
    }
    if (duplicate) fs.rmSync(tmp, { recursive: true, force: true });
    const layer = this.getLayer(chainId);
    if (!layer) throw new SkiffError('INTERNAL', `layer ${chainId} vanished after registering`);
    return layer;
  }

  /** Unpack from the stored blob (`open`) into `tmp` (removed on failure). */
  private async unpackFresh(
    tmp: string,
    parent: Digest | undefined,
    parentLayer: LayerInfo | undefined,
    diffId: Digest,
    what: string,
    open: () => Readable | Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<{ bytes: number; files: number; syncMark: number }> {
    try {
      // vfs: this directory is the layer's root (/ of a container), 0755 as c/storage makes it.
      fs.mkdirSync(tmp, this.location.driver === 'overlay' ? 0o700 : 0o755);
      let target = tmp;
      if (this.location.driver === 'overlay') {
        target = join(tmp, 'diff');
        fs.mkdirSync(target, 0o755);
      } else if (parentLayer) {
        const r = await runCommand('cp', ['-a', '--reflink=auto', '--', `${parentLayer.path}/.`, `${tmp}/`]);
        if (!r.ok) throw new SkiffError('IO', `copying parent layer ${parent} for ${what}: ${r.stderr}`);
      }
      const { applyLayer: applyLayerTar } = await loadLayerApply();
      const input = await open();
      const stats = await applyLayerTar(target, input, {
        whiteouts: this.location.driver === 'overlay' ? 'overlay' : 'vfs',
        opaqueXattr: `${this.overlayXattrs}.overlay.opaque`,
        expectedDiffId: diffId,
        what,
        ...(this.options.mapIds ? { mapIds: this.options.mapIds } : {}),
        ...(signal ? { signal } : {}),
        // Synced before it is registered (durable()), with the copied parent content for vfs.
        sync: false,
      });
      return { bytes: stats.bytes, files: stats.files, syncMark: this.syncsStarted };
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw ioError(err, `unpacking ${what}`);
    }
  }

  // ---- images ----

  private readConfigBlob(digest: Digest): Buffer {
    const info = this.blobInfo(digest);
    if (!info)
      throw new SkiffError('BLOB_UNKNOWN', `config ${digest} is not in ${this.what()}: put it first`);
    if (info.sizeBytes > MAX_CONFIG_BYTES) {
      throw new SkiffError('INVALID_CONFIG', `config ${digest} is ${info.sizeBytes} bytes: too large`);
    }
    return fs.readFileSync(this.blobPath(digest));
  }

  putImage(input: PutImageInput): ImageInfo {
    const manifest = parseManifest(input.manifest, input.mediaType, `manifest put into ${this.what()}`);
    if (manifest.kind !== 'manifest') {
      throw new SkiffError(
        'UNSUPPORTED',
        `${this.what()} holds single-platform images: choose one instance of the index`,
      );
    }
    const configRaw = this.readConfigBlob(manifest.config.digest as Digest);
    const config = parseImageConfig(configRaw, `config ${manifest.config.digest}`);
    const chain = this.chainIds(manifest, config);
    const id = parseDigest(manifest.config.digest).hex;
    const names = input.names ?? [];
    try {
      this.db
        .transaction(() => {
          let size = 0;
          for (const c of chain) {
            const row = this.db.prepare('SELECT size FROM layers WHERE chain_id = ?').get(c) as
              | { size: number }
              | undefined;
            if (!row)
              throw new SkiffError(
                'NOT_FOUND',
                `layer ${c} of image ${id} is not unpacked in ${this.what()}`,
              );
            size += row.size;
          }
          const exists = this.db.prepare('SELECT added FROM images WHERE id = ?').get(id) as
            | { added: number }
            | undefined;
          this.db
            .prepare(
              `INSERT INTO images(id, manifest_digest, manifest, manifest_media_type, config, top_layer, created, size, added, labels)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest, manifest = excluded.manifest,
                 manifest_media_type = excluded.manifest_media_type, labels = excluded.labels`,
            )
            .run(
              id,
              manifest.digest,
              manifest.raw,
              manifest.mediaType,
              configRaw,
              chain[chain.length - 1] ?? null,
              config.created ?? null,
              size,
              exists?.added ?? Date.now(),
              labelsJson(config),
            );
          this.db.prepare('DELETE FROM image_layers WHERE image_id = ?').run(id);
          this.db.prepare('DELETE FROM image_blobs WHERE image_id = ?').run(id);
          const addLayer = this.db.prepare(
            'INSERT INTO image_layers(image_id, position, chain_id) VALUES (?, ?, ?)',
          );
          for (const [i, c] of chain.entries()) addLayer.run(id, i, c);
          const addBlob = this.db.prepare(
            'INSERT OR IGNORE INTO image_blobs(image_id, digest) SELECT ?, digest FROM blobs WHERE digest = ?',
          );
          addBlob.run(id, manifest.config.digest);
          for (const l of manifest.layers) addBlob.run(id, l.digest);
          const setName = this.db.prepare('INSERT OR REPLACE INTO names(name, image_id) VALUES (?, ?)');
          for (const n of names) setName.run(checkName(n), id);
        })
        .immediate();
    } catch (err) {
      throw ioError(err, `registering image ${id} in ${this.what()}`);
    }
    const image = this.getImage(id);
    if (!image) throw new SkiffError('INTERNAL', `image ${id} vanished after registering`);
    return image;
  }

  private chainIds(manifest: ImageManifest, config: ImageConfig): Digest[] {
    const diffIds = config.rootfs.diff_ids as Digest[];
    if (diffIds.length !== manifest.layers.length) {
      throw new SkiffError(
        'INVALID_CONFIG',
        `config ${manifest.config.digest} lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`,
      );
    }
    const out: Digest[] = [];
    let parent: Digest | undefined;
    for (const d of diffIds) {
      parent = chainIdOf(parent, d);
      out.push(parent);
    }
    return out;
  }

  private imageFromRow(row: ImageRow): ImageInfo {
    const names = (
      this.db.prepare('SELECT name FROM names WHERE image_id = ? ORDER BY rowid').all(row.id) as {
        name: string;
      }[]
    ).map((r) => r.name);
    const layers = (
      this.db
        .prepare('SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position')
        .all(row.id) as {
        chain_id: Digest;
      }[]
    ).map((r) => r.chain_id);
    return rowToImage(row, names, layers);
  }

  /** Resolve a name, a full or unique partial ID, or `sha256:ID`, to the image's ID. */
  private resolveImageId(nameOrId: string): { id: string; byName?: string } | undefined {
    const byName = this.db.prepare('SELECT image_id FROM names WHERE name = ?').get(nameOrId) as
      | { image_id: string }
      | undefined;
    if (byName) return { id: byName.image_id, byName: nameOrId };
    const hex = nameOrId.startsWith('sha256:') ? nameOrId.slice(7) : nameOrId;
    if (/^[a-f0-9]{3,64}$/.test(hex)) {
      const rows = this.db.prepare("SELECT id FROM images WHERE id LIKE ? || '%' LIMIT 2").all(hex) as {
        id: string;
      }[];
      if (rows.length === 1) return { id: rows[0]!.id };
      if (rows.length > 1) {
        throw new SkiffError(
          'INVALID_ARGUMENT',
          `image ID prefix "${nameOrId}" is ambiguous in ${this.what()}`,
        );
      }
    }
    return undefined;
  }

  getImage(nameOrId: string): ImageInfo | undefined {
    const resolved = this.resolveImageId(nameOrId);
    if (!resolved) return undefined;
    const row = this.db.prepare('SELECT * FROM images WHERE id = ?').get(resolved.id) as ImageRow | undefined;
    return row ? this.imageFromRow(row) : undefined;
  }

  findImageByManifest(manifestDigest: Digest): ImageInfo | undefined {
    const row = this.db
      .prepare('SELECT * FROM images WHERE manifest_digest = ? ORDER BY added DESC, id LIMIT 1')
      .get(manifestDigest) as ImageRow | undefined;
    return row ? this.imageFromRow(row) : undefined;
  }

  listImages(): ImageInfo[] {
    return this.db.transaction(() => {
      const rows = this.db.prepare('SELECT * FROM images ORDER BY added DESC, id').all() as ImageRow[];
      const names = new Map<string, string[]>();
      for (const r of this.db.prepare('SELECT name, image_id FROM names ORDER BY rowid').all() as {
        name: string;
        image_id: string;
      }[]) {
        names.set(r.image_id, [...(names.get(r.image_id) ?? []), r.name]);
      }
      const layers = new Map<string, Digest[]>();
      for (const r of this.db
        .prepare('SELECT image_id, chain_id FROM image_layers ORDER BY image_id, position')
        .all() as { image_id: string; chain_id: Digest }[]) {
        layers.set(r.image_id, [...(layers.get(r.image_id) ?? []), r.chain_id]);
      }
      return rows.map((r) => rowToImage(r, names.get(r.id) ?? [], layers.get(r.id) ?? []));
    })();
  }

  tag(nameOrId: string, name: string): void {
    checkName(name);
    this.db
      .transaction(() => {
        const resolved = this.resolveImageId(nameOrId);
        if (!resolved) throw new SkiffError('NOT_FOUND', `image ${nameOrId} is not in ${this.what()}`);
        this.db.prepare('INSERT OR REPLACE INTO names(name, image_id) VALUES (?, ?)').run(name, resolved.id);
      })
      .immediate();
  }

  untag(name: string): void {
    const r = this.db
      .transaction(() => this.db.prepare('DELETE FROM names WHERE name = ?').run(name))
      .immediate();
    if (r.changes === 0) throw new SkiffError('NOT_FOUND', `no image is named ${name} in ${this.what()}`);
  }

  removeImage(nameOrId: string, options: { force?: boolean } = {}): RemoveResult {
    const doomed: string[] = [];
    const result = this.db
      .transaction((): RemoveResult => {
        const resolved = this.resolveImageId(nameOrId);
        if (!resolved) throw new SkiffError('NOT_FOUND', `image ${nameOrId} is not in ${this.what()}`);
        const { id } = resolved;
        const names = (
          this.db.prepare('SELECT name FROM names WHERE image_id = ?').all(id) as { name: string }[]
        ).map((r) => r.name);
        // As podman: removing by one of several names only removes that name.
        if (resolved.byName && names.length > 1) {
          this.db.prepare('DELETE FROM names WHERE name = ?').run(resolved.byName);
          return { untagged: [resolved.byName], deleted: false, removedLayers: 0, removedBlobs: 0 };
        }
        const users = this.db.prepare('SELECT id FROM containers WHERE image_id = ?').all(id) as {
          id: string;
        }[];
        if (users.length > 0 && !options.force) {
          throw new SkiffError(
            'IN_USE',
            `image ${id.slice(0, 12)} is in use by ${users.length} container(s): ${users.map((u) => u.id.slice(0, 12)).join(', ')}`,
            { hint: 'remove the containers first, or use --force' },
          );
        }
        this.db.prepare('DELETE FROM containers WHERE image_id = ?').run(id);
        const blobs = (
          this.db.prepare('SELECT digest FROM image_blobs WHERE image_id = ?').all(id) as { digest: string }[]
        ).map((r) => r.digest);
        this.db.prepare('DELETE FROM images WHERE id = ?').run(id);
        let removedBlobs = 0;
        for (const d of blobs) {
          if (this.db.prepare('SELECT 1 FROM image_blobs WHERE digest = ?').get(d)) continue;
          this.db.prepare('DELETE FROM blobs WHERE digest = ?').run(d);
          doomed.push(this.moveAside(this.blobPath(d), 'dead-blob'));
          removedBlobs += 1;
        }
        const removedLayers = this.collectLayers(doomed);
        return { untagged: names, deleted: true, removedLayers, removedBlobs };
      })
      .immediate();
    for (const p of doomed) fs.rmSync(p, { recursive: true, force: true });
    return result;
  }

  collectGarbage(options: { olderThanMs?: number } = {}): { removedLayers: number; removedBlobs: number } {
    const before = Date.now() - (options.olderThanMs ?? 3_600_000);
    const doomed: string[] = [];
    const result = this.db
      .transaction(() => {
        const blobs = this.db
          .prepare(
            'SELECT digest FROM blobs b WHERE added <= ? AND NOT EXISTS (SELECT 1 FROM image_blobs ib WHERE ib.digest = b.digest)',
          )
          .all(before) as { digest: string }[];
        for (const b of blobs) {
          this.db.prepare('DELETE FROM blobs WHERE digest = ?').run(b.digest);
          doomed.push(this.moveAside(this.blobPath(b.digest), 'dead-blob'));
        }
        return { removedBlobs: blobs.length, removedLayers: this.collectLayers(doomed, before) };
      })
      .immediate();
    for (const p of doomed) fs.rmSync(p, { recursive: true, force: true });
    return result;
  }

  /** Delete layers no image, container or child layer uses (inside a transaction). */
  private collectLayers(doomed: string[], addedBefore = Number.MAX_SAFE_INTEGER): number {
    let removed = 0;
    for (;;) {
      const rows = this.db
        .prepare(
          `SELECT chain_id FROM layers l WHERE
             NOT EXISTS (SELECT 1 FROM image_layers il WHERE il.chain_id = l.chain_id) AND
             NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent = l.chain_id) AND
             NOT EXISTS (SELECT 1 FROM containers k WHERE k.layer = l.chain_id) AND
             l.added <= ?`,
        )
        .all(addedBefore) as { chain_id: string }[];
      if (rows.length === 0) return removed;
      for (const r of rows) {
        this.db.prepare('DELETE FROM layers WHERE chain_id = ?').run(r.chain_id);
        doomed.push(this.moveAside(this.layerDir(r.chain_id), 'dead-layer'));
        removed += 1;
      }
    }
  }

  /** Rename a file or tree into tmp/ (deleted after the transaction commits). */
  private moveAside(path: string, what: string): string {
    const dest = tempPath(this.tmpDir, what);
    try {
      fs.renameSync(path, dest);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    return dest;
  }

  // ---- consistency ----

  /**
   * Remove what a killed process left behind: temp entries of dead processes, and blobs or
   * layer directories that no row describes. Runs under the write lock so it never races with
   * a rename-then-register of a live process.
   */
  cleanup(): void {
    const doomed: string[] = [];
    for (const name of safeReaddir(this.tmpDir)) {
      const pid = tempOwner(name);
      if (pid === undefined || !processAlive(pid)) doomed.push(join(this.tmpDir, name));
    }
    this.db
      .transaction(() => {
        for (const p of this.findOrphans()) doomed.push(this.moveAside(p, 'orphan'));
      })
      .immediate();
    for (const p of doomed) fs.rmSync(p, { recursive: true, force: true });
  }

  private findOrphans(): string[] {
    const out: string[] = [];
    const blobs = new Set(
      (this.db.prepare('SELECT digest FROM blobs').all() as { digest: string }[]).map((r) => r.digest),
    );
    for (const name of safeReaddir(this.blobsDir)) {
      if (!blobs.has(`sha256:${name}`)) out.push(join(this.blobsDir, name));
    }
    const layers = new Set(
      (this.db.prepare('SELECT chain_id FROM layers').all() as { chain_id: string }[]).map((r) => r.chain_id),
    );
    for (const name of safeReaddir(this.layersDir)) {
      if (!layers.has(`sha256:${name}`)) out.push(join(this.layersDir, name));
    }
    return out;
  }

  async check(): Promise<CheckReport> {
    const problems: string[] = [];
    const leftovers: string[] = [];
    const integrity = this.db.pragma('integrity_check') as { integrity_check: string }[];
    for (const r of integrity)
      if (r.integrity_check !== 'ok') problems.push(`database: ${r.integrity_check}`);
    const fk = this.db.pragma('foreign_key_check') as { table: string; rowid: number; parent: string }[];
    for (const r of fk)
      problems.push(`database: row ${r.rowid} of ${r.table} refers to a missing ${r.parent}`);

    const blobs = this.db.prepare('SELECT digest, size FROM blobs').all() as {
      digest: Digest;
      size: number;
    }[];
    for (const b of blobs) {
      const path = this.blobPath(b.digest);
      try {
        const v = new DigestVerifier({ digest: b.digest, sizeBytes: b.size, what: 'blob' });
        await pipeline(fs.createReadStream(path), v, async (source) => {
          for await (const _ of source) {
            // drain
          }
        });
      } catch (err) {
        problems.push(
          errnoOf(err) === 'ENOENT'
            ? `blob ${b.digest}: file missing`
            : `blob ${b.digest}: ${(err as Error).message}`,
        );
      }
    }
    const layers = this.db.prepare('SELECT * FROM layers').all() as LayerRow[];
    for (const l of layers) {
      if (!isDirectory(this.layerPath(l.chain_id))) problems.push(`layer ${l.chain_id}: directory missing`);
      if (chainIdOf((l.parent ?? undefined) as Digest | undefined, l.diff_id as Digest) !== l.chain_id) {
        problems.push(`layer ${l.chain_id}: chain ID does not match its parent and diffID`);
      }
    }
    for (const img of this.listImages()) {
      const row = this.db.prepare('SELECT manifest, config FROM images WHERE id = ?').get(img.id) as {
        manifest: Buffer;
        config: Buffer;
      };
      try {
        const m = parseManifest(row.manifest, img.manifestMediaType, `manifest of image ${img.id}`);
        if (m.digest !== img.manifestDigest) problems.push(`image ${img.id}: manifest digest mismatch`);
        if (m.kind === 'manifest') {
          if (digestOf(row.config) !== m.config.digest)
            problems.push(`image ${img.id}: config does not match manifest`);
          if (parseDigest(m.config.digest).hex !== img.id)
            problems.push(`image ${img.id}: ID is not its config digest`);
          const config = parseImageConfig(row.config, `config of image ${img.id}`);
          const chain = this.chainIds(m, config);
          if (chain.join() !== img.layers.join())
            problems.push(`image ${img.id}: layer list does not match its config`);
          for (const l of m.layers) {
            if (!this.hasBlob(l.digest as Digest))
              problems.push(`image ${img.id}: layer blob ${l.digest} missing`);
          }
        }
      } catch (err) {
        problems.push(`image ${img.id}: ${(err as Error).message}`);
      }
    }
    for (const name of safeReaddir(this.tmpDir)) {
      const pid = tempOwner(name);
      if (pid === undefined || !processAlive(pid)) leftovers.push(`tmp/${name}`);
    }
    for (const p of this.findOrphans()) leftovers.push(p.slice(this.location.root.length + 1));
    return { ok: problems.length === 0, problems, leftovers };
  }

  async mountImage(nameOrId: string, options: { target?: string } = {}): Promise<ImageMount> {
    const image = this.getImage(nameOrId);
    if (!image) throw new SkiffError('NOT_FOUND', `image ${nameOrId} is not in ${this.what()}`);
    const layers = image.layers.map((c) => {
      const l = this.getLayer(c);
      if (!l)
        throw new SkiffError('STORAGE', `layer ${c} of image ${image.id} is missing from ${this.what()}`);
      return l;
    });
    if (this.location.driver === 'vfs') {
      const top = layers.at(-1);
      if (!top) throw new SkiffError('STORAGE', `image ${image.id} has no layers`);
      return { path: top.path, unmount: async () => {} };
    }
    const target = options.target ?? join(this.location.runroot, 'mounts', image.id);
    const created = !fs.existsSync(target);
    mkdirs(target, 0o755);
    // Relative lowerdirs (run from layers/) keep the option string short: the kernel takes one page.
    const lower = layers.map((l) => `${parseDigest(l.chainId).hex}/diff`).reverse();
    if (lower.length === 1) {
      mkdirs(join(this.layersDir, '..', 'empty'), 0o755);
      lower.push('../empty');
    }
    const r = await runCommand(
      'mount',
      [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `ro,${this.overlayXattrs === 'user' ? 'userxattr,' : ''}lowerdir=${lower.join(':')}`,
        target,
      ],
      {
        cwd: this.layersDir,
      },
    );
    if (!r.ok) {
      if (created) fs.rmSync(target, { recursive: true, force: true });
      const rootless = process.geteuid?.() !== 0;
      throw new SkiffError(
        'STORAGE',
        `cannot mount image ${image.id.slice(0, 12)} with overlay at ${target}: ${r.stderr}`,
        {
          hint: rootless
            ? 'overlay mounts need root, or to run inside the user namespace of the store (skiff unshare); or use --storage-driver vfs'
            : 'check that the kernel has overlay support (modprobe overlay), or use --storage-driver vfs',
        },
      );
    }
    return {
      path: target,
      unmount: async () => {
        const u = await runCommand('umount', [target]);
        if (!u.ok) throw new SkiffError('STORAGE', `cannot unmount ${target}: ${u.stderr}`);
        if (created) fs.rmSync(target, { recursive: true, force: true });
      },
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.early.values()) fs.rmSync(e.dir, { recursive: true, force: true });
    this.early.clear();
    this.db.close();
  }
}

function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

/** Whether this process runs in a user namespace other than the initial one. */
export function inUserNamespace(): boolean {
  try {
    const map = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return !(map.length === 3 && map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {
    return false;
  }
}

/** The columns `images` shows, kept beside the config so listing parses nothing: Labels as JSON. */
function labelsJson(config: ImageConfig): string | null {
  const labels = config.config?.Labels;
  return labels && Object.keys(labels).length > 0 ? JSON.stringify(labels) : null;
}

function rowToImage(row: ImageRow, names: string[], layers: Digest[]): ImageInfo {
  const image: ImageInfo = {
    id: row.id,
    names,
    manifestDigest: row.manifest_digest as Digest,
    manifest: row.manifest,
    manifestMediaType: row.manifest_media_type,
    config: row.config,
    layers,
    sizeBytes: row.size,
    added: new Date(row.added),
    labels: parseLabels(row.labels),
  };
  if (row.created) image.created = row.created;
  return image;
}

function checkName(name: string): string {
  if (name === '' || name.length > 512 || /\s/.test(name) || isDigest(name) || /^[a-f0-9]{64}$/.test(name)) {
    throw new SkiffError('INVALID_ARGUMENT', `invalid image name "${name}"`);
  }
  return name;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Open (creating when needed) the store at the resolved location, and clean up what a killed
 * process left behind. Errors name the root and say what to do (read-only, permission denied).
 */
export async function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  const location = resolveStoreLocation(options);
  const what = `storage root ${location.root}`;
  try {
    if (!options.readOnly) {
      for (const d of ['blobs/sha256', 'layers', 'tmp']) mkdirs(join(location.root, d));
      fs.accessSync(location.root, fs.constants.W_OK);
    }
  } catch (err) {
    throw ioError(err, `cannot use ${what}`);
  }
  let db: Db;
  try {
    db = openDb(join(location.root, 'skiff.db'), {
      ...(options.readOnly ? { readOnly: true } : {}),
      ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    });
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN') {
      throw new SkiffError('IO', `cannot open the database of ${what}: ${(err as Error).message}`, {
        cause: err,
        hint: 'check that the storage root is writable by this user, or use --root',
      });
    }
    throw ioError(err, `cannot open the database of ${what}`);
  }
  const driver = options.readOnly ? location.driver : fixedSetting(db, 'driver', location.driver);
  if (driver !== location.driver) {
    const explicit = options.driver !== undefined;
    if (explicit) {
      db.close();
      throw new SkiffError(
        'STORAGE',
        `${what} was created with the ${driver} driver, not ${location.driver}`,
        {
          hint: `use --storage-driver ${driver}, or another --root`,
        },
      );
    }
    location.driver = driver as StorageDriver;
  }
  // trusted.overlay.* needs CAP_SYS_ADMIN in the initial user namespace; rootless stores (and
  // stores used inside a user namespace) use user.overlay.* and mount with userxattr.
  const xattrs = options.readOnly
    ? 'trusted'
    : fixedSetting(db, 'overlay_xattr', isRoot() && !inUserNamespace() ? 'trusted' : 'user');
  const store = new LocalStore(location, db, options, xattrs === 'user' ? 'user' : 'trusted');
  if (!options.readOnly) {
    try {
      store.cleanup();
    } catch (err) {
      store.close();
      throw ioError(err, `cleaning up ${what}`);
    }
  }
  return store;
}
