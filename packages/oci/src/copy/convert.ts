import { SkiffError } from '../errors.js';
import { digestOf } from '../spec/digest.js';
import type { ImageIndex, ImageManifest } from '../spec/manifest.js';
import {
  type Compression,
  layerCompression,
  layerMediaType,
  type ManifestFormat,
  MediaType,
  manifestFormatOf,
} from '../spec/media-types.js';
import type { Descriptor } from '../spec/schemas.js';

/**
 * Pure planning and rewriting of manifests and indexes for a copy: which layers change, what
 * the written manifest looks like. Byte-exact when nothing changes: the source's raw bytes are
 * reused, so the digest a user copied is the digest they get.
 */

export interface LayerPlan {
  source: Descriptor;
  /** Compression of the source bytes; undefined for blobs that are not layer tars (artifacts). */
  from: Compression | undefined;
  /** Compression to write; equal to `from` when the bytes are copied unchanged. */
  to: Compression | undefined;
  /** Media type of the written descriptor. */
  mediaType: string;
}

export interface ManifestPlan {
  format: ManifestFormat;
  mediaType: string;
  configMediaType: string;
  layers: LayerPlan[];
  /** True when the written manifest differs from the source bytes. */
  changesManifest: boolean;
}

export interface PlanOptions {
  /** --format; undefined keeps the source's format when the destination accepts it. */
  format?: ManifestFormat;
  /** --dest-compress-format; undefined keeps each layer's compression. */
  compression?: Compression;
  /** What the destination can store. */
  acceptedMediaTypes: readonly string[];
  layerCompression: 'preserve' | 'decompress';
  /** Names the image in errors. */
  what: string;
}

const OCI_FORMAT_TYPES = new Set<string>([MediaType.ociManifest, MediaType.ociIndex]);

function chooseFormat(sourceMediaType: string, options: PlanOptions): ManifestFormat {
  const sourceFormat = manifestFormatOf(sourceMediaType) ?? 'oci';
  const accepted = (format: ManifestFormat): boolean =>
    options.acceptedMediaTypes.length === 0 ||
    options.acceptedMediaTypes.includes(format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest);
  if (options.format) {
    if (!accepted(options.format)) {
      throw new SkiffError(
        'UNSUPPORTED',
        `${options.what}: the destination cannot store ${options.format} manifests`,
      );
    }
    return options.format;
  }
  if (accepted(sourceFormat)) return sourceFormat;
  return sourceFormat === 'oci' ? 'v2s2' : 'oci';
}

export function planManifest(manifest: ImageManifest, options: PlanOptions): ManifestPlan {
  const format = chooseFormat(manifest.mediaType, options);
  const mediaType = format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest;
  const sourceConfigType = manifest.config.mediaType;
  const isImageConfig =
    sourceConfigType === MediaType.ociConfig || sourceConfigType === MediaType.dockerConfig;
  if (!isImageConfig && format !== manifestFormatOf(manifest.mediaType)) {
    throw new SkiffError(
      'UNSUPPORTED',
      `${options.what}: cannot convert an artifact with config type "${sourceConfigType}" to ${format}`,
    );
  }
  const configMediaType = isImageConfig
    ? format === 'oci'
      ? MediaType.ociConfig
      : MediaType.dockerConfig
    : sourceConfigType;

  const layers = manifest.layers.map((layer): LayerPlan => {
    const from = layerCompression(layer.mediaType);
    if (from === undefined) {
      if (format !== manifestFormatOf(manifest.mediaType)) {
        throw new SkiffError(
          'UNSUPPORTED',
          `${options.what}: layer ${layer.digest} has media type "${layer.mediaType}", which cannot be converted to ${format}`,
        );
      }
      return { source: layer, from, to: from, mediaType: layer.mediaType };
    }
    let to: Compression = options.layerCompression === 'decompress' ? 'none' : (options.compression ?? from);
    if (format === 'v2s2' && to === 'zstd') {
      if (options.compression === 'zstd') {
        throw new SkiffError(
          'UNSUPPORTED',
          `${options.what}: Docker v2s2 manifests cannot carry zstd layers`,
          {
            hint: 'use --format oci with --dest-compress-format zstd',
          },
        );
      }
      to = 'gzip';
    }
    const nondistributable =
      layer.mediaType.includes('nondistributable') || layer.mediaType.includes('foreign');
    let target = layerMediaType(format, to)!;
    if (nondistributable && to === from && manifestFormatOf(manifest.mediaType) === format)
      target = layer.mediaType;
    return { source: layer, from, to, mediaType: target };
  });

  const changesManifest =
    mediaType !== manifest.mediaType ||
    configMediaType !== sourceConfigType ||
    layers.some((l) => l.from !== l.to || l.mediaType !== l.source.mediaType);
  return { format, mediaType, configMediaType, layers, changesManifest };
}

/** Descriptor fields in the order the containers tools marshal them. */
function orderedDescriptor(d: Descriptor, format: ManifestFormat): Record<string, unknown> {
  const out: Record<string, unknown> = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) out.urls = d.urls;
  if (format === 'oci' && d.annotations && Object.keys(d.annotations).length) out.annotations = d.annotations;
  if (d.platform) out.platform = d.platform;
  if (format === 'oci' && d.artifactType) out.artifactType = d.artifactType;
  return out;
}

/** Serialise the manifest a plan describes, with the written layer descriptors. */
export function buildManifest(
  source: ImageManifest,
  plan: ManifestPlan,
  config: Descriptor,
  layers: Descriptor[],
): { raw: Buffer; mediaType: string } {
  if (!plan.changesManifest) return { raw: source.raw, mediaType: source.mediaType };
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType: plan.mediaType };
  if (plan.format === 'oci' && source.artifactType) doc.artifactType = source.artifactType;
  doc.config = orderedDescriptor({ ...config, mediaType: plan.configMediaType }, plan.format);
  doc.layers = layers.map((l) => orderedDescriptor(l, plan.format));
  if (plan.format === 'oci') {
    if (source.subject) doc.subject = orderedDescriptor(source.subject, 'oci');
    if (source.annotations && Object.keys(source.annotations).length) doc.annotations = source.annotations;
  }
  return { raw: Buffer.from(JSON.stringify(doc)), mediaType: plan.mediaType };
}

/**
 * Rewrite an index after its instances were copied: `instances` maps each source instance
 * digest to the descriptor written. Unchanged instances and format → the source bytes.
 */
export function buildIndex(
  source: ImageIndex,
  format: ManifestFormat,
  instances: ReadonlyMap<string, Descriptor>,
  keep: (d: Descriptor) => boolean = () => true,
): { raw: Buffer; mediaType: string; digest: string } {
  const mediaType = format === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList;
  const kept = source.manifests.filter(keep);
  const unchanged =
    mediaType === source.mediaType &&
    kept.length === source.manifests.length &&
    kept.every((d) => {
      const w = instances.get(d.digest);
      return !w || (w.digest === d.digest && w.mediaType === d.mediaType && w.size === d.size);
    });
  if (unchanged) return { raw: source.raw, mediaType: source.mediaType, digest: source.digest };
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType };
  if (format === 'oci' && source.artifactType) doc.artifactType = source.artifactType;
  doc.manifests = kept.map((d) => {
    const w = instances.get(d.digest);
    const written: Descriptor = w ? { ...d, mediaType: w.mediaType, digest: w.digest, size: w.size } : d;
    return orderedDescriptor(written, format);
  });
  if (format === 'oci') {
    if (source.subject) doc.subject = orderedDescriptor(source.subject, 'oci');
    if (source.annotations && Object.keys(source.annotations).length) doc.annotations = source.annotations;
  }
  const raw = Buffer.from(JSON.stringify(doc));
  return { raw, mediaType, digest: digestOf(raw) };
}

export function isOciFormatMediaType(mediaType: string): boolean {
  return OCI_FORMAT_TYPES.has(mediaType);
}
