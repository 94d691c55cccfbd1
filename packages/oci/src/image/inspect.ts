import { SkiffError } from '../errors.js';
import type { Digest } from '../spec/digest.js';
import { type ImageManifest, type Manifest, parseImageConfig, parseManifest } from '../spec/manifest.js';
import { formatPlatform, hostPlatform, type PlatformSpec, selectPlatform } from '../spec/platform.js';
import type { ImageConfig } from '../spec/schemas.js';
import type { ImageReference, ImageSource, TransportOptions } from '../transports/types.js';
import { readSmallBlob } from './read-blob.js';

export interface InspectOptions extends TransportOptions {
  /** The platform whose instance of an index to describe; missing fields from the host. */
  platform?: PlatformSpec;
  /** Also list the repository's tags (docker transport only; skopeo's RepoTags). */
  tags?: boolean;
  signal?: AbortSignal;
}

export interface InspectedImage {
  /** The manifest the reference names, as stored (an index for multi-platform images). */
  topManifest: Manifest;
  /** The image manifest chosen for the platform (the top manifest when it is not an index). */
  manifest: ImageManifest;
  rawConfig: Buffer;
  /** Undefined for artifacts whose config is not an image config. */
  config: ImageConfig | undefined;
  repoTags: string[];
}

/** The manifest a reference names, as stored (skopeo inspect --raw). */
export async function fetchManifest(ref: ImageReference, options: InspectOptions = {}): Promise<Manifest> {
  const source = await ref.newSource(options);
  try {
    return await topManifest(source, options.signal);
  } finally {
    await source.close();
  }
}

async function topManifest(source: ImageSource, signal: AbortSignal | undefined): Promise<Manifest> {
  const { raw, mediaType } = await source.getManifest(undefined, signal);
  return parseManifest(raw, mediaType, source.reference.toString());
}

/**
 * Everything skopeo inspect reports: the top-level manifest (its digest is the image's),
 * and the platform instance's manifest and config (most other fields).
 */
export async function inspectImage(
  ref: ImageReference,
  options: InspectOptions = {},
): Promise<InspectedImage> {
  const source = await ref.newSource(options);
  // The tag list does not depend on the manifests: asked for at once, beside them. Its error,
  // if any, surfaces after theirs.
  const tags = options.tags && source.repoTags ? source.repoTags() : Promise.resolve([]);
  tags.catch(() => {});
  try {
    const what = ref.toString();
    const top = await topManifest(source, options.signal);
    let manifest: ImageManifest;
    if (top.kind === 'index') {
      const host = hostPlatform();
      const o = options.platform ?? {};
      const want: PlatformSpec = { os: o.os ?? host.os, architecture: o.architecture ?? host.architecture };
      if (o.variant) want.variant = o.variant;
      const chosen = selectPlatform(top.manifests, want);
      if (!chosen) {
        const have = top.manifests
          .map((d) => (d.platform ? formatPlatform(d.platform) : 'unknown'))
          .join(', ');
        throw new SkiffError(
          'NO_MATCHING_PLATFORM',
          `${what} has no instance for ${formatPlatform(want)} (it has: ${have || 'none'})`,
          { hint: 'choose one with --override-os/--override-arch/--override-variant' },
        );
      }
      const instance = await source.getManifest(chosen.digest as Digest, options.signal);
      const parsed = parseManifest(instance.raw, instance.mediaType, `${what} (instance ${chosen.digest})`);
      if (parsed.digest !== chosen.digest) {
        throw new SkiffError(
          'DIGEST_MISMATCH',
          `manifest ${chosen.digest} of ${what}: content has digest ${parsed.digest}`,
        );
      }
      if (parsed.kind !== 'manifest')
        throw new SkiffError('UNSUPPORTED', `${what}: nested index ${chosen.digest}`);
      manifest = parsed;
    } else {
      manifest = top;
    }
    const rawConfig = await readSmallBlob(source, manifest.config, `config of ${what}`, options.signal);
    const isImageConfig = /(image\.config\.v1|container\.image\.v1)\+json$/.test(manifest.config.mediaType);
    const config = isImageConfig ? parseImageConfig(rawConfig, what) : undefined;
    return { topManifest: top, manifest, rawConfig, config, repoTags: await tags };
  } finally {
    await tags.catch(() => {});
    await source.close();
  }
}
