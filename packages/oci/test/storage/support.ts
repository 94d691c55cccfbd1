import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { type Digest, digestOf } from '../../src/spec/digest.js';
import type { Store } from '../../src/storage/store.js';

/** Small synthetic images for store tests, built in memory (they are a few KiB to a few MiB). */

export interface FileSpec {
  name: string;
  content?: string | Buffer;
  type?: 'file' | 'directory' | 'symlink';
  linkname?: string;
}

export interface TestLayer {
  tar: Buffer;
  gz: Buffer;
  diffId: Digest;
  digest: Digest;
}

export interface TestImage {
  layers: TestLayer[];
  config: Buffer;
  configDigest: Digest;
  manifest: Buffer;
  manifestDigest: Digest;
  id: string;
}

const MTIME = new Date('2020-01-01T00:00:00Z');

export async function tarOf(files: FileSpec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const f of files) {
    const type = f.type ?? 'file';
    const header: tar.Headers = {
      name: f.name,
      type,
      mode: type === 'directory' ? 0o755 : 0o644,
      mtime: MTIME,
    };
    if (f.linkname) header.linkname = f.linkname;
    pack.entry(header, type === 'file' ? (f.content ?? '') : undefined);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function layerOf(files: FileSpec[]): Promise<TestLayer> {
  const t = await tarOf(files);
  const gz = gzipSync(t, { level: 1 });
  return { tar: t, gz, diffId: digestOf(t), digest: digestOf(gz) };
}

export function imageOf(layers: TestLayer[], label = 'test'): TestImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2020-01-01T00:00:00Z',
      config: { Labels: { label }, Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const configDigest = digestOf(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: config.length,
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: l.digest,
        size: l.gz.length,
      })),
    }),
  );
  return {
    layers,
    config,
    configDigest,
    manifest,
    manifestDigest: digestOf(manifest),
    id: configDigest.slice(7),
  };
}

/** What a pull does: blobs first (skipping present ones), layers bottom-up, then the image. */
export async function putTestImage(store: Store, image: TestImage, names: string[]): Promise<void> {
  if (!store.hasBlob(image.configDigest)) {
    await store.putBlob(Readable.from([image.config]), {
      digest: image.configDigest,
      sizeBytes: image.config.length,
    });
  }
  let parent: Digest | undefined;
  for (const l of image.layers) {
    if (!store.hasBlob(l.digest)) {
      await store.putBlob(Readable.from([l.gz]), { digest: l.digest, sizeBytes: l.gz.length });
    }
    const layer = await store.applyLayer(parent, l.diffId, l.digest, () => store.getBlob(l.digest).stream);
    parent = layer.chainId;
  }
  store.putImage({ manifest: image.manifest, names });
}

/** Deterministic pseudo-random bytes (incompressible enough to make gzip/IO take time). */
export function noise(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += 32) {
    block.copy(out, off, 0, Math.min(32, size - off));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** The family of images the concurrency and crash tests use: image i = base + mid(i % 2) + own(i). */
export async function familyImage(i: number, ownBytes = 4096): Promise<TestImage> {
  const base = await layerOf([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/sh', content: noise('sh', 64 * 1024) },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/os-release', content: 'ID=test\n' },
  ]);
  const mid = await layerOf([{ name: `usr/lib/mid${i % 2}`, content: noise(`mid${i % 2}`, 128 * 1024) }]);
  const own = await layerOf([
    { name: `app/${i}.bin`, content: noise(`own${i}`, ownBytes) },
    { name: 'etc/.wh.os-release', content: '' },
  ]);
  return imageOf([base, mid, own], `family-${i}`);
}
