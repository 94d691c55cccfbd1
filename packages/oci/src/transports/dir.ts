import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { asSkiffError, SkiffError } from '../errors.js';
import { type Digest, digestOf, isDigest, parseDigest } from '../spec/digest.js';
import { parseManifest } from '../spec/manifest.js';
import { MediaType } from '../spec/media-types.js';
import type { Descriptor } from '../spec/schemas.js';
import {
  exists,
  fsyncDir,
  openFileStream,
  readSmallFile,
  tempName,
  writeFileAtomic,
  writeStreamVerified,
} from './local-fs.js';
import type {
  BlobStream,
  DestinationCapabilities,
  ImageDestination,
  ImageReference,
  ImageSource,
  PutBlobInfo,
  RawManifest,
  Transport,
  TransportOptions,
} from './types.js';

/**
 * `dir:PATH` — skopeo's directory format: a `version` file, `manifest.json`, every blob as a
 * file named by its hex digest, and for an index each instance as `HEX.manifest.json`.
 * A destination writes into a temporary directory next to PATH and swaps it in on commit.
 */

export const DIR_VERSION = 'Directory Transport Version: 1.1\n';

function blobFile(dir: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return path.join(dir, algorithm === 'sha256' ? hex : `${algorithm}-${hex}`);
}

function instanceManifestFile(dir: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return path.join(dir, `${algorithm === 'sha256' ? hex : `${algorithm}-${hex}`}.manifest.json`);
}

function sniffMediaType(raw: Buffer): string {
  try {
    const doc = JSON.parse(raw.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    if (doc.manifests) return MediaType.ociIndex;
  } catch {
    // parseManifest reports it
  }
  return MediaType.ociManifest;
}

class DirSource implements ImageSource {
  constructor(
    readonly reference: DirReference,
    private readonly dir: string,
  ) {}

  async getManifest(instanceDigest?: Digest): Promise<RawManifest> {
    const what = this.reference.toString();
    if (instanceDigest === undefined) {
      const raw = await readSmallFile(path.join(this.dir, 'manifest.json'), `${what}: manifest`, 16 << 20);
      return { raw, mediaType: sniffMediaType(raw) };
    }
    if (!isDigest(instanceDigest))
      throw new SkiffError('INVALID_ARGUMENT', `invalid digest "${instanceDigest}"`);
    const file = instanceManifestFile(this.dir, instanceDigest);
    const raw = await readSmallFile(file, `${what}: manifest`, 16 << 20).catch((err: SkiffError) => {
      throw err.code === 'NOT_FOUND' ? new SkiffError('MANIFEST_UNKNOWN', err.message) : err;
    });
    const actual = digestOf(raw, parseDigest(instanceDigest).algorithm);
    if (actual !== instanceDigest)
      throw new SkiffError('DIGEST_MISMATCH', `${what}: ${file} has digest ${actual}`);
    return { raw, mediaType: sniffMediaType(raw) };
  }

  getBlob(descriptor: Descriptor): Promise<BlobStream> {
    return openFileStream(
      blobFile(this.dir, descriptor.digest),
      `blob ${descriptor.digest} of ${this.reference.toString()}`,
    );
  }

  async close(): Promise<void> {}
}

const DIR_CAPABILITIES: DestinationCapabilities = {
  supportsIndex: true,
  manifestMediaTypes: [],
  layerCompression: 'preserve',
  concurrentBlobs: true,
};

class DirDestination implements ImageDestination {
  readonly capabilities = DIR_CAPABILITIES;
  private hasTop = false;
  private committed = false;

  constructor(
    readonly reference: DirReference,
    private readonly target: string,
    private readonly staging: string,
  ) {}

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    try {
      const st = await fs.stat(blobFile(this.staging, descriptor.digest));
      return st.size === descriptor.size;
    } catch {
      return false;
    }
  }

  async putBlob(stream: Readable, info: PutBlobInfo, signal?: AbortSignal): Promise<Descriptor> {
    const what = `blob${info.digest ? ` ${info.digest}` : ''} for ${this.reference.toString()}`;
    const tmp = tempName(path.join(this.staging, 'blob'));
    const { digest, sizeBytes } = await writeStreamVerified(stream, tmp, {
      ...(info.digest ? { digest: info.digest } : {}),
      sizeBytes: info.sizeBytes,
      what,
      ...(signal ? { signal } : {}),
      ...(info.verified ? { verified: true } : {}),
    });
    try {
      await fs.rename(tmp, blobFile(this.staging, digest));
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw asSkiffError(err, `storing ${what}`);
    }
    return { mediaType: info.mediaType, digest, size: sizeBytes };
  }

  async putManifest(manifest: RawManifest, instanceDigest?: Digest): Promise<void> {
    const what = this.reference.toString();
    parseManifest(manifest.raw, manifest.mediaType, what);
    if (instanceDigest !== undefined) {
      const actual = digestOf(manifest.raw, parseDigest(instanceDigest).algorithm);
      if (actual !== instanceDigest) {
        throw new SkiffError(
          'DIGEST_MISMATCH',
          `manifest for ${what}: expected ${instanceDigest}, content has ${actual}`,
        );
      }
      await writeFileAtomic(instanceManifestFile(this.staging, instanceDigest), manifest.raw);
      return;
    }
    await writeFileAtomic(path.join(this.staging, 'manifest.json'), manifest.raw);
    this.hasTop = true;
  }

  async commit(): Promise<void> {
    if (!this.hasTop)
      throw new SkiffError('INVALID_ARGUMENT', `${this.reference.toString()}: commit before putManifest`);
    await writeFileAtomic(path.join(this.staging, 'version'), DIR_VERSION);
    await fsyncDir(this.staging);
    const old = (await exists(this.target)) ? tempName(this.target) : undefined;
    try {
      if (old) await fs.rename(this.target, old);
      await fs.rename(this.staging, this.target);
    } catch (err) {
      if (old && !(await exists(this.target))) await fs.rename(old, this.target).catch(() => {});
      throw asSkiffError(err, `writing ${this.target}`);
    }
    await fsyncDir(path.dirname(this.target));
    this.committed = true;
    if (old) await fs.rm(old, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    if (!this.committed) await fs.rm(this.staging, { recursive: true, force: true });
  }
}

class DirReference implements ImageReference {
  readonly transport = 'dir';
  constructor(readonly dir: string) {}

  get withinTransport(): string {
    return this.dir;
  }

  toString(): string {
    return `dir:${this.dir}`;
  }

  async newSource(_options?: TransportOptions): Promise<ImageSource> {
    try {
      const st = await fs.stat(this.dir);
      if (!st.isDirectory()) throw new Error('not a directory');
    } catch {
      throw new SkiffError('NOT_FOUND', `${this.toString()}: directory ${this.dir} does not exist`);
    }
    return new DirSource(this, this.dir);
  }

  async newDestination(_options?: TransportOptions): Promise<ImageDestination> {
    const parent = path.dirname(this.dir);
    if (!(await exists(parent))) {
      throw new SkiffError('NOT_FOUND', `${this.toString()}: directory ${parent} does not exist`);
    }
    // Like skopeo: refuse to replace a non-empty directory that is not a dir: image.
    try {
      const st = await fs.stat(this.dir);
      if (!st.isDirectory())
        throw new SkiffError('INVALID_ARGUMENT', `${this.toString()}: ${this.dir} is not a directory`);
      const items = await fs.readdir(this.dir);
      if (items.length > 0 && !items.includes('version')) {
        throw new SkiffError(
          'INVALID_ARGUMENT',
          `${this.toString()}: ${this.dir} is a non-empty directory that is not a dir: image; refusing to overwrite it`,
        );
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw asSkiffError(err, this.toString());
    }
    const staging = tempName(this.dir);
    await fs.mkdir(staging, { mode: 0o755 });
    return new DirDestination(this, this.dir, staging);
  }
}

export const dirTransport: Transport = {
  name: 'dir',
  parseReference(details: string): ImageReference {
    if (details === '')
      throw new SkiffError('INVALID_REFERENCE', 'invalid dir: reference: the path is empty');
    return new DirReference(path.resolve(details));
  },
};
