import * as path from 'node:path';

/**
 * Where skopeo sync puts each source image. The suffix is the source's docker reference
 * (`registry.example.com/busybox:1.0`, `…/redis@sha256:…`) or, for `--src dir`, the image's path
 * under SOURCE; without `--scoped` only its last path element is kept (`busybox:1.0`). The
 * destination is `path.Join(DESTINATION, suffix)`:
 *
 *   --dest docker  docker://DESTINATION/busybox:1.0
 *   --dest dir     dir:DESTINATION/busybox:1.0   (one directory per image:tag, as skopeo)
 *   --dest oci     oci:DESTINATION/busybox:1.0   (ferry: one OCI layout per repository, the tag
 *                  or digest as its ref name; skopeo sync has no oci destination)
 */

export type SyncSourceTransport = 'docker' | 'dir' | 'yaml';
export type SyncDestinationTransport = 'docker' | 'dir' | 'oci';

export type SuffixSource =
  /** A registry image: its full docker reference, `domain/path:tag` or `domain/path@digest`. */
  | { kind: 'docker'; reference: string }
  /** A dir: image at absolute `path`, found under SOURCE (`base`, absolute). */
  | { kind: 'dir'; path: string; base: string };

export function destinationSuffix(source: SuffixSource, scoped: boolean): string {
  let suffix: string;
  if (source.kind === 'docker') {
    suffix = source.reference;
  } else {
    suffix = source.path.startsWith(source.base) ? source.path.slice(source.base.length) : source.path;
    if (suffix === '') suffix = path.posix.basename(source.base);
  }
  return scoped ? suffix : path.posix.basename(suffix);
}

/** Split `name:tag` / `name@digest` (the tag is after the last colon that follows the last slash). */
export function splitTagged(suffix: string): { name: string; reference: string | undefined } {
  const at = suffix.indexOf('@');
  if (at >= 0) return { name: suffix.slice(0, at), reference: suffix.slice(at + 1) };
  const slash = suffix.lastIndexOf('/');
  const colon = suffix.lastIndexOf(':');
  if (colon > slash) return { name: suffix.slice(0, colon), reference: suffix.slice(colon + 1) };
  return { name: suffix, reference: undefined };
}

/** The transport image name (`docker://…`, `dir:…`, `oci:…:ref`) of one synced image. */
export function destinationImageName(
  transport: SyncDestinationTransport,
  destination: string,
  suffix: string,
): string {
  switch (transport) {
    case 'docker':
      return `docker://${path.posix.join(destination, suffix)}`;
    case 'dir':
      return `dir:${path.join(destination, suffix)}`;
    case 'oci': {
      const { name, reference } = splitTagged(suffix);
      return `oci:${path.join(destination, name)}${reference === undefined ? '' : `:${reference}`}`;
    }
  }
}
