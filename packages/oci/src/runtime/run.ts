/**
 * Containers' lives on disk and under an OCI runtime: create (record, writable rootfs over the
 * image's layers, config.json from the spec generator), start attached (`RUNTIME run` as a
 * child of the caller, exit code propagated) or detached under conmon (which outlives the
 * caller and records the exit code), observe the exit, clean up and remove.
 *
 * Layout: persistent STORE_ROOT/containers/ID/{diff,work,userdata/ctr.log} (vfs: rootfs/),
 * volatile RUNROOT/containers/ID/ (the bundle: config.json, rootfs mount point, pid files,
 * /etc/hosts, resolv.conf, hostname), RUNROOT/exits/ID (conmon's exit file),
 * RUNROOT/runtime/NAME (the runtime's --root).
 */

import { type StdioOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { SkiffError } from '../errors.js';
import { parseDigest } from '../spec/digest.js';
import { parseImageConfig } from '../spec/manifest.js';
import type { ImageConfig } from '../spec/schemas.js';
import type { StoreLocation } from '../storage/config.js';
import { mkdirs, processAlive, splitProcStat } from '../storage/fs-util.js';
import { inUserNamespace, type Store } from '../storage/store.js';
import {
  type ContainerDb,
  type ContainerPaths,
  type ContainerRecord,
  containerPaths,
  refreshRecord,
} from './containers.js';
import type { OciRuntime } from './discovery.js';
import { execFile, exitCodeOf, signalNumber } from './exec.js';
import { checkCommandInRoot, findInitBinary, hostFacts, loadSeccompProfile, readFileInRoot } from './host.js';
import { ALL_CAPABILITIES } from './options.js';
import {
  containerUserEntries,
  generateRuntimeSpec,
  type HostFacts,
  type RunSpecOptions,
  type RuntimeSpec,
} from './spec.js';
import {
  attachVolumes,
  discardVolumes,
  type ImageVolumeMode,
  planVolumes,
  prepareMountContents,
  removeAnonymousVolumes,
  type VolumePlan,
} from './volumes.js';

export { type ContainerPaths, containerPaths, refreshRecord } from './containers.js';

/** The runtime's state directory (its --root) for this store. */
export function runtimeStateDir(location: StoreLocation, runtime: Pick<OciRuntime, 'name'>): string {
  return join(location.runroot, 'runtime', runtime.name);
}

function runtimeArgs(location: StoreLocation, runtime: OciRuntime): string[] {
  return ['--root', runtimeStateDir(location, runtime), ...runtime.flags];
}

/**
 * Bundle files live under the runroot (volatile, normally tmpfs, gone after a reboot like the
 * containers they describe): written whole with a rename so no reader sees half a file, but
 * without fsync — durability buys nothing there and costs milliseconds per container.
 */
function writeFileAtomic(file: string, data: string, mode = 0o644): void {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}

function isMountPoint(path: string): boolean {
  try {
    const a = fs.statSync(path);
    const b = fs.statSync(dirname(path));
    return a.dev !== b.dev || a.ino === b.ino;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[], what: string, cwd?: string): Promise<void> {
  const r = await execFile(cmd, args, { ...(cwd ? { cwd } : {}), timeoutMs: 60_000 });
  if (r.status !== 0) {
    throw new SkiffError(
      'STORAGE',
      `${what}: ${(r.error?.message ?? r.stderr.trim()) || `exit status ${r.status}`}`,
    );
  }
}

/** A --rm container: its record's config says so (autoRemove), as podman's `Volatile` follows --rm. */
function isAutoRemove(config: unknown): boolean {
  return (config as { autoRemove?: unknown } | null | undefined)?.autoRemove === true;
}

/**
 * Make the container's writable root filesystem: overlay (image layers as lowerdirs, the
 * container's diff as upperdir) mounted at the bundle's rootfs, or for vfs a full copy made
 * once. Idempotent: an existing mount is kept. Returns the path for the spec's root.path.
 *
 * A --rm container's overlay is mounted `volatile` (as podman does for --rm): its writes are
 * never synced to disk, and unmounting it does not sync the whole filesystem under the store
 * (without it, every umount of an overlay waits for a syncfs of that filesystem). Its upper
 * directory is thrown away with the container, so a crash loses nothing worth keeping. A kernel
 * without the option (before 5.10) gets the same mount without it.
 */
export async function mountContainerRootfs(
  store: Store,
  db: ContainerDb,
  rec: Pick<ContainerRecord, 'id' | 'imageId'> & { config?: unknown },
): Promise<string> {
  const paths = containerPaths(store.location, rec.id);
  // Already mounted (run right after create, start of a stopped container): nothing to look up.
  if (store.location.driver !== 'vfs' && isMountPoint(paths.rootfsMount)) return paths.rootfsMount;
  const image = store.getImage(rec.imageId);
  if (!image)
    throw new SkiffError(
      'NOT_FOUND',
      `image ${rec.imageId} of container ${rec.id.slice(0, 12)} is not in the store`,
    );
  const layers = image.layers.map((c) => {
    const l = store.getLayer(c);
    if (!l) throw new SkiffError('STORAGE', `layer ${c} of image ${image.id.slice(0, 12)} is missing`);
    return l;
  });
  if (store.location.driver === 'vfs') {
    if (!fs.existsSync(paths.vfsRootfs)) {
      const top = layers.at(-1);
      mkdirs(paths.dataDir, 0o700);
      const tmp = `${paths.vfsRootfs}.tmp-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      if (top)
        await run(
          'cp',
          ['-a', '--reflink=auto', top.path, tmp],
          `copying image ${image.id.slice(0, 12)} for a container`,
        );
      else fs.mkdirSync(tmp, { mode: 0o755 });
      fs.renameSync(tmp, paths.vfsRootfs);
    }
    return paths.vfsRootfs;
  }
  mkdirs(paths.upperDir, 0o755);
  mkdirs(paths.workDir, 0o700);
  mkdirs(paths.rootfsMount, 0o755);
  if (isMountPoint(paths.rootfsMount)) return paths.rootfsMount;
  const top = layers.at(-1);
  let lower: string[];
  let cwd: string | undefined;
  if (!top) {
    const empty = join(paths.dataDir, 'empty');
    mkdirs(empty, 0o755);
    lower = [empty];
  } else {
    // Relative lowerdirs from the layers directory keep the option string under one page.
    cwd = dirname(dirname(top.path));
    lower = layers.map((l) => `${parseDigest(l.chainId).hex}/diff`).reverse();
  }
  const opts = [
    db.overlayXattrs() === 'user' ? 'userxattr' : undefined,
    `lowerdir=${lower.join(':')}`,
    `upperdir=${paths.upperDir}`,
    `workdir=${paths.workDir}`,
  ].filter(Boolean);
  const mount = (o: (string | undefined)[]) =>
    run(
      'mount',
      ['-t', 'overlay', 'overlay', '-o', o.join(','), paths.rootfsMount],
      `cannot mount the rootfs of container ${rec.id.slice(0, 12)}`,
      cwd,
    );
  // The kernel refuses to mount an upper directory a volatile mount used (its work directory's
  // incompat/volatile marker) until the marker is gone: this container's own earlier mount, which
  // is no longer mounted (checked above).
  const incompat = join(paths.workDir, 'work', 'incompat');
  if (fs.existsSync(incompat)) fs.rmSync(incompat, { recursive: true, force: true });
  if (isAutoRemove(rec.config)) {
    const ok = await mount([...opts, 'volatile']).then(
      () => true,
      () => false,
    );
    if (ok) return paths.rootfsMount;
  }
  await mount(opts);
  return paths.rootfsMount;
}

/** Unmount the overlay rootfs (a no-op when not mounted, and for vfs). */
export async function unmountContainerRootfs(location: StoreLocation, id: string): Promise<void> {
  const p = containerPaths(location, id).rootfsMount;
  if (!isMountPoint(p)) return;
  // Another skiff (conmon's exit command, rm) may unmount it at the same time: that is fine.
  await run('umount', [p], `cannot unmount the rootfs of container ${id.slice(0, 12)}`).catch((err) => {
    if (isMountPoint(p)) throw err;
  });
}

export interface CreateContainerOptions {
  store: Store;
  db: ContainerDb;
  runtime: OciRuntime;
  /** Image name or ID in the store. */
  image: string;
  name?: string;
  /** Spec options (id, rootfs, etcFiles and initPath are filled in here). */
  spec?: Omit<RunSpecOptions, 'id' | 'rootfs' | 'etcFiles' | 'initPath' | 'rootless'>;
  /** --init: catatonit as PID 1. */
  init?: boolean;
  /** --security-opt seccomp=VALUE (`unconfined` or a file); default: the containers profile. */
  seccomp?: string;
  /** Caller facts (default: read from this process). */
  host?: HostFacts;
  /**
   * Whatever the CLI wants kept with the container (its flags), as JSON. When it is an object
   * (or absent), `volumes` and `anonymousVolumes` (the names of the volumes mounted) are added.
   */
  config?: unknown;
  /** What the image's VOLUME entries become (podman's --image-volume; default anonymous volumes). */
  imageVolume?: ImageVolumeMode;
}

/** The record's config with the names of the container's volumes (see volumesInUse). */
function withVolumeNames(config: unknown, plan: VolumePlan): unknown {
  if (!plan.volumes.length) return config ?? null;
  if (config !== undefined && config !== null && (typeof config !== 'object' || Array.isArray(config)))
    return config;
  return { ...(config ?? {}), volumes: plan.volumes, anonymousVolumes: plan.anonymous };
}

function etcHosts(hostname: string | undefined, name: string, network: RunSpecOptions['network']): string {
  if (network === 'host') {
    try {
      return fs.readFileSync('/etc/hosts', 'utf8');
    } catch {}
  }
  const lines = ['127.0.0.1\tlocalhost localhost.localdomain', '::1\tlocalhost localhost.localdomain'];
  if (hostname) lines.push(`127.0.1.1\t${hostname} ${name}`);
  return `${lines.join('\n')}\n`;
}

function resolvConf(): string {
  try {
    // A loopback resolver of the host is unreachable from another network namespace.
    return fs
      .readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l))
      .join('\n');
  } catch {
    return '';
  }
}

/**
 * Create a container: register it (unique name), make its volumes (anonymous ones for `-v /path`
 * and the image's VOLUMEs, named ones on first use), build its rootfs, fill new volumes from the
 * image (copy-up) and apply `U`, generate and write its config.json. Any failure undoes
 * everything (no record, no mount, no directories, no volume it created).
 */
export async function createContainer(options: CreateContainerOptions): Promise<ContainerRecord> {
  const { store, db, runtime } = options;
  const image = store.getImage(options.image);
  if (!image) {
    throw new SkiffError('NOT_FOUND', `${options.image}: image not known`, {
      hint: `pull it first: skiff pull ${options.image}`,
    });
  }
  const id = randomBytes(32).toString('hex');
  const paths = containerPaths(store.location, id);
  // The rootfs is mounted (an exec of mount, or cp for vfs) while the options are checked and
  // the record is written (one transaction: its fsync and the mount overlap). A failure of any
  // of them undoes both. The directories take the modes they always had (data 0700).
  mkdirs(paths.bundle, 0o700);
  mkdirs(dirname(paths.logFile), 0o700);
  const mounting = mountContainerRootfs(store, db, {
    id,
    imageId: image.id,
    config: { autoRemove: Boolean(options.spec?.autoRemove) || isAutoRemove(options.config) },
  });
  mounting.catch(() => {}); // awaited below
  let rec: ContainerRecord;
  let imageConfig: ImageConfig;
  let seccomp: ReturnType<typeof loadSeccompProfile> | undefined;
  let initPath: string | undefined;
  let host: HostFacts;
  let plan: VolumePlan;
  try {
    imageConfig = parseImageConfig(image.config, `image ${image.id.slice(0, 12)}`);
    // Everything that can fail on bad input, before the record is written.
    seccomp = options.spec?.privileged
      ? undefined
      : loadSeccompProfile(options.seccomp, store.location.runroot);
    initPath = options.init ? findInitBinary() : undefined;
    host = options.host ?? hostFacts();
    for (const m of options.spec?.mounts ?? []) {
      if (m.type !== 'bind') continue;
      try {
        fs.statSync(m.source);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new SkiffError(
          'INVALID_ARGUMENT',
          `statfs ${m.source}: ${code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
          { hint: `create ${m.source} first, or fix the bind mount source` },
        );
      }
    }
    plan = planVolumes(
      options.spec?.mounts ?? [],
      Object.keys(imageConfig.config?.Volumes ?? {}),
      options.imageVolume,
    );
    rec = db.create({
      id,
      ...(options.name !== undefined ? { name: options.name } : {}),
      imageId: image.id,
      ...(image.names.includes(options.image) ? { imageName: options.image } : {}),
      ...(image.layers.length ? { layer: image.layers.at(-1) as string } : {}),
      runtime: runtime.path,
      bundle: paths.bundle,
      config: withVolumeNames(options.config, plan),
    });
  } catch (err) {
    await mounting.catch(() => {});
    await destroyContainerFiles(store.location, id).catch(() => {});
    throw err;
  }
  let createdVolumes: string[] = [];
  try {
    createdVolumes = attachVolumes(store.location, plan);
    // O: each overlay bind gets an upper and work directory of the container's own.
    plan.mounts.forEach((m, i) => {
      if (m.type !== 'bind' || !m.overlay) return;
      const upper = join(paths.dataDir, 'overlay-mounts', String(i), 'upper');
      const work = join(paths.dataDir, 'overlay-mounts', String(i), 'work');
      mkdirs(upper, 0o755);
      mkdirs(work, 0o700);
      // The merged root takes the upper's owner and mode: make them the source's.
      const st = fs.statSync(m.source);
      fs.chownSync(upper, st.uid, st.gid);
      fs.chmodSync(upper, st.mode & 0o7777);
      m.overlayDirs = { upper, work, ...(inUserNamespace() ? { userxattr: true } : {}) };
    });
    const rootfs = await mounting;
    const specOptions: RunSpecOptions = {
      ...(options.spec ?? {}),
      mounts: plan.mounts,
      id,
      name: rec.name,
      rootfs,
      ...(seccomp ? { seccomp } : {}),
      ...(initPath ? { initPath } : {}),
      ...(inUserNamespace() ? { rootless: true } : {}),
    };
    // First pass: validate the options and learn the hostname before writing /etc files.
    const passwd = readFileInRoot(rootfs, '/etc/passwd');
    const group = readFileInRoot(rootfs, '/etc/group');
    const draft = generateRuntimeSpec({ image: imageConfig, passwd, group, host, options: specOptions });
    await prepareMountContents(store.location, rootfs, plan.mounts, {
      uid: draft.process.user.uid,
      gid: draft.process.user.gid,
      ...(specOptions.userns ? { userns: specOptions.userns } : {}),
    });
    const etc: NonNullable<RunSpecOptions['etcFiles']> = {};
    for (const [key, name, text] of [
      ['hosts', 'hosts', etcHosts(draft.hostname, rec.name, specOptions.network)],
      ['resolvConf', 'resolv.conf', resolvConf()],
      ['hostname', 'hostname', `${draft.hostname ?? ''}\n`],
    ] as const) {
      etc[key] = join(paths.bundle, name);
      writeFileAtomic(etc[key], text);
    }
    const entries = containerUserEntries(passwd, group, draft.process.user, draft.process.cwd);
    for (const name of ['passwd', 'group'] as const) {
      const text = entries[name];
      if (text === undefined) continue;
      etc[name] = join(paths.bundle, name);
      writeFileAtomic(etc[name], text);
    }
    const spec: RuntimeSpec = generateRuntimeSpec({
      image: imageConfig,
      passwd,
      group,
      host,
      options: { ...specOptions, etcFiles: etc },
    });
    limitToBoundingSet(spec);
    const cmd = options.init ? spec.process.args[2] : spec.process.args[0];
    if (cmd !== undefined) checkCommandInRoot(rootfs, cmd, spec.process.env, spec.process.cwd);
    writeFileAtomic(paths.configFile, JSON.stringify(spec, null, 2), 0o600);
    return rec;
  } catch (err) {
    await mounting.catch(() => {});
    await destroyContainerFiles(store.location, id).catch(() => {});
    db.remove(id);
    discardVolumes(store.location, createdVolumes);
    throw err;
  }
}

/**
 * Keep only the capabilities the caller's bounding set has (CapBnd; ALL_CAPABILITIES is in
 * kernel bit order): --privileged or --cap-add of one the caller lacks would make the runtime
 * fail with "unable to apply caps", as podman avoids by the same filter.
 */
function limitToBoundingSet(spec: RuntimeSpec): void {
  let bnd: bigint;
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (!m) return;
    bnd = BigInt(`0x${m[1]}`);
  } catch {
    return;
  }
  const allowed = new Set(ALL_CAPABILITIES.filter((_, i) => (bnd >> BigInt(i)) & 1n));
  const caps = spec.process.capabilities as unknown as Record<string, string[] | undefined>;
  for (const k of Object.keys(caps)) {
    const list = caps[k];
    if (list) caps[k] = list.filter((c) => allowed.has(c) || !ALL_CAPABILITIES.includes(c));
  }
}

async function destroyContainerFiles(location: StoreLocation, id: string): Promise<void> {
  const paths = containerPaths(location, id);
  await unmountContainerRootfs(location, id);
  fs.rmSync(paths.bundle, { recursive: true, force: true });
  removeContainerData(paths);
}

/** A container's own files outside its bundle: its writable layer and log, and its exit file. */
function removeContainerData(paths: ContainerPaths): void {
  fs.rmSync(paths.dataDir, { recursive: true, force: true });
  fs.rmSync(paths.exitFile, { force: true });
}

function readSpec(location: StoreLocation, id: string): RuntimeSpec {
  return JSON.parse(fs.readFileSync(containerPaths(location, id).configFile, 'utf8')) as RuntimeSpec;
}

/**
 * A -t container's terminal starts with this size (process.consoleSize in its config.json), so
 * that its first program sees the caller's size, not 0x0 until a resize. Returns the spec.
 */
function applyConsoleSize(
  location: StoreLocation,
  id: string,
  size: { rows: number; cols: number } | undefined,
): RuntimeSpec {
  const spec = readSpec(location, id);
  if (spec.process.terminal && size && size.rows > 0 && size.cols > 0) {
    (spec.process as { consoleSize?: { height: number; width: number } }).consoleSize = {
      height: size.rows,
      width: size.cols,
    };
    writeFileAtomic(containerPaths(location, id).configFile, JSON.stringify(spec, null, 2), 0o600);
  }
  return spec;
}

export interface AttachedOptions {
  /** The child's stdio (default inherit: the caller's terminal). */
  stdio?: StdioOptions;
  /** Aborting sends SIGKILL to the container. */
  signal?: AbortSignal;
  /** Remove the container after it exits (--rm). */
  remove?: boolean;
  /**
   * Keep the container's output in its k8s-file log (as conmon does for detached ones) while
   * passing it on to these streams: stdout and stderr become pipes (not with a terminal).
   */
  tee?: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream };
  /**
   * Run the runtime in a process group of its own, out of reach of the terminal's ^C
   * (--sig-proxy=false). Not with a terminal: the runtime must be in the foreground group.
   */
  processGroup?: boolean;
  /** The terminal's size for a -t container (the runtime then follows the caller's). */
  consoleSize?: { rows: number; cols: number };
}

/** Append a chunk of a stream to a k8s-file log: `TIME STREAM F|P TEXT` per line. */
function k8sLogWriter(file: string): (stream: 'stdout' | 'stderr', chunk: Buffer) => void {
  let fd: number | undefined;
  return (stream, chunk) => {
    try {
      fd ??= fs.openSync(file, 'a', 0o600);
      const time = new Date().toISOString().replace('Z', '000000Z');
      const text = chunk.toString('utf8');
      const parts = text.split('\n');
      const last = parts.pop() as string;
      let out = parts.map((l) => `${time} ${stream} F ${l}\n`).join('');
      if (last !== '') out += `${time} ${stream} P ${last}\n`;
      fs.writeSync(fd, out);
    } catch {}
  };
}

/**
 * Start a created (or exited) container as a child of the caller (`RUNTIME run`) and wait for
 * it: the result is the container's exit code (128+N when killed by signal N). The rootfs is
 * unmounted afterwards, and with `remove` the container is deleted.
 */
export async function startAttached(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  id: string,
  options: AttachedOptions = {},
): Promise<number> {
  const rec = db.get(id);
  if (!rec) throw new SkiffError('NOT_FOUND', `no container with name or ID "${id}" found`);
  if (rec.status === 'running') throw new SkiffError('IN_USE', `container ${rec.name} is already running`);
  const paths = containerPaths(store.location, rec.id);
  await mountContainerRootfs(store, db, rec);
  // The record keeps no PID of an attached container: readers take it from the runtime's pid
  // file (refreshRecord), so a stale one from an earlier run must not be there.
  for (const f of [paths.exitFile, paths.pidFile]) fs.rmSync(f, { force: true });
  mkdirs(runtimeStateDir(store.location, runtime), 0o700);
  if (options.consoleSize) applyConsoleSize(store.location, rec.id, options.consoleSize);
  const args = [
    ...runtimeArgs(store.location, runtime),
    'run',
    '--bundle',
    paths.bundle,
    '--pid-file',
    paths.pidFile,
    rec.id,
  ];
  const started = new Date();
  let code: number;
  try {
    code = await new Promise<number>((resolve, reject) => {
      const stdio: StdioOptions = options.stdio ?? 'inherit';
      const tee = options.tee;
      const child = spawn(runtime.path, args, {
        cwd: paths.bundle,
        stdio: tee ? [Array.isArray(stdio) ? (stdio[0] ?? 'ignore') : stdio, 'pipe', 'pipe'] : stdio,
        ...(options.processGroup ? { detached: true } : {}),
      });
      if (tee) {
        fs.rmSync(paths.logFile, { force: true });
        const log = k8sLogWriter(paths.logFile);
        child.stdout?.on('data', (c: Buffer) => {
          log('stdout', c);
          tee.stdout.write(c);
        });
        child.stderr?.on('data', (c: Buffer) => {
          log('stderr', c);
          tee.stderr.write(c);
        });
      }
      let exited = false;
      const onAbort = () => {
        // The runtime may not have created the container yet: retry until it has, or it ended.
        const tryKill = async () => {
          for (let i = 0; i < 200 && !exited; i++) {
            const r = await execFile(runtime.path, [
              ...runtimeArgs(store.location, runtime),
              'kill',
              rec.id,
              'KILL',
            ]);
            if (r.status === 0) return;
            await new Promise((res) => setTimeout(res, 25));
          }
        };
        void tryKill();
      };
      child.on('spawn', () => {
        // One transaction, while the runtime creates the container (this process is its monitor).
        db.update(rec.id, { status: 'running', started, monitorPid: process.pid });
        if (options.signal?.aborted) onAbort();
        else options.signal?.addEventListener('abort', onAbort, { once: true });
      });
      child.on('error', (err) =>
        reject(new SkiffError('RUNTIME', `cannot run ${runtime.path}: ${err.message}`, { cause: err })),
      );
      child.on('close', (c, sig) => {
        exited = true;
        options.signal?.removeEventListener('abort', onAbort);
        resolve(exitCodeOf(c, sig));
      });
    });
  } catch (err) {
    db.update(rec.id, { status: 'exited', finished: new Date(), exitCode: 125, clearPid: true });
    await unmountContainerRootfs(store.location, rec.id).catch(() => {});
    throw err;
  }
  if (options.remove) {
    // --rm: the exit is not recorded, the record goes: unmount, files, then one transaction.
    // Until then the record says running with this process as its monitor, so no one else
    // starts or removes it meanwhile.
    try {
      await deleteContainer(store, db, runtime, rec, {});
    } catch (err) {
      db.update(rec.id, { status: 'exited', finished: new Date(), exitCode: code, clearPid: true });
      throw err;
    }
    return code;
  }
  db.update(rec.id, { status: 'exited', finished: new Date(), exitCode: code, clearPid: true });
  await unmountContainerRootfs(store.location, rec.id).catch(() => {});
  return code;
}

export interface DetachedOptions {
  /** conmon binary (default: found on PATH or /usr/bin/conmon, /usr/libexec/podman/conmon). */
  conmon?: string;
  /** Run after the container exits (podman's `container cleanup`): argv, first the program. */
  exitCommand?: string[];
  /** conmon's log driver: k8s-file (default), none, passthrough is not possible detached. */
  logDriver?: 'k8s-file' | 'none' | 'passthrough';
  /** -i: keep the container's stdin open for attach clients (a terminal always has one). */
  stdin?: boolean;
  /** The terminal's size for a -t container (process.consoleSize), e.g. the caller's. */
  consoleSize?: { rows: number; cols: number };
  /**
   * Called once the runtime has created the container and before it starts: attach here to
   * see all of its output (`skiff run -t` through conmon).
   */
  beforeStart?: () => Promise<void>;
}

export function findConmon(): string {
  for (const p of [
    '/usr/libexec/podman/conmon',
    '/usr/bin/conmon',
    '/usr/local/bin/conmon',
    '/usr/local/libexec/podman/conmon',
  ]) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  throw new SkiffError('RUNTIME', 'conmon is not installed: detached containers need it as their monitor', {
    hint: 'apt-get install conmon',
  });
}

/** Read conmon's sync pipe: `{"data": PID}` when created, `{"data": -1, "message": …}` on failure. */
function readSyncMessage(
  stream: NodeJS.ReadableStream,
  timeoutMs: number,
): Promise<{ data: number; message?: string }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(
      () => finish(new SkiffError('RUNTIME', `conmon did not report within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    const finish = (err?: Error, msg?: { data: number; message?: string }) => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.removeAllListeners('end');
      if (err) reject(err);
      else resolve(msg as { data: number; message?: string });
    };
    stream.setEncoding?.('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      const end = buf.indexOf('}');
      if (end < 0) return;
      try {
        const parsed = JSON.parse(buf.slice(buf.indexOf('{'), end + 1)) as {
          data?: unknown;
          message?: unknown;
        };
        const data = typeof parsed.data === 'number' ? parsed.data : -1;
        finish(undefined, {
          data,
          ...(typeof parsed.message === 'string' ? { message: parsed.message } : {}),
        });
      } catch (err) {
        finish(
          new SkiffError('RUNTIME', `conmon sent an unreadable message: ${buf.slice(0, 200)}`, {
            cause: err,
          }),
        );
      }
    });
    stream.on('end', () =>
      finish(
        new SkiffError(
          'RUNTIME',
          `conmon exited before creating the container${buf ? `: ${buf.slice(0, 200)}` : ''}`,
        ),
      ),
    );
  });
}

/**
 * Start a container in the background under conmon, which creates it with the runtime, keeps
 * its log (k8s-file), outlives the caller, and writes the exit code to RUNROOT/exits/ID. The
 * record is `running` with the container's and conmon's PIDs when this returns.
 */
export async function startDetached(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  id: string,
  options: DetachedOptions = {},
): Promise<ContainerRecord> {
  const rec = db.get(id);
  if (!rec) throw new SkiffError('NOT_FOUND', `no container with name or ID "${id}" found`);
  if (rec.status === 'running') throw new SkiffError('IN_USE', `container ${rec.name} is already running`);
  const loc = store.location;
  const paths = containerPaths(loc, rec.id);
  const conmon = options.conmon ?? findConmon();
  await mountContainerRootfs(store, db, rec);
  for (const d of [paths.exitDir, paths.socketDir, runtimeStateDir(loc, runtime)]) mkdirs(d, 0o700);
  for (const f of [paths.exitFile, paths.pidFile, paths.conmonPidFile]) fs.rmSync(f, { force: true });
  // A runtime state left by an earlier run of the same container must go before create.
  await deleteRuntimeState(loc, runtime, rec.id);
  const spec = applyConsoleSize(loc, rec.id, options.consoleSize);
  const args = [
    '--api-version',
    '1',
    '-c',
    rec.id,
    '-u',
    rec.id,
    '-n',
    rec.name,
    '-r',
    runtime.path,
    '-b',
    paths.bundle,
    '-p',
    paths.pidFile,
    '-P',
    paths.conmonPidFile,
    '-l',
    options.logDriver === 'none'
      ? 'none:'
      : options.logDriver === 'passthrough'
        ? 'passthrough'
        : `k8s-file:${paths.logFile}`,
    '--exit-dir',
    paths.exitDir,
    '--socket-dir-path',
    paths.socketDir,
    '--log-level',
    'warning',
    ...(spec.process.terminal ? ['-t'] : options.stdin ? ['-i'] : []),
  ];
  for (const a of runtimeArgs(loc, runtime)) args.push('--runtime-arg', a);
  if (options.exitCommand?.length) {
    const [prog, ...rest] = options.exitCommand;
    args.push('--exit-command', prog as string);
    for (const a of rest) args.push('--exit-command-arg', a);
  }
  // passthrough: the container writes to the caller's stdout/stderr, which conmon hands on.
  const out = options.logDriver === 'passthrough' ? 'inherit' : 'ignore';
  const child = spawn(conmon, args, {
    cwd: paths.bundle,
    stdio: ['ignore', out, out, 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3' },
    detached: true,
  });
  const spawnFailed = new Promise<never>((_, reject) =>
    child.on('error', (err) =>
      reject(new SkiffError('RUNTIME', `cannot start ${conmon}: ${err.message}`, { cause: err })),
    ),
  );
  try {
    const sync = child.stdio[3] as NodeJS.ReadableStream;
    const msg = await Promise.race([readSyncMessage(sync, 30_000), spawnFailed]);
    (sync as unknown as { destroy(): void }).destroy();
    if (msg.data < 0) {
      throw new SkiffError(
        'RUNTIME',
        `${runtime.name} could not create container ${rec.name}: ${(msg.message ?? 'unknown error').trim()}`,
      );
    }
    if (options.beforeStart) await options.beforeStart();
    const started = new Date();
    const r = await execFile(runtime.path, [...runtimeArgs(loc, runtime), 'start', rec.id], {
      timeoutMs: 30_000,
    });
    if (r.status !== 0)
      throw new SkiffError(
        'RUNTIME',
        `${runtime.name} could not start container ${rec.name}: ${r.stderr.trim()}`,
      );
    const monitorPid = Number(fs.readFileSync(paths.conmonPidFile, 'utf8').trim());
    const updated = db.update(rec.id, {
      status: 'running',
      started,
      pid: msg.data,
      ...(monitorPid > 0 ? { monitorPid } : {}),
    });
    child.unref();
    return updated as ContainerRecord;
  } catch (err) {
    child.unref();
    await deleteRuntimeState(loc, runtime, rec.id);
    await unmountContainerRootfs(loc, rec.id).catch(() => {});
    db.update(rec.id, { status: 'exited', finished: new Date(), exitCode: 125, clearPid: true });
    throw err;
  }
}

/**
 * The record, brought up to date with reality (see refreshRecord): a `running` container whose
 * conmon wrote an exit file (or whose monitor and process are gone) becomes `exited`.
 */
export function refreshContainer(store: Store, db: ContainerDb, id: string): ContainerRecord | undefined {
  const rec = db.get(id);
  return rec ? refreshRecord(store.location, db, rec) : undefined;
}

/** Wait until the container is no longer running; resolves with its exit code. */
export async function waitContainer(
  store: Store,
  db: ContainerDb,
  id: string,
  options: { intervalMs?: number; signal?: AbortSignal } = {},
): Promise<number> {
  for (;;) {
    const rec = refreshContainer(store, db, id);
    if (!rec) throw new SkiffError('NOT_FOUND', `no container with name or ID "${id}" found`);
    if (rec.status === 'exited') return rec.exitCode ?? 255;
    if (rec.status === 'created')
      throw new SkiffError('INVALID_ARGUMENT', `container ${rec.name} has not been started`);
    if (options.signal?.aborted) throw new SkiffError('ABORTED', `waiting for ${rec.name}: aborted`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

/**
 * Signal a detached container's process directly when it is provably the one its conmon
 * monitors: the process whose parent is the record's monitor (conmon reaps the container, so
 * the PID cannot have been reused by anything else while that holds). `RUNTIME kill` would do
 * the same `kill(2)` after an exec of the runtime (~10-20 ms). False when the check fails.
 */
function signalMonitoredProcess(rec: ContainerRecord, signal: number): boolean {
  if (rec.pid === undefined || rec.monitorPid === undefined || rec.monitorPid === process.pid) return false;
  try {
    const ppid = Number(splitProcStat(fs.readFileSync(`/proc/${rec.pid}/stat`, 'utf8')).fields[1]);
    if (ppid !== rec.monitorPid) return false;
    process.kill(rec.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Send a signal to a running container through the runtime (`RUNTIME kill ID SIG`). */
export async function killContainer(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  id: string,
  signal: string | number = 'KILL',
): Promise<void> {
  const rec = refreshContainer(store, db, id);
  if (!rec) throw new SkiffError('NOT_FOUND', `no container with name or ID "${id}" found`);
  if (rec.status !== 'running')
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `can only kill running containers. ${rec.id} is in state ${rec.status}: container state improper`,
    );
  const n = signalNumber(signal);
  if (n === undefined) throw new SkiffError('INVALID_ARGUMENT', `invalid signal: ${signal}`);
  if (signalMonitoredProcess(rec, n)) return;
  const r = await execFile(
    runtime.path,
    [...runtimeArgs(store.location, runtime), 'kill', rec.id, String(n)],
    { timeoutMs: 10_000 },
  );
  if (r.status !== 0)
    throw new SkiffError('RUNTIME', `cannot signal container ${rec.name}: ${r.stderr.trim()}`);
}

/**
 * After a detached container exits (conmon's exit command, or any later command that notices):
 * record the exit, unmount the rootfs, delete the runtime's state, and with `remove` delete the
 * container.
 */
export async function cleanupContainer(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  id: string,
  options: { remove?: boolean } = {},
): Promise<void> {
  const rec = refreshContainer(store, db, id);
  if (!rec || rec.status === 'running') return;
  // The runtime's state and the rootfs mount are independent once the container has exited:
  // both go at the same time (`stop` and conmon's exit command both get here).
  await Promise.all([
    deleteRuntimeState(store.location, runtime, rec.id),
    unmountContainerRootfs(store.location, rec.id),
  ]);
  if (options.remove) await removeContainer(store, db, runtime, rec.id, { force: true });
}

/**
 * Remove a container: refuse a running one unless `force` (then SIGKILL it first). With
 * `volumes` (`rm -v`; default: whether it was created with --rm) its anonymous volumes that no
 * other container uses go too; named volumes never do.
 */
export async function removeContainer(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  id: string,
  options: { force?: boolean; volumes?: boolean } = {},
): Promise<void> {
  const rec = refreshContainer(store, db, id);
  if (!rec) throw new SkiffError('NOT_FOUND', `no container with name or ID "${id}" found`);
  if (rec.status === 'running' || rec.status === 'paused') {
    if (!options.force) {
      throw new SkiffError(
        'IN_USE',
        `cannot remove container ${rec.id} as it is running - running or paused containers cannot be removed without force`,
        {
          hint: 'stop it first, or use --force',
        },
      );
    }
    await execFile(runtime.path, [...runtimeArgs(store.location, runtime), 'kill', rec.id, '9'], {
      timeoutMs: 10_000,
    });
    // A frozen container takes the SIGKILL once thawed.
    if (rec.status === 'paused')
      await execFile(runtime.path, [...runtimeArgs(store.location, runtime), 'resume', rec.id], {
        timeoutMs: 10_000,
      });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const pidAlive = rec.pid !== undefined && processAlive(rec.pid);
      if (!pidAlive) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  db.update(rec.id, { status: 'removing' });
  await deleteContainer(store, db, runtime, rec, options);
}

/**
 * Delete a container that no longer runs: the runtime's state when some is left, its files
 * (unmounting the rootfs), its record (one transaction), and with `volumes` (default: whether it
 * was created with --rm) its anonymous volumes that no other container uses.
 */
/**
 * `RUNTIME delete --force ID` when the runtime keeps state for the container (a directory named
 * by the ID under its --root): `RUNTIME run` deletes its own on exit, and a cleanup that already
 * ran leaves none, so most calls exec nothing.
 */
async function deleteRuntimeState(location: StoreLocation, runtime: OciRuntime, id: string): Promise<void> {
  if (!fs.existsSync(join(runtimeStateDir(location, runtime), id))) return;
  await execFile(runtime.path, [...runtimeArgs(location, runtime), 'delete', '--force', id], {
    timeoutMs: 10_000,
  });
}

async function deleteContainer(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  rec: ContainerRecord,
  options: { volumes?: boolean },
): Promise<void> {
  // The container's own files (its writable layer, log, exit file) go while the runtime's state
  // and the rootfs mount do (execs): nothing uses the overlay of a container that no longer
  // runs, and its upper and work directories go either way. The bundle, which holds the mount
  // point, goes once unmounted; the record last, so a failure leaves one to remove again.
  const released = Promise.all([
    deleteRuntimeState(store.location, runtime, rec.id),
    unmountContainerRootfs(store.location, rec.id),
  ]);
  released.catch(() => {}); // awaited below
  const paths = containerPaths(store.location, rec.id);
  removeContainerData(paths);
  await released;
  fs.rmSync(paths.bundle, { recursive: true, force: true });
  db.remove(rec.id);
  const autoRemove = isAutoRemove(rec.config);
  if (options.volumes ?? autoRemove) removeAnonymousVolumes(store.location, db, rec.config);
}

export interface RunContainerOptions extends CreateContainerOptions {
  detach?: boolean;
  /** --rm */
  remove?: boolean;
  attached?: Omit<AttachedOptions, 'remove'>;
  detached?: DetachedOptions;
}

/**
 * `skiff run`: create, then start attached (resolves with the exit code) or detached (resolves
 * once it runs). Creation failures leave nothing behind.
 */
export async function runContainer(
  options: RunContainerOptions,
): Promise<{ container: ContainerRecord; exitCode?: number }> {
  const rec = await createContainer(options);
  if (options.detach) {
    try {
      const running = await startDetached(
        options.store,
        options.db,
        options.runtime,
        rec.id,
        options.detached ?? {},
      );
      return { container: running };
    } catch (err) {
      if (options.remove)
        await removeContainer(options.store, options.db, options.runtime, rec.id, { force: true }).catch(
          () => {},
        );
      throw err;
    }
  }
  const exitCode = await startAttached(options.store, options.db, options.runtime, rec.id, {
    ...(options.attached ?? {}),
    ...(options.remove ? { remove: true } : {}),
  });
  return { container: options.remove ? rec : (options.db.get(rec.id) ?? rec), exitCode };
}

export interface ExecOptions {
  command: string[];
  env?: string[];
  /** UID[:GID] (numeric; names are resolved by the caller against the container's /etc/passwd). */
  user?: string;
  workdir?: string;
  stdio?: StdioOptions;
  /**
   * -t: a pty for the process. The runtime makes it and relays it to its own stdio, which
   * must then be the caller's terminal (stdin a TTY). Not with `detach` (no one to relay it).
   */
  tty?: boolean;
  /** With `tty`: the pty's size from the start (the caller's terminal's). */
  consoleSize?: { rows: number; cols: number };
  /** -d: start the process and return at once (exit code 0); its stdio is /dev/null. */
  detach?: boolean;
}

/**
 * `skiff exec`: run another process in a running container (`RUNTIME exec`), with the
 * container's process settings plus `env`, `user` and `workdir`. Resolves with its exit code;
 * COMMAND_NOT_FOUND / COMMAND_NOT_EXECUTABLE (127/126) when it cannot be run.
 */
export async function execInContainer(
  store: Store,
  db: ContainerDb,
  runtime: OciRuntime,
  id: string,
  options: ExecOptions,
): Promise<number> {
  const rec = refreshContainer(store, db, id);
  if (!rec)
    throw new SkiffError('NOT_FOUND', `no container with name or ID "${id}" found: no such container`);
  if (rec.status !== 'running')
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `can only create exec sessions on running containers: container state improper`,
    );
  const spec = readSpec(store.location, rec.id);
  const cmd = options.command[0];
  if (cmd === undefined) throw new SkiffError('INVALID_ARGUMENT', 'exec requires a command');
  checkCommandInRoot(
    spec.root.path,
    cmd,
    [...spec.process.env, ...(options.env ?? [])],
    options.workdir ?? spec.process.cwd,
  );
  const args = [...runtimeArgs(store.location, runtime), 'exec'];
  for (const e of options.env ?? []) args.push('--env', e);
  if (options.user !== undefined) args.push('--user', options.user);
  if (options.workdir !== undefined) args.push('--cwd', options.workdir);
  const tty = Boolean(options.tty && !options.detach);
  let processFile: string | undefined;
  if (tty && options.consoleSize && options.consoleSize.rows > 0 && options.consoleSize.cols > 0) {
    // The runtime's --tty sizes the pty only once the process runs; a process.json with
    // consoleSize gives it the size from the start (the flags above are then ignored).
    const [uid, gid] = (options.user ?? '').split(':');
    const proc = {
      ...spec.process,
      args: options.command,
      env: [...spec.process.env, ...(options.env ?? [])],
      cwd: options.workdir ?? spec.process.cwd,
      user:
        options.user !== undefined
          ? { ...spec.process.user, uid: Number(uid), gid: gid !== undefined ? Number(gid) : 0 }
          : spec.process.user,
      terminal: true,
      consoleSize: { height: options.consoleSize.rows, width: options.consoleSize.cols },
    };
    processFile = join(
      containerPaths(store.location, rec.id).bundle,
      `exec-${randomBytes(6).toString('hex')}.json`,
    );
    writeFileAtomic(processFile, JSON.stringify(proc), 0o600);
    args.push('--process', processFile);
  }
  if (tty) args.push('--tty');
  if (options.detach) args.push('--detach');
  args.push(rec.id, ...(processFile ? [] : options.command));
  return new Promise<number>((resolve, reject) => {
    // A detached process must not hold the caller's pipes open after the call returns.
    const stdio: StdioOptions = options.detach ? 'ignore' : (options.stdio ?? 'inherit');
    const child = spawn(runtime.path, args, { stdio });
    child.on('error', (err) =>
      reject(new SkiffError('RUNTIME', `cannot run ${runtime.path}: ${err.message}`, { cause: err })),
    );
    child.on(options.detach ? 'exit' : 'close', (c: number | null, sig: NodeJS.Signals | null) => {
      if (processFile) fs.rmSync(processFile, { force: true });
      const code = exitCodeOf(c, sig);
      if (options.detach && code !== 0)
        reject(
          new SkiffError('RUNTIME', `cannot start the exec session: ${runtime.name} exit status ${code}`),
        );
      else resolve(code);
    });
  });
}
