import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Digest, digestOf } from '../../src/spec/digest.js';
import { MediaType } from '../../src/spec/media-types.js';

export interface TestBlob {
  data: Buffer;
  digest: Digest;
  size: number;
}

export function blob(size: number): TestBlob {
  const data = randomBytes(size);
  return { data, digest: digestOf(data), size };
}

export function blobOf(text: string): TestBlob {
  const data = Buffer.from(text);
  return { data, digest: digestOf(data), size: data.length };
}

/** A stream that yields `data` in pieces of `piece` bytes (so uploads really stream). */
export function streamOf(data: Buffer, piece = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += piece) yield data.subarray(i, i + piece);
    })(),
  );
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** An OCI image manifest over a config and layers. */
export function ociManifest(
  config: TestBlob,
  layers: TestBlob[],
  extra: Record<string, unknown> = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: MediaType.ociLayerGzip, digest: l.digest, size: l.size })),
      ...extra,
    }),
  );
}

export const CONFIG_JSON = JSON.stringify({
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [] },
  config: {},
});
