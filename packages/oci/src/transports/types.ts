import type { Readable } from 'node:stream';
import type { RegistryGate } from '../registry/gate.js';
import type { RegistryClientPool } from '../registry/pool.js';
import type { Digest } from '../spec/digest.js';
import type { Compression } from '../spec/media-types.js';
import type { Descriptor } from '../spec/schemas.js';

/**
 * The transport interface, after containers/image: one small `ImageSource` to read and one
 * small `ImageDestination` to write, one implementation per transport. Optional abilities
 * (cross-repository mount, deletion) are separate interfaces probed at run time.
 *
 * Call order on a destination: any number of `hasBlob` / `putBlob` (concurrently when
 * `capabilities.concurrentBlobs`), then `putManifest` for each instance of an index (with
 * its digest), then `putManifest` for the top-level manifest (no instance digest), then
 * `commit`. `close` always, last; a destination closed without `commit` leaves nothing
 * visible behind (no tag, no index entry, no half-written archive).
 */

/** Credentials for one registry. `identityToken` is an OAuth2 refresh token from auth.json. */
export interface Credentials {
  username: string;
  password: string;
  identityToken?: string;
}

/** Options shared by every transport; each uses what applies to it. */
export interface TransportOptions {
  /** --authfile: one auth.json to use instead of the default search path. */
  authFile?: string;
  /** --creds USER[:PASS] or --username/--password. */
  credentials?: Credentials;
  /** --no-creds: access the registry anonymously. */
  anonymous?: boolean;
  /** --tls-verify; undefined means "as registries.conf says" (verify by default). */
  tlsVerify?: boolean;
  /** --cert-dir: *.crt (CAs), *.cert + *.key (client certificate), as /etc/containers/certs.d. */
  certDir?: string;
  /** --retry-times for registry requests. */
  retryTimes?: number;
  /** An explicit registries.conf (instead of the default search path). */
  registriesConfPath?: string;
  /** Root for /etc/containers/certs.d lookups etc. in tests. */
  userAgent?: string;
  /** Registry-wide 429 backoff shared by every client of a job (registry/gate.ts). */
  registryGate?: RegistryGate;
  /** Registry clients shared by every copy of a job (registry/pool.ts): one ping and token cache per endpoint. */
  clientPool?: RegistryClientPool;
  /** Override the platform used to choose an index instance (ferry --override-*). */
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface BlobStream {
  stream: Readable;
  /** Size in bytes, or -1 when the transport does not know. */
  sizeBytes: number;
}

/** A fetched manifest: the bytes as stored and the media type the transport reported. */
export interface RawManifest {
  raw: Buffer;
  mediaType: string;
}

export interface ImageSource {
  /** The reference this source reads, for messages (`docker://host/repo:tag`, `oci:/path:ref`). */
  readonly reference: ImageReference;
  /**
   * The manifest the reference names (`instanceDigest` undefined), or one instance of it by
   * digest. Bytes are returned exactly as stored; callers parse with `parseManifest`.
   */
  getManifest(instanceDigest?: Digest, signal?: AbortSignal): Promise<RawManifest>;
  /**
   * Open a blob for reading: the bytes as stored, not verified here — the caller checks digest
   * and size while they stream (the copy engine, readSmallBlob and validateImage all do).
   * The caller consumes or destroys the stream.
   */
  getBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<BlobStream>;
  /** Tags the reference's repository holds, where the transport has a notion of it. */
  readonly repoTags?: () => Promise<string[]>;
  close(): Promise<void>;
}

export interface DestinationCapabilities {
  /** Can hold an index (multi-arch); docker-archive and dir with one image cannot. */
  supportsIndex: boolean;
  /** Manifest media types it can store, preferred first; empty = any. */
  manifestMediaTypes: readonly string[];
  /** What it wants done to layers: keep as they come, or store them uncompressed. */
  layerCompression: 'preserve' | 'decompress';
  /** hasBlob/putBlob may be called concurrently. */
  concurrentBlobs: boolean;
  /** It needs every blob's digest before the bytes arrive (docker-archive names files by digest). */
  needsDigestBeforePut?: boolean;
}

export interface PutBlobInfo {
  /** The digest the bytes must have, when known; the destination verifies it while streaming. */
  digest?: Digest;
  /** Size in bytes, or -1 when unknown. */
  sizeBytes: number;
  mediaType: string;
  /** Whether this blob is the image config (docker-archive writes it apart). */
  isConfig?: boolean;
  /**
   * The caller checks `digest` and `sizeBytes` upstream and fails the stream on a mismatch, so
   * the destination need not hash the bytes again (it still must not keep a failed stream).
   */
  verified?: boolean;
}

export interface ImageDestination {
  readonly reference: ImageReference;
  readonly capabilities: DestinationCapabilities;
  /** Whether the blob is already there (skip-if-present). Never throws for "absent". */
  hasBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<boolean>;
  /**
   * Store a blob from a stream, verifying digest and size while it flows; returns its
   * descriptor (digest computed when none was given). Nothing is kept on failure.
   */
  putBlob(stream: Readable, info: PutBlobInfo, signal?: AbortSignal): Promise<Descriptor>;
  /**
   * Store a manifest. With `instanceDigest` it is one instance of an index being written;
   * without it, it is the manifest the reference names (the tag or the layout's ref).
   */
  putManifest(manifest: RawManifest, instanceDigest?: Digest, signal?: AbortSignal): Promise<void>;
  /** Make the written image visible (rename temp files, write the archive's trailer). */
  commit(signal?: AbortSignal): Promise<void>;
  /** Release resources; without a prior commit, discard everything written. */
  close(): Promise<void>;
}

/** Optional ability: mount a blob from another repository of the same registry. */
export interface BlobMounter {
  /** Try a cross-repository mount; true when the blob is now present. */
  mountBlob(descriptor: Descriptor, from: ImageReference, signal?: AbortSignal): Promise<boolean>;
}

export function canMountBlobs(dest: ImageDestination): dest is ImageDestination & BlobMounter {
  return typeof (dest as Partial<BlobMounter>).mountBlob === 'function';
}

export interface ImageReference {
  /** The transport name: docker, oci, oci-archive, docker-archive, dir, containers-storage. */
  readonly transport: string;
  /** The whole reference as a user would type it, `transport:details` (docker uses `docker://`). */
  toString(): string;
  /** The same without the transport prefix, as skopeo's StringWithinTransport. */
  readonly withinTransport: string;
  newSource(options?: TransportOptions): Promise<ImageSource>;
  newDestination(options?: TransportOptions): Promise<ImageDestination>;
  /** Delete the image the reference names (docker, oci). Absent where unsupported. */
  deleteImage?(options?: TransportOptions, signal?: AbortSignal): Promise<void>;
}

export interface Transport {
  readonly name: string;
  /** Parse what follows `name:` (for docker, what follows `docker://`). */
  parseReference(details: string): ImageReference;
}

export type { Compression, Descriptor, Digest };
