/**
 * A small semantic-version range matcher for `images-by-semver` (no dependency). Tags are read
 * leniently as skopeo's Masterminds/semver does: an optional `v`, MAJOR[.MINOR[.PATCH]], an
 * optional `-prerelease` and `+build`; anything else is not a version and never matches.
 *
 * Ranges: comparators `=`, `!=`, `>`, `>=`, `<`, `<=` (none means `=`), wildcards `1.2.x` / `1.*`
 * / `*`, `~1.2.3` (patch updates), `^1.2.3` (no major change; `^0.2.3` no minor change),
 * hyphen ranges `1.2 - 1.4.5`; comparators separated by spaces or commas must all hold; `||`
 * separates alternatives. A prerelease tag matches only when a comparator in the same set
 * names a prerelease of the same MAJOR.MINOR.PATCH (npm and Masterminds agree on this).
 */

export interface Version {
  major: number;
  minor: number;
  patch: number;
  prerelease: string[];
}

type Op = '=' | '!=' | '>' | '>=' | '<' | '<=';

interface Comparator {
  op: Op;
  version: Version;
}

/** One alternative of a range: every comparator must hold. */
type ComparatorSet = Comparator[];

export interface Range {
  readonly source: string;
  readonly sets: ComparatorSet[];
}

const VERSION_RE =
  /^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** Parse a tag as a version; undefined when it is not one. */
export function parseVersion(tag: string): Version | undefined {
  const m = VERSION_RE.exec(tag.trim());
  if (!m) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2] ?? 0),
    patch: Number(m[3] ?? 0),
    prerelease: m[4] ? m[4].split('.') : [],
  };
}

function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Number(a) - Number(b);
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareVersions(a: Version, b: Version): number {
  if (a.major !== b.major) return a.major - b.major;
  if (a.minor !== b.minor) return a.minor - b.minor;
  if (a.patch !== b.patch) return a.patch - b.patch;
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return b.prerelease.length - a.prerelease.length; // a release sorts after its prereleases
  }
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const x = a.prerelease[i];
    const y = b.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const c = compareIdentifiers(x, y);
    if (c !== 0) return c;
  }
  return 0;
}

const PARTIAL_RE =
  /^v?(0|[1-9]\d*|[xX*])(?:\.(0|[1-9]\d*|[xX*]))?(?:\.(0|[1-9]\d*|[xX*]))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$/;

interface Partial {
  major?: number;
  minor?: number;
  patch?: number;
  prerelease: string[];
}

function parsePartial(text: string, range: string): Partial {
  const m = PARTIAL_RE.exec(text);
  if (!m) throw new Error(`invalid semver range "${range}": "${text}" is not a version`);
  const num = (s: string | undefined): number | undefined =>
    s === undefined || /^[xX*]$/.test(s) ? undefined : Number(s);
  const p: Partial = { prerelease: m[4] ? m[4].split('.') : [] };
  const major = num(m[1]);
  const minor = major === undefined ? undefined : num(m[2]);
  const patch = minor === undefined ? undefined : num(m[3]);
  if (major !== undefined) p.major = major;
  if (minor !== undefined) p.minor = minor;
  if (patch !== undefined) p.patch = patch;
  return p;
}

const v = (major: number, minor: number, patch: number, prerelease: string[] = []): Version => ({
  major,
  minor,
  patch,
  prerelease,
});
/** The lowest version of a line (`<2.0.0-0` excludes 2.0.0's prereleases). */
const floor = (major: number, minor: number, patch: number): Version => v(major, minor, patch, ['0']);

/** Expand one comparator token (with its operator) into plain comparators. */
function expand(op: string, text: string, range: string): Comparator[] {
  if (op === '~' || op === '~>') {
    const p = parsePartial(text, range);
    if (p.major === undefined) return [];
    const lo = v(p.major, p.minor ?? 0, p.patch ?? 0, p.prerelease);
    const hi = p.minor === undefined ? floor(p.major + 1, 0, 0) : floor(p.major, p.minor + 1, 0);
    return [
      { op: '>=', version: lo },
      { op: '<', version: hi },
    ];
  }
  if (op === '^') {
    const p = parsePartial(text, range);
    if (p.major === undefined) return [];
    const lo = v(p.major, p.minor ?? 0, p.patch ?? 0, p.prerelease);
    let hi: Version;
    if (p.major > 0 || p.minor === undefined) hi = floor(p.major + 1, 0, 0);
    else if (p.minor > 0 || p.patch === undefined) hi = floor(0, p.minor + 1, 0);
    else hi = floor(0, 0, p.patch + 1);
    return [
      { op: '>=', version: lo },
      { op: '<', version: hi },
    ];
  }
  const p = parsePartial(text, range);
  const cmp = (op === '' ? '=' : op) as Op;
  if (p.major === undefined) {
    return cmp === '<' || cmp === '>' || cmp === '!=' ? [{ op: '<', version: floor(0, 0, 0) }] : [];
  }
  if (p.minor !== undefined && p.patch !== undefined) {
    return [{ op: cmp, version: v(p.major, p.minor, p.patch, p.prerelease) }];
  }
  // A partial version is the range of versions it covers: [lo, hi).
  const lo = floor(p.major, p.minor ?? 0, 0);
  const hi = p.minor === undefined ? floor(p.major + 1, 0, 0) : floor(p.major, p.minor + 1, 0);
  switch (cmp) {
    case '=':
      return [
        { op: '>=', version: lo },
        { op: '<', version: hi },
      ];
    case '!=':
      throw new Error(`invalid semver range "${range}": "!=" needs a full MAJOR.MINOR.PATCH version`);
    case '>':
      return [{ op: '>=', version: hi }];
    case '>=':
      return [{ op: '>=', version: lo }];
    case '<':
      return [{ op: '<', version: lo }];
    case '<=':
      return [{ op: '<', version: hi }];
  }
}

/** Parse a range; throws an Error naming the range when it is malformed. */
export function parseRange(source: string): Range {
  const text = source.trim();
  if (text === '') throw new Error('invalid semver range "": empty');
  const sets: ComparatorSet[] = [];
  for (const alt of text.split('||')) {
    const part = alt.trim();
    if (part === '') throw new Error(`invalid semver range "${source}": empty alternative around "||"`);
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(part);
    if (hyphen) {
      sets.push([...expand('>=', hyphen[1]!, source), ...expand('<=', hyphen[2]!, source)]);
      continue;
    }
    const tokens = part
      .replace(/(>=|<=|!=|>|<|=|~>|~|\^)\s+/g, '$1')
      .split(/[\s,]+/)
      .filter(Boolean);
    const set: ComparatorSet = [];
    for (const token of tokens) {
      const m = /^(>=|<=|!=|>|<|=|~>|~|\^)?(.*)$/.exec(token)!;
      set.push(...expand(m[1] ?? '', m[2]!, source));
    }
    sets.push(set);
  }
  return { source, sets };
}

function holds(c: Comparator, version: Version): boolean {
  const r = compareVersions(version, c.version);
  switch (c.op) {
    case '=':
      return r === 0;
    case '!=':
      return r !== 0;
    case '>':
      return r > 0;
    case '>=':
      return r >= 0;
    case '<':
      return r < 0;
    case '<=':
      return r <= 0;
  }
}

/** Whether `tag` is a version inside `range`. */
export function satisfies(tag: string, range: Range | string): boolean {
  const version = parseVersion(tag);
  if (!version) return false;
  const r = typeof range === 'string' ? parseRange(range) : range;
  return r.sets.some((set) => {
    if (!set.every((c) => holds(c, version))) return false;
    if (version.prerelease.length === 0) return true;
    // Prereleases only where the range names a prerelease of the same release.
    return set.some(
      (c) =>
        c.version.prerelease.length > 0 &&
        c.version.prerelease[0] !== '0' &&
        c.version.major === version.major &&
        c.version.minor === version.minor &&
        c.version.patch === version.patch,
    );
  });
}
