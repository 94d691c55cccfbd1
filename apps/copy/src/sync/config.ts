import { isValidDomain, parseReference } from '@skiff/oci/reference/reference';
import { isDigest } from '@skiff/oci/spec/digest';
import { type PlatformSpec, parsePlatform } from '@skiff/oci/spec/platform';
import { isMap, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseRange } from './semver.js';

/**
 * skopeo sync's YAML source format (`--src yaml`), plus `platforms:`:
 *
 *   registry.example.com:
 *     images: { busybox: [], redis: ["1.0", "sha256:…"] }   # [] or null: every tag
 *     images-by-tag-regex: { nginx: ^1\.13\.[12]-alpine-perl$ }
 *     images-by-semver: { alpine: ">= 3.12.0 < 3.20" }
 *     credentials: { username: john, password: secret }
 *     tls-verify: true
 *     cert-dir: /home/john/certs
 *     platforms: [linux/amd64, linux/arm64]                 # ferry only
 *
 * Validated with zod before anything is copied; every error names the key path and its line.
 */

export interface RegistrySyncConfig {
  /** repo → tags/digests; an empty list means every tag. */
  images: Record<string, string[]>;
  imagesByTagRegex: Record<string, string>;
  imagesBySemver: Record<string, string>;
  tlsVerify?: boolean;
  certDir?: string;
  credentials?: { username: string; password: string };
  /** Copy only these instances of each index (kept as a valid, smaller index). */
  platforms?: PlatformSpec[];
}

/** registry host[:port] → what to mirror from it, in file order. */
export type SyncConfig = Map<string, RegistrySyncConfig>;

export class SyncConfigError extends Error {
  override readonly name = 'SyncConfigError';
  readonly code = 'CONFIG_FILE';
  constructor(
    message: string,
    readonly line: number | undefined,
  ) {
    super(message);
  }
}

const tagOrDigest = z.string().superRefine((v, ctx) => {
  if (isDigest(v)) return;
  if (/^[\w][\w.-]{0,127}$/.test(v)) return;
  ctx.addIssue({ code: 'custom', message: `"${v}" is neither a tag nor a sha256:/sha512: digest` });
});

const regexString = z.string().superRefine((v, ctx) => {
  try {
    new RegExp(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(err as Error).message}` });
  }
});

const semverRange = z.string().superRefine((v, ctx) => {
  try {
    parseRange(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const platformString = z.string().superRefine((v, ctx) => {
  if (!/^[a-z0-9_-]+\/[a-z0-9_-]+(\/[a-z0-9_.-]+)?$/i.test(v)) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not OS/ARCH[/VARIANT]` });
  }
});

const registrySchema = z
  .object({
    images: z.record(z.string(), z.array(tagOrDigest).nullable()).optional(),
    'images-by-tag-regex': z.record(z.string(), regexString).optional(),
    'images-by-semver': z.record(z.string(), semverRange).optional(),
    credentials: z.object({ username: z.string(), password: z.string() }).strict().optional(),
    'tls-verify': z.boolean().optional(),
    'cert-dir': z.string().optional(),
    platforms: z.array(platformString).min(1).optional(),
  })
  .strict();

const fileSchema = z.record(z.string(), registrySchema);

/** Parse and validate a sync YAML file's text; `file` names it in messages. */
export function parseSyncConfig(text: string, file = 'sync.yaml'): SyncConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line;
    throw new SyncConfigError(`${file}:${line}: invalid YAML: ${e.message.split('\n')[0]}`, line);
  }
  const lineOf = (path: readonly PropertyKey[], key?: string): number | undefined => {
    const found = nodeAt(doc, path, key);
    return found?.range ? lineCounter.linePos(found.range[0]).line : undefined;
  };
  const data: unknown = doc.toJS() ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new SyncConfigError(`${file}:1: expected a mapping of registry names`, 1);
  }
  const parsed = fileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = (issue as { keys?: string[] }).keys;
    const where = issue.path.map(String).join('.') || '(top level)';
    const line = lineOf(issue.path, keys?.[0]);
    const what =
      issue.code === 'unrecognized_keys' && keys
        ? `unknown key "${keys[0]}" in ${where}`
        : `${where}: ${issue.message}`;
    throw new SyncConfigError(`${file}:${line ?? '?'}: ${what}`, line);
  }
  const config: SyncConfig = new Map();
  for (const [registry, raw] of Object.entries(parsed.data)) {
    const fail = (path: PropertyKey[], message: string): never => {
      const line = lineOf(path);
      throw new SyncConfigError(`${file}:${line ?? '?'}: ${path.map(String).join('.')}: ${message}`, line);
    };
    if (!isValidDomain(registry)) fail([registry], `"${registry}" is not a registry host[:port]`);
    const checkRepos = (section: string, repos: Record<string, unknown> | undefined) => {
      for (const repo of Object.keys(repos ?? {})) {
        try {
          const ref = parseReference(`${registry}/${repo}`);
          if (ref.tag !== undefined || ref.digest !== undefined) throw new Error('has a tag or digest');
        } catch {
          fail([registry, section, repo], `"${repo}" is not a repository name`);
        }
      }
    };
    checkRepos('images', raw.images);
    checkRepos('images-by-tag-regex', raw['images-by-tag-regex']);
    checkRepos('images-by-semver', raw['images-by-semver']);
    const entry: RegistrySyncConfig = {
      images: Object.fromEntries(Object.entries(raw.images ?? {}).map(([k, v]) => [k, v ?? []])),
      imagesByTagRegex: raw['images-by-tag-regex'] ?? {},
      imagesBySemver: raw['images-by-semver'] ?? {},
    };
    if (raw['tls-verify'] !== undefined) entry.tlsVerify = raw['tls-verify'];
    if (raw['cert-dir'] !== undefined) entry.certDir = raw['cert-dir'];
    if (raw.credentials) entry.credentials = raw.credentials;
    if (raw.platforms) entry.platforms = raw.platforms.map((p) => parsePlatform(p));
    config.set(registry, entry);
  }
  return config;
}

/** The YAML node at `path` (or, for `key`, the key node inside it); the nearest existing ancestor otherwise. */
function nodeAt(
  doc: ReturnType<typeof parseDocument>,
  path: readonly PropertyKey[],
  key?: string,
): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as Node | undefined;
    if (node === undefined || node === null) continue;
    if (key !== undefined && n === path.length && isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (pair?.key) return pair.key as Node;
    }
    if (typeof node === 'object' && 'range' in node) return node;
  }
  return doc.contents ?? undefined;
}
