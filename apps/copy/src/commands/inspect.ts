import { Args, Flags } from '@oclif/core';
import { fetchManifest, inspectImage } from '@skiff/oci/image/inspect';
import { nameOnly, parseReference } from '@skiff/oci/reference/reference';
import { renderTemplate } from '@skiff/oci/template/go-template';
import { parseImageName } from '@skiff/oci/transports/index';
import type { ImageReference } from '@skiff/oci/transports/types';
import { FerryCommand, UsageError } from '../base-command.js';
import { buildInspectOutput, goJsonIndent, goTimeString } from '../render/inspect.js';
import { imageFlags, overridePlatform, retryFlags, transportOptions } from '../transport-flags.js';

export default class Inspect extends FerryCommand {
  static override summary = 'Inspect image IMAGE-NAME';
  static override description =
    'Return low-level information about IMAGE-NAME: the top-level manifest digest, the repository tags, and the config of the instance for this platform (or the --override-* one).';
  static override examples = [
    '<%= config.bin %> inspect docker://127.0.0.1:5000/busybox:latest',
    '<%= config.bin %> inspect --raw oci:/tmp/layout:latest',
    "<%= config.bin %> inspect --format '{{.Digest}}' docker://127.0.0.1:5000/busybox",
  ];
  static override args = {
    image: Args.string({ required: true, description: 'image (TRANSPORT:DETAILS)' }),
  };
  static override flags = {
    raw: Flags.boolean({ description: 'output raw manifest or configuration' }),
    config: Flags.boolean({ description: 'output configuration' }),
    format: Flags.string({ char: 'f', description: 'Format the output to a Go template' }),
    'no-tags': Flags.boolean({
      char: 'n',
      description: 'do not list the available tags from the repository in the output',
    }),
    ...imageFlags(''),
    ...retryFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Inspect);
    const ref = parseImageName(args.image);
    const options = transportOptions(flags, '');
    const platform = overridePlatform(flags);
    const jsonFormat =
      flags.format !== undefined && /^\s*(json|\{\{\s*json\s+\.\s*\}\})\s*$/.test(flags.format);
    if (flags.raw && flags.format !== undefined) {
      throw new UsageError('raw output does not support --format');
    }
    if (flags.raw && !flags.config) {
      const top = await fetchManifest(ref, options);
      process.stdout.write(top.raw);
      return;
    }
    const inspected = await inspectImage(ref, {
      ...options,
      ...(platform ? { platform } : {}),
      tags: !flags['no-tags'] && !flags.config && ref.transport === 'docker',
    });
    if (flags.config) {
      if (flags.raw) process.stdout.write(inspected.rawConfig);
      else {
        const decoded = inspected.config
          ? ociConfigView(inspected.config)
          : JSON.parse(inspected.rawConfig.toString('utf8'));
        // As skopeo: --format applies to the config (the OCI image struct, Go field names).
        if (flags.format !== undefined && !jsonFormat && inspected.config) {
          process.stdout.write(`${renderTemplate(flags.format, configTemplateData(decoded))}\n`);
          return;
        }
        this.log(goJsonIndent(decoded));
      }
      return;
    }
    if (!inspected.config) {
      this.log(goJsonIndent(JSON.parse(inspected.manifest.raw.toString('utf8'))));
      return;
    }
    const built = buildInspectOutput({
      name: repositoryName(ref),
      digest: inspected.topManifest.digest,
      repoTags: inspected.repoTags,
      config: inspected.config,
      layers: inspected.manifest.layers,
    });
    // Go marshals maps with sorted keys.
    const output = {
      ...built,
      Labels: sortedMap(built.Labels),
      ...(built.LayersData
        ? { LayersData: built.LayersData.map((l) => ({ ...l, Annotations: sortedMap(l.Annotations) })) }
        : {}),
    };
    // As skopeo (podman's report.IsJSON): `json` or `{{json .}}` is the default JSON output.
    if (flags.format !== undefined && !jsonFormat) {
      // Created is a Go time.Time in skopeo's template data: `{{.Created}}` prints it Go's way.
      const created = output.Created === null ? null : new Date(output.Created);
      const data = {
        ...output,
        Created: created && !Number.isNaN(created.getTime()) ? created : output.Created,
      };
      process.stdout.write(`${renderTemplate(flags.format, data)}\n`);
      return;
    }
    this.log(goJsonIndent(output));
  }
}

/** skopeo's Name: the repository of a docker:// reference, empty for other transports. */
function repositoryName(ref: ImageReference): string {
  if (ref.transport !== 'docker') return '';
  return nameOnly(parseReference(ref.withinTransport.replace(/^\/\//, ''))).toString();
}

type Json = Record<string, unknown>;

/** A map as Go marshals it: keys sorted (null stays null). */
function sortedMap<T>(map: Record<string, T> | null): Record<string, T> | null {
  if (map === null) return null;
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Only the fields set (Go's omitempty: no empty strings, arrays, maps, false or undefined). */
function omitEmpty(fields: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (isObject(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function time(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? goTimeString(v) : undefined;
}

function mapOf(v: unknown): Json | undefined {
  return isObject(v) ? (sortedMap(v) ?? undefined) : undefined;
}

/**
 * `inspect --config` as skopeo prints it: the config decoded into the OCI image-spec struct and
 * re-marshalled, so fields come in the spec's order, unknown and Docker-only fields are dropped,
 * maps are sorted and times are Go's RFC 3339 (trailing fraction zeros removed).
 */
function ociConfigView(config: Json): Json {
  const c = isObject(config.config) ? config.config : {};
  const rootfs = isObject(config.rootfs) ? config.rootfs : {};
  const history = Array.isArray(config.history) ? config.history.filter(isObject) : [];
  return {
    ...omitEmpty({ created: time(config.created), author: str(config.author) }),
    architecture: str(config.architecture) ?? '',
    ...omitEmpty({ variant: str(config.variant) }),
    os: str(config.os) ?? '',
    ...omitEmpty({ 'os.version': str(config['os.version']), 'os.features': config['os.features'] }),
    config: omitEmpty({
      User: str(c.User),
      ExposedPorts: mapOf(c.ExposedPorts),
      Env: c.Env,
      Entrypoint: c.Entrypoint,
      Cmd: c.Cmd,
      Volumes: mapOf(c.Volumes),
      WorkingDir: str(c.WorkingDir),
      Labels: mapOf(c.Labels),
      StopSignal: str(c.StopSignal),
      ArgsEscaped: c.ArgsEscaped === true,
    }),
    rootfs: {
      type: str(rootfs.type) ?? '',
      diff_ids: Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids : null,
    },
    ...omitEmpty({
      history: history.map((h) =>
        omitEmpty({
          created: time(h.created),
          created_by: str(h.created_by),
          author: str(h.author),
          comment: str(h.comment),
          empty_layer: h.empty_layer === true,
        }),
      ),
    }),
  };
}

function goTime(v: unknown): Date | null {
  if (typeof v !== 'string') return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Go prints a map of empty structs (ExposedPorts, Volumes) as `map[80/tcp:{}]`. */
function emptyStructMap(v: unknown): Record<string, string> | null {
  return isObject(v) ? Object.fromEntries(Object.keys(v).map((k) => [k, '{}'])) : null;
}

/**
 * The data `inspect --config --format` templates see: skopeo's OCI image struct with its Go
 * field names (Architecture, OS, RootFS.DiffIDs, Config.Env, History[].CreatedBy…), times as times.
 */
function configTemplateData(view: Json): Json {
  const c = isObject(view.config) ? view.config : {};
  const r = isObject(view.rootfs) ? view.rootfs : {};
  const history = Array.isArray(view.history) ? view.history.filter(isObject) : [];
  return {
    Created: goTime(view.created),
    Author: str(view.author) ?? '',
    Architecture: str(view.architecture) ?? '',
    Variant: str(view.variant) ?? '',
    OS: str(view.os) ?? '',
    OSVersion: str(view['os.version']) ?? '',
    OSFeatures: view['os.features'] ?? null,
    Config: {
      User: str(c.User) ?? '',
      ExposedPorts: emptyStructMap(c.ExposedPorts),
      Env: c.Env ?? null,
      Entrypoint: c.Entrypoint ?? null,
      Cmd: c.Cmd ?? null,
      Volumes: emptyStructMap(c.Volumes),
      WorkingDir: str(c.WorkingDir) ?? '',
      Labels: c.Labels ?? null,
      StopSignal: str(c.StopSignal) ?? '',
      ArgsEscaped: c.ArgsEscaped === true,
    },
    RootFS: { Type: str(r.type) ?? '', DiffIDs: r.diff_ids ?? null },
    History: history.map((h) => ({
      Created: goTime(h.created),
      CreatedBy: str(h.created_by) ?? '',
      Author: str(h.author) ?? '',
      Comment: str(h.comment) ?? '',
      EmptyLayer: h.empty_layer === true,
    })),
  };
}
