import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { SkiffError } from '@skiff/oci/errors';
import {
  type ImageRef,
  parseReference,
  withDefaultTag,
  withDigest,
  withTag,
} from '@skiff/oci/reference/reference';
import { isDigest } from '@skiff/oci/spec/digest';
import type { PlatformSpec } from '@skiff/oci/spec/platform';
import type { TransportOptions } from '@skiff/oci/transports/types';
import type { SyncConfig } from './config.js';
import {
  destinationImageName,
  destinationSuffix,
  type SyncDestinationTransport,
  type SyncSourceTransport,
} from './naming.js';
import { COMPANION_TAG_RE, type RegistryAccess } from './registry.js';
import { parseRange, satisfies } from './semver.js';

/**
 * Expanding sync's SOURCE into the list of images to copy, each with its destination name.
 * Tag lists come from the registry (one request per repository); nothing is copied here.
 */

export interface SyncItem {
  /** Source image name (`docker://reg/repo:tag`, `dir:/abs/path`); also the sharding key. */
  source: string;
  destination: string;
  sourceOptions: TransportOptions;
  /** Registry source: its reference (for referrers, companion tags and rate-limit gates). */
  sourceRef?: ImageRef;
  /** Only these index instances (YAML `platforms:`). */
  platforms?: PlatformSpec[];
  /** A signature, attestation, SBOM or referrer: copied whole and byte for byte. */
  artifact: boolean;
  /** Look for companion tags (cosign, referrers fallback) in the source tag list after copying. */
  companionTags: boolean;
}

/** A destination repository sync filled, with the tags it should hold (for --prune). */
export interface SyncedRepository {
  /** Destination docker name without tag (`host/repo`). */
  destination: string;
  tags: Set<string>;
  /** False when the source could not be listed: never prune then. */
  complete: boolean;
}

export interface PlanFailure {
  source: string;
  error: unknown;
}

export interface SyncPlan {
  items: SyncItem[];
  repositories: SyncedRepository[];
  failures: PlanFailure[];
}

export interface PlanOptions {
  sourceTransport: SyncSourceTransport;
  destinationTransport: SyncDestinationTransport;
  source: string;
  destination: string;
  /** For --src yaml. */
  config?: SyncConfig;
  scoped: boolean;
  removeSignatures: boolean;
  sourceOptions: TransportOptions;
  /** Record failures (e.g. a repository that cannot be listed) instead of throwing. */
  keepGoing: boolean;
  signal?: AbortSignal;
}

/** A registry image's destination name. */
export function destinationFor(
  ref: ImageRef,
  options: Pick<PlanOptions, 'destinationTransport' | 'destination' | 'scoped'>,
) {
  const suffix = destinationSuffix({ kind: 'docker', reference: ref.toString() }, options.scoped);
  return destinationImageName(options.destinationTransport, options.destination, suffix);
}

export async function planSync(options: PlanOptions, access: RegistryAccess): Promise<SyncPlan> {
  const plan: SyncPlan = { items: [], repositories: [], failures: [] };
  const seen = new Set<string>();
  const repos = new Map<string, SyncedRepository>();
  const add = (item: SyncItem, tag: string | undefined) => {
    if (seen.has(item.source)) return;
    seen.add(item.source);
    plan.items.push(item);
    if (options.destinationTransport === 'docker') {
      const d = parseReference(item.destination.slice('docker://'.length));
      const name = d.name;
      let repo = repos.get(name);
      if (!repo) {
        repo = { destination: name, tags: new Set(), complete: true };
        repos.set(name, repo);
        plan.repositories.push(repo);
      }
      if (tag !== undefined && d.tag !== undefined) repo.tags.add(d.tag);
    }
  };
  const incomplete = (ref: ImageRef) => {
    const name = parseReference(destinationFor(withTag(ref, 'x'), options).slice('docker://'.length)).name;
    const repo = repos.get(name) ?? { destination: name, tags: new Set<string>(), complete: false };
    repo.complete = false;
    if (!repos.has(name)) {
      repos.set(name, repo);
      plan.repositories.push(repo);
    }
  };
  const registryItem = (
    ref: ImageRef,
    sourceOptions: TransportOptions,
    extra: Partial<SyncItem> = {},
  ): SyncItem => {
    const tag = ref.tag;
    const artifact = tag !== undefined && COMPANION_TAG_RE.test(tag);
    return {
      source: `docker://${ref.toString()}`,
      destination: destinationFor(ref, options),
      sourceOptions,
      sourceRef: ref,
      artifact,
      companionTags: !options.removeSignatures && !artifact,
      ...extra,
    };
  };
  /** Every tag of a repository (companion tags only when signatures are kept). */
  const allTags = async (repo: ImageRef, sourceOptions: TransportOptions): Promise<string[] | undefined> => {
    try {
      const tags = await access.listTags(repo, sourceOptions, options.signal);
      return options.removeSignatures ? tags.filter((t) => !COMPANION_TAG_RE.test(t)) : tags;
    } catch (err) {
      if (!options.keepGoing) throw err;
      plan.failures.push({ source: `docker://${repo.name}`, error: err });
      incomplete(repo);
      return undefined;
    }
  };

  if (options.sourceTransport === 'docker') {
    const ref = parseReference(options.source.replace(/^docker:\/\//, ''));
    if (ref.tag !== undefined || ref.digest !== undefined) {
      add(registryItem(ref, options.sourceOptions), ref.tag);
    } else {
      const tags = await allTags(ref, options.sourceOptions);
      for (const tag of tags ?? []) {
        add(registryItem(withTag(ref, tag), options.sourceOptions, { companionTags: false }), tag);
      }
    }
  } else if (options.sourceTransport === 'yaml') {
    if (!options.config) throw new SkiffError('INTERNAL', 'sync: --src yaml without a parsed config');
    for (const [registry, cfg] of options.config) {
      const sourceOptions: TransportOptions = { ...options.sourceOptions };
      if (cfg.tlsVerify !== undefined) sourceOptions.tlsVerify = cfg.tlsVerify;
      if (cfg.certDir !== undefined) sourceOptions.certDir = cfg.certDir;
      if (cfg.credentials) sourceOptions.credentials = cfg.credentials;
      const extra: Partial<SyncItem> = cfg.platforms ? { platforms: cfg.platforms } : {};
      for (const [repoName, list] of Object.entries(cfg.images)) {
        const repo = parseReference(`${registry}/${repoName}`);
        if (list.length === 0) {
          const tags = await allTags(repo, sourceOptions);
          for (const tag of tags ?? []) {
            add(registryItem(withTag(repo, tag), sourceOptions, { ...extra, companionTags: false }), tag);
          }
          continue;
        }
        for (const t of list) {
          const ref = isDigest(t) ? withDigest(repo, t) : withTag(repo, t);
          add(registryItem(ref, sourceOptions, extra), ref.tag);
        }
      }
      const selected: Array<[string, (tag: string) => boolean]> = [
        ...Object.entries(cfg.imagesByTagRegex).map(([repo, re]): [string, (t: string) => boolean] => {
          const regex = new RegExp(re);
          return [repo, (t) => regex.test(t)];
        }),
        ...Object.entries(cfg.imagesBySemver).map(([repo, r]): [string, (t: string) => boolean] => {
          const range = parseRange(r);
          return [repo, (t) => satisfies(t, range)];
        }),
      ];
      for (const [repoName, match] of selected) {
        const repo = parseReference(`${registry}/${repoName}`);
        const tags = await allTags(repo, sourceOptions);
        for (const tag of (tags ?? []).filter(match))
          add(registryItem(withTag(repo, tag), sourceOptions, extra), tag);
      }
    }
  } else {
    const base = path.resolve(options.source);
    for (const dir of await findDirImages(base)) {
      const suffix = destinationSuffix({ kind: 'dir', path: dir, base }, options.scoped);
      const destination = destinationImageName(options.destinationTransport, options.destination, suffix);
      add(
        {
          source: `dir:${dir}`,
          destination,
          sourceOptions: options.sourceOptions,
          artifact: false,
          companionTags: false,
        },
        destination.startsWith('docker://')
          ? withDefaultTag(parseReference(destination.slice(9))).tag
          : undefined,
      );
    }
  }
  return plan;
}

/** Directories under `base` (or `base` itself) holding a dir: image (a manifest.json), sorted. */
export async function findDirImages(base: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name === 'manifest.json')) out.push(dir);
    for (const e of entries) if (e.isDirectory()) await walk(path.join(dir, e.name));
  };
  const s = await stat(base).catch(() => undefined);
  if (!s?.isDirectory()) throw new SkiffError('INVALID_ARGUMENT', `sync: ${base} is not a directory`);
  await walk(base);
  if (out.length === 0) throw new SkiffError('NOT_FOUND', `sync: no dir: images under ${base}`);
  return out.sort();
}
