import { z } from 'zod';
import { isDigest } from './digest.js';

/**
 * zod schemas for everything that comes in from outside: descriptors, manifests, indexes,
 * image configs. Unknown fields are kept (`looseObject`) so that raw bytes round-trip, but we
 * always keep and digest the original bytes, never a re-serialisation.
 */

export const digestSchema = z.string().refine(isDigest, { message: 'not a valid sha256/sha512 digest' });

export const platformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});
export type Platform = z.infer<typeof platformSchema>;

export const descriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  data: z.string().optional(),
  platform: platformSchema.optional(),
  artifactType: z.string().optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

export const ociManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type OciManifest = z.infer<typeof ociManifestSchema>;

export const ociIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type OciIndex = z.infer<typeof ociIndexSchema>;

export const dockerManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal('application/vnd.docker.distribution.manifest.v2+json'),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
});
export type DockerManifest = z.infer<typeof dockerManifestSchema>;

export const dockerManifestListSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal('application/vnd.docker.distribution.manifest.list.v2+json'),
  manifests: z.array(descriptorSchema),
});
export type DockerManifestList = z.infer<typeof dockerManifestListSchema>;

const stringMap = z.record(z.string(), z.string()).nullish();
const emptyObjectMap = z.record(z.string(), z.unknown()).nullish();

export const containerConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: emptyObjectMap,
  Env: z.array(z.string()).nullish(),
  Entrypoint: z.array(z.string()).nullish(),
  Cmd: z.array(z.string()).nullish(),
  Volumes: emptyObjectMap,
  WorkingDir: z.string().optional(),
  Labels: stringMap,
  StopSignal: z.string().optional(),
  ArgsEscaped: z.boolean().optional(),
  Healthcheck: z.unknown().optional(),
  OnBuild: z.array(z.string()).nullish(),
  Shell: z.array(z.string()).nullish(),
});
export type ContainerConfig = z.infer<typeof containerConfigSchema>;

export const historySchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  created_by: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type History = z.infer<typeof historySchema>;

/** OCI image config; Docker's is a superset with the same field names for what we use. */
export const imageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: containerConfigSchema.nullish(),
  rootfs: z.looseObject({
    type: z.literal('layers'),
    diff_ids: z.array(digestSchema),
  }),
  history: z.array(historySchema).nullish(),
  docker_version: z.string().optional(),
});
export type ImageConfig = z.infer<typeof imageConfigSchema>;
