import { goStruct } from '@skiff/oci/template/go-template';
import { goTimeString, sortedMap } from './inspect.js';

/**
 * `ferry inspect --config`: the image config as skopeo prints it (the OCI image-spec struct,
 * re-marshalled), and the data `--config --format` templates see (Go field names).
 */

type Json = Record<string, unknown>;

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
export function ociConfigView(config: Json): Json {
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
export function configTemplateData(view: Json): Json {
  const c = isObject(view.config) ? view.config : {};
  const r = isObject(view.rootfs) ? view.rootfs : {};
  const history = Array.isArray(view.history) ? view.history.filter(isObject) : [];
  return goStruct({
    Created: goTime(view.created),
    Author: str(view.author) ?? '',
    Architecture: str(view.architecture) ?? '',
    Variant: str(view.variant) ?? '',
    OS: str(view.os) ?? '',
    OSVersion: str(view['os.version']) ?? '',
    OSFeatures: view['os.features'] ?? null,
    Config: goStruct({
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
    }),
    RootFS: goStruct({ Type: str(r.type) ?? '', DiffIDs: r.diff_ids ?? null }),
    History: history.map((h) =>
      goStruct({
        Created: goTime(h.created),
        CreatedBy: str(h.created_by) ?? '',
        Author: str(h.author) ?? '',
        Comment: str(h.comment) ?? '',
        EmptyLayer: h.empty_layer === true,
      }),
    ),
  });
}
