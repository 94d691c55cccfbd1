import { copyImage } from '../copy/copy.js';
import type { CopyProgressEvent } from '../copy/events.js';
import { isSkiffError, SkiffError } from '../errors.js';
import { type ImageRef, withTag } from '../reference/reference.js';
import { loadRegistriesConf, resolveShortName } from '../reference/registries-conf.js';
import { RegistryClientPool } from '../registry/pool.js';
import type { Digest } from '../spec/digest.js';
import { parseManifest } from '../spec/manifest.js';
import { formatPlatform, hostPlatform, type PlatformSpec, selectPlatform } from '../spec/platform.js';
import type { StoreLocationOptions } from '../storage/config.js';
import { type ImageInfo, openStore, type Store } from '../storage/store.js';
import { parseContainersStorageReference } from '../transports/containers-storage.js';
import { listRepoTags, parseDockerReference } from '../transports/docker.js';
import type { TransportOptions } from '../transports/types.js';

/**
 * `podman pull` over the copy engine: short names resolved through registries.conf (each
 * candidate tried in order), the platform's instance of an index chosen, and an image the store
 * already holds (same manifest digest) only given the name — no blob is fetched again. Progress
 * events are the copy engine's plus `trying` (one per candidate).
 */

export type PullEvent = CopyProgressEvent | { type: 'trying'; reference: string };

export interface PullOptions {
  store: StoreLocationOptions;
  transportOptions?: TransportOptions;
  platform?: PlatformSpec;
  /** Pull every tag of the repository (the name must not have a tag). */
  allTags?: boolean;
  onProgress?: (e: PullEvent) => void;
  signal?: AbortSignal;
}

export interface PulledImage {
  name: string;
  image: ImageInfo;
  /** Whether the copy engine ran (false: the store already had it). */
  copied: boolean;
}

/** Errors after which the next short-name candidate is tried, as podman does. */
const NEXT_CANDIDATE = new Set([
  'NOT_FOUND',
  'MANIFEST_UNKNOWN',
  'UNAUTHORIZED',
  'DENIED',
  'NETWORK',
  'TLS',
  'REGISTRY',
  'BLOCKED_REGISTRY',
  'NO_MATCHING_PLATFORM',
]);

/** The candidates a pull of `name` tries (a `docker://` prefix is taken off; the name must be fully qualified then). */
export function pullCandidates(
  name: string,
  options: Pick<TransportOptions, 'registriesConfPath'> = {},
): ImageRef[] {
  if (name.startsWith('docker://')) return [parseDockerReference(name.slice('docker:'.length)).ref];
  const conf = loadRegistriesConf(options.registriesConfPath ? { path: options.registriesConfPath } : {});
  return resolveShortName(name, conf).candidates;
}

function wantedPlatform(p: PlatformSpec | undefined): PlatformSpec {
  const host = hostPlatform();
  const want: PlatformSpec = { os: p?.os ?? host.os, architecture: p?.architecture ?? host.architecture };
  const variant = p?.variant ?? (p?.architecture ? undefined : host.variant);
  if (variant) want.variant = variant;
  return want;
}

/**
 * When the store already holds the image `ref` names for the platform, give it the name and
 * return it (emitting the events podman prints for a pull that skips everything).
 */
async function reuseIfPresent(
  ref: ImageRef,
  options: PullOptions,
  store: Store,
): Promise<ImageInfo | undefined> {
  const emit = options.onProgress ?? (() => {});
  const source = await parseDockerReference(`//${ref.toString()}`).newSource(options.transportOptions);
  let instance: Digest;
  try {
    const top = await source.getManifest(undefined, options.signal);
    const m = parseManifest(top.raw, top.mediaType, `docker://${ref}`);
    if (m.kind === 'index') {
      const want = wantedPlatform(options.platform);
      const chosen = selectPlatform(m.manifests, want);
      if (!chosen) {
        const have = m.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : 'unknown')).join(', ');
        throw new SkiffError(
          'NO_MATCHING_PLATFORM',
          `docker://${ref} has no instance for ${formatPlatform(want)} (it has: ${have || 'none'})`,
        );
      }
      instance = chosen.digest as Digest;
    } else instance = m.digest;
  } finally {
    await source.close();
  }
  const image = store.findImageByManifest(instance);
  if (!image) return undefined;
  const name = ref.toString();
  if (!image.names.includes(name)) store.tag(image.id, name);
  emit({ type: 'start', source: `docker://${name}`, destination: `containers-storage:${name}` });
  const manifest = parseManifest(image.manifest, image.manifestMediaType, `image ${image.id}`);
  if (manifest.kind === 'manifest') {
    for (const l of manifest.layers) {
      emit({ type: 'blob-done', digest: l.digest, action: 'skipped', sizeBytes: l.size, kind: 'layer' });
    }
    emit({
      type: 'blob-done',
      digest: manifest.config.digest,
      action: 'copied',
      sizeBytes: manifest.config.size,
      kind: 'config',
    });
  }
  emit({
    type: 'manifest',
    digest: image.manifestDigest,
    mediaType: image.manifestMediaType,
    instance: false,
  });
  emit({ type: 'done', digest: image.manifestDigest });
  return store.getImage(image.id);
}

async function pullOne(ref: ImageRef, options: PullOptions): Promise<PulledImage> {
  // One registry client (one ping, one token) for the presence check and the copy, and one
  // open store (one database open and cleanup pass) for the check, the copy and the result.
  const pool = new RegistryClientPool();
  const shared: PullOptions = {
    ...options,
    transportOptions: { ...options.transportOptions, clientPool: pool },
  };
  try {
    const store = await openStore(options.store);
    try {
      return await pullWith(ref, shared, store);
    } finally {
      store.close();
    }
  } finally {
    await pool.close();
  }
}

async function pullWith(ref: ImageRef, options: PullOptions, store: Store): Promise<PulledImage> {
  const name = ref.toString();
  const present = await reuseIfPresent(ref, options, store);
  if (present) return { name, image: present, copied: false };
  const destination = parseContainersStorageReference(name, options.store, { store });
  await copyImage(parseDockerReference(`//${name}`), destination, {
    multiArch: 'system',
    ...(options.transportOptions ? { sourceOptions: options.transportOptions } : {}),
    ...(options.platform ? { platform: options.platform } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const image = store.getImage(name);
  if (!image) throw new SkiffError('INTERNAL', `${name} was pulled but is not in the store`);
  return { name, image, copied: true };
}

/**
 * Pull `name` (a reference as users type it, or `docker://…`) into the store. With several
 * short-name candidates, each is tried in turn; when all fail, the error lists every attempt.
 */
export async function pullImage(name: string, options: PullOptions): Promise<PulledImage[]> {
  const candidates = pullCandidates(name, options.transportOptions ?? {});
  const emit = options.onProgress ?? (() => {});
  const failures: Array<{ ref: ImageRef; err: unknown }> = [];
  for (const candidate of candidates) {
    emit({ type: 'trying', reference: candidate.toString() });
    try {
      if (options.allTags) {
        const bare = name.replace(/^docker:\/\//, '');
        if (bare.includes('@') || /:[^/]*$/.test(bare)) {
          throw new SkiffError(
            'INVALID_ARGUMENT',
            `${name}: --all-tags needs a name without a tag or digest`,
          );
        }
        const repo = parseDockerReference(`//${candidate.name}`);
        const tags = await listRepoTags(repo, options.transportOptions ?? {});
        const out: PulledImage[] = [];
        for (const tag of tags) out.push(await pullOne(withTag(candidate, tag), options));
        return out;
      }
      return [await pullOne(candidate, options)];
    } catch (err) {
      if (
        options.signal?.aborted ||
        !isSkiffError(err) ||
        !NEXT_CANDIDATE.has(err.code) ||
        candidates.length === 1
      ) {
        throw err;
      }
      failures.push({ ref: candidate, err });
    }
  }
  const lines = failures.map(
    ({ ref, err }) => ` * docker://${ref}: ${err instanceof Error ? err.message : String(err)}`,
  );
  throw new SkiffError('NOT_FOUND', `${failures.length} errors occurred while pulling:\n${lines.join('\n')}`);
}
