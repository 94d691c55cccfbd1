import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { asSkiffError, SkiffError } from '../errors.js';
import { decompressStream, peekCompression } from '../layer/compression.js';
import type { Digest } from '../spec/digest.js';
import type { Descriptor } from '../spec/schemas.js';
import { makeTempDir, removeDir } from './local-fs.js';
import { extractTar, packDirAtomic } from './local-tar.js';
import {
  type LayoutTarget,
  layoutWithin,
  OciLayoutDestination,
  OciLayoutSource,
  parseLayoutDetails,
} from './oci-layout.js';
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  PutBlobInfo,
  RawManifest,
  Transport,
  TransportOptions,
} from './types.js';

/**
 * `oci-archive:PATH[:REF]` — a tar of an OCI image layout. Reading extracts the archive
 * (streaming) into a temporary directory and reads it as `oci:`; writing builds a layout in
 * a temporary directory and tars it to PATH atomically on commit. Temp dirs go on close.
 */

class OciArchiveReference implements ImageReference {
  readonly transport = 'oci-archive';
  constructor(readonly target: LayoutTarget) {}

  get withinTransport(): string {
    return layoutWithin(this.target);
  }

  toString(): string {
    return `oci-archive:${this.withinTransport}`;
  }

  async newSource(_options?: TransportOptions): Promise<ImageSource> {
    const file = this.target.dir;
    const what = this.toString();
    let st: import('node:fs').Stats;
    try {
      st = await fs.stat(file);
    } catch {
      throw new SkiffError('NOT_FOUND', `${what}: archive ${file} does not exist`);
    }
    if (!st.isFile()) throw new SkiffError('NOT_FOUND', `${what}: ${file} is not a file`);
    const tmp = await makeTempDir('skiff-oci-archive-');
    try {
      const { compression, stream } = await peekCompression(createReadStream(file));
      const input: Readable = compression === 'none' ? stream : stream.pipe(decompressStream(compression));
      await extractTar(input, tmp, `archive ${file}`);
      const layout: LayoutTarget = { ...this.target, dir: tmp };
      return await OciLayoutSource.open(this, layout, () => removeDir(tmp)).catch((err: unknown) => {
        const e = asSkiffError(err, what);
        // Name the archive, not the temp dir.
        throw new SkiffError(e.code, e.message.split(tmp).join(`${file}:`), { cause: err });
      });
    } catch (err) {
      await removeDir(tmp);
      throw err;
    }
  }

  async newDestination(_options?: TransportOptions): Promise<ImageDestination> {
    if (this.target.sourceIndex >= 0) {
      throw new SkiffError(
        'INVALID_REFERENCE',
        `${this.toString()}: @INDEX cannot be used to write an image`,
      );
    }
    const file = this.target.dir;
    try {
      await fs.access(path.dirname(file));
    } catch {
      throw new SkiffError('NOT_FOUND', `${this.toString()}: directory ${path.dirname(file)} does not exist`);
    }
    const tmp = await makeTempDir('skiff-oci-archive-');
    try {
      const layout = await OciLayoutDestination.open(this, { ...this.target, dir: path.join(tmp, 'layout') });
      return new OciArchiveDestination(this, layout, tmp, file);
    } catch (err) {
      await removeDir(tmp);
      throw err;
    }
  }
}

class OciArchiveDestination implements ImageDestination {
  constructor(
    readonly reference: ImageReference,
    private readonly layout: OciLayoutDestination,
    private readonly tmp: string,
    private readonly file: string,
  ) {}

  get capabilities() {
    return this.layout.capabilities;
  }

  hasBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<boolean> {
    return signal?.aborted
      ? Promise.reject(new SkiffError('ABORTED', 'aborted'))
      : this.layout.hasBlob(descriptor);
  }

  putBlob(stream: Readable, info: PutBlobInfo, signal?: AbortSignal): Promise<Descriptor> {
    return this.layout.putBlob(stream, info, signal);
  }

  putManifest(manifest: RawManifest, instanceDigest?: Digest): Promise<void> {
    return this.layout.putManifest(manifest, instanceDigest);
  }

  async commit(signal?: AbortSignal): Promise<void> {
    await this.layout.commit();
    await packDirAtomic(this.layout.dir, this.file, signal);
  }

  async close(): Promise<void> {
    try {
      await this.layout.close();
    } finally {
      await removeDir(this.tmp);
    }
  }
}

export const ociArchiveTransport: Transport = {
  name: 'oci-archive',
  parseReference(details: string): ImageReference {
    return new OciArchiveReference(parseLayoutDetails(details, 'oci-archive'));
  },
};
