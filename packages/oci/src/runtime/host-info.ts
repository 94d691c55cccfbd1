import { execFile } from 'node:child_process';
import { access, readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { isRootless, xdgConfigHome, xdgDataHome, xdgRuntimeDir } from '../config/paths.js';

/**
 * What `info` reports about the host: the shape follows `podman info --format json` (lower-camel
 * keys, so `--format '{{.Host.Arch}}'` works as with podman), plus what only we print (node
 * version, cgroup mode, every OCI runtime found).
 */

const execFileAsync = promisify(execFile);

const CGROUP2_SUPER_MAGIC = 0x63677270;

export interface OciRuntimeInfo {
  name: string;
  path: string;
  version: string;
}

export interface HostInfo {
  host: {
    arch: string;
    os: string;
    kernel: string;
    hostname: string;
    cpus: number;
    memTotal: number;
    memFree: number;
    nodeVersion: string;
    distribution: { distribution: string; version: string; codename: string };
    cgroupVersion: 'v1' | 'v2';
    /** unified (v2 only), hybrid (v1 with a v2 mount at /sys/fs/cgroup/unified), legacy (v1 only). */
    cgroupMode: 'unified' | 'hybrid' | 'legacy' | 'unknown';
    ociRuntime: OciRuntimeInfo | null;
    ociRuntimes: OciRuntimeInfo[];
    security: { rootless: boolean };
  };
  store: { configFile: string; graphDriverName: string; graphRoot: string; runRoot: string };
  registries: { configFile: string };
  containersConf: { configFile: string };
  version: { Version: string; OsArch: string };
}

export interface HostInfoOptions {
  toolVersion: string;
  root?: string;
  runroot?: string;
  storageDriver?: string;
  env?: NodeJS.ProcessEnv;
}

/** Node's arch names → Go's (what podman and OCI platforms use). */
export function goArch(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return map[arch] ?? arch;
}

async function fsType(path: string): Promise<number | undefined> {
  try {
    return (await statfs(path)).type;
  } catch {
    return undefined;
  }
}

export async function cgroupMode(): Promise<HostInfo['host']['cgroupMode']> {
  const top = await fsType('/sys/fs/cgroup');
  if (top === undefined) return 'unknown';
  if (top === CGROUP2_SUPER_MAGIC) return 'unified';
  return (await fsType('/sys/fs/cgroup/unified')) === CGROUP2_SUPER_MAGIC ? 'hybrid' : 'legacy';
}

async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, 1);
      return candidate;
    } catch {}
  }
  return undefined;
}

async function probeRuntime(name: string, env: NodeJS.ProcessEnv): Promise<OciRuntimeInfo | undefined> {
  const path = await findOnPath(name, env);
  if (path === undefined) return undefined;
  try {
    const { stdout } = await execFileAsync(path, ['--version'], { timeout: 3000, env });
    return { name, path, version: stdout.trim() };
  } catch (err) {
    return {
      name,
      path,
      version: `unknown (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
    };
  }
}

async function distribution(): Promise<HostInfo['host']['distribution']> {
  const out = { distribution: '', version: '', codename: '' };
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    for (const line of text.split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (!m) continue;
      const value = m[2]!.replace(/^"(.*)"$/, '$1');
      if (m[1] === 'ID') out.distribution = value;
      else if (m[1] === 'VERSION_ID') out.version = value;
      else if (m[1] === 'VERSION_CODENAME') out.codename = value;
    }
  } catch {}
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The user's file when it exists (rootless), else the system one: the containers tools' rule. */
async function configPath(name: string, rootless: boolean, env: NodeJS.ProcessEnv): Promise<string> {
  if (rootless) {
    const user = join(xdgConfigHome(env), 'containers', name);
    if (await exists(user)) return user;
  }
  const etc = join('/etc/containers', name);
  if (await exists(etc)) return etc;
  const usr = join('/usr/share/containers', name);
  return (await exists(usr)) ? usr : etc;
}

export async function collectHostInfo(options: HostInfoOptions): Promise<HostInfo> {
  const env = options.env ?? process.env;
  const rootless = isRootless();
  const mode = await cgroupMode();
  const runtimes = (await Promise.all(['crun', 'runc'].map((n) => probeRuntime(n, env)))).filter(
    (r): r is OciRuntimeInfo => r !== undefined,
  );
  // crun refuses to start containers on a v1/v2 hybrid host; runc works there.
  const preferred =
    mode === 'unified'
      ? runtimes
      : [...runtimes].sort((a, b) => (a.name === 'runc' ? -1 : b.name === 'runc' ? 1 : 0));
  const runtimeDir = xdgRuntimeDir(env);
  const graphRoot =
    options.root ??
    (rootless ? join(xdgDataHome(env), 'containers', 'storage') : '/var/lib/containers/storage');
  const runRoot =
    options.runroot ??
    (rootless
      ? runtimeDir !== undefined
        ? join(runtimeDir, 'containers')
        : `/tmp/containers-user-${process.getuid?.() ?? 0}/containers`
      : '/run/containers/storage');
  const arch = goArch();
  return {
    host: {
      arch,
      os: process.platform,
      kernel: os.release(),
      hostname: os.hostname(),
      cpus: os.cpus().length,
      memTotal: os.totalmem(),
      memFree: os.freemem(),
      nodeVersion: process.version,
      distribution: await distribution(),
      cgroupVersion: mode === 'unified' ? 'v2' : 'v1',
      cgroupMode: mode,
      ociRuntime: preferred[0] ?? null,
      ociRuntimes: runtimes,
      security: { rootless },
    },
    store: {
      configFile: await configPath('storage.conf', rootless, env),
      graphDriverName: options.storageDriver ?? 'overlay',
      graphRoot,
      runRoot,
    },
    registries: { configFile: await configPath('registries.conf', rootless, env) },
    containersConf: { configFile: await configPath('containers.conf', rootless, env) },
    version: { Version: options.toolVersion, OsArch: `${process.platform}/${arch}` },
  };
}
