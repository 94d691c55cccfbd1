import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { asSkiffError, isSkiffError, SkiffError } from '../errors.js';
import { decompressStream, peekCompression } from '../layer/compression.js';
import { type Digest, DigestVerifier, digestOf, parseDigest } from '../spec/digest.js';
import { type ImageManifest, parseImageConfig, parseManifest } from '../spec/manifest.js';
import { layerCompression } from '../spec/media-types.js';
import type { Descriptor } from '../spec/schemas.js';
import type { ImageSource } from '../transports/types.js';

/**
 * The conformance check every transport's tests run (after go-containerregistry's validate):
 * read the top manifest, every instance of an index, every config and layer; re-derive each
 * digest and size while streaming; check that the config's diff_ids match the layers'
 * uncompressed digests. Throws the first SkiffError it finds.
 */
export interface ValidateResult {
  manifests: number;
  blobs: number;
  bytes: number;
}

export async function validateImage(
  source: ImageSource,
  options: { signal?: AbortSignal } = {},
): Promise<ValidateResult> {
  const result: ValidateResult = { manifests: 0, blobs: 0, bytes: 0 };
  const what = source.reference.toString();
  const top = await source.getManifest(undefined, options.signal);
  const parsed = parseManifest(top.raw, top.mediaType, what);
  result.manifests++;
  if (parsed.kind === 'manifest') {
    await validateManifest(source, parsed, what, result, options.signal);
    return result;
  }
  for (const d of parsed.manifests) {
    const inst = await source.getManifest(d.digest as Digest, options.signal);
    const instWhat = `${what} instance ${d.digest}`;
    checkBytes(inst.raw, d, `manifest ${instWhat}`);
    const m = parseManifest(inst.raw, inst.mediaType ?? d.mediaType, instWhat);
    if (m.mediaType !== d.mediaType) {
      throw new SkiffError(
        'INVALID_MANIFEST',
        `${instWhat}: index says media type ${d.mediaType}, the manifest is ${m.mediaType}`,
      );
    }
    result.manifests++;
    if (m.kind === 'index')
      throw new SkiffError('UNSUPPORTED', `${instWhat}: nested indexes are not validated`);
    await validateManifest(source, m, instWhat, result, options.signal);
  }
  return result;
}

function checkBytes(raw: Buffer, d: Descriptor, what: string): void {
  const actual = digestOf(raw, parseDigest(d.digest).algorithm);
  if (actual !== d.digest)
    throw new SkiffError('DIGEST_MISMATCH', `${what}: content has digest ${actual}, expected ${d.digest}`);
  if (raw.length !== d.size)
    throw new SkiffError('SIZE_MISMATCH', `${what}: ${raw.length} bytes, expected ${d.size}`);
}

async function readAll(
  source: ImageSource,
  d: Descriptor,
  what: string,
  signal?: AbortSignal,
): Promise<Buffer> {
  if (d.size > 64 << 20) throw new SkiffError('INVALID_CONFIG', `${what} is too large (${d.size} bytes)`);
  const { stream } = await source.getBlob(d, signal);
  const chunks: Buffer[] = [];
  const v = new DigestVerifier({ digest: d.digest, sizeBytes: d.size, what });
  await pipeline(
    stream,
    v,
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
    signal ? { signal } : {},
  ).catch((err: unknown) => {
    throw asSkiffError(err, what);
  });
  return Buffer.concat(chunks);
}

async function validateManifest(
  source: ImageSource,
  m: ImageManifest,
  what: string,
  result: ValidateResult,
  signal?: AbortSignal,
): Promise<void> {
  const configRaw = await readAll(source, m.config, `config ${m.config.digest} of ${what}`, signal);
  result.blobs++;
  result.bytes += configRaw.length;
  const config = parseImageConfig(configRaw, what);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== m.layers.length) {
    throw new SkiffError(
      'INVALID_CONFIG',
      `${what}: config lists ${diffIds.length} diff_ids but the manifest has ${m.layers.length} layers`,
    );
  }
  for (const [i, layer] of m.layers.entries()) {
    const lwhat = `layer ${layer.digest} of ${what}`;
    const declared = layerCompression(layer.mediaType);
    const { stream } = await source.getBlob(layer, signal);
    const verifier = new DigestVerifier({ digest: layer.digest, sizeBytes: layer.size, what: lwhat });
    const tee = new PassThrough();
    const diffHash = createHash('sha256');
    const compressedDone = pipeline(stream, verifier, tee, signal ? { signal } : {});
    const uncompressedDone = (async () => {
      const peeked = await peekCompression(tee);
      if (declared !== undefined && peeked.compression !== declared) {
        peeked.stream.destroy();
        throw new SkiffError(
          'INVALID_MANIFEST',
          `${lwhat}: media type ${layer.mediaType} says ${declared}, the bytes are ${peeked.compression}`,
        );
      }
      await pipeline(
        peeked.stream,
        decompressStream(peeked.compression),
        new Writable({
          write(c: Buffer, _e, cb) {
            diffHash.update(c);
            cb();
          },
        }),
      );
    })();
    const [a, b] = await Promise.allSettled([compressedDone, uncompressedDone]);
    // A digest/size verdict comes first; then a verdict on the content beats the
    // premature-close it causes on the other branch.
    if (a.status === 'rejected' && isSkiffError(a.reason) && /^(DIGEST|SIZE)_MISMATCH$/.test(a.reason.code)) {
      tee.destroy();
      throw a.reason;
    }
    const aCoded = a.status === 'rejected' && isSkiffError(a.reason);
    if (b.status === 'rejected' && (isSkiffError(b.reason) || !aCoded)) {
      tee.destroy();
      throw asSkiffError(b.reason, lwhat);
    }
    if (a.status === 'rejected') throw asSkiffError(a.reason, lwhat);
    const diffId = `sha256:${diffHash.digest('hex')}`;
    if (diffId !== diffIds[i]) {
      throw new SkiffError(
        'DIGEST_MISMATCH',
        `${lwhat}: uncompressed content has digest ${diffId}, the config's diff_ids[${i}] is ${diffIds[i]}`,
      );
    }
    result.blobs++;
    result.bytes += verifier.bytes;
  }
}
