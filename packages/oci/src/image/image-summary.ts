import { SkiffError } from '../errors.js';
import { parseReference } from '../reference/reference.js';
import type { ImageConfig } from '../spec/schemas.js';
import type { ImageRecord } from '../storage/image-records.js';

/**
 * `images` as podman presents it: names split into repository and tag, one summary per image,
 * and the `--filter` expressions. Built from the store's image records (storage/image-records),
 * which keep every column the listing shows, so nothing here parses a config: this module is on
 * the start-up path of `skiff images` and loads neither zod nor the store.
 */

/** A name in the store split into repository and tag (`<none>` when the name has a digest only). */
export interface RepoTag {
  repository: string;
  tag: string;
}

export function splitName(name: string): RepoTag {
  const at = name.indexOf('@');
  const base = at >= 0 ? name.slice(0, at) : name;
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/') && colon >= 0) {
    return { repository: base.slice(0, colon), tag: base.slice(colon + 1) };
  }
  return { repository: base, tag: '<none>' };
}

export interface ImageSummary {
  id: string;
  /** Each name split; empty for a dangling image. */
  repoTags: RepoTag[];
  names: string[];
  /** `repository@digest` for each distinct repository. */
  repoDigests: string[];
  digest: string;
  created: Date | undefined;
  sizeBytes: number;
  labels: Record<string, string>;
  dangling: boolean;
  /** The store's record (an ImageInfo when it came from Store.listImages). */
  image?: ImageRecord;
  /** Not filled by summarize (listing parses no config); kept for callers that have it. */
  config?: ImageConfig;
}

export function repoDigestsOf(image: Pick<ImageRecord, 'names' | 'manifestDigest'>): string[] {
  const repos = [...new Set(image.names.map((n) => splitName(n).repository))];
  return repos.map((r) => `${r}@${image.manifestDigest}`);
}

/** An image as `images` shows it, from the store's record alone (no config parsing). */
export function summarize(image: ImageRecord): ImageSummary {
  const created = image.created ? new Date(image.created) : undefined;
  return {
    id: image.id,
    repoTags: image.names.map(splitName),
    names: image.names,
    repoDigests: repoDigestsOf(image),
    digest: image.manifestDigest,
    created: created && !Number.isNaN(created.getTime()) ? created : undefined,
    sizeBytes: image.sizeBytes,
    labels: { ...image.labels },
    dangling: image.names.length === 0,
    image,
  };
}

// ---- filters (podman images --filter) ----

export type ImageFilter = (s: ImageSummary, all: ImageSummary[]) => boolean;

/** Go's path.Match for one name segment set: `*`, `?`, `[...]`. */
function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new SkiffError('INVALID_ARGUMENT', `invalid reference filter pattern "${pattern}"`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = `!${cls.slice(1)}`;
      re += `[${cls.startsWith('!') ? `^${cls.slice(1)}` : cls}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** reference=PATTERN as podman: matched against NAME:TAG, the repository, and their familiar forms. */
function referenceMatches(pattern: string, s: ImageSummary): boolean {
  const re = globToRegExp(pattern);
  const hasTag = /:[^/]*$/.test(pattern);
  for (const name of s.names) {
    const { repository, tag } = splitName(name);
    const forms = [repository];
    try {
      forms.push(parseReference(repository).familiar());
    } catch {}
    for (const f of forms) {
      if (hasTag ? re.test(`${f}:${tag}`) : re.test(f)) return true;
      // podman also matches a pattern without a registry against the end of the repository.
      if (!hasTag && !pattern.includes('/') && re.test(f.slice(f.lastIndexOf('/') + 1))) return true;
      if (hasTag && re.test(`${f.slice(f.lastIndexOf('/') + 1)}:${tag}`)) return true;
    }
  }
  return false;
}

function findReferenced(value: string, all: ImageSummary[], filter: string): ImageSummary {
  const found = all.find(
    (s) =>
      s.id.startsWith(value.replace(/^sha256:/, '')) ||
      s.names.includes(value) ||
      s.names.some((n) => {
        const { repository, tag } = splitName(n);
        const short = value.includes(':') ? value : `${value}:latest`;
        return `${repository}:${tag}`.endsWith(`/${short}`) || `${repository}:${tag}` === short;
      }),
  );
  if (!found) throw new SkiffError('NOT_FOUND', `${filter}: ${value}: image not known`);
  return found;
}

/**
 * Parse `--filter KEY=VALUE` values (dangling, reference, label, before, since, id, readonly,
 * intermediate). Filters with the same key are ORed (reference) or ANDed (label), as podman.
 */
export function parseImageFilters(values: readonly string[]): (all: ImageSummary[]) => ImageSummary[] {
  const byKey = new Map<string, string[]>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new SkiffError('INVALID_ARGUMENT', `invalid image filter "${v}": expected KEY=VALUE`);
    const key = v.slice(0, eq);
    byKey.set(key, [...(byKey.get(key) ?? []), v.slice(eq + 1)]);
  }
  const tests: Array<(s: ImageSummary, all: ImageSummary[]) => boolean> = [];
  for (const [key, vals] of byKey) {
    switch (key) {
      case 'dangling':
        for (const v of vals) {
          if (v !== 'true' && v !== 'false')
            throw new SkiffError(
              'INVALID_ARGUMENT',
              `invalid image filter "dangling=${v}": expected true or false`,
            );
          tests.push((s) => s.dangling === (v === 'true'));
        }
        break;
      case 'reference':
        tests.push((s) => vals.some((p) => referenceMatches(p, s)));
        break;
      case 'label':
        for (const v of vals) {
          const eq = v.indexOf('=');
          const k = eq < 0 ? v : v.slice(0, eq);
          tests.push((s) => Object.hasOwn(s.labels, k) && (eq < 0 || s.labels[k] === v.slice(eq + 1)));
        }
        break;
      case 'id':
        tests.push((s) => vals.some((v) => s.id.startsWith(v.replace(/^sha256:/, ''))));
        break;
      case 'digest':
        tests.push((s) => vals.some((v) => s.digest === v || s.digest.startsWith(v)));
        break;
      case 'before':
      case 'since':
        for (const v of vals) {
          tests.push((s, all) => {
            const ref = findReferenced(v, all, key);
            const t = s.created?.getTime() ?? 0;
            const r = ref.created?.getTime() ?? 0;
            return key === 'before' ? t < r : t > r;
          });
        }
        break;
      case 'intermediate':
      case 'readonly':
        // The store has no intermediate or read-only images.
        tests.push(() => vals.every((v) => v !== 'true'));
        break;
      default:
        throw new SkiffError('INVALID_ARGUMENT', `invalid image filter "${key}"`, {
          hint: 'valid filters: dangling, reference, label, id, digest, before, since',
        });
    }
  }
  return (all) => all.filter((s) => tests.every((t) => t(s, all)));
}
