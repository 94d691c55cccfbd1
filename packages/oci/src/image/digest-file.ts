import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { SkiffError } from '../errors.js';
import { type Digest, DigestVerifier } from '../spec/digest.js';
import { writeFileAtomic } from '../transports/local-fs.js';

/** The digest of a file's bytes as they are (skopeo manifest-digest), streamed. */
export async function digestOfFile(file: string): Promise<Digest> {
  const verifier = new DigestVerifier({ what: file });
  verifier.resume();
  try {
    await pipeline(createReadStream(file), verifier);
  } catch (err) {
    throw new SkiffError('NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return verifier.digest;
}

/** Write a digest to a file (copy --digestfile), atomically. */
export function writeDigestFile(file: string, digest: Digest): Promise<void> {
  return writeFileAtomic(file, digest);
}
