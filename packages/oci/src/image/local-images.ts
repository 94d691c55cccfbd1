import { SkiffError } from '../errors.js';
import { type ImageRef, isShortName, parseReference, withDefaultTag } from '../reference/reference.js';
import { parseDigest } from '../spec/digest.js';
import { parseImageConfig } from '../spec/manifest.js';
import type { ImageConfig } from '../spec/schemas.js';
import type { ImageInfo, Store } from '../storage/store.js';
import { repoDigestsOf, splitName } from './image-summary.js';

export {
  type ImageFilter,
  type ImageSummary,
  parseImageFilters,
  type RepoTag,
  repoDigestsOf,
  splitName,
  summarize,
} from './image-summary.js';

/**
 * The local store's images as podman presents them: name lookup with podman's short-name rules,
 * `images` rows and filters, `image inspect` data and `history`. Pure functions over ImageInfo
 * (plus the store for lookups); nothing here prints.
 */

/**
 * Find a local image as podman does: an ID (full, prefix, or `sha256:` form) or an exact name;
 * else the normalised reference (docker.io/library/…, `:latest`); else, for a short name,
 * `localhost/NAME` and then any name whose repository ends in `/NAME` with the same tag.
 */
export function lookupLocalImage(store: Store, nameOrId: string): ImageInfo | undefined {
  const direct = store.getImage(nameOrId);
  if (direct) return direct;
  let ref: ImageRef;
  try {
    ref = parseReference(nameOrId);
  } catch {
    return undefined;
  }
  const full = withDefaultTag(ref);
  const named = store.getImage(full.toString());
  if (named) return named;
  if (full.digest) {
    return store
      .listImages()
      .find(
        (i) =>
          i.manifestDigest === full.digest &&
          (i.names.some((n) => splitName(n).repository === full.name) || !isShortName(nameOrId)),
      );
  }
  if (!isShortName(nameOrId)) return undefined;
  const input = nameOrId.replace(/:[^/:]*$/, '');
  const tag = full.tag ?? 'latest';
  const local = store.getImage(`localhost/${input}:${tag}`);
  if (local) return local;
  return store.listImages().find((i) =>
    i.names.some((n) => {
      const { repository, tag: t } = splitName(n);
      return t === tag && (repository === input || repository.endsWith(`/${input}`));
    }),
  );
}

/** lookupLocalImage or NOT_FOUND with podman's wording. */
export function requireLocalImage(store: Store, nameOrId: string): ImageInfo {
  const image = lookupLocalImage(store, nameOrId);
  if (!image) throw new SkiffError('NOT_FOUND', `${nameOrId}: image not known`);
  return image;
}

/**
 * The name to store for a user's TARGET in `tag`/`import`/`load`: fully qualified as podman does
 * (a short name gets `localhost/`, `:latest` when no tag).
 */
export function normalizeLocalName(name: string): string {
  const ref = parseReference(isShortName(name) ? `localhost/${name}` : name);
  if (ref.digest !== undefined) {
    throw new SkiffError(
      'INVALID_REFERENCE',
      `invalid image name "${name}": a local name cannot have a digest`,
    );
  }
  return withDefaultTag(ref).toString();
}

export function imageConfigOf(image: ImageInfo): ImageConfig {
  return parseImageConfig(image.config, `config of image ${image.id}`);
}

// ---- inspect (podman image inspect) ----

/** The fields of `podman image inspect`, in its order. */
export interface ImageInspectData {
  Id: string;
  Digest: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string | undefined;
  Config: Record<string, unknown>;
  Version: string;
  Author: string;
  Architecture: string;
  Os: string;
  Size: number;
  VirtualSize: number;
  GraphDriver: { Name: string; Data: Record<string, string> };
  RootFS: { Type: string; Layers: string[] };
  Labels: Record<string, string> | null;
  Annotations: Record<string, string>;
  ManifestType: string;
  User: string;
  History: Array<Record<string, unknown>>;
  NamesHistory: string[];
}

export function inspectData(
  image: ImageInfo,
  store: { location: { driver: string; root: string } },
): ImageInspectData {
  const config = imageConfigOf(image);
  let annotations: Record<string, string> = {};
  try {
    const m = JSON.parse(image.manifest.toString('utf8')) as { annotations?: Record<string, string> };
    if (m.annotations && typeof m.annotations === 'object') annotations = m.annotations;
  } catch {}
  const layerDirs = image.layers.map((c) => `${store.location.root}/layers/${parseDigest(c).hex}`);
  const top = layerDirs.at(-1);
  const graphData: Record<string, string> = {};
  if (store.location.driver === 'overlay') {
    if (top) graphData.UpperDir = `${top}/diff`;
    if (layerDirs.length > 1)
      graphData.LowerDir = layerDirs
        .slice(0, -1)
        .reverse()
        .map((d) => `${d}/diff`)
        .join(':');
  } else if (top) graphData.Dir = top;
  const labels = config.config?.Labels ?? null;
  return {
    Id: image.id,
    Digest: image.manifestDigest,
    RepoTags: [...image.names],
    RepoDigests: repoDigestsOf(image),
    Parent: '',
    Comment: (config as { comment?: string }).comment ?? config.history?.at(-1)?.comment ?? '',
    Created: config.created,
    Config: { ...(config.config ?? {}) },
    Version: config.docker_version ?? '',
    Author: config.author ?? '',
    Architecture: config.architecture,
    Os: config.os,
    Size: image.sizeBytes,
    VirtualSize: image.sizeBytes,
    GraphDriver: { Name: store.location.driver, Data: graphData },
    RootFS: { Type: config.rootfs.type, Layers: [...config.rootfs.diff_ids] },
    Labels: labels && Object.keys(labels).length > 0 ? { ...labels } : null,
    Annotations: annotations,
    ManifestType: image.manifestMediaType,
    User: config.config?.User ?? '',
    History: (config.history ?? []).map((h) => ({ ...h })),
    NamesHistory: [...image.names],
  };
}

// ---- history ----

export interface HistoryEntry {
  /** The image ID for the top entry, `<missing>` for the others (as podman). */
  id: string;
  created: Date | undefined;
  createdBy: string;
  sizeBytes: number;
  comment: string;
  tags: string[];
}

/**
 * The image's history, newest first; each non-empty entry is matched to its layer's unpacked size
 * (`layerSize(i)` for the i-th layer, bottom up).
 */
export function imageHistory(image: ImageInfo, layerSize: (index: number) => number): HistoryEntry[] {
  const config = imageConfigOf(image);
  let history = config.history ?? [];
  const layerCount = config.rootfs.diff_ids.length;
  if (history.length === 0) {
    history = Array.from({ length: layerCount }, () => ({ created: config.created }));
  }
  let layer = 0;
  const entries: HistoryEntry[] = history.map((h) => {
    let size = 0;
    if (!h.empty_layer && layer < layerCount) {
      size = layerSize(layer);
      layer += 1;
    }
    const created = h.created ? new Date(h.created) : undefined;
    return {
      id: '<missing>',
      created: created && !Number.isNaN(created.getTime()) ? created : undefined,
      createdBy: h.created_by ?? '',
      sizeBytes: size,
      comment: h.comment ?? '',
      tags: [],
    };
  });
  entries.reverse();
  if (entries[0]) {
    entries[0].id = image.id;
    entries[0].tags = [...image.names];
  }
  return entries;
}

/** The stored name of `image` that the user's `input` stands for (exact, normalised, or short), if any. */
export function storedNameFor(image: ImageInfo, input: string): string | undefined {
  if (image.names.includes(input)) return input;
  if (/^(sha256:)?[a-f0-9]{3,64}$/.test(input)) return undefined;
  try {
    const full = withDefaultTag(parseReference(input)).toString();
    if (image.names.includes(full)) return full;
  } catch {}
  const withTag = /:[^/]*$/.test(input) ? input : `${input}:latest`;
  return image.names.find((n) => n.endsWith(`/${withTag}`));
}
