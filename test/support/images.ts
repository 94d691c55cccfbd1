import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressStream } from '../../packages/oci/src/layer/compression.js';
import { type Digest, digestOf } from '../../packages/oci/src/spec/digest.js';
import { type Compression, MediaType } from '../../packages/oci/src/spec/media-types.js';
import type { ContainerConfig, Descriptor } from '../../packages/oci/src/spec/schemas.js';
import { FIXED_MTIME, type TarEntrySpec, tarStream } from './tar.js';

/**
 * Base images built locally from Debian's busybox-static (/bin/busybox), written as OCI image
 * layouts, no network. Tar entries have fixed mtimes and owners so digests are stable.
 */

export interface FixtureImage {
  layoutDir: string;
  /** org.opencontainers.image.ref.name in the layout. */
  ref: string;
  /** `oci:${layoutDir}:${ref}` */
  transportRef: string;
  /** Digest of the top manifest (or index). */
  digest: Digest;
  mediaType: string;
}

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageSpec {
  /** ref.name, default 'latest'. */
  name?: string;
  format?: 'oci' | 'v2s2';
  compression?: Compression;
  /** Small extra layers, each adding /extra/N.txt. */
  extraLayers?: number;
  /** More layers after those, each of these tar entries (owners, modes… as a test needs). */
  entryLayers?: TarEntrySpec[][];
  /** A later layer deletes /etc/removeme (.wh.) and makes /opt/dir opaque (.wh..wh..opq). */
  whiteout?: boolean;
  config?: Partial<ContainerConfig>;
  platform?: PlatformSpec;
  /** Pad with random-content layers totalling about this many MiB (benchmarks). */
  sizeMiB?: number;
  /** How many padding layers sizeMiB is split into (default 1). */
  layers?: number;
}

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'true', 'false', 'env', 'id', 'sleep'];
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnobody:x:65534:\n';
const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

function busyboxEntries(): TarEntrySpec[] {
  return [
    { name: 'bin', type: 'directory' },
    { name: 'bin/busybox', type: 'file-from', path: BUSYBOX, mode: 0o755 },
    ...APPLETS.map((a): TarEntrySpec => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc', type: 'directory' },
    { name: 'etc/passwd', type: 'file', content: PASSWD },
    { name: 'etc/group', type: 'file', content: GROUP },
    { name: 'root', type: 'directory', mode: 0o700 },
    { name: 'tmp', type: 'directory', mode: 0o1777 },
  ];
}

let rootfsCache: Promise<string> | undefined;

/**
 * The busybox rootfs as an uncompressed layer tar on disk: /bin/busybox, symlinks for sh, ls,
 * cat, echo, true, false, env, id, sleep, /etc/passwd, /etc/group. One file in the temp
 * directory, named by what goes into it, shared by every test process and run (written to a
 * temporary name and renamed, so concurrent writers are harmless).
 */
export function busyboxRootfsLayer(): Promise<string> {
  rootfsCache ??= (async () => {
    let st: Awaited<ReturnType<typeof fs.stat>>;
    try {
      st = await fs.stat(BUSYBOX);
    } catch {
      throw new Error(
        `${BUSYBOX} is missing: install Debian's busybox-static (apt-get install busybox-static)`,
      );
    }
    const key = createHash('sha256')
      .update(JSON.stringify([busyboxEntries().map((e) => e.name), st.size, st.mtimeMs, st.ino]))
      .digest('hex')
      .slice(0, 16);
    const file = path.join(tmpdir(), `skiff-fixture-busybox-${key}.tar`);
    try {
      await fs.access(file);
      return file;
    } catch {}
    const tmp = `${file}.${process.pid}.tmp`;
    await pipeline(tarStream(busyboxEntries()), createWriteStream(tmp));
    await fs.rename(tmp, file);
    return file;
  })();
  return rootfsCache;
}

class Hasher extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

async function ensureLayout(dir: string): Promise<void> {
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const layoutFile = path.join(dir, 'oci-layout');
  try {
    await fs.access(layoutFile);
  } catch {
    await fs.writeFile(layoutFile, '{"imageLayoutVersion":"1.0.0"}');
  }
}

async function writeBlobBytes(dir: string, data: Buffer): Promise<Digest> {
  const digest = digestOf(data);
  await fs.writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return digest;
}

interface WrittenLayer {
  descriptor: Descriptor;
  diffId: Digest;
}

/** Stream a tar through compression into blobs/, digesting both sides while writing. */
async function writeLayer(
  dir: string,
  tar: Readable,
  compression: Compression,
  format: 'oci' | 'v2s2',
): Promise<WrittenLayer> {
  const tmp = path.join(dir, 'blobs', 'sha256', `.tmp-${randomBytes(8).toString('hex')}`);
  const uncompressed = new Hasher();
  const compressed = new Hasher();
  await pipeline(tar, uncompressed, compressStream(compression), compressed, createWriteStream(tmp));
  const digest = compressed.digest();
  await fs.rename(tmp, path.join(dir, 'blobs', 'sha256', digest.slice(7)));
  const mediaType =
    format === 'oci'
      ? compression === 'none'
        ? MediaType.ociLayer
        : compression === 'gzip'
          ? MediaType.ociLayerGzip
          : MediaType.ociLayerZstd
      : compression === 'none'
        ? MediaType.dockerLayer
        : MediaType.dockerLayerGzip;
  if (format === 'v2s2' && compression === 'zstd') throw new Error('v2s2 cannot carry zstd layers');
  return { descriptor: { mediaType, digest, size: compressed.size }, diffId: uncompressed.digest() };
}

function randomStream(size: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, 1 << 20);
      left -= n;
      this.push(randomBytes(n));
    },
  });
}

async function addToIndex(dir: string, desc: Descriptor): Promise<void> {
  const indexFile = path.join(dir, 'index.json');
  let manifests: Descriptor[] = [];
  try {
    manifests = (JSON.parse(await fs.readFile(indexFile, 'utf8')) as { manifests: Descriptor[] }).manifests;
  } catch {
    // new layout
  }
  const name = desc.annotations?.['org.opencontainers.image.ref.name'];
  manifests = manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== name);
  manifests.push(desc);
  const doc = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  const tmp = `${indexFile}.tmp-${randomBytes(4).toString('hex')}`;
  await fs.writeFile(tmp, JSON.stringify(doc));
  await fs.rename(tmp, indexFile);
}

interface BuiltManifest {
  descriptor: Descriptor;
}

async function buildImageManifest(
  dir: string,
  spec: ImageSpec,
  contentLayers: Array<() => Readable>,
): Promise<BuiltManifest> {
  const format = spec.format ?? 'oci';
  const compression = spec.compression ?? 'gzip';
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
  const layers: WrittenLayer[] = [];
  for (const make of contentLayers) layers.push(await writeLayer(dir, make(), compression, format));
  const history = layers.map((_, i) => ({
    created: FIXED_MTIME.toISOString(),
    created_by: `skiff fixture layer ${i}`,
  }));
  const config = {
    created: FIXED_MTIME.toISOString(),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: DEFAULT_ENV, Cmd: ['sh'], ...spec.config },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history,
  };
  const configRaw = Buffer.from(JSON.stringify(config));
  const configDigest = await writeBlobBytes(dir, configRaw);
  const manifest = {
    schemaVersion: 2,
    mediaType: format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest,
    config: {
      mediaType: format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig,
      digest: configDigest,
      size: configRaw.length,
    },
    layers: layers.map((l) => l.descriptor),
  };
  const raw = Buffer.from(JSON.stringify(manifest));
  const digest = await writeBlobBytes(dir, raw);
  return { descriptor: { mediaType: manifest.mediaType, digest, size: raw.length } };
}

function layerSources(spec: ImageSpec, rootfs: string): Array<() => Readable> {
  const out: Array<() => Readable> = [() => Readable.from(fileChunks(rootfs))];
  if (spec.whiteout) {
    out.push(() =>
      tarStream([
        { name: 'etc/removeme', type: 'file', content: 'to be deleted\n' },
        { name: 'opt', type: 'directory' },
        { name: 'opt/dir', type: 'directory' },
        { name: 'opt/dir/a', type: 'file', content: 'a\n' },
        { name: 'opt/dir/b', type: 'file', content: 'b\n' },
      ]),
    );
    out.push(() =>
      tarStream([
        { name: 'etc/.wh.removeme', type: 'file', content: '' },
        { name: 'opt/dir', type: 'directory' },
        { name: 'opt/dir/.wh..wh..opq', type: 'file', content: '' },
        { name: 'opt/dir/c', type: 'file', content: 'c\n' },
      ]),
    );
  }
  for (let i = 0; i < (spec.extraLayers ?? 0); i++) {
    out.push(() =>
      tarStream([
        { name: 'extra', type: 'directory' },
        { name: `extra/${i}.txt`, type: 'file', content: `extra layer ${i}\n` },
      ]),
    );
  }
  for (const entries of spec.entryLayers ?? []) out.push(() => tarStream(entries));
  if (spec.sizeMiB && spec.sizeMiB > 0) {
    const n = Math.max(1, spec.layers ?? 1);
    const each = Math.ceil((spec.sizeMiB * 1024 * 1024) / n);
    for (let i = 0; i < n; i++) {
      out.push(() =>
        tarStream([
          { name: 'pad', type: 'directory' },
          { name: `pad/${i}.bin`, type: 'stream', size: each, stream: () => randomStream(each) },
        ]),
      );
    }
  }
  return out;
}

async function* fileChunks(file: string): AsyncGenerator<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    for await (const chunk of fh.createReadStream()) yield chunk as Buffer;
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Build one image into the OCI layout at `dir` (created if needed) under ref.name `spec.name`. */
export async function makeImage(dir: string, spec: ImageSpec = {}): Promise<FixtureImage> {
  const ref = spec.name ?? 'latest';
  await ensureLayout(dir);
  const rootfs = await busyboxRootfsLayer();
  const { descriptor } = await buildImageManifest(dir, spec, layerSources(spec, rootfs));
  await addToIndex(dir, { ...descriptor, annotations: { 'org.opencontainers.image.ref.name': ref } });
  return {
    layoutDir: dir,
    ref,
    transportRef: `oci:${dir}:${ref}`,
    digest: descriptor.digest as Digest,
    mediaType: descriptor.mediaType,
  };
}

/** A multi-platform index; the linux/amd64 instance carries busybox, the others a small file. */
export async function makeIndex(
  dir: string,
  spec: { name?: string; format?: 'oci' | 'v2s2'; platforms: PlatformSpec[] },
): Promise<FixtureImage> {
  const ref = spec.name ?? 'latest';
  const format = spec.format ?? 'oci';
  await ensureLayout(dir);
  const rootfs = await busyboxRootfsLayer();
  const manifests: Descriptor[] = [];
  for (const p of spec.platforms) {
    const content: Array<() => Readable> =
      p.os === 'linux' && p.architecture === 'amd64'
        ? [() => Readable.from(fileChunks(rootfs))]
        : [
            () =>
              tarStream([
                { name: 'etc', type: 'directory' },
                {
                  name: 'etc/platform',
                  type: 'file',
                  content: `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}\n`,
                },
              ]),
          ];
    const { descriptor } = await buildImageManifest(dir, { format, platform: p }, content);
    manifests.push({
      ...descriptor,
      platform: { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) },
    });
  }
  const index = {
    schemaVersion: 2,
    mediaType: format === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList,
    manifests,
  };
  const raw = Buffer.from(JSON.stringify(index));
  const digest = await writeBlobBytes(dir, raw);
  await addToIndex(dir, {
    mediaType: index.mediaType,
    digest,
    size: raw.length,
    annotations: { 'org.opencontainers.image.ref.name': ref },
  });
  return { layoutDir: dir, ref, transportRef: `oci:${dir}:${ref}`, digest, mediaType: index.mediaType };
}
