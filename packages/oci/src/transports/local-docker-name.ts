import { SkiffError } from '../errors.js';

/**
 * The small part of the docker reference grammar docker-archive needs: `NAME:TAG`, normalised
 * the way docker does (busybox → docker.io/library/busybox). A digest is refused.
 */
export interface NamedTagged {
  /** Fully qualified repository name, e.g. docker.io/library/busybox. */
  name: string;
  tag: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::\d+)?$/;

export function parseNamedTagged(value: string, what: string): NamedTagged {
  if (value.includes('@')) {
    throw new SkiffError(
      'INVALID_REFERENCE',
      `${what}: "${value}" contains a digest; a NAME:TAG is needed here`,
    );
  }
  const slash = value.lastIndexOf('/');
  const colon = value.lastIndexOf(':');
  let name = value;
  let tag = '';
  if (colon > slash) {
    name = value.slice(0, colon);
    tag = value.slice(colon + 1);
  }
  if (!tag) throw new SkiffError('INVALID_REFERENCE', `${what}: "${value}" has no tag; expected NAME:TAG`);
  if (!TAG.test(tag))
    throw new SkiffError('INVALID_REFERENCE', `${what}: invalid tag "${tag}" in "${value}"`);
  const parts = name.split('/');
  let domain = 'docker.io';
  const first = parts[0]!;
  if (
    parts.length > 1 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())
  ) {
    if (!DOMAIN.test(first))
      throw new SkiffError('INVALID_REFERENCE', `${what}: invalid registry "${first}" in "${value}"`);
    domain = first;
    parts.shift();
  }
  if (parts.length === 0 || !parts.every((p) => COMPONENT.test(p))) {
    throw new SkiffError(
      'INVALID_REFERENCE',
      `${what}: invalid repository name "${name}" (must be lowercase)`,
    );
  }
  if (domain === 'docker.io' && parts.length === 1) parts.unshift('library');
  return { name: `${domain}/${parts.join('/')}`, tag };
}

export function formatNamedTagged(r: NamedTagged): string {
  return `${r.name}:${r.tag}`;
}

/** Normalise a RepoTags entry for comparison; undefined when it does not parse. */
export function normalizeRepoTag(value: string): string | undefined {
  try {
    return formatNamedTagged(parseNamedTagged(value, 'RepoTags'));
  } catch {
    return undefined;
  }
}
