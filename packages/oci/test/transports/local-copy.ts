import type { Digest } from '../../src/spec/digest.js';
import type { ImageManifest } from '../../src/spec/manifest.js';
import { parseManifest } from '../../src/spec/manifest.js';
import { MediaType } from '../../src/spec/media-types.js';
import type { ImageDestination, ImageSource } from '../../src/transports/types.js';

/**
 * A minimal test-only copier: every blob and manifest from a source to a destination, bytes
 * unchanged (the real engine with conversions lives in src/copy). Returns the top manifest bytes.
 */
export async function copyAll(src: ImageSource, dst: ImageDestination): Promise<Buffer> {
  const top = await src.getManifest();
  const what = src.reference.toString();
  const parsed = parseManifest(top.raw, top.mediaType, what);
  if (parsed.kind === 'index') {
    if (!dst.capabilities.supportsIndex) throw new Error(`${dst.reference.toString()} cannot hold an index`);
    for (const d of parsed.manifests) {
      const inst = await src.getManifest(d.digest as Digest);
      const m = parseManifest(inst.raw, d.mediaType, what);
      if (m.kind !== 'manifest') throw new Error('nested index');
      await copyBlobs(src, dst, m);
      await dst.putManifest(inst, d.digest as Digest);
    }
  } else {
    await copyBlobs(src, dst, parsed);
  }
  await dst.putManifest(top);
  await dst.commit();
  return top.raw;
}

async function copyBlobs(src: ImageSource, dst: ImageDestination, m: ImageManifest): Promise<void> {
  for (const d of [m.config, ...m.layers]) {
    if (await dst.hasBlob(d)) continue;
    const { stream, sizeBytes } = await src.getBlob(d);
    const isConfig = d === m.config;
    await dst.putBlob(stream, {
      digest: d.digest as Digest,
      sizeBytes,
      mediaType: d.mediaType,
      ...(isConfig ? { isConfig: true } : {}),
    });
  }
}

export async function withSource<T>(
  src: Promise<ImageSource>,
  fn: (s: ImageSource) => Promise<T>,
): Promise<T> {
  const s = await src;
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export async function withDestination<T>(
  dst: Promise<ImageDestination>,
  fn: (d: ImageDestination) => Promise<T>,
): Promise<T> {
  const d = await dst;
  try {
    return await fn(d);
  } finally {
    await d.close();
  }
}

export { MediaType };
