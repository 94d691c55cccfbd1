import { setMaxListeners } from 'node:events';
import { pipeline, Readable } from 'node:stream';
import { asSkiffError, isSkiffError, SkiffError } from '../errors.js';
import { readSmallBlob } from '../image/read-blob.js';
import { compressStream, decompressStream } from '../layer/compression.js';
import { type Digest, DigestVerifier } from '../spec/digest.js';
import {
  descriptorOf,
  type ImageIndex,
  type ImageManifest,
  type Manifest,
  parseImageConfig,
  parseManifest,
} from '../spec/manifest.js';
import { type Compression, type ManifestFormat, MediaType, manifestFormatOf } from '../spec/media-types.js';
import { formatPlatform, hostPlatform, type PlatformSpec, selectPlatform } from '../spec/platform.js';
import type { Descriptor } from '../spec/schemas.js';
import {
  canMountBlobs,
  type ImageDestination,
  type ImageReference,
  type ImageSource,
  type RawManifest,
  type TransportOptions,
} from '../transports/types.js';
import { buildIndex, buildManifest, type LayerPlan, type ManifestPlan, planManifest } from './convert.js';
import type { CopyProgressEvent, ProgressListener } from './events.js';
import { createLimiter } from './limit.js';

export type MultiArch = 'all' | 'system' | 'index-only';

export interface CopyOptions {
  sourceOptions?: TransportOptions;
  destinationOptions?: TransportOptions;
  /**
   * What to copy from an index. Default: every instance and the index itself wherever the
   * destination can hold an index (so the digest copied is the digest written), else the
   * instance for `platform` (or the host's).
   */
  multiArch?: MultiArch;
  /** Narrow an index to this platform's instance (ferry --override-os/--override-arch/--override-variant). */
  platform?: PlatformSpec;
  /** Manifest format to write (--format). */
  format?: ManifestFormat;
  /** Layer compression to write (--dest-compress-format). */
  compression?: Compression;
  /** Compression level for recompressed layers (--dest-compress-level). */
  compressionLevel?: number;
  /** Refuse any change that would alter a manifest digest (--preserve-digests). */
  preserveDigests?: boolean;
  /** Blobs copied at once. */
  concurrency?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface CopyResult {
  /** Digest of the manifest written at the destination's reference. */
  digest: Digest;
  mediaType: string;
  /** The bytes of that manifest. */
  manifest: Buffer;
  /** Image manifests written (1 for a single image, N for an index of N). */
  instances: number;
  blobsCopied: number;
  blobsSkipped: number;
  blobsMounted: number;
  bytesCopied: number;
}

/** A manifest to write, with the plan of its blobs (planned before any byte moves). */
interface InstanceJob {
  manifest: ImageManifest;
  plan: ManifestPlan;
}

const PROGRESS_INTERVAL_MS = 100;

/**
 * Copy an image between any two transports: THE copy engine. Every blob is verified while
 * it streams, manifests are written only after every blob they reference is in place, and
 * a failure leaves the destination as it was (the destination is closed without commit).
 */
export async function copyImage(
  sourceRef: ImageReference,
  destinationRef: ImageReference,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const emit = options.onProgress ?? (() => {});
  if (options.signal?.aborted) throw new SkiffError('ABORTED', 'copy aborted');
  let source: ImageSource | undefined;
  let destination: ImageDestination | undefined;
  let result: CopyResult;
  try {
    source = await sourceRef.newSource(options.sourceOptions);
    // The top manifest is asked for while the destination opens (an OCI layout fsyncs its
    // oci-layout file; a registry's first request is its ping).
    const top = source.getManifest(undefined, options.signal);
    top.catch(() => {}); // awaited in run(); a destination that fails to open reports first
    destination = await destinationRef.newDestination(options.destinationOptions);
    emit({ type: 'start', source: sourceRef.toString(), destination: destinationRef.toString() });
    result = await new CopyRun(source, destination, options, emit).run(top);
    await destination.commit(options.signal);
  } catch (err) {
    await Promise.allSettled([destination?.close(), source?.close()]);
    if (options.signal?.aborted) throw new SkiffError('ABORTED', 'copy aborted', { cause: err });
    throw asSkiffError(err, `copying ${sourceRef.toString()} to ${destinationRef.toString()}`);
  }
  // After a commit, a failure to release resources is still a failure the caller must see.
  const closed = await Promise.allSettled([destination.close(), source.close()]);
  const failed = closed.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw asSkiffError(failed.reason, `closing ${destinationRef.toString()}`);
  emit({ type: 'done', digest: result.digest });
  return result;
}

class CopyRun {
  private readonly limit: <T>(fn: () => Promise<T>, signal?: AbortSignal) => Promise<T>;
  /** Blobs already written or being written, by source digest → written descriptor. */
  private readonly blobs = new Map<string, Promise<Descriptor>>();
  private readonly stats = { blobsCopied: 0, blobsSkipped: 0, blobsMounted: 0, bytesCopied: 0 };
  private readonly what: string;
  /** Aborted by the caller's signal or by the first failing task, so siblings stop early. */
  private readonly controller = new AbortController();
  private readonly signal: AbortSignal;

  constructor(
    private readonly source: ImageSource,
    private readonly destination: ImageDestination,
    private readonly options: CopyOptions,
    private readonly emit: (e: CopyProgressEvent) => void,
  ) {
    this.limit = createLimiter(options.concurrency ?? 6);
    this.what = source.reference.toString();
    this.signal = options.signal
      ? AbortSignal.any([options.signal, this.controller.signal])
      : this.controller.signal;
    // Every request and stream of the copy listens on this one signal: many listeners are expected.
    setMaxListeners(0, this.signal);
  }

  async run(prefetchedTop?: Promise<RawManifest>): Promise<CopyResult> {
    const top = await this.fetchManifest(undefined, prefetchedTop);
    if (top.kind === 'manifest') {
      const job = this.plan(top);
      this.checkPreserve([job]);
      const written = await this.copyInstance(job, false);
      return this.result(written, 1);
    }
    return this.copyIndex(top);
  }

  private async fetchManifest(
    instance: Digest | undefined,
    prefetched?: Promise<RawManifest>,
  ): Promise<Manifest> {
    const { raw, mediaType } = await (prefetched ?? this.source.getManifest(instance, this.signal));
    const what = instance ? `${this.what} (instance ${instance})` : this.what;
    const m = parseManifest(raw, mediaType, what);
    if (instance && m.digest !== instance) {
      throw new SkiffError(
        'DIGEST_MISMATCH',
        `manifest ${instance} of ${this.what}: content has digest ${m.digest}`,
      );
    }
    return m;
  }

  private plan(manifest: ImageManifest): InstanceJob {
    const caps = this.destination.capabilities;
    const plan = planManifest(manifest, {
      format: this.options.format,
      compression: this.options.compression,
      acceptedMediaTypes: caps.manifestMediaTypes,
      layerCompression: caps.layerCompression,
      what: this.what,
    });
    return { manifest, plan };
  }

  private checkPreserve(jobs: InstanceJob[]): void {
    if (!this.options.preserveDigests) return;
    const changed = jobs.find((j) => j.plan.changesManifest);
    if (changed) {
      throw new SkiffError(
        'DIGEST_WOULD_CHANGE',
        `copying ${this.what} would change manifest ${changed.manifest.digest} (format or compression conversion), and --preserve-digests forbids that`,
      );
    }
  }

  private wantedPlatform(): PlatformSpec {
    const host = hostPlatform();
    const o = this.options.platform ?? {};
    const want: PlatformSpec = { os: o.os ?? host.os, architecture: o.architecture ?? host.architecture };
    const variant = o.variant ?? (o.architecture ? undefined : host.variant);
    if (variant) want.variant = variant;
    return want;
  }

  private async copyIndex(index: ImageIndex): Promise<CopyResult> {
    const caps = this.destination.capabilities;
    let mode = this.options.multiArch;
    if (mode === undefined) mode = caps.supportsIndex && !this.options.platform ? 'all' : 'system';
    if (mode !== 'system' && !caps.supportsIndex) {
      throw new SkiffError(
        'UNSUPPORTED',
        `${this.destination.reference.toString()} cannot hold a multi-platform index`,
        { hint: 'copy one platform with --multi-arch system or --override-arch/--override-os' },
      );
    }

    if (mode === 'system') {
      const want = this.wantedPlatform();
      const chosen = selectPlatform(index.manifests, want);
      if (!chosen) {
        const have = index.manifests
          .map((d) => (d.platform ? formatPlatform(d.platform) : 'unknown'))
          .join(', ');
        throw new SkiffError(
          'NO_MATCHING_PLATFORM',
          `${this.what} has no instance for ${formatPlatform(want)} (it has: ${have || 'none'})`,
        );
      }
      const m = await this.fetchManifest(chosen.digest as Digest);
      if (m.kind !== 'manifest') {
        throw new SkiffError('UNSUPPORTED', `${this.what}: nested index ${chosen.digest} cannot be narrowed`);
      }
      const job = this.plan(m);
      this.checkPreserve([job]);
      const written = await this.copyInstance(job, false);
      return this.result(written, 1);
    }

    const format: ManifestFormat =
      this.options.format ??
      (caps.manifestMediaTypes.length === 0 || caps.manifestMediaTypes.includes(index.mediaType)
        ? (manifestFormatOf(index.mediaType) ?? 'oci')
        : caps.manifestMediaTypes.includes(MediaType.ociIndex)
          ? 'oci'
          : 'v2s2');

    if (mode === 'index-only') {
      const raw = buildIndex(index, format, new Map());
      if (this.options.preserveDigests && raw.digest !== index.digest) this.checkPreserve([]);
      await this.putManifest({ raw: raw.raw, mediaType: raw.mediaType }, undefined);
      return this.result({ raw: raw.raw, mediaType: raw.mediaType, digest: raw.digest as Digest }, 0);
    }

    // Fetch and plan every instance before any blob moves, so --preserve-digests and
    // conversion errors fail before the destination is touched.
    const instances = await Promise.all(
      index.manifests.map(async (d) => {
        const m = await this.fetchManifest(d.digest as Digest);
        return { descriptor: d, manifest: m };
      }),
    );
    const jobs: InstanceJob[] = [];
    const nested: ImageIndex[] = [];
    for (const { manifest } of instances) {
      if (manifest.kind === 'manifest') jobs.push(this.plan(manifest));
      else nested.push(manifest);
    }
    if (nested.length > 0) {
      throw new SkiffError(
        'UNSUPPORTED',
        `${this.what}: nested indexes (${nested[0]!.digest}) are not supported`,
      );
    }
    this.checkPreserve(jobs);
    const written = new Map<string, Descriptor>();
    await this.settleAll(
      jobs.map(async (job) => {
        const w = await this.copyInstance(job, true);
        written.set(job.manifest.digest, { mediaType: w.mediaType, digest: w.digest, size: w.raw.length });
      }),
    );
    const out = buildIndex(index, format, written);
    if (this.options.preserveDigests && out.digest !== index.digest) {
      throw new SkiffError('DIGEST_WOULD_CHANGE', `copying ${this.what} would change index ${index.digest}`);
    }
    await this.putManifest({ raw: out.raw, mediaType: out.mediaType }, undefined);
    return this.result({ raw: out.raw, mediaType: out.mediaType, digest: out.digest as Digest }, jobs.length);
  }

  /** Wait for every task; on the first failure abort the others, then throw that failure. */
  private async settleAll(tasks: Promise<unknown>[]): Promise<void> {
    let first: unknown;
    await Promise.all(
      tasks.map((t) =>
        t.catch((err: unknown) => {
          if (first === undefined) {
            first = err;
            this.controller.abort(err);
          }
        }),
      ),
    );
    if (first !== undefined) throw first;
  }

  private async copyInstance(
    job: InstanceJob,
    asInstance: boolean,
  ): Promise<{ raw: Buffer; mediaType: string; digest: Digest }> {
    const { manifest, plan } = job;
    // The config is read while the layers copy: only a layer that is transformed (and so
    // checked against its DiffID) waits for it.
    const configRead = this.readConfig(manifest);
    configRead.catch(() => {}); // awaited below
    const layers: Descriptor[] = [];
    await this.settleAll([
      configRead,
      ...plan.layers.map(async (layer, i) => {
        const diffId = layer.from === layer.to ? undefined : (await configRead).diffIds[i];
        layers[i] = await this.copyLayer(layer, diffId);
      }),
    ]);
    const { raw: configRaw } = await configRead;
    const config = await this.copyConfig(manifest.config, configRaw, plan.configMediaType);
    const out = buildManifest(manifest, plan, config, layers);
    const parsed = parseManifest(out.raw, out.mediaType, this.what);
    await this.putManifest(out, asInstance ? parsed.digest : undefined);
    return { raw: out.raw, mediaType: out.mediaType, digest: parsed.digest };
  }

  /** The config's bytes (verified) and, for an image config, its DiffIDs (one per layer). */
  private async readConfig(manifest: ImageManifest): Promise<{ raw: Buffer; diffIds: string[] }> {
    const raw = await readSmallBlob(this.source, manifest.config, `config of ${this.what}`, this.signal);
    const isImage =
      manifest.config.mediaType === MediaType.ociConfig ||
      manifest.config.mediaType === MediaType.dockerConfig;
    if (!isImage) return { raw, diffIds: [] };
    const config = parseImageConfig(raw, `${this.what} (config ${manifest.config.digest})`);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new SkiffError(
        'INVALID_CONFIG',
        `${this.what}: config lists ${diffIds.length} layer DiffIDs but the manifest has ${manifest.layers.length} layers`,
      );
    }
    return { raw, diffIds };
  }

  private async copyConfig(d: Descriptor, raw: Buffer, mediaType: string): Promise<Descriptor> {
    const written: Descriptor = { mediaType, digest: d.digest, size: d.size };
    this.emit({ type: 'blob-start', digest: d.digest, sizeBytes: d.size, kind: 'config' });
    if (await this.destination.hasBlob(written, this.signal)) {
      this.stats.blobsSkipped++;
      this.emit({
        type: 'blob-done',
        digest: d.digest,
        action: 'skipped',
        sizeBytes: d.size,
        kind: 'config',
      });
      return written;
    }
    const desc = await this.destination.putBlob(
      Readable.from([raw]),
      { digest: d.digest as Digest, sizeBytes: d.size, mediaType, isConfig: true, verified: true },
      this.signal,
    );
    this.stats.blobsCopied++;
    this.stats.bytesCopied += d.size;
    this.emit({ type: 'blob-done', digest: d.digest, action: 'copied', sizeBytes: d.size, kind: 'config' });
    return { ...written, digest: desc.digest, size: desc.size };
  }

  private copyLayer(layer: LayerPlan, diffId: string | undefined): Promise<Descriptor> {
    const key = `${layer.source.digest}|${layer.to ?? ''}|${layer.mediaType}`;
    let p = this.blobs.get(key);
    if (!p) {
      p = this.limit(() => this.copyLayerOnce(layer, diffId), this.signal);
      this.blobs.set(key, p);
    }
    return p;
  }

  private async copyLayerOnce(layer: LayerPlan, diffId: string | undefined): Promise<Descriptor> {
    const src = layer.source;
    const unchanged = layer.from === layer.to;
    const target: Descriptor = { ...src, mediaType: layer.mediaType };
    this.emit({ type: 'blob-start', digest: src.digest, sizeBytes: src.size, kind: 'layer' });
    if (unchanged) {
      if (await this.destination.hasBlob(target, this.signal)) {
        this.stats.blobsSkipped++;
        this.emit({
          type: 'blob-done',
          digest: src.digest,
          action: 'skipped',
          sizeBytes: src.size,
          kind: 'layer',
        });
        return target;
      }
      if (
        canMountBlobs(this.destination) &&
        (await this.destination.mountBlob(target, this.source.reference, this.signal))
      ) {
        this.stats.blobsMounted++;
        this.emit({
          type: 'blob-done',
          digest: src.digest,
          action: 'mounted',
          sizeBytes: src.size,
          kind: 'layer',
        });
        return target;
      }
    }
    const { stream } = await this.source.getBlob(src, this.signal);
    const what = `blob ${src.digest} of ${this.what}`;
    const progress = this.progressReporter(src);
    const verifier = new DigestVerifier({
      digest: src.digest,
      sizeBytes: src.size,
      what,
      onBytes: progress.onBytes,
    });
    const stages: NodeJS.ReadWriteStream[] = [verifier];
    if (!unchanged) {
      stages.push(decompressStream(layer.from ?? 'none'));
      if (diffId) stages.push(new DigestVerifier({ digest: diffId, what: `uncompressed ${what} (DiffID)` }));
      if (layer.to && layer.to !== 'none') {
        const level = this.options.compressionLevel;
        stages.push(compressStream(layer.to, level === undefined ? {} : { level }));
      }
    }
    let pipelineError: unknown;
    const flowing = new Promise<void>((resolve) => {
      pipeline([stream, ...stages] as unknown as [Readable, ...NodeJS.ReadWriteStream[]], (err) => {
        if (err) pipelineError = err;
        resolve();
      });
    });
    const last = stages[stages.length - 1] as unknown as Readable;
    let written: Descriptor;
    try {
      const info = unchanged
        ? { digest: src.digest as Digest, sizeBytes: src.size, mediaType: layer.mediaType, verified: true }
        : { sizeBytes: -1, mediaType: layer.mediaType };
      written = await this.destination.putBlob(last, info, this.signal);
    } catch (err) {
      last.destroy();
      await flowing;
      throw unchanged
        ? preferSkiff(pipelineError, err)
        : await this.explainFailure(src, pipelineError ?? err);
    }
    await flowing;
    if (pipelineError) throw unchanged ? pipelineError : await this.explainFailure(src, pipelineError);
    progress.done(verifier.bytes);
    this.stats.blobsCopied++;
    this.stats.bytesCopied += src.size;
    this.emit({
      type: 'blob-done',
      digest: src.digest,
      action: 'copied',
      sizeBytes: src.size,
      kind: 'layer',
    });
    const out: Descriptor = {
      ...src,
      mediaType: layer.mediaType,
      digest: written.digest,
      size: written.size,
    };
    return out;
  }

  /**
   * A transforming copy (decompress, recompress) can fail in the decompressor before the digest
   * check has seen the whole blob. Read the blob again to tell a corrupt blob (DIGEST_MISMATCH,
   * the real cause) from a valid one that is not what its media type says; either way the
   * error names the blob and the image.
   */
  private async explainFailure(d: Descriptor, err: unknown): Promise<unknown> {
    if (
      this.signal.aborted ||
      (isSkiffError(err) && (err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH'))
    ) {
      return err;
    }
    const what = `blob ${d.digest} of ${this.what}`;
    try {
      const { stream } = await this.source.getBlob(d, this.signal);
      await new Promise<void>((resolve, reject) => {
        const verifier = new DigestVerifier({ digest: d.digest, sizeBytes: d.size, what });
        verifier.resume();
        pipeline(stream, verifier, (e) => (e ? reject(e) : resolve()));
      });
    } catch (verdict) {
      if (isSkiffError(verdict) && (verdict.code === 'DIGEST_MISMATCH' || verdict.code === 'SIZE_MISMATCH')) {
        return verdict;
      }
    }
    const message = err instanceof Error ? err.message : String(err);
    return new SkiffError(isSkiffError(err) ? err.code : 'INVALID_ARCHIVE', `${what}: ${message}`, {
      cause: err,
    });
  }

  /** Progress events for a blob, at most every PROGRESS_INTERVAL_MS, and once at the end. */
  private progressReporter(d: Descriptor): {
    onBytes: (bytes: number) => void;
    done: (bytes: number) => void;
  } {
    let last = 0;
    return {
      onBytes: (bytes) => {
        const now = Date.now();
        if (now - last < PROGRESS_INTERVAL_MS) return;
        last = now;
        this.emit({ type: 'blob-progress', digest: d.digest, bytes, sizeBytes: d.size });
      },
      done: (bytes) => this.emit({ type: 'blob-progress', digest: d.digest, bytes, sizeBytes: d.size }),
    };
  }

  private async putManifest(
    m: { raw: Buffer; mediaType: string },
    instance: Digest | undefined,
  ): Promise<void> {
    await this.destination.putManifest(m, instance, this.signal);
    const parsedDigest = descriptorOf(parseManifest(m.raw, m.mediaType, this.what)).digest;
    this.emit({
      type: 'manifest',
      digest: parsedDigest,
      mediaType: m.mediaType,
      instance: instance !== undefined,
    });
  }

  private result(written: { raw: Buffer; mediaType: string; digest: Digest }, instances: number): CopyResult {
    return {
      digest: written.digest,
      mediaType: written.mediaType,
      manifest: written.raw,
      instances,
      ...this.stats,
    };
  }
}

/** Of two errors from one failed blob copy, the SkiffError explains it (a digest mismatch beats "premature close"). */
function preferSkiff(a: unknown, b: unknown): unknown {
  if (isSkiffError(a)) return a;
  if (isSkiffError(b)) return b;
  return a ?? b;
}
