/**
 * What `skiff ps` and `skiff inspect CONTAINER` show of a container, with podman's field names
 * (scripts read them), and `ps --filter`. Pure functions over the record, its stored config and
 * its runtime spec (when the bundle still has one).
 */

import { SkiffError } from '../errors.js';
import type { ContainerRecord } from './containers.js';
import { type StoredContainerConfig, storedConfigOf } from './create-flags.js';
import type { RuntimeSpec } from './spec.js';

/** podman's words for a state: created, running, exited (stopped), removing. */
export function podmanStatus(rec: ContainerRecord): string {
  return rec.status;
}

function goTime(d: Date | undefined): string {
  return d ? d.toISOString() : '0001-01-01T00:00:00Z';
}

export interface ContainerInspectData {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: {
    OciVersion: string;
    Status: string;
    Running: boolean;
    Paused: boolean;
    Restarting: boolean;
    OOMKilled: boolean;
    Dead: boolean;
    Pid: number;
    ConmonPid: number;
    ExitCode: number;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
  };
  Image: string;
  ImageName: string;
  Rootfs: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  OCIRuntime: string;
  OCIConfigPath: string;
  LogPath: string;
  Config: {
    Hostname: string;
    User: string;
    Env: string[];
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    Image: string;
    WorkingDir: string;
    Labels: Record<string, string> | null;
    Annotations: Record<string, string>;
    StopSignal: number;
    StopTimeout: number;
    Tty: boolean;
    OpenStdin: boolean;
    CreateCommand: string[];
  };
  HostConfig: {
    AutoRemove: boolean;
    NetworkMode: string;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    LogConfig: { Type: string; Path: string };
    Privileged: boolean;
    ReadonlyRootfs: boolean;
    Memory: number;
    NanoCpus: number;
    PidsLimit: number;
    Binds: string[];
    CapAdd: string[];
    CapDrop: string[];
  };
  Mounts: Array<{ Type: string; Source: string; Destination: string; RW: boolean }>;
}

export interface InspectInput {
  rec: ContainerRecord;
  spec?: RuntimeSpec;
  driver: string;
  runtimeName: string;
  logPath: string;
  rootfs: string;
}

const DEFAULT_MOUNTS = new Set([
  '/proc',
  '/dev',
  '/dev/pts',
  '/dev/shm',
  '/dev/mqueue',
  '/sys',
  '/sys/fs/cgroup',
  '/etc/hosts',
  '/etc/resolv.conf',
  '/etc/hostname',
  '/run/podman-init',
]);

export function containerInspectData(input: InspectInput): ContainerInspectData {
  const { rec, spec } = input;
  const cfg = storedConfigOf(rec.config);
  const args = spec?.process.args ?? [...(cfg.entrypoint ?? []), ...(cfg.command ?? [])];
  const user = spec ? `${spec.process.user.uid}:${spec.process.user.gid}` : '';
  const userMounts = (spec?.mounts ?? []).filter((m) => !DEFAULT_MOUNTS.has(m.destination));
  const restart = cfg.restart ?? { policy: 'no', maxRetries: 0 };
  const cpuQuota = spec?.linux.resources?.cpu;
  return {
    Id: rec.id,
    Created: rec.created.toISOString(),
    Path: args[0] ?? '',
    Args: args.slice(1),
    State: {
      OciVersion: spec?.ociVersion ?? '1.0.2',
      Status: podmanStatus(rec),
      Running: rec.status === 'running',
      Paused: rec.status === 'paused',
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: rec.pid ?? 0,
      ConmonPid: rec.monitorPid ?? 0,
      ExitCode: rec.exitCode ?? 0,
      Error: '',
      StartedAt: goTime(rec.started),
      FinishedAt: goTime(rec.finished),
    },
    Image: rec.imageId,
    ImageName: rec.imageName ?? cfg.image ?? rec.imageId,
    Rootfs: '',
    ResolvConfPath: `${rec.bundle}/resolv.conf`,
    HostnamePath: `${rec.bundle}/hostname`,
    HostsPath: `${rec.bundle}/hosts`,
    Name: rec.name,
    RestartCount: rec.restarts,
    Driver: input.driver,
    OCIRuntime: input.runtimeName,
    OCIConfigPath: `${rec.bundle}/config.json`,
    LogPath: input.logPath,
    Config: {
      Hostname: spec?.hostname ?? rec.id.slice(0, 12),
      User: user,
      Env: spec?.process.env ?? [],
      Cmd: cfg.command?.length ? cfg.command : args.length ? args.slice(cfg.entrypoint?.length ?? 0) : null,
      Entrypoint: cfg.entrypoint ?? null,
      Image: rec.imageName ?? cfg.image ?? rec.imageId,
      WorkingDir: spec?.process.cwd ?? '/',
      Labels: cfg.labels && Object.keys(cfg.labels).length ? cfg.labels : null,
      Annotations: spec?.annotations ?? cfg.annotations ?? {},
      StopSignal: cfg.stopSignal ?? 15,
      StopTimeout: cfg.stopTimeoutSec ?? 10,
      Tty: cfg.tty ?? false,
      OpenStdin: cfg.interactive ?? false,
      CreateCommand: cfg.createCommand ?? [],
    },
    HostConfig: {
      AutoRemove: cfg.autoRemove ?? false,
      NetworkMode: cfg.network ?? 'none',
      RestartPolicy: {
        Name: restart.policy === 'no' ? '' : restart.policy,
        MaximumRetryCount: restart.maxRetries,
      },
      LogConfig: { Type: cfg.logDriver ?? 'k8s-file', Path: input.logPath },
      Privileged: false,
      ReadonlyRootfs: spec?.root.readonly ?? false,
      Memory: spec?.linux.resources?.memory?.limit ?? 0,
      NanoCpus: cpuQuota?.quota && cpuQuota.period ? Math.round((cpuQuota.quota / cpuQuota.period) * 1e9) : 0,
      PidsLimit: spec?.linux.resources?.pids?.limit ?? 0,
      Binds: userMounts
        .filter((m) => m.type === 'bind' || m.options?.includes('bind') || m.options?.includes('rbind'))
        .map((m) => `${m.source}:${m.destination}${m.options?.includes('ro') ? ':ro' : ''}`),
      CapAdd: [],
      CapDrop: [],
    },
    Mounts: userMounts.map((m) => ({
      Type: m.type === 'tmpfs' ? 'tmpfs' : 'bind',
      Source: m.source ?? '',
      Destination: m.destination,
      RW: !m.options?.includes('ro'),
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// ps

export interface ContainerSummary {
  rec: ContainerRecord;
  config: Partial<StoredContainerConfig>;
  /** The image as named at creation (or its ID). */
  image: string;
  command: string[];
}

export type ContainerFilter = (s: ContainerSummary) => boolean;

const PS_STATUSES = ['created', 'exited', 'paused', 'running', 'unknown', 'removing', 'stopped'];

function matchName(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return name.includes(pattern);
  }
}

/** --filter KEY=VALUE (same key ORed, different keys ANDed, as podman). */
export function parseContainerFilters(values: readonly string[]): ContainerFilter {
  const byKey = new Map<string, ContainerFilter[]>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new SkiffError('INVALID_ARGUMENT', `invalid filter "${v}": expected KEY=VALUE`);
    const key = v.slice(0, eq);
    const value = v.slice(eq + 1);
    let f: ContainerFilter;
    switch (key) {
      case 'status':
        if (!PS_STATUSES.includes(value))
          throw new SkiffError(
            'INVALID_ARGUMENT',
            `${value} is not a valid status: use one of ${PS_STATUSES.join(', ')}`,
          );
        f = (s) => s.rec.status === (value === 'stopped' ? 'exited' : value);
        break;
      case 'name':
        f = (s) => matchName(value, s.rec.name);
        break;
      case 'id':
        f = (s) => s.rec.id.startsWith(value);
        break;
      case 'label': {
        const i = value.indexOf('=');
        const k = i < 0 ? value : value.slice(0, i);
        f = (s) => {
          const labels = s.config.labels ?? {};
          if (!(k in labels)) return false;
          return i < 0 || labels[k] === value.slice(i + 1);
        };
        break;
      }
      case 'ancestor': {
        const repo = (n: string) => n.replace(/:[^/:]*$/, '');
        const hasTag = /:[^/:]*$/.test(value);
        f = (s) =>
          (/^(sha256:)?[0-9a-f]{3,64}$/.test(value) &&
            s.rec.imageId.startsWith(value.replace(/^sha256:/, ''))) ||
          [s.image, s.rec.imageName ?? ''].some(
            (n) =>
              n !== '' &&
              (hasTag
                ? n === value || n.endsWith(`/${value}`)
                : repo(n) === value || repo(n).endsWith(`/${value}`)),
          );
        break;
      }
      case 'exited':
        if (!/^-?\d+$/.test(value))
          throw new SkiffError('INVALID_ARGUMENT', `invalid filter "${v}": exit code is not a number`);
        f = (s) => s.rec.status === 'exited' && s.rec.exitCode === Number(value);
        break;
      default:
        throw new SkiffError('INVALID_ARGUMENT', `invalid filter "${key}"`, {
          hint: 'filters: status, name, id, label, ancestor, exited',
        });
    }
    byKey.set(key, [...(byKey.get(key) ?? []), f]);
  }
  return (s) => [...byKey.values()].every((fs) => fs.some((f) => f(s)));
}

/** podman's STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created". */
export function statusText(
  rec: ContainerRecord,
  ago: (d: Date | undefined) => string,
  dur: (ms: number) => string,
  now = Date.now(),
): string {
  switch (rec.status) {
    case 'running':
      return `Up ${dur(now - (rec.started?.getTime() ?? now))}`;
    case 'paused':
      return 'Paused';
    case 'exited':
      return `Exited (${rec.exitCode ?? 0}) ${ago(rec.finished)}`;
    case 'created':
      return 'Created';
    default:
      return 'Removing';
  }
}
