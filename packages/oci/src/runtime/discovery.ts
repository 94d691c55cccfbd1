/**
 * Finding an OCI runtime as podman does (crun preferred, runc as the fallback, `--runtime
 * NAME|PATH`), and proving it works here: each candidate is probed once by really running a
 * trivial bundle (busybox-static `true`), because a runtime can be installed and still refuse
 * this host (crun and cgroups v1/v2 hybrid mode). Results are cached under the runroot, keyed
 * by the binary's path, size and mtime, so the probe costs one run per upgrade.
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { delimiter, join } from 'node:path';
import { z } from 'zod';
import { SkiffError } from '../errors.js';
import { fsyncDirSync, mkdirs } from '../storage/fs-util.js';
import { inUserNamespace } from '../storage/store.js';
import { execFile } from './exec.js';

/** Where podman's containers.conf looks for each runtime, in order (then $PATH). */
export const RUNTIME_PATHS: Readonly<Record<string, readonly string[]>> = {
  crun: [
    '/usr/bin/crun',
    '/usr/sbin/crun',
    '/usr/local/bin/crun',
    '/usr/local/sbin/crun',
    '/sbin/crun',
    '/bin/crun',
    '/run/current-system/sw/bin/crun',
  ],
  runc: [
    '/usr/bin/runc',
    '/usr/sbin/runc',
    '/usr/local/bin/runc',
    '/usr/local/sbin/runc',
    '/sbin/runc',
    '/bin/runc',
    '/usr/lib/cri-o-runc/sbin/runc',
    '/run/current-system/sw/bin/runc',
  ],
};

/** The order tried when no --runtime is given. */
export const DEFAULT_RUNTIMES: readonly string[] = ['crun', 'runc'];

/** busybox-static, used as the probe's only file. */
export const PROBE_BUSYBOX_PATHS: readonly string[] = ['/bin/busybox', '/usr/bin/busybox'];

export interface RuntimeProbe {
  name: string;
  /** Absolute path of the binary, or undefined when it was not found. */
  path?: string;
  usable: boolean;
  /** Why it is unusable (the runtime's own error, or "not found"). */
  reason?: string;
  /** First line of `RUNTIME --version`. */
  version?: string;
  /** True when this result came from the cache. */
  cached?: boolean;
}

export interface OciRuntime {
  name: string;
  path: string;
  version?: string;
  /** --runtime-flag values, passed before the subcommand (`--debug`, `--systemd-cgroup`). */
  flags: string[];
  /** Every candidate examined, in order, the chosen one last. */
  probes: RuntimeProbe[];
}

export interface FindRuntimeOptions {
  /** --runtime: a name (crun, runc, or another on $PATH) or an absolute path. */
  runtime?: string;
  /** --runtime-flag values (without the leading dashes, as podman takes them, or with). */
  runtimeFlags?: string[];
  /** The runroot: the probe cache lives at RUNROOT/runtimes.json. */
  runroot: string;
  env?: NodeJS.ProcessEnv;
  /** Ignore and rewrite cached results. */
  refresh?: boolean;
  signal?: AbortSignal;
}

const cacheSchema = z.record(
  z.string(),
  z.object({
    name: z.string(),
    usable: z.boolean(),
    reason: z.string().optional(),
    version: z.string().optional(),
  }),
);

function isExecutableFile(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The binary for a runtime name: podman's paths for crun/runc, then $PATH. */
export function locateRuntime(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (name.includes('/')) return isExecutableFile(name) ? name : undefined;
  for (const p of RUNTIME_PATHS[name] ?? []) if (isExecutableFile(p)) return p;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir.startsWith('/')) continue;
    const p = join(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

function cacheKey(path: string): string {
  const st = fs.statSync(path);
  const uid = process.geteuid?.() ?? 0;
  return `${path}|${st.size}|${Math.trunc(st.mtimeMs)}|uid=${uid}|userns=${inUserNamespace() ? 1 : 0}`;
}

function readCache(file: string): z.infer<typeof cacheSchema> {
  try {
    const r = cacheSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
    return r.success ? r.data : {};
  } catch {
    return {};
  }
}

function writeCache(file: string, key: string, probe: RuntimeProbe): void {
  try {
    const dir = join(file, '..');
    mkdirs(dir, 0o700);
    const data = readCache(file);
    const entry: z.infer<typeof cacheSchema>[string] = { name: probe.name, usable: probe.usable };
    if (probe.reason) entry.reason = probe.reason;
    if (probe.version) entry.version = probe.version;
    data[key] = entry;
    const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(data, null, 2));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDirSync(dir);
  } catch {
    // A cache that cannot be written costs a probe next time; never a failure.
  }
}

/** The probe bundle's config: busybox `true`, read-only root, its own namespaces, nothing else. */
function probeConfig(): object {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const needUserns = uid !== 0;
  const namespaces: Array<{ type: string }> = [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
  ];
  if (needUserns) namespaces.push({ type: 'user' });
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/busybox', 'true'],
      env: ['PATH=/'],
      cwd: '/',
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'probe',
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] }],
    linux: {
      namespaces,
      ...(needUserns
        ? {
            uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
            gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
          }
        : {}),
      maskedPaths: [],
      readonlyPaths: [],
    },
  };
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0]?.trim() ?? '';
}

/** The last meaningful line a runtime printed on failure, without its log decoration. */
function failureReason(stderr: string, stdout: string): string {
  const lines = `${stderr}\n${stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /msg="((?:[^"\\]|\\.)*)"/.exec(l);
      return m ? (m[1] ?? l).replace(/\\"/g, '"') : l.replace(/^time="[^"]*" level=\w+ /, '');
    });
  return lines.at(-1) ?? 'failed without a message';
}

/**
 * Run the runtime once on a trivial bundle in a temp dir under `workDir`: usable when
 * `RUNTIME --root STATE run --bundle B ID` exits 0.
 */
export async function probeRuntimeBinary(
  name: string,
  path: string,
  workDir: string,
  signal?: AbortSignal,
): Promise<RuntimeProbe> {
  const busybox = PROBE_BUSYBOX_PATHS.find(isExecutableFile);
  if (!busybox) {
    throw new SkiffError(
      'RUNTIME',
      `cannot probe ${name}: busybox-static is not installed (${PROBE_BUSYBOX_PATHS.join(', ')})`,
      {
        hint: 'install busybox-static',
      },
    );
  }
  const probe: RuntimeProbe = { name, path, usable: false };
  const v = await execFile(path, ['--version'], { timeoutMs: 10_000, ...(signal ? { signal } : {}) });
  if (v.error) return { ...probe, reason: `cannot execute ${path}: ${v.error.message}` };
  const version = firstLine(v.stdout);
  if (version) probe.version = version;
  mkdirs(workDir, 0o700);
  const dir = fs.mkdtempSync(join(workDir, `probe-${name}-`));
  try {
    fs.mkdirSync(join(dir, 'rootfs'));
    fs.mkdirSync(join(dir, 'rootfs', 'proc'));
    fs.copyFileSync(busybox, join(dir, 'rootfs', 'busybox'));
    fs.chmodSync(join(dir, 'rootfs', 'busybox'), 0o755);
    fs.writeFileSync(join(dir, 'config.json'), JSON.stringify(probeConfig()));
    const id = `skiff-probe-${process.pid}-${randomBytes(4).toString('hex')}`;
    const r = await execFile(path, ['--root', join(dir, 'state'), 'run', '--bundle', dir, id], {
      cwd: dir,
      timeoutMs: 20_000,
      ...(signal ? { signal } : {}),
    });
    if (r.status === 0) probe.usable = true;
    else
      probe.reason = r.timedOut
        ? 'the probe container did not finish within 20 s'
        : failureReason(r.stderr, r.stdout);
    // A failed run can leave state behind: delete it (best effort).
    if (!probe.usable)
      await execFile(path, ['--root', join(dir, 'state'), 'delete', '--force', id], { timeoutMs: 10_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return probe;
}

/** Probe one runtime by name or path, using and filling the cache under `runroot`. */
export async function probeRuntime(
  nameOrPath: string,
  options: { runroot: string; env?: NodeJS.ProcessEnv; refresh?: boolean; signal?: AbortSignal },
): Promise<RuntimeProbe> {
  const name = nameOrPath.includes('/') ? (nameOrPath.split('/').at(-1) ?? nameOrPath) : nameOrPath;
  const path = locateRuntime(nameOrPath, options.env);
  if (!path)
    return {
      name,
      usable: false,
      reason: nameOrPath.includes('/') ? `${nameOrPath} is not an executable file` : 'not found',
    };
  const file = join(options.runroot, 'runtimes.json');
  const key = cacheKey(path);
  if (!options.refresh) {
    const hit = readCache(file)[key];
    if (hit) {
      const p: RuntimeProbe = { name, path, usable: hit.usable, cached: true };
      if (hit.reason) p.reason = hit.reason;
      if (hit.version) p.version = hit.version;
      return p;
    }
  }
  const probe = await probeRuntimeBinary(name, path, join(options.runroot, 'tmp'), options.signal);
  writeCache(file, key, probe);
  return probe;
}

function normaliseFlags(flags: readonly string[] = []): string[] {
  return flags.map((f) => (f.startsWith('-') ? f : `--${f}`));
}

/**
 * The runtime to use: --runtime when given (an error when it is unusable), else the first
 * usable of crun, runc. The result lists every probe so `skiff info` can explain the choice.
 */
export async function findRuntime(options: FindRuntimeOptions): Promise<OciRuntime> {
  const probeOpts = {
    runroot: options.runroot,
    ...(options.env ? { env: options.env } : {}),
    ...(options.refresh ? { refresh: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const flags = normaliseFlags(options.runtimeFlags);
  if (options.runtime) {
    const p = await probeRuntime(options.runtime, probeOpts);
    if (!p.usable || !p.path) {
      throw new SkiffError(
        'RUNTIME',
        `OCI runtime ${options.runtime} is unusable: ${p.reason ?? 'unknown reason'}`,
        {
          hint: p.path
            ? `use another --runtime (e.g. runc)`
            : 'install it, or give its absolute path with --runtime',
        },
      );
    }
    return { name: p.name, path: p.path, flags, probes: [p], ...(p.version ? { version: p.version } : {}) };
  }
  const probes: RuntimeProbe[] = [];
  for (const name of DEFAULT_RUNTIMES) {
    const p = await probeRuntime(name, probeOpts);
    probes.push(p);
    if (p.usable && p.path)
      return { name, path: p.path, flags, probes, ...(p.version ? { version: p.version } : {}) };
  }
  throw new SkiffError(
    'RUNTIME',
    `no usable OCI runtime: ${probes.map((p) => `${p.name}: ${p.reason ?? 'unusable'}`).join('; ')}`,
    { hint: 'install runc or crun (apt-get install runc)' },
  );
}

/** One line for `skiff info`: "crun: unusable (…), using runc". */
export function describeRuntimeChoice(runtime: OciRuntime): string {
  const skipped = runtime.probes.filter((p) => p.name !== runtime.name || p.path !== runtime.path);
  const parts = skipped.map(
    (p) => `${p.name}: ${p.path ? `unusable (${p.reason ?? 'unknown'})` : 'not found'}`,
  );
  parts.push(`using ${runtime.name}${runtime.version ? ` (${runtime.version})` : ''}`);
  return parts.join(', ');
}
