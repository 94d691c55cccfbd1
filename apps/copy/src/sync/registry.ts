import { isSkiffError, SkiffError } from '@skiff/oci/errors';
import type { ImageRef } from '@skiff/oci/reference/reference';
import {
  loadRegistriesConf,
  pullSources,
  pushTarget,
  type RegistriesConf,
} from '@skiff/oci/reference/registries-conf';
import type { RegistryGate } from '@skiff/oci/registry/gate';
import { RegistryClientPool } from '@skiff/oci/registry/pool';
import { type Digest, digestOf, isDigest } from '@skiff/oci/spec/digest';
import type { Descriptor } from '@skiff/oci/spec/schemas';
import { clientFor } from '@skiff/oci/transports/docker';
import type { TransportOptions } from '@skiff/oci/transports/types';

/**
 * The registry metadata calls sync makes besides copying (HEAD a manifest, list tags, referrers,
 * delete), over the library's RegistryClient: one client per registry endpoint and options for
 * the whole run, so connections and bearer tokens are reused across images.
 */

export interface ManifestHead {
  digest: Digest;
  mediaType: string;
}

function referenceOf(ref: ImageRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function isNotFound(err: unknown): boolean {
  return (
    isSkiffError(err) &&
    (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NOT_FOUND' || err.code === 'BLOB_UNKNOWN')
  );
}

export function isRateLimited(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if (isSkiffError(e) && (e.code === 'TOO_MANY_REQUESTS' || e.status === 429)) return true;
  }
  return false;
}

/** Retry-After carried by the error, if the library provides it (see the library wish list). */
export function retryAfterOf(err: unknown): number | undefined {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const ms = (e as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof ms === 'number' && Number.isFinite(ms)) return ms;
  }
  return undefined;
}

export class RegistryAccess {
  /** Clients shared by this access and by every copy of the run (TransportOptions.clientPool). */
  readonly pool = new RegistryClientPool();
  private readonly sourceHeads = new Map<string, Promise<ManifestHead | undefined>>();
  /** registries.conf as read at the first call, by --registries-conf path: one read per run, not per request. */
  private readonly confs = new Map<string, RegistriesConf>();

  /** With a gate, a 429 closes the registry for everyone and the call waits and retries (up to `attempts`). */
  constructor(
    private readonly gate?: RegistryGate,
    private readonly attempts = 8,
    private readonly onBlocked?: (registry: string, delayMs: number) => void,
  ) {}

  private async gated<T>(ref: ImageRef, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.gate) await this.gate.wait([ref.domain], signal);
      try {
        const result = await fn();
        this.gate?.clear(ref.domain);
        return result;
      } catch (err) {
        if (!this.gate || !isRateLimited(err) || attempt >= this.attempts) throw err;
        this.onBlocked?.(ref.domain, this.gate.block(ref.domain, retryAfterOf(err)));
      }
    }
  }

  /** The client and repository path for `ref` (pull side: the primary location; push side: its target). */
  private clientOf(ref: ImageRef, options: TransportOptions, side: 'pull' | 'push') {
    const key = options.registriesConfPath ?? '';
    let conf = this.confs.get(key);
    if (!conf) {
      conf = loadRegistriesConf(options.registriesConfPath ? { path: options.registriesConfPath } : {});
      this.confs.set(key, conf);
    }
    const target = side === 'push' ? pushTarget(conf, ref) : pullSources(conf, ref).at(-1)!;
    const client = clientFor(target, { ...options, clientPool: this.pool });
    return { client, path: target.ref.path, reference: referenceOf(target.ref) };
  }

  /** HEAD the manifest a reference names; undefined when the registry has none. */
  async head(
    ref: ImageRef,
    options: TransportOptions,
    signal?: AbortSignal,
  ): Promise<ManifestHead | undefined> {
    const { client, path, reference } = this.clientOf(ref, options, 'pull');
    const head = await this.gated(ref, () => client.headManifest(path, reference, signal), signal);
    return head && { digest: head.digest, mediaType: head.mediaType };
  }

  async getManifest(ref: ImageRef, options: TransportOptions, signal?: AbortSignal) {
    const { client, path, reference } = this.clientOf(ref, options, 'pull');
    return this.gated(ref, () => client.getManifest(path, reference, signal), signal);
  }

  /** Every tag of the reference's repository; [] when the repository does not exist. */
  async listTags(ref: ImageRef, options: TransportOptions, signal?: AbortSignal): Promise<string[]> {
    const { client, path } = this.clientOf(ref, options, 'pull');
    try {
      return await this.gated(ref, () => client.listTags(path, signal), signal);
    } catch (err) {
      if (isSkiffError(err) && (err.code === 'NOT_FOUND' || err.registryCode === 'NAME_UNKNOWN')) return [];
      throw err;
    }
  }

  /** `tags`: the repository's tags when known (spares requests on registries without the API). */
  async referrers(
    ref: ImageRef,
    digest: Digest,
    options: TransportOptions,
    signal?: AbortSignal,
    tags?: readonly string[],
  ) {
    const { client, path } = this.clientOf(ref, options, 'pull');
    const opts = { ...(signal ? { signal } : {}), ...(tags ? { tags } : {}) };
    return this.gated(ref, () => client.referrers(path, digest, opts) as Promise<Descriptor[]>, signal);
  }

  /**
   * HEAD of a source manifest, asked once per run: the plan and the companion lookup both need
   * it. (Destination HEADs are never cached: they decide what to copy.)
   */
  sourceHead(
    ref: ImageRef,
    options: TransportOptions,
    signal?: AbortSignal,
  ): Promise<ManifestHead | undefined> {
    const key = ref.toString();
    let head = this.sourceHeads.get(key);
    if (!head) {
      head = this.head(ref, options, signal);
      head.catch(() => this.sourceHeads.delete(key));
      this.sourceHeads.set(key, head);
    }
    return head;
  }

  async deleteManifest(ref: ImageRef, digest: Digest, options: TransportOptions, signal?: AbortSignal) {
    const { client, path } = this.clientOf(ref, options, 'push');
    await this.gated(ref, () => client.deleteManifest(path, digest, signal), signal);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** The digest and bytes of the manifest any transport's image name holds; undefined when absent. */
export async function readManifest(
  imageName: string,
  options: TransportOptions,
  signal?: AbortSignal,
): Promise<{ digest: Digest; raw: Buffer; mediaType: string } | undefined> {
  // Every transport's code loads only here: a registry-to-registry sync never needs it.
  const { parseImageName } = await import('@skiff/oci/transports/index');
  const ref = parseImageName(imageName);
  let source: Awaited<ReturnType<typeof ref.newSource>>;
  try {
    source = await ref.newSource(options);
  } catch (err) {
    if (isNotFound(err) || (isSkiffError(err) && err.code === 'IO')) return undefined;
    throw err;
  }
  try {
    const m = await source.getManifest(undefined, signal);
    return { digest: digestOf(m.raw), raw: m.raw, mediaType: m.mediaType };
  } catch (err) {
    if (isNotFound(err) || (isSkiffError(err) && err.code === 'IO')) return undefined;
    throw err;
  } finally {
    await source.close();
  }
}

/** `sha256:<hex>` → `sha256-<hex>`, the prefix of cosign and referrers-fallback tags. */
export function companionTagPrefix(digest: string): string {
  if (!isDigest(digest)) throw new SkiffError('INVALID_ARGUMENT', `not a digest: ${digest}`);
  return digest.replace(':', '-');
}

/** Tags that hold signatures, attestations, SBOMs or the referrers index of some digest. */
export const COMPANION_TAG_RE = /^(sha256|sha512)-[0-9a-f]{64,128}(\.(sig|att|sbom))?$/;

/** The companion tags of `digest` among `tags`: `sha256-<hex>`, `.sig`, `.att`, `.sbom`. */
export function companionTags(tags: readonly string[], digest: string): string[] {
  const prefix = companionTagPrefix(digest);
  return tags.filter(
    (t) => t === prefix || t === `${prefix}.sig` || t === `${prefix}.att` || t === `${prefix}.sbom`,
  );
}
