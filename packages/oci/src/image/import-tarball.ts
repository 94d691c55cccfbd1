import { PassThrough, Readable } from 'node:stream';
import { SkiffError } from '../errors.js';
import { decompressStream, peekCompression } from '../layer/compression.js';
import { digestOf } from '../spec/digest.js';
import { MediaType } from '../spec/media-types.js';
import { hostPlatform } from '../spec/platform.js';
import type { ContainerConfig } from '../spec/schemas.js';
import type { ImageInfo, Store } from '../storage/store.js';

/**
 * `podman import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image in
 * the store, its config edited by Dockerfile-style `--change` instructions. The layer is stored
 * uncompressed (its digest is its DiffID), unpacked, and the image registered in one transaction.
 */

const CHANGE_INSTRUCTIONS = [
  'CMD',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'LABEL',
  'ONBUILD',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
] as const;

/** A JSON array of strings, or undefined when the value is not one (shell form). */
function jsonArray(value: string): string[] | undefined {
  const v = value.trim();
  if (!v.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(v);
    if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed;
  } catch {}
  return undefined;
}

/** `K=V K2="V 2"` or the legacy `K V` form. */
function keyValues(value: string, instruction: string): Array<[string, string]> {
  const v = value.trim();
  const first = /^([^\s=]+)\s+(.*)$/s.exec(v);
  if (first && !first[1]!.includes('=')) return [[first[1]!, first[2]!]];
  const out: Array<[string, string]> = [];
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  let m: RegExpExecArray | null;
  // biome-ignore lint/suspicious/noAssignInExpressions: regex scan
  while ((m = re.exec(v)) !== null) {
    let val = m[2]!;
    if (val.startsWith('"')) val = JSON.parse(val) as string;
    else if (val.startsWith("'")) val = val.slice(1, -1);
    out.push([m[1]!, val]);
  }
  if (out.length === 0) {
    throw new SkiffError('INVALID_ARGUMENT', `invalid change "${instruction} ${value}": expected KEY=VALUE`);
  }
  return out;
}

/**
 * Apply `--change` instructions (`CMD ["/bin/sh"]`, `CMD=/bin/sh`, `ENV A=b`, `WORKDIR=/x`, …) to
 * a container config, as podman's import and commit do. Returns a new config.
 */
export function applyConfigChanges(config: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const out: ContainerConfig = { ...config };
  for (const change of changes) {
    const m = /^\s*([A-Za-z]+)(?:\s*=\s*|\s+)(.*)$/s.exec(change);
    const instruction = m?.[1]?.toUpperCase();
    if (!m || !instruction || !(CHANGE_INSTRUCTIONS as readonly string[]).includes(instruction)) {
      throw new SkiffError('INVALID_ARGUMENT', `invalid change "${change}"`, {
        hint: `valid instructions: ${CHANGE_INSTRUCTIONS.join(', ')}`,
      });
    }
    const value = m[2]!;
    switch (instruction) {
      case 'CMD':
      case 'ENTRYPOINT': {
        const args = jsonArray(value) ?? ['/bin/sh', '-c', value];
        if (instruction === 'CMD') out.Cmd = args;
        else out.Entrypoint = args;
        break;
      }
      case 'ENV': {
        const env = [...(out.Env ?? [])];
        for (const [k, v] of keyValues(value, instruction)) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...(out.Labels ?? {}) };
        for (const [k, v] of keyValues(value, instruction)) labels[k] = v;
        out.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(out.ExposedPorts ?? {}) };
        for (const p of value.trim().split(/\s+/)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        out.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(out.Volumes ?? {}) };
        for (const p of jsonArray(value) ?? value.trim().split(/\s+/)) vols[p] = {};
        out.Volumes = vols;
        break;
      }
      case 'USER':
        out.User = value.trim();
        break;
      case 'WORKDIR':
        out.WorkingDir = value.trim();
        break;
      case 'STOPSIGNAL':
        out.StopSignal = value.trim();
        break;
      case 'ONBUILD':
        out.OnBuild = [...(out.OnBuild ?? []), value.trim()];
        break;
    }
  }
  return out;
}

export interface ImportTarballOptions {
  /** Name to give the image (already normalised), none for a dangling image. */
  name?: string;
  changes?: readonly string[];
  /** --message: the history entry's comment. */
  message?: string;
  /** Platform of the config (default the host's). */
  os?: string;
  architecture?: string;
  variant?: string;
  /** For the history's created_by (podman: "/bin/sh -c #(nop) ADD file:… in /"). */
  sourceName?: string;
  signal?: AbortSignal;
}

export async function importTarball(
  store: Store,
  input: Readable,
  options: ImportTarballOptions = {},
): Promise<ImageInfo> {
  const { compression, stream } = await peekCompression(input);
  const plain =
    compression === 'none' ? stream.pipe(new PassThrough()) : stream.pipe(decompressStream(compression));
  stream.on('error', (err) => plain.destroy(err));
  const blob = await store.putBlob(plain, {
    mediaType: MediaType.ociLayer,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const diffId = blob.digest;
  await store.applyLayer(
    undefined,
    diffId,
    blob.digest,
    () => store.getBlob(blob.digest).stream,
    options.signal,
  );
  const host = hostPlatform();
  const created = new Date().toISOString();
  const containerConfig = applyConfigChanges({}, options.changes ?? []);
  const config: Record<string, unknown> = {
    created,
    architecture: options.architecture ?? host.architecture,
    os: options.os ?? host.os,
    ...((options.variant ?? host.variant) ? { variant: options.variant ?? host.variant } : {}),
    config: containerConfig,
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [
      {
        created,
        created_by: `/bin/sh -c #(nop) ADD file:${diffId.slice(7)} in / `,
        ...(options.message ? { comment: options.message } : {}),
      },
    ],
  };
  const configRaw = Buffer.from(JSON.stringify(config));
  const configInfo = await store.putBlob(Readable.from([configRaw]), {
    digest: digestOf(configRaw),
    sizeBytes: configRaw.length,
    mediaType: MediaType.ociConfig,
  });
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configInfo.digest, size: configInfo.sizeBytes },
    layers: [{ mediaType: MediaType.ociLayer, digest: blob.digest, size: blob.sizeBytes }],
  };
  return store.putImage({
    manifest: Buffer.from(JSON.stringify(manifest)),
    mediaType: MediaType.ociManifest,
    names: options.name ? [options.name] : [],
  });
}
