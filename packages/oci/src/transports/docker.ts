import type { Readable } from 'node:stream';
import { getCredentials } from '../config/auth.js';
import { isSkiffError, SkiffError } from '../errors.js';
import { type ImageRef, parseReference, withDefaultTag } from '../reference/reference.js';
import {
  loadRegistriesConf,
  type PullSource,
  pullSources,
  pushTarget,
  type RegistriesConf,
} from '../reference/registries-conf.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import type { RegistryClientPool } from '../registry/pool.js';
import type { Digest } from '../spec/digest.js';
import { isDigest } from '../spec/digest.js';
import { manifestMediaTypes } from '../spec/media-types.js';
import type { Descriptor } from '../spec/schemas.js';
import type {
  BlobMounter,
  BlobStream,
  DestinationCapabilities,
  ImageDestination,
  ImageReference,
  ImageSource,
  PutBlobInfo,
  RawManifest,
  Transport,
  TransportOptions,
} from './types.js';

/**
 * `docker://HOST/REPO[:TAG|@DIGEST]` — images in a registry speaking the OCI distribution API.
 * Reading goes through registries.conf mirrors (each tried in order, then the primary);
 * writing goes to the registry's (possibly rewritten) location, never a mirror.
 */

/** Errors after which the next pull source is tried. */
const FALLBACK_CODES = new Set([
  'MANIFEST_UNKNOWN',
  'NOT_FOUND',
  'BLOB_UNKNOWN',
  'NETWORK',
  'TLS',
  'REGISTRY',
  'TOO_MANY_REQUESTS',
  'UNAUTHORIZED',
  'DENIED',
]);

function loadConf(options: TransportOptions): RegistriesConf {
  return loadRegistriesConf(options.registriesConfPath ? { path: options.registriesConfPath } : {});
}

/** A RegistryClient for one pull/push location, with credentials as the options say. */
export function clientFor(source: PullSource, options: TransportOptions = {}): RegistryClient {
  const ref = source.ref;
  const credentials = options.anonymous
    ? undefined
    : options.credentials
      ? options.credentials
      : () => getCredentials(ref.domain, ref.path, options.authFile ? { authFile: options.authFile } : {});
  const clientOptions: RegistryClientOptions = {
    endpoint: source.endpoint,
    insecure: source.insecure,
    ...(options.tlsVerify !== undefined ? { tlsVerify: options.tlsVerify } : {}),
    ...(options.certDir !== undefined ? { certDir: options.certDir } : {}),
    ...(options.retryTimes !== undefined ? { retryTimes: options.retryTimes } : {}),
    ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
    ...(options.registryGate !== undefined ? { gate: options.registryGate } : {}),
    ...(credentials !== undefined ? { credentials } : {}),
  };
  if (!options.clientPool) return new RegistryClient(clientOptions);
  // Credentials from auth files may differ per repository (namespace keys): pool per repository
  // then; explicit or no credentials are the same for the whole endpoint.
  const key = JSON.stringify({
    endpoint: source.endpoint,
    insecure: source.insecure,
    tlsVerify: options.tlsVerify,
    certDir: options.certDir,
    retryTimes: options.retryTimes,
    userAgent: options.userAgent,
    credentials: options.anonymous
      ? 'anonymous'
      : (options.credentials ?? `authfile:${options.authFile ?? ''}:${ref.path}`),
  });
  return options.clientPool.client(key, clientOptions);
}

/** The tag or digest a reference names (`latest` when neither). */
function referenceOf(ref: ImageRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export class DockerReference implements ImageReference {
  readonly transport = 'docker';
  /** The fully-qualified reference, with `:latest` added when it had neither tag nor digest. */
  readonly ref: ImageRef;

  constructor(ref: ImageRef) {
    if (ref.tag !== undefined && ref.digest !== undefined) {
      throw new SkiffError(
        'INVALID_REFERENCE',
        `invalid reference docker://${ref.toString()}: references with both a tag and a digest are not supported`,
        { hint: `use docker://${ref.name}@${ref.digest}` },
      );
    }
    this.ref = withDefaultTag(ref);
  }

  get withinTransport(): string {
    return `//${this.ref.toString()}`;
  }

  toString(): string {
    return `docker:${this.withinTransport}`;
  }

  async newSource(options: TransportOptions = {}): Promise<ImageSource> {
    return new DockerSource(this, pullSources(loadConf(options), this.ref), options);
  }

  async newDestination(options: TransportOptions = {}): Promise<ImageDestination> {
    const conf = loadConf(options);
    const target = pushTarget(conf, this.ref);
    return new DockerDestination(this, target, clientFor(target, options), conf, options.clientPool);
  }

  /** Delete the manifest the reference names, resolving a tag to its digest first (as skopeo delete). */
  async deleteImage(options: TransportOptions = {}, signal?: AbortSignal): Promise<void> {
    const target = pushTarget(loadConf(options), this.ref);
    const client = clientFor(target, options);
    try {
      const reference = referenceOf(target.ref);
      let digest: Digest;
      if (isDigest(reference)) {
        digest = reference;
      } else {
        const head = await client.headManifest(target.ref.path, reference, signal);
        if (head === undefined) {
          throw new SkiffError('MANIFEST_UNKNOWN', `${this.toString()}: manifest unknown`, { status: 404 });
        }
        digest = head.digest;
      }
      await client.deleteManifest(target.ref.path, digest, signal);
    } finally {
      await client.close();
    }
  }
}

class DockerSource implements ImageSource {
  readonly repoTags: () => Promise<string[]>;
  private readonly clients = new Map<number, RegistryClient>();
  /** The source chosen by the first successful manifest read; later reads stick to it. */
  private chosen: number | undefined;

  constructor(
    readonly reference: DockerReference,
    private readonly sources: PullSource[],
    private readonly options: TransportOptions,
  ) {
    this.repoTags = () => this.listTags();
  }

  private client(i: number): RegistryClient {
    let c = this.clients.get(i);
    if (c === undefined) {
      c = clientFor(this.sources[i]!, this.options);
      this.clients.set(i, c);
    }
    return c;
  }

  /** Run `fn` against the chosen source, or against each source in order until one works. */
  private async tryEach<T>(
    fn: (client: RegistryClient, source: PullSource) => Promise<T>,
    choose: boolean,
  ): Promise<T> {
    if (this.chosen !== undefined) return fn(this.client(this.chosen), this.sources[this.chosen]!);
    const errors: unknown[] = [];
    for (let i = 0; i < this.sources.length; i++) {
      try {
        const result = await fn(this.client(i), this.sources[i]!);
        if (choose) this.chosen = i;
        return result;
      } catch (err) {
        if (!isSkiffError(err) || !FALLBACK_CODES.has(err.code) || i === this.sources.length - 1) {
          if (errors.length === 0 || !isSkiffError(err)) throw err;
          throw new SkiffError(
            err.code,
            `${err.message} (mirrors tried first: ${errors.map(messageOf).join('; ')})`,
            {
              cause: err,
              ...(err.hint !== undefined ? { hint: err.hint } : {}),
              ...(err.status !== undefined ? { status: err.status } : {}),
              ...(err.registryCode !== undefined ? { registryCode: err.registryCode } : {}),
            },
          );
        }
        errors.push(err);
      }
    }
    throw new SkiffError('INTERNAL', `${this.reference.toString()}: no pull source`);
  }

  async getManifest(instanceDigest?: Digest, signal?: AbortSignal): Promise<RawManifest> {
    const m = await this.tryEach(
      (client, source) =>
        client.getManifest(source.ref.path, instanceDigest ?? referenceOf(source.ref), signal),
      instanceDigest === undefined,
    );
    return { raw: m.raw, mediaType: m.mediaType };
  }

  async getBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<BlobStream> {
    return this.tryEach(
      (client, source) =>
        client.getBlob(source.ref.path, descriptor.digest as Digest, {
          // ImageSource.getBlob's callers verify (see types.ts): hashing here too would double it.
          verify: false,
          sizeBytes: descriptor.size,
          ...(signal ? { signal } : {}),
        }),
      false,
    );
  }

  private async listTags(): Promise<string[]> {
    // Tags come from the primary location, as containers/image does.
    const i = this.sources.length - 1;
    return this.client(i).listTags(this.sources[i]!.ref.path);
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.close()));
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const CAPABILITIES: DestinationCapabilities = {
  supportsIndex: true,
  manifestMediaTypes,
  layerCompression: 'preserve',
  concurrentBlobs: true,
};

class DockerDestination implements ImageDestination, BlobMounter {
  readonly capabilities = CAPABILITIES;
  private readonly repo: string;

  constructor(
    readonly reference: DockerReference,
    private readonly target: PullSource,
    readonly client: RegistryClient,
    private readonly conf: RegistriesConf,
    /** The job's client pool, which also remembers where blobs are (mount sources). */
    private readonly pool?: RegistryClientPool,
  ) {
    this.repo = target.ref.path;
  }

  private noteBlob(digest: string): void {
    this.pool?.noteBlob(this.target.endpoint, this.repo, digest);
  }

  async hasBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<boolean> {
    const size = await this.client.headBlob(this.repo, descriptor.digest as Digest, signal);
    if (size === undefined) return false;
    const present = size < 0 || descriptor.size < 0 || size === descriptor.size;
    if (present) this.noteBlob(descriptor.digest);
    return present;
  }

  async putBlob(stream: Readable, info: PutBlobInfo, signal?: AbortSignal): Promise<Descriptor> {
    const result = await this.client.uploadBlob(
      this.repo,
      stream,
      { ...(info.digest !== undefined ? { digest: info.digest } : {}), sizeBytes: info.sizeBytes },
      { ...(signal ? { signal } : {}), ...(info.verified ? { verified: true } : {}) },
    );
    this.noteBlob(result.digest);
    return { mediaType: info.mediaType, digest: result.digest, size: result.sizeBytes };
  }

  /**
   * Mount the blob from another repository of this registry: the source's repository when the
   * source is on the same endpoint, else one where this job already wrote or found it.
   */
  async mountBlob(descriptor: Descriptor, from: ImageReference, signal?: AbortSignal): Promise<boolean> {
    const digest = descriptor.digest as Digest;
    let fromRepo = this.pool?.blobElsewhere(this.target.endpoint, digest, this.repo);
    if (fromRepo === undefined && from instanceof DockerReference) {
      try {
        const fromTarget = pushTarget(this.conf, from.ref);
        if (fromTarget.endpoint === this.target.endpoint && fromTarget.ref.path !== this.repo) {
          fromRepo = fromTarget.ref.path;
        }
      } catch {
        // A blocked or unknown source location: nothing to mount from.
      }
    }
    if (fromRepo === undefined) return false;
    try {
      const mounted = await this.client.mountBlob(this.repo, digest, fromRepo, signal);
      if (mounted) this.noteBlob(digest);
      return mounted;
    } catch (err) {
      if (isSkiffError(err) && err.code !== 'ABORTED') return false;
      throw err;
    }
  }

  async putManifest(manifest: RawManifest, instanceDigest?: Digest, signal?: AbortSignal): Promise<void> {
    const reference = instanceDigest ?? referenceOf(this.target.ref);
    await this.client.putManifest(this.repo, reference, manifest.raw, manifest.mediaType, signal);
  }

  async commit(_signal?: AbortSignal): Promise<void> {
    // The registry makes a manifest visible when it is put; nothing is left to do.
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** Parse `//host/repo[:tag|@digest]` (what follows `docker:`). */
export function parseDockerReference(details: string): DockerReference {
  if (!details.startsWith('//')) {
    throw new SkiffError('INVALID_REFERENCE', `invalid reference docker:${details}: expected docker://NAME`, {
      hint: `write docker://${details.replace(/^\/*/, '')}`,
    });
  }
  return new DockerReference(parseReference(details.slice(2)));
}

export const dockerTransport: Transport = {
  name: 'docker',
  parseReference: parseDockerReference,
};

function asDockerReference(ref: ImageReference): DockerReference {
  if (!(ref instanceof DockerReference)) {
    throw new SkiffError('INVALID_ARGUMENT', `${ref.toString()} is not a docker:// reference`);
  }
  return ref;
}

/** The tags of the reference's repository (skopeo list-tags). */
export async function listRepoTags(ref: ImageReference, options: TransportOptions = {}): Promise<string[]> {
  const d = asDockerReference(ref);
  const sources = pullSources(loadConf(options), d.ref);
  const primary = sources[sources.length - 1]!;
  const client = clientFor(primary, options);
  try {
    return await client.listTags(primary.ref.path);
  } finally {
    await client.close();
  }
}

/** The digest of the manifest the reference names, as the registry reports it (HEAD). */
export async function resolveDigest(
  ref: ImageReference,
  options: TransportOptions = {},
  signal?: AbortSignal,
): Promise<Digest> {
  const d = asDockerReference(ref);
  const sources = pullSources(loadConf(options), d.ref);
  let lastError: unknown;
  for (const source of sources) {
    const client = clientFor(source, options);
    try {
      const head = await client.headManifest(source.ref.path, referenceOf(source.ref), signal);
      if (head !== undefined) return head.digest;
      lastError = new SkiffError('MANIFEST_UNKNOWN', `${d.toString()}: manifest unknown`, { status: 404 });
    } catch (err) {
      lastError = err;
      if (!isSkiffError(err) || !FALLBACK_CODES.has(err.code)) throw err;
    } finally {
      await client.close();
    }
  }
  throw lastError;
}
