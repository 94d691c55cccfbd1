import { pipeline } from 'node:stream';
import { SkiffError } from '../errors.js';
import { DigestVerifier } from '../spec/digest.js';
import type { Descriptor } from '../spec/schemas.js';
import type { ImageSource } from '../transports/types.js';

/** Small blobs (configs, signatures) are read whole; layers never are. */
export const SMALL_BLOB_LIMIT_BYTES = 64 * 1024 * 1024;

/** Read a small blob into memory, verifying digest and size while it streams. */
export async function readSmallBlob(
  source: ImageSource,
  d: Descriptor,
  what: string,
  signal?: AbortSignal,
): Promise<Buffer> {
  if (d.size > SMALL_BLOB_LIMIT_BYTES) {
    throw new SkiffError(
      'INVALID_MANIFEST',
      `${what} ${d.digest} is ${d.size} bytes, over the ${SMALL_BLOB_LIMIT_BYTES}-byte limit`,
    );
  }
  const { stream } = await source.getBlob(d, signal);
  const verifier = new DigestVerifier({ digest: d.digest, sizeBytes: d.size, what });
  const chunks: Buffer[] = [];
  verifier.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) =>
    pipeline(stream, verifier, (err) => (err ? reject(err) : resolve())),
  );
  return Buffer.concat(chunks);
}
