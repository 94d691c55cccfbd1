import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { SkiffError } from '../errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

/** A content digest, `algorithm:hex`, validated. */
export type Digest = `${DigestAlgorithm}:${string}`;

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Parse and validate a digest string; `what` names the input in the error. */
export function parseDigest(value: string, what = 'digest'): ParsedDigest {
  const m = DIGEST_RE.exec(value);
  if (!m) {
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `invalid ${what} "${value}": expected sha256:<64 hex> or sha512:<128 hex>`,
    );
  }
  const algorithm = m[1] as DigestAlgorithm;
  const hex = m[2]!;
  if (hex.length !== HEX_LENGTH[algorithm]) {
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `invalid ${what} "${value}": ${algorithm} needs ${HEX_LENGTH[algorithm]} hex digits, got ${hex.length}`,
    );
  }
  return { algorithm, hex };
}

export function isDigest(value: string): value is Digest {
  const m = DIGEST_RE.exec(value);
  return m !== null && m[2]!.length === HEX_LENGTH[m[1] as DigestAlgorithm];
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** The hex part of a digest (for file names such as blobs/sha256/<hex>). */
export function digestHex(digest: string): string {
  return parseDigest(digest).hex;
}

/** Throws DIGEST_MISMATCH unless `data` has the expected digest. */
export function verifyDigest(data: Uint8Array, expected: string, what = 'blob'): void {
  const { algorithm } = parseDigest(expected);
  const actual = digestOf(data, algorithm);
  if (actual !== expected) {
    throw new SkiffError('DIGEST_MISMATCH', `${what} ${expected}: content has digest ${actual}`);
  }
}

export interface VerifyOptions {
  /** The digest the bytes must have; when absent, only computed. */
  digest?: string;
  /** The size the bytes must have; -1 or undefined when unknown. */
  sizeBytes?: number;
  /** Names the stream in errors, e.g. "blob sha256:… of docker://…". */
  what?: string;
  /** Extra algorithm to compute alongside (e.g. sha256 of the uncompressed stream elsewhere). */
  algorithm?: DigestAlgorithm;
  /**
   * false: only count and check the size, and report `digest` as given. For a stream whose
   * digest is already being checked upstream (the copy engine's verifier): hashing it twice
   * costs a core on large copies.
   */
  hash?: boolean;
  /** Called with the running byte count as chunks pass (progress reporting). */
  onBytes?: (bytes: number) => void;
}

/**
 * A pass-through stream that digests and counts bytes as they flow and, at the end, fails
 * the pipeline with DIGEST_MISMATCH / SIZE_MISMATCH when they differ from what was expected.
 * Bytes past the expected size fail at once, so a lying server cannot make us buffer forever.
 */
export class DigestVerifier extends Transform {
  readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash | undefined;
  private readonly expected: VerifyOptions;
  private count = 0;
  private result: Digest | undefined;

  constructor(options: VerifyOptions = {}) {
    super();
    this.expected = options;
    this.algorithm = options.digest ? parseDigest(options.digest).algorithm : (options.algorithm ?? 'sha256');
    if (options.hash === false && !options.digest) {
      throw new SkiffError('INTERNAL', 'DigestVerifier: hash: false needs the expected digest');
    }
    this.hash = options.hash === false ? undefined : createHash(this.algorithm);
  }

  get bytes(): number {
    return this.count;
  }

  /** The digest of everything that passed; available after the stream ended. */
  get digest(): Digest {
    if (!this.result) throw new SkiffError('INTERNAL', 'digest read before the stream ended');
    return this.result;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    const size = this.expected.sizeBytes;
    if (size !== undefined && size >= 0 && this.count > size) {
      cb(
        new SkiffError(
          'SIZE_MISMATCH',
          `${this.expected.what ?? 'blob'}${this.expected.digest ? ` ${this.expected.digest}` : ''}: more than the expected ${size} bytes`,
        ),
      );
      return;
    }
    this.hash?.update(chunk);
    this.expected.onBytes?.(this.count);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = this.hash
      ? `${this.algorithm}:${this.hash.digest('hex')}`
      : (this.expected.digest as Digest);
    const what = this.expected.what ?? 'blob';
    const size = this.expected.sizeBytes;
    if (size !== undefined && size >= 0 && this.count !== size) {
      cb(
        new SkiffError(
          'SIZE_MISMATCH',
          `${what}${this.expected.digest ? ` ${this.expected.digest}` : ''}: got ${this.count} bytes, expected ${size}`,
        ),
      );
      return;
    }
    if (this.expected.digest && this.result !== this.expected.digest) {
      cb(
        new SkiffError(
          'DIGEST_MISMATCH',
          `${what} ${this.expected.digest}: content has digest ${this.result}`,
        ),
      );
      return;
    }
    cb();
  }
}

/** The OCI ChainID of a layer: its DiffID for the first, sha256("<parent ChainID> <DiffID>") after. */
export function chainIdOf(parent: Digest | undefined, diffId: Digest): Digest {
  return parent ? digestOf(`${parent} ${diffId}`) : diffId;
}
