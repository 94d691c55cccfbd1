import { SkiffError } from '@skiff/oci/errors';
import { type Digest, digestOf } from '@skiff/oci/spec/digest';
import { formatPlatform, type PlatformSpec, platformMatches } from '@skiff/oci/spec/platform';
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  RawManifest,
  TransportOptions,
} from '@skiff/oci/transports/types';

/**
 * The `platforms:` filter of a sync YAML registry: copy only the listed os/arch[/variant]
 * instances of an index, as a smaller but valid index. The copy engine has no instance filter
 * yet, so this is a read-only view of the source whose top-level index lists only the kept
 * instances; `copyImage` copies it like any index (and writes exactly these bytes, so the
 * destination digest is `digestOf(filtered)` and a second run can skip with one HEAD).
 * Engine change wanted: `CopyOptions.instanceFilter(descriptor) => boolean`, applied in
 * copyIndex before fetching instances and passed to buildIndex's existing `keep` parameter.
 */

export interface FilteredIndex {
  raw: Buffer;
  digest: Digest;
  kept: number;
  total: number;
}

/** The index bytes with only matching instances; the original bytes when every instance matches. */
export function filterIndex(raw: Buffer, platforms: readonly PlatformSpec[], what: string): FilteredIndex {
  const doc = JSON.parse(raw.toString('utf8')) as {
    manifests?: Array<{ platform?: Record<string, string> }>;
  };
  const all = doc.manifests ?? [];
  const kept = all.filter((d) => platforms.some((p) => platformMatches(d.platform, p)));
  if (kept.length === 0) {
    const have = all.map((d) => (d.platform ? formatPlatform(d.platform) : 'unknown')).join(', ');
    throw new SkiffError(
      'NO_MATCHING_PLATFORM',
      `${what} has no instance for ${platforms.map(formatPlatform).join(', ')} (it has: ${have || 'none'})`,
    );
  }
  if (kept.length === all.length) return { raw, digest: digestOf(raw), kept: kept.length, total: all.length };
  const out = Buffer.from(JSON.stringify({ ...doc, manifests: kept }));
  return { raw: out, digest: digestOf(out), kept: kept.length, total: all.length };
}

class FilteredSource implements ImageSource {
  readonly repoTags?: () => Promise<string[]>;
  constructor(
    private readonly inner: ImageSource,
    private readonly platforms: readonly PlatformSpec[],
  ) {
    if (inner.repoTags) this.repoTags = inner.repoTags;
  }
  get reference(): ImageReference {
    return this.inner.reference;
  }
  async getManifest(instanceDigest?: Digest, signal?: AbortSignal): Promise<RawManifest> {
    const m = await this.inner.getManifest(instanceDigest, signal);
    if (instanceDigest !== undefined) return m;
    const json = JSON.parse(m.raw.toString('utf8')) as { manifests?: unknown };
    if (!Array.isArray(json.manifests)) return m; // a single image: nothing to filter
    const f = filterIndex(m.raw, this.platforms, this.inner.reference.toString());
    return { raw: f.raw, mediaType: m.mediaType };
  }
  getBlob(...args: Parameters<ImageSource['getBlob']>) {
    return this.inner.getBlob(...args);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A source reference whose indexes are narrowed to `platforms` (destination side unchanged). */
export function withPlatformFilter(ref: ImageReference, platforms: readonly PlatformSpec[]): ImageReference {
  return {
    transport: ref.transport,
    withinTransport: ref.withinTransport,
    toString: () => ref.toString(),
    newSource: async (options?: TransportOptions) =>
      new FilteredSource(await ref.newSource(options), platforms),
    newDestination: (options?: TransportOptions): Promise<ImageDestination> => ref.newDestination(options),
  };
}
