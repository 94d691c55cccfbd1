/**
 * registries.conf (containers-registries.conf(5), version 2): search registries, short-name mode,
 * aliases, and per-prefix [[registry]] tables with location rewrites, insecure, blocked and mirrors.
 *
 * Files and precedence follow containers/image (checked against podman 4.3 on Debian 12):
 *   - `options.path` is the only file read (hermetic; for --registries-conf and tests);
 *   - $CONTAINERS_REGISTRIES_CONF replaces the main file, but the drop-ins of
 *     /etc/containers/registries.conf.d and ~/.config/containers/registries.conf.d are still read
 *     (podman resolves "alpine" through shortnames.conf even with the variable set);
 *   - else $HOME/.config/containers/registries.conf if it exists, then only the drop-ins of
 *     $HOME/.config/containers/registries.conf.d;
 *   - else /etc/containers/registries.conf, then /etc/containers/registries.conf.d/*.conf, then
 *     $HOME/.config/containers/registries.conf.d/*.conf.
 * Drop-ins are read in lexical order per directory; a later file replaces [[registry]] tables with
 * the same prefix, replaces unqualified-search-registries and short-name-mode when it sets them,
 * and overrides aliases one by one (an empty value erases an alias).
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { homeDir } from '../config/paths.js';
import { SkiffError } from '../errors.js';
import {
  type ImageRef,
  isShortName,
  isValidDomain,
  parseReference,
  withDefaultTag,
  withDigest,
  withTag,
} from './reference.js';

export interface MirrorEntry {
  location: string;
  insecure: boolean;
  pullFromMirror: 'all' | 'digest-only' | 'tag-only';
}

export interface RegistryEntry {
  /** host[:port][/namespace…] or *.domain; matched against the whole reference string. */
  prefix: string;
  /** What the prefix is rewritten to; '' for a wildcard prefix without location (no rewrite). */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: MirrorEntry[];
}

export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

export interface RegistriesConf {
  unqualifiedSearchRegistries: string[];
  shortNameMode: ShortNameMode;
  /** short name → fully-qualified repository (no tag, no digest). */
  aliases: Record<string, string>;
  registries: RegistryEntry[];
  /** The files that were read, in order. */
  files: string[];
}

export interface ConfLookupOptions {
  /** One registries.conf to read instead of the search path (no drop-ins at all). */
  path?: string;
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** Default /etc/containers; tests point it elsewhere. */
  systemDir?: string;
}

export interface PullSource {
  /** The reference rewritten to the endpoint's location. */
  ref: ImageRef;
  /** host[:port] to contact. */
  endpoint: string;
  insecure: boolean;
  mirror: boolean;
}

const DEFAULT_SHORT_NAME_MODE: ShortNameMode = 'permissive';

const boolField = z.boolean().optional();

const MirrorSchema = z.object({
  location: z.string(),
  insecure: boolField,
  'pull-from-mirror': z.enum(['all', 'digest-only', 'tag-only', '']).optional(),
});

const RegistrySchema = z.object({
  prefix: z.string().optional(),
  location: z.string().optional(),
  insecure: boolField,
  blocked: boolField,
  'mirror-by-digest-only': boolField,
  mirror: z.array(MirrorSchema).optional(),
});

const V1ListSchema = z.object({ registries: z.array(z.string()).optional() }).optional();

const FileSchema = z.object({
  'unqualified-search-registries': z.array(z.string()).optional(),
  'short-name-mode': z.enum(['enforcing', 'permissive', 'disabled', '']).optional(),
  aliases: z.record(z.string(), z.string()).optional(),
  registry: z.array(RegistrySchema).optional(),
  /** Version 1 format: [registries.search], [registries.insecure], [registries.block]. */
  registries: z.object({ search: V1ListSchema, insecure: V1ListSchema, block: V1ListSchema }).optional(),
});

function confError(file: string, problem: string, cause?: unknown): SkiffError {
  return new SkiffError('CONFIG_FILE', `${file}: ${problem}`, cause === undefined ? {} : { cause });
}

/** Trims trailing slashes; URI schemes are not allowed (as containers/image). */
function parseLocation(file: string, what: string, value: string): string {
  const location = value.replace(/\/+$/, '');
  if (/^https?:\/\//.test(location)) {
    throw confError(file, `invalid ${what} "${value}": URI schemes are not supported`);
  }
  return location;
}

function checkHost(file: string, what: string, value: string): void {
  if (!isValidDomain(value)) throw confError(file, `invalid ${what} "${value}": expected host[:port]`);
}

function validateAlias(file: string, name: string, value: string): void {
  if (name.includes('@') || /:[^/]*$/.test(name) || !isShortName(name)) {
    throw confError(
      file,
      `invalid short-name alias "${name}": the name must be a short name without tag or digest`,
    );
  }
  try {
    parseReference(name);
  } catch (err) {
    throw confError(file, `invalid short-name alias "${name}": ${(err as Error).message}`, err);
  }
  if (value === '') return;
  let ref: ImageRef;
  try {
    ref = parseReference(value);
  } catch (err) {
    throw confError(
      file,
      `invalid short-name alias value "${value}" for "${name}": ${(err as Error).message}`,
      err,
    );
  }
  if (isShortName(value)) {
    throw confError(
      file,
      `invalid short-name alias value "${value}" for "${name}": must contain registry and repository`,
    );
  }
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw confError(
      file,
      `invalid short-name alias value "${value}" for "${name}": must not contain a tag or digest`,
    );
  }
}

function buildRegistry(file: string, raw: z.infer<typeof RegistrySchema>, index: number): RegistryEntry {
  const what = `[[registry]] #${index + 1}`;
  const location = raw.location !== undefined ? parseLocation(file, `${what} location`, raw.location) : '';
  let prefix: string;
  if (raw.prefix === undefined || raw.prefix === '') {
    if (location === '') throw confError(file, `${what}: both location and prefix are unset`);
    prefix = location;
  } else {
    prefix = parseLocation(file, `${what} prefix`, raw.prefix);
    if (prefix.startsWith('*.')) {
      if (/[/@:]/.test(prefix) || prefix.length <= 2) {
        throw confError(
          file,
          `${what}: wildcarded prefix "${raw.prefix}" must be in the format *.example.com`,
        );
      }
    } else if (location === '') {
      throw confError(
        file,
        `${what}: location is unset and prefix "${raw.prefix}" is not in the format *.example.com`,
      );
    }
  }
  const mirrorByDigestOnly = raw['mirror-by-digest-only'] ?? false;
  const mirrors: MirrorEntry[] = (raw.mirror ?? []).map((m, i) => {
    const mirrorLocation = parseLocation(file, `${what} mirror #${i + 1} location`, m.location);
    if (mirrorLocation === '') throw confError(file, `${what} mirror #${i + 1}: location is unset`);
    const pull = m['pull-from-mirror'] ?? '';
    if (mirrorByDigestOnly && pull !== '') {
      throw confError(
        file,
        `${what} (${prefix}): cannot set mirror-by-digest-only for the registry and pull-from-mirror for mirror ${mirrorLocation} at the same time`,
      );
    }
    return {
      location: mirrorLocation,
      insecure: m.insecure ?? false,
      pullFromMirror: mirrorByDigestOnly ? 'digest-only' : pull === '' ? 'all' : pull,
    };
  });
  return {
    prefix,
    location,
    insecure: raw.insecure ?? false,
    blocked: raw.blocked ?? false,
    mirrorByDigestOnly,
    mirrors,
  };
}

/**
 * Parse one registries.conf (or drop-in). Only the settings the file states are in the result, so
 * that merging knows what to override; `aliases` may hold '' values (erase on merge).
 */
export function parseRegistriesConf(text: string, file: string): Partial<RegistriesConf> {
  let data: unknown;
  try {
    data = parseToml(text);
  } catch (err) {
    const where = err instanceof TomlError ? ` (line ${err.line}, column ${err.column})` : '';
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw confError(file, `not valid TOML${where}: ${message}`, err);
  }
  const result = FileSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.');
    throw confError(file, `${path === '' ? '' : `${path}: `}${issue.message}`);
  }
  const raw = result.data;
  const out: Partial<RegistriesConf> = { files: [file] };
  const v2Used =
    raw['unqualified-search-registries'] !== undefined ||
    raw['short-name-mode'] !== undefined ||
    raw.aliases !== undefined ||
    raw.registry !== undefined;
  if (raw.registries !== undefined && v2Used) {
    throw confError(file, 'mixing the version 1 ([registries.*]) and version 2 formats is not supported');
  }

  let entries: RegistryEntry[] = [];
  if (raw.registries !== undefined) {
    const v1 = raw.registries;
    const search = v1.search?.registries;
    if (search !== undefined) out.unqualifiedSearchRegistries = search;
    const byLocation = new Map<string, RegistryEntry>();
    const entry = (location: string): RegistryEntry => {
      const loc = parseLocation(file, 'registry', location);
      let e = byLocation.get(loc);
      if (e === undefined) {
        e = {
          prefix: loc,
          location: loc,
          insecure: false,
          blocked: false,
          mirrorByDigestOnly: false,
          mirrors: [],
        };
        byLocation.set(loc, e);
      }
      return e;
    };
    for (const r of v1.insecure?.registries ?? []) entry(r).insecure = true;
    for (const r of v1.block?.registries ?? []) entry(r).blocked = true;
    entries = [...byLocation.values()];
  } else {
    entries = (raw.registry ?? []).map((r, i) => buildRegistry(file, r, i));
    // The same location mentioned more than once must agree on whether it is insecure.
    const insecureByLocation = new Map<string, boolean>();
    for (const e of entries) {
      if (e.location === '') continue;
      const seen = insecureByLocation.get(e.location);
      if (seen !== undefined && seen !== e.insecure) {
        throw confError(
          file,
          `registry "${e.location}" is defined multiple times with conflicting "insecure" settings`,
        );
      }
      insecureByLocation.set(e.location, e.insecure);
    }
    const search = raw['unqualified-search-registries'];
    if (search !== undefined) out.unqualifiedSearchRegistries = search;
  }
  if (out.unqualifiedSearchRegistries !== undefined) {
    out.unqualifiedSearchRegistries = out.unqualifiedSearchRegistries.map((r) => {
      const loc = parseLocation(file, 'unqualified-search-registries entry', r);
      checkHost(file, 'unqualified-search-registries entry', loc);
      return loc;
    });
  }
  if (raw.registry !== undefined || raw.registries !== undefined) out.registries = entries;

  const mode = raw['short-name-mode'];
  if (mode !== undefined && mode !== '') out.shortNameMode = mode;
  if (raw.aliases !== undefined) {
    for (const [name, value] of Object.entries(raw.aliases)) validateAlias(file, name, value);
    out.aliases = { ...raw.aliases };
  }
  return out;
}

function emptyConf(): RegistriesConf {
  return {
    unqualifiedSearchRegistries: [],
    shortNameMode: DEFAULT_SHORT_NAME_MODE,
    aliases: {},
    registries: [],
    files: [],
  };
}

/** Apply one file's settings over what was read before, as containers/image merges drop-ins. */
function merge(base: RegistriesConf, update: Partial<RegistriesConf>): RegistriesConf {
  const out: RegistriesConf = { ...base, files: [...base.files, ...(update.files ?? [])] };
  if (update.registries !== undefined) {
    const byPrefix = new Map<string, RegistryEntry>();
    for (const r of base.registries) byPrefix.set(r.prefix, r);
    for (const r of update.registries) byPrefix.set(r.prefix, r);
    out.registries = [...byPrefix.keys()].sort().map((k) => byPrefix.get(k)!);
  }
  if (update.unqualifiedSearchRegistries !== undefined) {
    out.unqualifiedSearchRegistries = [...update.unqualifiedSearchRegistries];
  }
  if (update.shortNameMode !== undefined) out.shortNameMode = update.shortNameMode;
  if (update.aliases !== undefined) {
    const aliases = { ...base.aliases };
    for (const [name, value] of Object.entries(update.aliases)) {
      if (value === '') delete aliases[name];
      else aliases[name] = value;
    }
    out.aliases = aliases;
  }
  return out;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function dropIns(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'ENOENT' ||
      (err as NodeJS.ErrnoException).code === 'ENOTDIR'
    ) {
      return [];
    }
    throw confError(dir, `cannot read directory: ${(err as Error).message}`, err);
  }
  return names
    .filter((n) => n.endsWith('.conf'))
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
}

/** The files loadRegistriesConf reads, in order (missing ones are skipped when read). */
export function registriesConfFiles(options: ConfLookupOptions = {}): string[] {
  if (options.path !== undefined && options.path !== '') return [options.path];
  const env = options.env ?? process.env;
  const home = options.homeDir ?? homeDir(env);
  const systemDir = options.systemDir ?? '/etc/containers';
  const userFile = join(home, '.config', 'containers', 'registries.conf');
  const userDropIns = join(home, '.config', 'containers', 'registries.conf.d');
  const fromEnv = env.CONTAINERS_REGISTRIES_CONF;
  let main: string;
  if (fromEnv !== undefined && fromEnv !== '') {
    main = fromEnv;
  } else if (exists(userFile)) {
    return [userFile, ...dropIns(userDropIns)];
  } else {
    main = join(systemDir, 'registries.conf');
  }
  return [main, ...dropIns(join(systemDir, 'registries.conf.d')), ...dropIns(userDropIns)];
}

function readConfFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw confError(file, `cannot read: ${(err as Error).message}`, err);
  }
}

/**
 * Read and merge registries.conf and its drop-ins. A missing file is not an error (defaults apply).
 * The result is shared between calls while the files are unchanged: treat it as read-only.
 */
export function loadRegistriesConf(options: ConfLookupOptions = {}): RegistriesConf {
  const files = registriesConfFiles(options);
  // A mirroring job resolves hundreds of references: parse the files again only when they change.
  const key = files.map((f) => `${f}\0${fileStamp(f)}`).join('\n');
  const cached = parsedConfs.get(key);
  if (cached) return cached;
  let conf = emptyConf();
  for (const file of files) {
    const text = readConfFile(file);
    if (text === undefined) continue;
    conf = merge(conf, parseRegistriesConf(text, file));
  }
  parsedConfs.set(key, conf);
  return conf;
}

/** Parsed configurations by file identity (path, size, mtime): a cache, never a source of truth. */
const parsedConfs = new Map<string, RegistriesConf>();

function fileStamp(file: string): string {
  try {
    const st = statSync(file);
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return 'absent';
  }
}

/** Where in `ref` (a reference string) the prefix match ends, or -1 (containers/image's rule). */
function matchingPrefixLength(ref: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const suffix = prefix.slice(1);
    const index = ref.indexOf(suffix);
    if (index === -1 || ref.slice(0, index).includes('/')) return -1;
    const end = index + suffix.length;
    if (end === ref.length) return end;
    return ':/@'.includes(ref[end]!) ? end : -1;
  }
  if (ref.length < prefix.length || !ref.startsWith(prefix)) return -1;
  if (ref.length === prefix.length) return prefix.length;
  return ':/@'.includes(ref[prefix.length]!) ? prefix.length : -1;
}

/** The [[registry]] table for a reference: the longest matching prefix. */
export function findRegistry(conf: RegistriesConf, ref: ImageRef): RegistryEntry | undefined {
  const text = ref.toString();
  let best: RegistryEntry | undefined;
  for (const r of conf.registries) {
    if (matchingPrefixLength(text, r.prefix) === -1) continue;
    if (best === undefined || r.prefix.length > best.prefix.length) best = r;
  }
  return best;
}

/** Docker Hub's API lives on registry-1.docker.io. */
function endpointOf(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

function rewrite(conf: RegistriesConf, ref: ImageRef, reg: RegistryEntry, location: string): ImageRef {
  if (location === '') return ref;
  const text = ref.toString();
  const end = matchingPrefixLength(text, reg.prefix);
  const rewritten = `${location}${text.slice(end)}`;
  try {
    return parseReference(rewritten);
  } catch (err) {
    throw new SkiffError(
      'CONFIG_FILE',
      `rewriting ${text} with location "${location}" of prefix "${reg.prefix}" (${conf.files.join(', ') || 'registries.conf'}) gives an invalid reference "${rewritten}"`,
      { cause: err },
    );
  }
}

function blockedError(conf: RegistriesConf, ref: ImageRef, reg: RegistryEntry): SkiffError {
  return new SkiffError(
    'BLOCKED_REGISTRY',
    `registry ${reg.prefix} is blocked in ${conf.files.join(', ') || 'registries.conf'}: cannot use ${ref.toString()}`,
  );
}

/** Insecure when the endpoint says so or the registry table of the rewritten reference does. */
function insecureFor(conf: RegistriesConf, ref: ImageRef, own: boolean): boolean {
  return own || (findRegistry(conf, ref)?.insecure ?? false);
}

/**
 * Where to pull `ref` from, in order: the mirrors that apply (digest-only / tag-only respected), then
 * the primary location. A blocked registry throws BLOCKED_REGISTRY.
 */
export function pullSources(conf: RegistriesConf, ref: ImageRef): PullSource[] {
  const reg = findRegistry(conf, ref);
  if (reg === undefined) return [{ ref, endpoint: endpointOf(ref.domain), insecure: false, mirror: false }];
  if (reg.blocked) throw blockedError(conf, ref, reg);
  const digested = ref.digest !== undefined;
  const sources: PullSource[] = [];
  for (const m of reg.mirrors) {
    if (m.pullFromMirror === 'digest-only' && !digested) continue;
    if (m.pullFromMirror === 'tag-only' && digested) continue;
    const rewritten = rewrite(conf, ref, reg, m.location);
    const mirrorReg = findRegistry(conf, rewritten);
    if (mirrorReg?.blocked) continue;
    sources.push({
      ref: rewritten,
      endpoint: endpointOf(rewritten.domain),
      insecure: insecureFor(conf, rewritten, m.insecure),
      mirror: true,
    });
  }
  const primary = rewrite(conf, ref, reg, reg.location);
  sources.push({
    ref: primary,
    endpoint: endpointOf(primary.domain),
    insecure: insecureFor(conf, primary, reg.insecure),
    mirror: false,
  });
  return sources;
}

/** Where to push `ref`: the location rewrite and insecure flag of its registry table; never a mirror. */
export function pushTarget(conf: RegistriesConf, ref: ImageRef): PullSource {
  const reg = findRegistry(conf, ref);
  if (reg === undefined) return { ref, endpoint: endpointOf(ref.domain), insecure: false, mirror: false };
  if (reg.blocked) throw blockedError(conf, ref, reg);
  const target = rewrite(conf, ref, reg, reg.location);
  return {
    ref: target,
    endpoint: endpointOf(target.domain),
    insecure: insecureFor(conf, target, reg.insecure),
    mirror: false,
  };
}

/**
 * The fully-qualified candidates for `name`, in the order to try them: the alias when one is
 * configured (its target is returned as `alias`), else one per unqualified-search registry. Tags and
 * digests of the input are kept; `:latest` is added when there is neither. A name that already has
 * a registry resolves to itself. No alias and no search registries → SHORT_NAME.
 */
export function resolveShortName(
  name: string,
  conf: RegistriesConf,
): { candidates: ImageRef[]; alias?: string } {
  const parsed = parseReference(name);
  if (!isShortName(name)) return { candidates: [withDefaultTag(parsed)] };
  const repo = name.split('@')[0]!.replace(/:[^/]*$/, '');
  const decorate = (ref: ImageRef): ImageRef => {
    let out = ref;
    if (parsed.tag !== undefined) out = withTag(out, parsed.tag);
    if (parsed.digest !== undefined) out = withDigest(out, parsed.digest);
    return withDefaultTag(out);
  };
  const alias = Object.hasOwn(conf.aliases, repo) ? conf.aliases[repo] : undefined;
  if (alias !== undefined && alias !== '') {
    return { candidates: [decorate(parseReference(alias))], alias };
  }
  if (conf.unqualifiedSearchRegistries.length === 0) {
    const files = conf.files.length > 0 ? conf.files.join(', ') : 'any registries.conf (none was found)';
    throw new SkiffError(
      'SHORT_NAME',
      `short name "${name}" did not resolve to an alias and no unqualified-search registries are defined in ${files}`,
      {
        hint: `use a fully-qualified name such as docker.io/${parsed.path}, or set unqualified-search-registries`,
      },
    );
  }
  const candidates = conf.unqualifiedSearchRegistries.map((registry) =>
    decorate(parseReference(`${registry}/${repo}`)),
  );
  return { candidates };
}
