/**
 * Image references: the docker reference grammar (as distribution/reference defines it) with the
 * docker.io normalisation every container tool applies.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component { "/" path-component }
 *   domain     := host [ ":" port ]         host := domain-component { "." domain-component } | "[" ipv6 "]"
 *   path-comp  := [a-z0-9]+ { separator [a-z0-9]+ }      separator := "." | "_" | "__" | "-"+
 *   tag        := [\w][\w.-]{0,127}
 *
 * A first component is a domain only when it contains "." or ":" or is "localhost" (or has an
 * uppercase letter, as distribution/reference decides); otherwise the name is on docker.io, and a
 * single-component docker.io name gets "library/". `index.docker.io` is the legacy name of docker.io.
 */

import { SkiffError } from '../errors.js';
import { type Digest, isDigest } from '../spec/digest.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
export const NAME_TOTAL_LENGTH_MAX = 255;

export interface ImageRef {
  readonly domain: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
  /** domain/path */
  readonly name: string;
  /** name[:tag][@digest] */
  toString(): string;
  /** The short form users type: busybox:latest for docker.io/library/busybox:latest. */
  familiar(): string;
}

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const PATH = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;

const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const PATH_RE = new RegExp(`^${PATH}$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const DIGEST_SYNTAX_RE = new RegExp(`^${DIGEST}$`);
const HEX64_RE = /^[a-f0-9]{64}$/;

class Ref implements ImageRef {
  readonly domain: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
  readonly name: string;

  constructor(domain: string, path: string, tag: string | undefined, digest: Digest | undefined) {
    this.domain = domain;
    this.path = path;
    this.name = domain === '' ? path : `${domain}/${path}`;
    if (tag !== undefined) this.tag = tag;
    if (digest !== undefined) this.digest = digest;
    Object.freeze(this);
  }

  toString(): string {
    return `${this.name}${this.tag !== undefined ? `:${this.tag}` : ''}${this.digest !== undefined ? `@${this.digest}` : ''}`;
  }

  familiar(): string {
    let name = this.name;
    if (this.domain === DEFAULT_DOMAIN) {
      name = this.path;
      if (name.startsWith(OFFICIAL_REPO_PREFIX) && !name.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) {
        name = name.slice(OFFICIAL_REPO_PREFIX.length);
      }
    }
    return `${name}${this.tag !== undefined ? `:${this.tag}` : ''}${this.digest !== undefined ? `@${this.digest}` : ''}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

function invalid(input: string, why: string): SkiffError {
  return new SkiffError('INVALID_REFERENCE', `invalid reference "${input}": ${why}`);
}

/** True when `value` is a valid registry host[:port] (domain name, IPv4 or [IPv6]). */
export function isValidDomain(value: string): boolean {
  return DOMAIN_RE.test(value);
}

/** True when the first path component names a registry (has "." or ":", or is "localhost"). */
function looksLikeDomain(component: string): boolean {
  return /[.:]/.test(component) || component === 'localhost' || component.startsWith('[');
}

interface Split {
  name: string;
  tag?: string;
  digest?: string;
}

/** Split `name[:tag][@digest]` without judging the parts yet. */
function splitInput(input: string): Split {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  // A colon after the last slash separates the tag; a colon before it is a port.
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const out: Split = { name: rest };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

function checkTag(input: string, tag: string): string {
  if (!TAG_RE.test(tag)) {
    throw invalid(
      input,
      tag === ''
        ? 'empty tag'
        : `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]* and be at most 128 characters`,
    );
  }
  return tag;
}

function checkDigest(input: string, digest: string): Digest {
  if (!DIGEST_SYNTAX_RE.test(digest)) throw invalid(input, `malformed digest "${digest}"`);
  if (!isDigest(digest)) {
    throw invalid(input, `unsupported digest "${digest}" (expected sha256:<64 hex> or sha512:<128 hex>)`);
  }
  return digest;
}

function checkDomain(input: string, domain: string): void {
  if (!DOMAIN_RE.test(domain)) throw invalid(input, `invalid registry "${domain}"`);
}

function checkPath(input: string, path: string): void {
  if (PATH_RE.test(path)) return;
  if (path === '') throw invalid(input, 'missing repository name');
  if (path !== path.toLowerCase() && PATH_RE.test(path.toLowerCase())) {
    throw invalid(input, `repository name "${path}" must be lowercase`);
  }
  for (const component of path.split('/')) {
    if (component === '') throw invalid(input, 'empty path component (doubled or trailing "/")');
    if (!new RegExp(`^${PATH_COMPONENT}$`).test(component.toLowerCase())) {
      throw invalid(
        input,
        `path component "${component}" may contain only a-z, 0-9 and the separators ".", "_", "__", "-" between them`,
      );
    }
  }
  throw invalid(input, `invalid repository name "${path}"`);
}

interface Parsed {
  domain: string;
  path: string;
  tag?: string;
  digest?: Digest;
}

/** Parse without applying defaults: domain is '' when the input has none. */
function parseRaw(input: string): Parsed {
  if (input === '') throw new SkiffError('INVALID_REFERENCE', 'invalid reference "": empty reference');
  if (/\s/.test(input)) throw invalid(input, 'contains whitespace');
  if (input.includes('://')) throw invalid(input, 'a reference has no URL scheme (write host/repo:tag)');
  const split = splitInput(input);
  const tag = split.tag !== undefined ? checkTag(input, split.tag) : undefined;
  const digest = split.digest !== undefined ? checkDigest(input, split.digest) : undefined;
  const name = split.name;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(
      input,
      `repository name is ${name.length} characters, longer than ${NAME_TOTAL_LENGTH_MAX}`,
    );
  }
  let domain = '';
  let path = name;
  const slash = name.indexOf('/');
  if (slash !== -1) {
    const first = name.slice(0, slash);
    // distribution/reference also treats an uppercase first component as a domain.
    if (looksLikeDomain(first) || first !== first.toLowerCase()) {
      domain = first;
      path = name.slice(slash + 1);
    }
  } else if (name.startsWith('[') || (name.includes(':') && !looksLikeDomain(name))) {
    throw invalid(input, 'missing repository name');
  }
  if (domain !== '') checkDomain(input, domain);
  checkPath(input, path);
  const out: Parsed = { domain, path };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

function normalise(input: string, parsed: Parsed): Ref {
  let { domain, path } = parsed;
  if (domain === '' || domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `${OFFICIAL_REPO_PREFIX}${path}`;
  const name = `${domain}/${path}`;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(
      input,
      `repository name is ${name.length} characters, longer than ${NAME_TOTAL_LENGTH_MAX}`,
    );
  }
  return new Ref(domain, path, parsed.tag, parsed.digest);
}

/**
 * Parse a reference the way users type it: `busybox`, `quay.io/a/b:1`, `localhost:5000/x@sha256:…`.
 * The result is normalised (docker.io default, library/ for official images).
 */
export function parseReference(input: string): ImageRef {
  if (HEX64_RE.test(input)) {
    throw invalid(input, 'a 64-character hexadecimal string is an image ID, not a repository name');
  }
  return normalise(input, parseRaw(input));
}

/** Parse a reference that must name its registry (`docker://` destinations, aliases). */
export function parseFullyQualified(input: string): ImageRef {
  const parsed = parseRaw(input);
  if (parsed.domain === '' || !looksLikeDomain(parsed.domain)) {
    throw invalid(input, 'must be fully qualified with a registry (e.g. docker.io/library/busybox)');
  }
  return normalise(input, parsed);
}

/** True when the input has no registry component (`busybox`, `library/busybox`, `foo/bar:1`). */
export function isShortName(input: string): boolean {
  const { name } = splitInput(input);
  const slash = name.indexOf('/');
  if (slash === -1) return true;
  return !looksLikeDomain(name.slice(0, slash));
}

/** The same repository with `tag` (any digest is kept). */
export function withTag(ref: ImageRef, tag: string): ImageRef {
  checkTag(`${ref.name}:${tag}`, tag);
  return new Ref(ref.domain, ref.path, tag, ref.digest);
}

/** The same repository with `digest` (any tag is kept). */
export function withDigest(ref: ImageRef, digest: string): ImageRef {
  return new Ref(ref.domain, ref.path, ref.tag, checkDigest(`${ref.name}@${digest}`, digest));
}

/** The repository alone, without tag and digest. */
export function nameOnly(ref: ImageRef): ImageRef {
  return new Ref(ref.domain, ref.path, undefined, undefined);
}

/** Adds `:latest` when the reference has neither tag nor digest. */
export function withDefaultTag(ref: ImageRef): ImageRef {
  if (ref.tag !== undefined || ref.digest !== undefined) return ref;
  return new Ref(ref.domain, ref.path, DEFAULT_TAG, undefined);
}

/** Builds a reference from parts already known to be valid (e.g. a rewritten registry location). */
export function refFromParts(domain: string, path: string, tag?: string, digest?: string): ImageRef {
  const text = `${domain}/${path}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  return parseFullyQualified(text);
}
