import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { closeServer, listenLocal } from '../support/net.js';

/**
 * End-to-end helpers: run the built `ferry` (node apps/copy/bin/run.js) and skopeo as a user
 * does, in a private HOME / XDG_RUNTIME_DIR so that no auth file of the machine leaks in.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FERRY_BIN = join(REPO_ROOT, 'apps/copy/bin/run.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export interface Sandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** A fresh path under the sandbox (not created). */
  path(name: string): string;
  cleanup(): Promise<void>;
}

/** A temp dir with its own HOME and XDG_RUNTIME_DIR; the env strips every auth-file variable. */
export async function makeSandbox(prefix = 'ferry-e2e-'): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const home = join(dir, 'home');
  const runtime = join(dir, 'run');
  await mkdir(home, { recursive: true });
  await mkdir(runtime, { recursive: true, mode: 0o700 });
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('REGISTRY_') || k === 'DOCKER_CONFIG' || k === 'CONTAINERS_REGISTRIES_CONF') continue;
    env[k] = v;
  }
  env.HOME = home;
  env.XDG_RUNTIME_DIR = runtime;
  env.XDG_CONFIG_HOME = join(home, '.config');
  let n = 0;
  return {
    dir,
    env,
    path: (name: string) => join(dir, `${n++}-${name}`),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Fail the suite's setup (not pass it) when the CLI was not built. */
export async function assertBuilt(): Promise<void> {
  try {
    await access(join(REPO_ROOT, 'apps/copy/dist/commands/copy.js'));
  } catch {
    throw new Error('ferry is not built: run `npx turbo run build` in the repository root first');
  }
}

export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

export function ferry(sandbox: Sandbox, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [FERRY_BIN, ...args], { env: sandbox.env, ...options });
}

export function skopeo(sandbox: Sandbox, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run('skopeo', args, { env: sandbox.env, ...options });
}

/** Run and require exit 0, returning stdout; the error carries both streams. */
export async function ok(p: Promise<RunResult>, what = 'command'): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** sha256 of a file's uncompressed content (gzip via zlib, zstd via the zstd CLI, else as is). */
export async function uncompressedDigest(
  file: string,
  compression: 'gzip' | 'zstd' | 'none',
): Promise<string> {
  const hash = createHash('sha256');
  if (compression === 'zstd') {
    const child = spawn('zstd', ['-dc', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const done = new Promise<number>((res) => child.once('close', (c) => res(c ?? -1)));
    for await (const chunk of child.stdout) hash.update(chunk as Buffer);
    if ((await done) !== 0) throw new Error(`zstd -dc ${file} failed`);
  } else if (compression === 'gzip') {
    await pipeline(createReadStream(file), createGunzip(), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) hash.update(chunk);
    });
  } else {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  }
  return `sha256:${hash.digest('hex')}`;
}

export interface DirImage {
  manifest: {
    mediaType?: string;
    config: { digest: string; mediaType: string };
    layers: Array<{ digest: string; mediaType: string; size: number }>;
  };
  config: { rootfs: { diff_ids: string[] } };
}

/** Read a `dir:` image (as skopeo writes it). */
export async function readDirImage(dir: string): Promise<DirImage> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as DirImage['manifest'];
  const config = JSON.parse(
    await readFile(join(dir, manifest.config.digest.slice('sha256:'.length)), 'utf8'),
  ) as DirImage['config'];
  return { manifest, config };
}

/**
 * Check, for a dir: image, that every layer decompresses to its DiffID, with the compression its
 * media type says. `sniff` detects the compression from the bytes instead: skopeo's
 * docker-archive source labels uncompressed layers tar.gzip, so its dir: copies need that.
 */
export async function assertDiffIds(dir: string, options: { sniff?: boolean } = {}): Promise<string[]> {
  const { manifest, config } = await readDirImage(dir);
  if (manifest.layers.length !== config.rootfs.diff_ids.length) {
    throw new Error(`${dir}: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`);
  }
  const out: string[] = [];
  for (const [i, layer] of manifest.layers.entries()) {
    const file = join(dir, layer.digest.slice('sha256:'.length));
    const labelled = /zstd/.test(layer.mediaType) ? 'zstd' : /gzip/.test(layer.mediaType) ? 'gzip' : 'none';
    const compression = options.sniff ? await sniffCompression(file) : labelled;
    const actual = await uncompressedDigest(file, compression);
    if (actual !== config.rootfs.diff_ids[i]) {
      throw new Error(
        `${dir}: layer ${i} ${layer.digest} uncompresses to ${actual}, config says ${config.rootfs.diff_ids[i]}`,
      );
    }
    out.push(actual);
  }
  return out;
}

/** Flip one byte (default: in the middle) of a file: same size, broken digest. */
export async function corruptFile(file: string, offset?: number): Promise<void> {
  const data = await readFile(file);
  const i = offset ?? Math.floor(data.length / 2);
  data[i] = data[i]! ^ 0xff;
  await writeFile(file, data);
}

/**
 * Add to `image`'s layout, under ref.name `name`, a copy of its manifest whose config is
 * `edit(config)` (raw JSON as given), keeping the layers. Returns the new manifest digest.
 */
export async function withEditedConfig(
  layoutDir: string,
  manifestDigest: string,
  name: string,
  edit: (config: Record<string, unknown>) => Record<string, unknown>,
): Promise<string> {
  const blob = (d: string) => join(layoutDir, 'blobs', 'sha256', d.slice('sha256:'.length));
  const manifest = JSON.parse(await readFile(blob(manifestDigest), 'utf8')) as {
    mediaType: string;
    config: { digest: string; size: number };
  };
  const config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8')) as Record<string, unknown>;
  const rawConfig = Buffer.from(JSON.stringify(edit(config)));
  const configDigest = sha256(rawConfig);
  await writeFile(blob(configDigest), rawConfig);
  manifest.config = { ...manifest.config, digest: configDigest, size: rawConfig.length };
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  const digest = sha256(rawManifest);
  await writeFile(blob(digest), rawManifest);
  const indexPath = join(layoutDir, 'index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as { manifests: unknown[] };
  index.manifests.push({
    mediaType: manifest.mediaType,
    digest,
    size: rawManifest.length,
    annotations: { 'org.opencontainers.image.ref.name': name },
  });
  await writeFile(indexPath, JSON.stringify(index));
  return digest;
}

export interface TestProxy {
  host: string;
  /** Requests seen, as `METHOD path?query`. */
  seen: string[];
  stop(): Promise<void>;
}

export interface ProxyAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A plain-HTTP proxy to a registry on 127.0.0.1. `intercept` may answer a request itself (return
 * a status or a whole answer, possibly asynchronously) or rewrite its path (return a string);
 * undefined passes it through unchanged.
 */
export async function startProxy(
  target: string,
  intercept: (
    method: string,
    url: string,
  ) => number | string | undefined | ProxyAnswer | Promise<ProxyAnswer> = () => undefined,
): Promise<TestProxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    seen.push(`${req.method} ${url}`);
    const decision = intercept(req.method ?? 'GET', url);
    if (typeof decision === 'number') {
      req.resume();
      res.writeHead(decision, { 'Content-Type': 'text/plain' }).end('intercepted by the test proxy');
      return;
    }
    if (typeof decision === 'object') {
      req.resume();
      Promise.resolve(decision).then(
        (a) => res.writeHead(a.status, a.headers ?? {}).end(a.body ?? ''),
        () => res.writeHead(500).end(),
      );
      return;
    }
    const upstream = httpRequest(
      {
        host: targetHost,
        port: Number(targetPort),
        method: req.method,
        path: decision ?? url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const host = await listenLocal(server);
  return { host, seen, stop: () => closeServer(server) };
}

async function sniffCompression(file: string): Promise<'gzip' | 'zstd' | 'none'> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}
