import type { Descriptor, ImageConfig } from '@skiff/oci/spec/schemas';
import { goStruct } from '@skiff/oci/template/go-template';

/**
 * `ferry inspect` output: the object skopeo prints, field for field and in skopeo's order. Scripts
 * depend on the details: Name is left out when empty (non-docker transports), RepoTags is [] when
 * there are none, Labels and Env are null when the config has none, Variant only when set.
 */

export interface InspectLayerData {
  MIMEType: string;
  Digest: string;
  Size: number;
  Annotations: Record<string, string> | null;
}

export interface InspectOutput {
  Name?: string;
  Digest: string;
  RepoTags: string[];
  Created: string | null;
  DockerVersion: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Variant?: string;
  Os: string;
  Layers: string[];
  LayersData?: InspectLayerData[];
  Env: string[] | null;
}

export interface InspectInput {
  /** The repository without tag or digest (`127.0.0.1:5000/test/img`); '' for non-registry transports. */
  name: string;
  /** Digest of the top-level manifest (the index for a multi-platform image). */
  digest: string;
  repoTags: string[];
  config: ImageConfig;
  /** The layer descriptors of the image manifest. */
  layers: Descriptor[];
}

/** Go re-marshals a time.Time as RFC 3339 with the fraction's trailing zeros removed. */
export function goTimeString(value: string): string {
  return value.replace(/\.(\d+)(?=Z|[+-]\d\d:\d\d$)/, (_m, frac: string) => {
    const trimmed = frac.slice(0, 9).replace(/0+$/, '');
    return trimmed ? `.${trimmed}` : '';
  });
}

export function buildInspectOutput(
  input: InspectInput,
  options: { layersData?: boolean } = {},
): InspectOutput {
  const { config } = input;
  const out: InspectOutput = {
    Digest: input.digest,
    RepoTags: [...input.repoTags],
    Created: config.created ? goTimeString(config.created) : null,
    DockerVersion: config.docker_version ?? '',
    // Go marshals maps with sorted keys.
    Labels: sortedMap(config.config?.Labels ?? null),
    Architecture: config.architecture,
    Os: config.os,
    Layers: input.layers.map((l) => l.digest),
    Env: config.config?.Env ?? null,
  };
  // Rebuild in skopeo's key order, with the omitempty fields only when set.
  const ordered: InspectOutput = {
    ...(input.name ? { Name: input.name } : {}),
    Digest: out.Digest,
    RepoTags: out.RepoTags,
    Created: out.Created,
    DockerVersion: out.DockerVersion,
    Labels: out.Labels,
    Architecture: out.Architecture,
    ...(config.variant ? { Variant: config.variant } : {}),
    Os: out.Os,
    Layers: out.Layers,
    ...(options.layersData === false
      ? {}
      : {
          LayersData: input.layers.map((l) => ({
            MIMEType: l.mediaType,
            Digest: l.digest,
            Size: l.size,
            Annotations: sortedMap(l.annotations ?? null),
          })),
        }),
    Env: out.Env,
  };
  return ordered;
}

/** JSON as Go's json.MarshalIndent(v, "", "    ") writes it: HTML characters escaped. */
export function goJsonIndent(value: unknown): string {
  return JSON.stringify(value, null, 4)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A map as Go marshals it: keys sorted (null stays null). */
export function sortedMap<T>(map: Record<string, T> | null): Record<string, T> | null {
  if (map === null) return null;
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The data `inspect --format` templates see: skopeo's output struct, so an unknown field is an
 * error as in Go, and Created is a time (`{{.Created}}` prints it Go's way).
 */
export function inspectTemplateData(output: InspectOutput): Record<string, unknown> {
  const created = output.Created === null ? null : new Date(output.Created);
  return goStruct({
    ...output,
    Created: created && !Number.isNaN(created.getTime()) ? created : output.Created,
    ...(output.LayersData ? { LayersData: output.LayersData.map((l) => goStruct({ ...l })) } : {}),
  });
}
