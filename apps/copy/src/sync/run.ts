import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CopyOptions, MultiArch } from '@skiff/oci/copy/copy';
import { createLimiter } from '@skiff/oci/copy/limit';
import { isSkiffError, SkiffError } from '@skiff/oci/errors';
import { type ImageRef, nameOnly, parseReference, withDigest, withTag } from '@skiff/oci/reference/reference';
import { RegistryGate } from '@skiff/oci/registry/gate';
import { type Digest, isDigest } from '@skiff/oci/spec/digest';
import {
  type Compression,
  isIndexMediaType,
  type ManifestFormat,
  manifestFormatOf,
} from '@skiff/oci/spec/media-types';
import { hostPlatform, type PlatformSpec, selectPlatform } from '@skiff/oci/spec/platform';
import type { Descriptor } from '@skiff/oci/spec/schemas';
import type { TransportOptions } from '@skiff/oci/transports/types';
import { parseSyncConfig } from './config.js';
import type { SyncDestinationTransport, SyncSourceTransport } from './naming.js';
import { destinationFor, type PlanOptions, planSync, type SyncItem, type SyncPlan } from './plan.js';
import { filterIndex, withPlatformFilter } from './platforms.js';
import {
  COMPANION_TAG_RE,
  companionTagPrefix,
  companionTags,
  isNotFound,
  isRateLimited,
  RegistryAccess,
  readManifest,
  retryAfterOf,
} from './registry.js';
import { type SyncReport, type SyncReportEntry, summarize } from './report.js';
import { inShard, type Shard } from './shard.js';

/**
 * The sync run: plan the image list, keep this shard's part, then copy each image with the ONE
 * copy engine (`copyImage`) on a bounded pool of workers. Before copying, one HEAD at the
 * destination skips an image whose manifest digest is already the one the copy would write.
 * A 429 closes that registry for new work until its Retry-After (RegistryGate) and the image is
 * queued again; other failures fail the image (and, without --keep-going, stop new work).
 */

export interface SyncOptions {
  sourceTransport: SyncSourceTransport;
  destinationTransport: SyncDestinationTransport;
  source: string;
  destination: string;
  scoped?: boolean;
  /** --all: copy every instance of an index (and the index); else the host's (or --override-*) instance. */
  all?: boolean;
  platform?: PlatformSpec;
  format?: ManifestFormat;
  compression?: Compression;
  preserveDigests?: boolean;
  removeSignatures?: boolean;
  sourceOptions?: TransportOptions;
  destinationOptions?: TransportOptions;
  keepGoing?: boolean;
  dryRun?: boolean;
  /** Images copied at once (default 4). */
  parallel?: number;
  /** Blobs copied at once within one image. */
  imageParallelCopies?: number;
  prune?: boolean;
  maxDelete?: number;
  shard?: Shard;
  /** Attempts per image when registries answer 429 (default 8). */
  rateLimitAttempts?: number;
  /** Registry closed this long after a 429 whose Retry-After is unknown (default 1000 ms, doubling). */
  rateLimitDelayMs?: number;
  signal?: AbortSignal;
  onEvent?: (e: SyncEvent) => void;
}

export type SyncEvent =
  | { type: 'planned'; images: number; total: number }
  | { type: 'entry'; entry: SyncReportEntry }
  | { type: 'rate-limited'; registries: string[]; delayMs: number; image?: string };

export const DEFAULT_PARALLEL = 4;

/**
 * Source and destination manifest HEADs (and tag lists) run ahead of the copies, this many at
 * once over the run's keep-alive connections: an unchanged mirror is then a burst of HEADs, not
 * --parallel round trips at a time.
 */
export const CHECK_PARALLEL = 16;

/** Read and validate a --src yaml file (before anything else happens). */
export async function loadSyncConfigFile(file: string) {
  return parseSyncConfig(await readSyncConfigText(file), file);
}

/** The text of a --src yaml file, validated (for --print-job's ConfigMap). */
export async function readSyncConfigText(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SkiffError('CONFIG_FILE', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  parseSyncConfig(text, file);
  return text;
}

export async function runSync(options: SyncOptions): Promise<SyncReport> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const config = options.sourceTransport === 'yaml' ? await loadSyncConfigFile(options.source) : undefined;
  const gate = new RegistryGate(options.rateLimitDelayMs ?? 1000);
  const emit = options.onEvent ?? (() => {});
  const access = new RegistryAccess(gate, options.rateLimitAttempts ?? 8, (registry, delayMs) =>
    emit({ type: 'rate-limited', registries: [registry], delayMs }),
  );
  const entries: SyncReportEntry[] = [];
  const record = (entry: SyncReportEntry) => {
    entries.push(entry);
    emit({ type: 'entry', entry });
  };
  try {
    const planOptions: PlanOptions = {
      sourceTransport: options.sourceTransport,
      destinationTransport: options.destinationTransport,
      source: options.source,
      destination: options.destination,
      scoped: options.scoped ?? false,
      removeSignatures: options.removeSignatures ?? false,
      sourceOptions: options.sourceOptions ?? {},
      keepGoing: options.keepGoing ?? false,
      ...(config ? { config } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const plan = await planSync(planOptions, access);
    for (const f of plan.failures) {
      record({
        source: f.source,
        destination: '',
        action: 'failed',
        error: messageOf(f.error),
        bytes: 0,
        kind: 'image',
      });
    }
    const items = plan.items.filter((i) => inShard(i.source, options.shard));
    emit({ type: 'planned', images: items.length, total: plan.items.length });
    const runner = new SyncRunner(options, access, gate, record);
    await runner.run(items);
    if (options.prune && !runner.stopped) await prune(plan, options, access, record);
  } finally {
    await access.close();
  }
  const finished = Date.now();
  return {
    version: 1,
    dryRun: options.dryRun ?? false,
    ...(options.shard ? { shard: options.shard } : {}),
    startedAt,
    finishedAt: new Date(finished).toISOString(),
    summary: summarize(entries, finished - started),
    images: entries,
  };
}

function messageOf(err: unknown): string {
  if (isSkiffError(err)) return err.hint ? `${err.message} (${err.hint})` : err.message;
  return err instanceof Error ? err.message : String(err);
}

/** The registry hosts an image name talks to (none for local transports). */
function registryOf(imageName: string): string | undefined {
  if (!imageName.startsWith('docker://')) return undefined;
  try {
    return parseReference(imageName.slice('docker://'.length)).domain;
  } catch {
    return undefined;
  }
}

interface Job {
  item: SyncItem;
  attempts: number;
}

/** An item's copy plan and, when the plan predicts the destination digest, the digest there now. */
interface Check {
  plan: CopyPlan;
  current: Digest | undefined;
}

/** What the copy of an item will write: its digest when predictable, and how to copy it. */
interface CopyPlan {
  sourceDigest: Digest;
  /** The destination digest after the copy, when it can be known without copying. */
  expected: Digest | undefined;
  multiArch: MultiArch | undefined;
  filter: readonly PlatformSpec[] | undefined;
}

class SyncRunner {
  stopped = false;
  private readonly queue: Job[] = [];
  /** Images (by source) handled in this run, so companions and referrers are copied once. */
  private readonly done = new Set<string>();
  private readonly tagLists = new Map<string, Promise<string[]>>();
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  /** Checks started ahead of the workers (see CHECK_PARALLEL); each is taken once. */
  private readonly checks = new Map<SyncItem, Promise<Check>>();

  constructor(
    private readonly options: SyncOptions,
    private readonly access: RegistryAccess,
    private readonly gate: RegistryGate,
    private readonly record: (e: SyncReportEntry) => void,
  ) {}

  async run(items: readonly SyncItem[]): Promise<void> {
    for (const item of items) this.queue.push({ item, attempts: 0 });
    this.checkAhead(items);
    const workers = Math.max(1, this.options.parallel ?? DEFAULT_PARALLEL);
    await Promise.all(Array.from({ length: workers }, () => this.worker()));
  }

  private async worker(): Promise<void> {
    for (;;) {
      if (this.stopped || this.options.signal?.aborted) return;
      if (this.queue.length === 0) {
        if (this.active === 0) return;
        await this.changed(); // a running job may requeue rate-limited work
        continue;
      }
      const job = this.nextJob();
      if (!job) {
        // Every queued image waits for a closed registry: sleep until the first opens.
        const ms = Math.min(...this.queue.map((j) => this.gate.waitMs(this.registries(j.item))));
        await Promise.race([
          sleep(ms, undefined, this.options.signal ? { signal: this.options.signal } : undefined),
          this.changed(),
        ]);
        continue;
      }
      this.active++;
      try {
        await this.gate.wait(this.registries(job.item), this.options.signal);
        await this.process(job);
      } finally {
        this.active--;
        const waiters = this.waiters.splice(0);
        for (const w of waiters) w();
      }
    }
  }

  /**
   * Start every item's check (and its repository's tag list, which the signature lookup needs)
   * on a bounded pool; workers take them in order. Once the run stops, no new check starts.
   */
  private checkAhead(items: readonly SyncItem[]): void {
    const limit = createLimiter(CHECK_PARALLEL);
    const signal = this.options.signal;
    for (const item of items) {
      const check = limit(async () => {
        if (this.stopped) throw new SkiffError('ABORTED', 'sync stopped');
        return this.check(item, signal);
      }, signal);
      check.catch(() => {}); // surfaces when a worker takes it
      this.checks.set(item, check);
      if (item.sourceRef && !this.options.removeSignatures && !item.artifact) {
        const ref = item.sourceRef;
        if (!this.tagLists.has(ref.name)) {
          const tags = limit(() => this.access.listTags(ref, item.sourceOptions, signal), signal);
          tags.catch(() => {}); // surfaces in companions(), as tagsOf's own request would
          this.tagLists.set(ref.name, tags);
        }
      }
    }
  }

  private async check(item: SyncItem, signal?: AbortSignal): Promise<Check> {
    const plan = await this.planCopy(item, signal);
    const current = plan.expected !== undefined ? await this.destinationDigest(item, signal) : undefined;
    return { plan, current };
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The first queued job whose registries are open (so one closed registry does not stall the others). */
  private nextJob(): Job | undefined {
    const i = this.queue.findIndex((j) => this.gate.waitMs(this.registries(j.item)) === 0);
    if (i >= 0) return this.queue.splice(i, 1)[0];
    return undefined;
  }

  private registries(item: SyncItem): string[] {
    return [registryOf(item.source), registryOf(item.destination)].filter(
      (r): r is string => r !== undefined,
    );
  }

  private async process(job: Job): Promise<void> {
    const { item } = job;
    let entry: SyncReportEntry;
    try {
      entry = await this.syncItem(
        item,
        item.artifact ? (item.source.includes('@') ? 'referrer' : 'signature') : 'image',
      );
    } catch (err) {
      if (isRateLimited(err) && job.attempts + 1 < (this.options.rateLimitAttempts ?? 8)) {
        const registries = this.registries(item);
        const retryAfter = retryAfterOf(err);
        let delayMs = 0;
        for (const r of registries) delayMs = Math.max(delayMs, this.gate.block(r, retryAfter));
        this.options.onEvent?.({ type: 'rate-limited', registries, delayMs, image: item.source });
        this.queue.push({ item, attempts: job.attempts + 1 });
        return;
      }
      this.fail(item, err, 'image');
      return;
    }
    for (const r of this.registries(item)) this.gate.clear(r);
    this.record(entry);
    if (item.sourceRef && !this.options.removeSignatures && !item.artifact && entry.digest !== undefined) {
      await this.companions(item).catch((err: unknown) => this.fail(item, err, 'signature'));
    }
  }

  private fail(item: SyncItem, err: unknown, kind: SyncReportEntry['kind']): void {
    this.record({
      source: item.source,
      destination: item.destination,
      action: 'failed',
      error: messageOf(err),
      bytes: 0,
      kind,
    });
    if (!this.options.keepGoing) this.stopped = true;
  }

  /** Decide how to copy an item and what its destination digest will be. */
  private async planCopy(item: SyncItem, signal?: AbortSignal): Promise<CopyPlan> {
    const o = this.options;
    let digest: Digest;
    let mediaType: string;
    let raw: Buffer | undefined;
    if (item.sourceRef) {
      const head = await this.access.sourceHead(item.sourceRef, item.sourceOptions, signal);
      if (!head)
        throw new SkiffError('MANIFEST_UNKNOWN', `${item.source}: manifest unknown`, { status: 404 });
      digest = head.digest;
      mediaType = head.mediaType;
    } else {
      const m = await readManifest(item.source, item.sourceOptions, signal);
      if (!m) throw new SkiffError('NOT_FOUND', `${item.source}: no image there`);
      ({ digest, mediaType, raw } = m);
    }
    const converts = (target: string) =>
      o.compression !== undefined || (o.format !== undefined && manifestFormatOf(target) !== o.format);
    if (item.artifact) {
      return {
        sourceDigest: digest,
        expected: converts(mediaType) ? undefined : digest,
        multiArch: 'all',
        filter: undefined,
      };
    }
    if (!isIndexMediaType(mediaType)) {
      return {
        sourceDigest: digest,
        expected: converts(mediaType) ? undefined : digest,
        multiArch: undefined,
        filter: undefined,
      };
    }
    const index = async (): Promise<Buffer> => {
      if (raw) return raw;
      return (await this.access.getManifest(item.sourceRef!, item.sourceOptions, signal)).raw;
    };
    if (item.platforms) {
      const f = filterIndex(await index(), item.platforms, item.source);
      return {
        sourceDigest: digest,
        expected: converts(mediaType) ? undefined : f.digest,
        multiArch: 'all',
        filter: item.platforms,
      };
    }
    if (o.all) {
      return {
        sourceDigest: digest,
        expected: converts(mediaType) ? undefined : digest,
        multiArch: 'all',
        filter: undefined,
      };
    }
    // skopeo sync without --all: the instance for this system (or --override-*).
    const doc = JSON.parse((await index()).toString('utf8')) as { manifests?: Descriptor[] };
    const host = hostPlatform();
    const want: PlatformSpec = {
      os: o.platform?.os ?? host.os,
      architecture: o.platform?.architecture ?? host.architecture,
    };
    const variant = o.platform?.variant ?? (o.platform?.architecture ? undefined : host.variant);
    if (variant) want.variant = variant;
    const chosen = selectPlatform(doc.manifests ?? [], want);
    const expected = chosen && !converts(chosen.mediaType) ? (chosen.digest as Digest) : undefined;
    return { sourceDigest: digest, expected, multiArch: 'system', filter: undefined };
  }

  /** The digest at the destination now (one HEAD for registries), or undefined. */
  private async destinationDigest(item: SyncItem, signal?: AbortSignal): Promise<Digest | undefined> {
    const options = this.options.destinationOptions ?? {};
    if (item.destination.startsWith('docker://')) {
      const ref = parseReference(item.destination.slice('docker://'.length));
      try {
        return (await this.access.head(ref, options, signal))?.digest;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    }
    return (await readManifest(item.destination, options, signal))?.digest;
  }

  private async syncItem(item: SyncItem, kind: SyncReportEntry['kind']): Promise<SyncReportEntry> {
    const o = this.options;
    const signal = o.signal;
    this.done.add(item.source);
    const ahead = this.checks.get(item);
    this.checks.delete(item); // a requeued item (429) checks again
    const { plan, current } = await (ahead ?? this.check(item, signal));
    const base = { source: item.source, destination: item.destination, kind };
    if (plan.expected !== undefined && current === plan.expected) {
      return { ...base, digest: current, action: 'skipped', bytes: 0 };
    }
    if (o.dryRun) {
      return { ...base, ...(plan.expected ? { digest: plan.expected } : {}), action: 'copied', bytes: 0 };
    }
    // The copy engine and the transports load with the first image to copy: an unchanged mirror
    // never needs them.
    const [{ copyImage }, { parseImageName }] = await Promise.all([
      import('@skiff/oci/copy/copy'),
      import('@skiff/oci/transports/index'),
    ]);
    let source = parseImageName(item.source);
    if (plan.filter) source = withPlatformFilter(source, plan.filter);
    // The clients share the job's gate: a 429 inside a copy holds every request to that registry.
    const copyOptions: CopyOptions = {
      sourceOptions: { ...item.sourceOptions, registryGate: this.gate, clientPool: this.access.pool },
      destinationOptions: {
        ...(o.destinationOptions ?? {}),
        registryGate: this.gate,
        clientPool: this.access.pool,
      },
    };
    if (plan.multiArch) copyOptions.multiArch = plan.multiArch;
    if (plan.multiArch === 'system' && o.platform) copyOptions.platform = o.platform;
    if (!item.artifact) {
      if (o.format) copyOptions.format = o.format;
      if (o.compression) copyOptions.compression = o.compression;
    }
    if (o.preserveDigests) copyOptions.preserveDigests = true;
    if (o.imageParallelCopies) copyOptions.concurrency = o.imageParallelCopies;
    if (signal) copyOptions.signal = signal;
    // As skopeo, create the directories that hold dir: images and OCI layouts.
    const local = /^(dir|oci):(.*)$/.exec(item.destination);
    if (local)
      await mkdir(dirname(local[1] === 'oci' ? local[2]!.replace(/:[^/]*$/, '') : local[2]!), {
        recursive: true,
      });
    const result = await copyImage(source, parseImageName(item.destination), copyOptions);
    return { ...base, digest: result.digest, action: 'copied', bytes: result.bytesCopied };
  }

  private tagsOf(ref: ImageRef, options: TransportOptions): Promise<string[]> {
    let p = this.tagLists.get(ref.name);
    if (!p) {
      p = this.access.listTags(ref, options, this.options.signal);
      this.tagLists.set(ref.name, p);
    }
    return p;
  }

  /**
   * Signatures and artefacts of a copied image: cosign-style `sha256-<hex>.sig/.att/.sbom` tags
   * and the referrers-fallback `sha256-<hex>` tag (when the image's tags came from an explicit
   * list, not a whole repository whose tags already include them), then the OCI 1.1 referrers
   * the registry reports, each copied byte for byte.
   */
  private async companions(item: SyncItem): Promise<void> {
    const ref = item.sourceRef!;
    const sourceDigest = (await this.access.sourceHead(ref, item.sourceOptions, this.options.signal))?.digest;
    if (!sourceDigest) return;
    const extra: SyncItem[] = [];
    const opts = {
      destinationTransport: this.options.destinationTransport,
      destination: this.options.destination,
      scoped: this.options.scoped ?? false,
    };
    let hasFallbackTag = false;
    const tags = await this.tagsOf(ref, item.sourceOptions);
    for (const tag of companionTags(tags, sourceDigest)) {
      if (tag === companionTagPrefix(sourceDigest)) hasFallbackTag = true;
      if (!item.companionTags) continue;
      const t = withTag(ref, tag);
      extra.push({
        ...item,
        source: `docker://${t.toString()}`,
        destination: destinationFor(t, opts),
        sourceRef: t,
        artifact: true,
        companionTags: false,
      });
    }
    if (!item.companionTags && tags.some((t) => t === companionTagPrefix(sourceDigest)))
      hasFallbackTag = true;
    if (!hasFallbackTag) {
      // The OCI 1.1 referrers API (a registry without it and without the fallback tag has none).
      const referrers = await this.access.referrers(
        ref,
        sourceDigest,
        item.sourceOptions,
        this.options.signal,
        tags,
      );
      for (const d of referrers) {
        if (!isDigest(d.digest)) continue;
        const byDigest = withDigest(nameOnly(ref), d.digest);
        extra.push({
          ...item,
          source: `docker://${byDigest.toString()}`,
          destination: destinationFor(byDigest, opts),
          sourceRef: byDigest,
          artifact: true,
          companionTags: false,
        });
      }
    }
    for (const e of extra) {
      if (this.done.has(e.source)) continue;
      try {
        const entry = await this.syncItem(e, e.source.includes('@') ? 'referrer' : 'signature');
        this.record(entry);
      } catch (err) {
        this.fail(e, err, e.source.includes('@') ? 'referrer' : 'signature');
        if (this.stopped) return;
      }
    }
  }
}

/**
 * --prune: delete destination tags that the source no longer has, only in repositories this sync
 * filled and could list completely. A registry deletes manifests, not tags, so a stale tag whose
 * manifest a kept tag also names is left (and reported as skipped). Companion (signature) tags
 * are never pruned. `maxDelete` guards against mass deletion: over it, nothing is deleted.
 */
async function prune(
  plan: SyncPlan,
  options: SyncOptions,
  access: RegistryAccess,
  record: (e: SyncReportEntry) => void,
): Promise<void> {
  const destOptions = options.destinationOptions ?? {};
  interface Stale {
    repo: ImageRef;
    tag: string;
  }
  const stale: Stale[] = [];
  for (const repo of plan.repositories) {
    if (!repo.complete) continue;
    const ref = parseReference(repo.destination);
    const tags = await access.listTags(ref, destOptions, options.signal);
    for (const tag of tags) {
      if (repo.tags.has(tag) || COMPANION_TAG_RE.test(tag)) continue;
      if (!inShard(`docker://${repo.destination}:${tag}`, options.shard)) continue;
      stale.push({ repo: ref, tag });
    }
  }
  const name = (s: Stale) => `docker://${s.repo.name}:${s.tag}`;
  if (options.maxDelete !== undefined && stale.length > options.maxDelete) {
    for (const s of stale) {
      record({
        source: '',
        destination: name(s),
        action: 'failed',
        error: `prune would delete ${stale.length} tags, more than --max-delete ${options.maxDelete}: nothing deleted`,
        bytes: 0,
        kind: 'tag',
      });
    }
    return;
  }
  const keptDigests = new Map<string, Set<string>>();
  const kept = async (repo: ImageRef): Promise<Set<string>> => {
    let set = keptDigests.get(repo.name);
    if (!set) {
      set = new Set();
      const synced = plan.repositories.find((r) => r.destination === repo.name)!;
      for (const tag of synced.tags) {
        const head = await access
          .head(withTag(repo, tag), destOptions, options.signal)
          .catch(() => undefined);
        if (head) set.add(head.digest);
      }
      keptDigests.set(repo.name, set);
    }
    return set;
  };
  const deleted = new Set<string>();
  for (const s of stale) {
    try {
      const head = await access.head(withTag(s.repo, s.tag), destOptions, options.signal);
      if (!head) continue;
      const base = { source: '', destination: name(s), digest: head.digest, bytes: 0, kind: 'tag' as const };
      if ((await kept(s.repo)).has(head.digest)) {
        record({
          ...base,
          action: 'skipped',
          error: `not pruned: its manifest is also tagged by a synced tag`,
        });
        continue;
      }
      const key = `${s.repo.name}@${head.digest}`;
      if (!options.dryRun && !deleted.has(key))
        await access.deleteManifest(s.repo, head.digest, destOptions, options.signal);
      deleted.add(key);
      record({ ...base, action: 'deleted' });
    } catch (err) {
      record({
        source: '',
        destination: name(s),
        action: 'failed',
        error: messageOf(err),
        bytes: 0,
        kind: 'tag',
      });
      if (!options.keepGoing) return;
    }
  }
}
