/**
 * The `skiff run` / `skiff create` flag values (as the CLI parsed them, podman's spellings) →
 * the options of createContainer, plus what the container keeps in its record (labels, stop
 * signal and timeout, --rm, log driver…). Every bad value is rejected here, before anything is
 * created, with one message naming the flag (INVALID_ARGUMENT → exit 125).
 */

import * as fs from 'node:fs';
import { SkiffError } from '../errors.js';
import { signalNumber } from './exec.js';
import {
  type MountSpec,
  parseCapability,
  parseCpus,
  parseEntrypoint,
  parseEnvFile,
  parseEnvFlag,
  parseMemory,
  parseMountFlag,
  parsePidsLimit,
  parseTmpfsFlag,
  parseUlimit,
  parseUserSpec,
  parseVolumeFlag,
} from './options.js';
import { parseUserns, type RootlessNamespaceInfo, usernsMappings } from './rootless.js';
import type { CreateContainerOptions } from './run.js';
import type { ImageVolumeMode } from './volumes.js';

export interface CreateFlagValues {
  name?: string | undefined;
  env?: string[] | undefined;
  'env-file'?: string[] | undefined;
  'env-host'?: boolean | undefined;
  workdir?: string | undefined;
  user?: string | undefined;
  'group-add'?: string[] | undefined;
  entrypoint?: string | undefined;
  hostname?: string | undefined;
  volume?: string[] | undefined;
  mount?: string[] | undefined;
  tmpfs?: string[] | undefined;
  /** podman's --image-volume bind|tmpfs|ignore (bind: anonymous volumes). */
  'image-volume'?: string | undefined;
  'read-only'?: boolean | undefined;
  'read-only-tmpfs'?: boolean | undefined;
  'cap-add'?: string[] | undefined;
  'cap-drop'?: string[] | undefined;
  privileged?: boolean | undefined;
  'security-opt'?: string[] | undefined;
  init?: boolean | undefined;
  'stop-signal'?: string | undefined;
  'stop-timeout'?: string | undefined;
  memory?: string | undefined;
  cpus?: string | undefined;
  'pids-limit'?: string | undefined;
  ulimit?: string[] | undefined;
  label?: string[] | undefined;
  annotation?: string[] | undefined;
  'log-driver'?: string | undefined;
  network?: string | undefined;
  tty?: boolean | undefined;
  interactive?: boolean | undefined;
  rm?: boolean | undefined;
  restart?: string | undefined;
  /** --userns host|keep-id[:uid=U,gid=G]|nomap */
  userns?: string | undefined;
}

/** What a container keeps in its record's `config` (podman's inspect fields come from it). */
export interface StoredContainerConfig {
  /** The image as the user named it. */
  image: string;
  command: string[];
  entrypoint?: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  stopSignal: number;
  stopTimeoutSec: number;
  autoRemove: boolean;
  logDriver: 'k8s-file' | 'none' | 'passthrough';
  network: 'none' | 'host';
  interactive: boolean;
  tty: boolean;
  restart: { policy: 'no' | 'on-failure' | 'always' | 'unless-stopped'; maxRetries: number };
  createCommand: string[];
  /** Volumes the container mounts, named and anonymous (set by createContainer). */
  volumes?: string[];
  /** Those of `volumes` made for it: removed with it by `rm -v` and --rm. */
  anonymousVolumes?: string[];
}

export interface ParsedCreateFlags {
  options: Omit<CreateContainerOptions, 'store' | 'db' | 'runtime' | 'image'>;
  stored: Omit<StoredContainerConfig, 'image' | 'createCommand'>;
  /** Warnings for the CLI to print (e.g. limits ignored where cgroups do not allow them). */
  warnings: string[];
}

function bad(flag: string, value: string, why: string): SkiffError {
  return new SkiffError('INVALID_ARGUMENT', `invalid ${flag} "${value}": ${why}`);
}

function keyValues(flag: string, values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const eq = v.indexOf('=');
    const k = eq < 0 ? v : v.slice(0, eq);
    if (k === '') throw bad(flag, v, 'empty key');
    out[k] = eq < 0 ? '' : v.slice(eq + 1);
  }
  return out;
}

/** --restart no|on-failure[:N]|always|unless-stopped */
export function parseRestartPolicy(value: string): StoredContainerConfig['restart'] {
  const m = /^(no|on-failure|always|unless-stopped)(?::(\d+))?$/.exec(value);
  if (!m) throw bad('--restart', value, 'expected no, on-failure[:N], always or unless-stopped');
  const policy = m[1] as StoredContainerConfig['restart']['policy'];
  if (m[2] !== undefined && policy !== 'on-failure')
    throw bad('--restart', value, 'restart retries can only be given with the on-failure policy');
  return { policy, maxRetries: m[2] === undefined ? 0 : Number(m[2]) };
}

/** --image-volume bind|tmpfs|ignore → what createContainer makes of the image's VOLUMEs. */
export function parseImageVolumeMode(value: string): ImageVolumeMode {
  if (value === 'bind') return 'anonymous';
  if (value === 'tmpfs' || value === 'ignore') return value;
  throw bad('--image-volume', value, 'expected bind, tmpfs or ignore');
}

export interface ParseCreateFlagsContext {
  hostEnv: NodeJS.ProcessEnv;
  cwd: string;
  /** The caller cannot set cgroup limits (rootless on cgroups v1): limits are dropped with a warning. */
  cgroupLimitsUnavailable?: boolean;
  /** The rootless user namespace skiff runs in, for --userns keep-id|nomap (undefined: rootful). */
  rootless?: RootlessNamespaceInfo | undefined;
}

export function parseCreateFlags(
  flags: CreateFlagValues,
  command: string[],
  ctx: ParseCreateFlagsContext,
): ParsedCreateFlags {
  const warnings: string[] = [];
  const env: string[] = [];
  if (flags['env-host']) {
    for (const [k, v] of Object.entries(ctx.hostEnv)) if (v !== undefined) env.push(`${k}=${v}`);
  }
  for (const file of flags['env-file'] ?? []) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new SkiffError('INVALID_ARGUMENT', `cannot read --env-file ${file}: ${(err as Error).message}`);
    }
    env.push(...parseEnvFile(text, ctx.hostEnv, file));
  }
  for (const e of flags.env ?? []) env.push(...parseEnvFlag(e, ctx.hostEnv));

  const mounts: MountSpec[] = [];
  for (const v of flags.volume ?? []) mounts.push(parseVolumeFlag(v, ctx.cwd));
  for (const v of flags.mount ?? []) mounts.push(parseMountFlag(v, ctx.cwd));
  for (const v of flags.tmpfs ?? []) mounts.push(parseTmpfsFlag(v));
  const imageVolume = parseImageVolumeMode(flags['image-volume'] ?? 'bind');
  let seccomp: string | undefined;
  let noNewPrivileges = false;
  for (const opt of flags['security-opt'] ?? []) {
    if (opt === 'no-new-privileges' || opt === 'no-new-privileges=true' || opt === 'no-new-privileges:true')
      noNewPrivileges = true;
    else if (opt === 'no-new-privileges=false' || opt === 'no-new-privileges:false') noNewPrivileges = false;
    else if (/^seccomp[=:]/.test(opt)) {
      seccomp = opt.slice('seccomp='.length);
      if (seccomp === '') throw bad('--security-opt', opt, 'empty seccomp profile');
    } else if (/^(label|apparmor|mask|unmask)[=:]/.test(opt)) {
      warnings.push(`--security-opt ${opt} is not supported on this host and is ignored`);
    } else throw bad('--security-opt', opt, 'unknown security option');
  }

  let stopSignal = 15;
  if (flags['stop-signal'] !== undefined) {
    const n = signalNumber(flags['stop-signal']);
    if (n === undefined) throw bad('--stop-signal', flags['stop-signal'], 'unknown signal');
    stopSignal = n;
  }
  let stopTimeoutSec = 10;
  if (flags['stop-timeout'] !== undefined) {
    if (!/^\d+$/.test(flags['stop-timeout']))
      throw bad('--stop-timeout', flags['stop-timeout'], 'expected a number of seconds');
    stopTimeoutSec = Number(flags['stop-timeout']);
  }
  const logDriver = flags['log-driver'] ?? 'k8s-file';
  if (!['k8s-file', 'json-file', 'none', 'passthrough', 'journald'].includes(logDriver)) {
    throw bad('--log-driver', logDriver, 'supported drivers are k8s-file, none and passthrough');
  }
  // conmon refuses it too: a container on the caller's terminal could inject input (TIOCSTI).
  if (logDriver === 'passthrough' && flags.tty)
    throw bad('--log-driver', logDriver, 'passthrough cannot be used with a terminal (-t)');
  const network = flags.network ?? 'none';
  if (network !== 'none' && network !== 'host') {
    throw new SkiffError(
      'UNSUPPORTED',
      `network mode "${network}" is not supported yet: use --network none or --network host`,
    );
  }
  const restart = parseRestartPolicy(flags.restart ?? 'no');
  if (restart.policy !== 'no' && flags.rm)
    throw new SkiffError('INVALID_ARGUMENT', 'the --rm option conflicts with --restart');

  const limits: {
    memoryBytes?: number;
    cpus?: number;
    pidsLimit?: number;
  } = {};
  if (flags.memory !== undefined) limits.memoryBytes = parseMemory(flags.memory);
  if (flags.cpus !== undefined) limits.cpus = parseCpus(flags.cpus);
  if (flags['pids-limit'] !== undefined) {
    const p = parsePidsLimit(flags['pids-limit']);
    if (p !== undefined) limits.pidsLimit = p;
  }
  if (ctx.cgroupLimitsUnavailable && Object.keys(limits).length > 0) {
    warnings.push(
      'Resource limits are not supported and ignored on cgroups V1 rootless systems (--memory, --cpus, --pids-limit)',
    );
    for (const k of Object.keys(limits)) delete limits[k as keyof typeof limits];
  }
  if (flags.user !== undefined) parseUserSpec(flags.user);
  const usernsMode = parseUserns(flags.userns ?? 'host');
  const userns = ctx.rootless
    ? usernsMappings(usernsMode, ctx.rootless.caller, ctx.rootless.size, true)
    : usernsMappings(usernsMode, { uid: 0, gid: 0 }, { uids: 0, gids: 0 }, false);
  // keep-id runs the command as the caller (podman's default for it) unless -u says otherwise.
  let user = flags.user;
  if (user === undefined && usernsMode.mode === 'keep-id' && ctx.rootless)
    user = `${usernsMode.uid ?? ctx.rootless.caller.uid}:${usernsMode.gid ?? ctx.rootless.caller.gid}`;
  const capAdd = (flags['cap-add'] ?? []).map((c) => parseCapability(c, '--cap-add'));
  const capDrop = (flags['cap-drop'] ?? []).map((c) => parseCapability(c, '--cap-drop'));
  const entrypoint = flags.entrypoint !== undefined ? parseEntrypoint(flags.entrypoint) : undefined;
  const labels = keyValues('--label', flags.label);
  const annotations = keyValues('--annotation', flags.annotation);
  const ulimits = (flags.ulimit ?? []).map((u) => parseUlimit(u));
  if (flags.hostname !== undefined && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(flags.hostname))
    throw bad('--hostname', flags.hostname, 'not a valid hostname');

  const spec: NonNullable<CreateContainerOptions['spec']> = {
    ...(command.length ? { command } : {}),
    ...(entrypoint ? { entrypoint } : {}),
    ...(env.length ? { env } : {}),
    ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(userns ? { userns } : {}),
    ...(flags['group-add']?.length ? { groupAdd: flags['group-add'] } : {}),
    ...(flags.tty ? { terminal: true } : {}),
    ...(flags.hostname !== undefined ? { hostname: flags.hostname } : {}),
    ...(flags['read-only'] ? { readOnly: true, readOnlyTmpfs: flags['read-only-tmpfs'] ?? true } : {}),
    ...(mounts.length ? { mounts } : {}),
    network,
    ...(capAdd.length ? { capAdd } : {}),
    ...(capDrop.length ? { capDrop } : {}),
    ...(flags.privileged ? { privileged: true } : {}),
    ...(noNewPrivileges ? { noNewPrivileges: true } : {}),
    ...(ulimits.length ? { ulimits } : {}),
    ...limits,
    ...(Object.keys(annotations).length ? { annotations } : {}),
    ...(flags['stop-signal'] !== undefined ? { stopSignal: String(stopSignal) } : {}),
    ...(flags.rm ? { autoRemove: true } : {}),
  };
  return {
    options: {
      ...(flags.name !== undefined ? { name: flags.name } : {}),
      spec,
      ...(flags.init ? { init: true } : {}),
      ...(seccomp !== undefined ? { seccomp } : {}),
      ...(imageVolume !== 'anonymous' ? { imageVolume } : {}),
    },
    stored: {
      command,
      ...(entrypoint ? { entrypoint } : {}),
      labels,
      annotations,
      stopSignal,
      stopTimeoutSec,
      autoRemove: Boolean(flags.rm),
      logDriver: logDriver === 'none' || logDriver === 'passthrough' ? logDriver : 'k8s-file',
      network,
      interactive: Boolean(flags.interactive),
      tty: Boolean(flags.tty),
      restart,
    },
    warnings,
  };
}

/** The record's `config` read back (tolerant: containers created by other code have less). */
export function storedConfigOf(config: unknown): Partial<StoredContainerConfig> {
  return config && typeof config === 'object' ? (config as Partial<StoredContainerConfig>) : {};
}
