import type { z } from 'zod';
import { SkiffError } from '../errors.js';
import { type Digest, digestOf } from './digest.js';
import { isIndexMediaType, MediaType } from './media-types.js';
import {
  type Descriptor,
  dockerManifestListSchema,
  dockerManifestSchema,
  type ImageConfig,
  imageConfigSchema,
  ociIndexSchema,
  ociManifestSchema,
} from './schemas.js';

/** An image manifest (OCI or Docker v2s2), parsed, with the bytes it came from. */
export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  raw: Buffer;
  digest: Digest;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** An index (OCI image index or Docker manifest list), parsed, with the bytes it came from. */
export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  raw: Buffer;
  digest: Digest;
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export type Manifest = ImageManifest | ImageIndex;

function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/**
 * Parse manifest bytes. `mediaTypeHint` is what the transport said (a Content-Type header,
 * an index descriptor); the document's own mediaType field wins when present, and they must
 * agree when both are there. `what` names the input in errors.
 */
export function parseManifest(raw: Buffer, mediaTypeHint: string | undefined, what: string): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new SkiffError(
      'INVALID_MANIFEST',
      `manifest of ${what} is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new SkiffError('INVALID_MANIFEST', `manifest of ${what} is not a JSON object`);
  }
  if ((doc as { schemaVersion?: unknown }).schemaVersion === 1) {
    throw new SkiffError(
      'UNSUPPORTED_MEDIA_TYPE',
      `manifest of ${what} is Docker schema 1, which is deprecated and not supported`,
    );
  }
  const declared = (doc as { mediaType?: unknown }).mediaType;
  const hint = mediaTypeHint?.split(';')[0]?.trim();
  let mediaType: string | undefined = typeof declared === 'string' && declared !== '' ? declared : undefined;
  if (!mediaType) {
    if (hint && hint !== 'application/json' && hint !== 'text/plain') mediaType = hint;
    else if ('manifests' in doc) mediaType = MediaType.ociIndex;
    else if ('config' in doc) mediaType = MediaType.ociManifest;
  }
  if (!mediaType)
    throw new SkiffError('INVALID_MANIFEST', `manifest of ${what} has no mediaType and no layers`);
  if (
    (doc as { schemaVersion?: unknown }).schemaVersion === 1 ||
    mediaType.startsWith(MediaType.dockerManifestV1)
  ) {
    throw new SkiffError(
      'UNSUPPORTED_MEDIA_TYPE',
      `manifest of ${what} is Docker schema 1, which is deprecated and not supported`,
    );
  }
  const digest = digestOf(raw);
  switch (mediaType) {
    case MediaType.ociManifest:
    case MediaType.dockerManifest: {
      const schema = mediaType === MediaType.ociManifest ? ociManifestSchema : dockerManifestSchema;
      const r = schema.safeParse(doc);
      if (!r.success)
        throw new SkiffError('INVALID_MANIFEST', `invalid manifest of ${what}: ${formatIssues(r.error)}`);
      const m: ImageManifest = {
        kind: 'manifest',
        mediaType,
        raw,
        digest,
        config: r.data.config,
        layers: r.data.layers,
      };
      return withOptionalFields(m, r.data);
    }
    case MediaType.ociIndex:
    case MediaType.dockerManifestList: {
      const schema = mediaType === MediaType.ociIndex ? ociIndexSchema : dockerManifestListSchema;
      const r = schema.safeParse(doc);
      if (!r.success)
        throw new SkiffError('INVALID_MANIFEST', `invalid index of ${what}: ${formatIssues(r.error)}`);
      const m: ImageIndex = { kind: 'index', mediaType, raw, digest, manifests: r.data.manifests };
      return withOptionalFields(m, r.data);
    }
    default:
      throw new SkiffError(
        'UNSUPPORTED_MEDIA_TYPE',
        `manifest of ${what} has unsupported media type "${mediaType}"`,
      );
  }
}

/** Copy the OCI 1.1 fields a manifest or an index may carry (subject, artifactType, annotations). */
function withOptionalFields<T extends ImageManifest | ImageIndex>(m: T, parsed: object): T {
  // Present only in the OCI schemas (validated there); the Docker ones have none of them.
  const data = parsed as {
    subject?: Descriptor;
    artifactType?: string;
    annotations?: Record<string, string>;
  };
  if (data.subject) m.subject = data.subject;
  if (data.artifactType) m.artifactType = data.artifactType;
  if (data.annotations) m.annotations = data.annotations;
  return m;
}

export function parseImageConfig(raw: Buffer, what: string): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new SkiffError('INVALID_CONFIG', `config of ${what} is not valid JSON: ${(err as Error).message}`);
  }
  const r = imageConfigSchema.safeParse(doc);
  if (!r.success)
    throw new SkiffError('INVALID_CONFIG', `invalid image config of ${what}: ${formatIssues(r.error)}`);
  return r.data;
}

export function isIndex(m: Manifest): m is ImageIndex {
  return m.kind === 'index';
}

/** A descriptor pointing at a manifest's bytes. */
export function descriptorOf(m: Manifest): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.raw.length };
}

export { isIndexMediaType };
