/**
 * Registry credentials in the files containers/image and Docker use (containers-auth.json(5)):
 *
 *   lookup: --authfile (only that file) | $REGISTRY_AUTH_FILE (only that file) | else
 *           ${XDG_RUNTIME_DIR}/containers/auth.json (or /run/containers/UID/auth.json without one),
 *           $XDG_CONFIG_HOME/containers/auth.json, $DOCKER_CONFIG/config.json or ~/.docker/config.json,
 *           ~/.dockercfg (legacy format: a bare map of entries)
 *   write:  the --authfile / $REGISTRY_AUTH_FILE, else the first (runtime directory) path.
 *
 * `auths` entries are keyed by registry host or by host/namespace/repo; the most specific key that
 * matches a repository wins. `credHelpers` (per registry) and `credsStore` (every registry) name a
 * `docker-credential-NAME` program spoken to over stdin/stdout.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { SkiffError } from '../errors.js';
import type { Credentials } from '../transports/types.js';
import { currentUid, homeDir, xdgConfigHome, xdgRuntimeDir } from './paths.js';

export interface AuthOptions {
  /** --authfile: the only file read and the file written. */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
}

interface AuthPath {
  path: string;
  /** ~/.dockercfg: the whole file is the `auths` map. */
  legacy: boolean;
}

const AuthEntrySchema = z.looseObject({
  auth: z.string().optional(),
  identitytoken: z.string().optional(),
});
type AuthEntry = z.infer<typeof AuthEntrySchema>;

const AuthFileSchema = z.looseObject({
  auths: z.record(z.string(), AuthEntrySchema).optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
  credsStore: z.string().optional(),
});
type AuthFile = z.infer<typeof AuthFileSchema>;

const LegacyFileSchema = z.record(z.string(), AuthEntrySchema);

const HelperOutputSchema = z.looseObject({ Username: z.string(), Secret: z.string() });

const DOCKER_HUB_HELPER_URL = 'https://index.docker.io/v1/';

function configError(file: string, problem: string, cause?: unknown): SkiffError {
  return new SkiffError('CONFIG_FILE', `${file}: ${problem}`, cause === undefined ? {} : { cause });
}

/**
 * Canonical form of an auth key: no scheme, no trailing "/", no "/v1" or "/v2" API suffix, and
 * Docker Hub's aliases (index.docker.io, registry-1.docker.io) as docker.io.
 */
export function normalizeAuthKey(key: string): string {
  let k = key.trim();
  if (/^https?:\/\//i.test(k)) {
    // A URL (Docker's older keys): only its host counts.
    k = k.replace(/^https?:\/\//i, '');
    k = k.split('/')[0]!;
  }
  k = k.replace(/\/+$/, '');
  k = k.replace(/^([^/]+)\/v[12]$/, '$1');
  const slash = k.indexOf('/');
  const host = (slash === -1 ? k : k.slice(0, slash)).toLowerCase();
  const rest = slash === -1 ? '' : k.slice(slash);
  const mapped = host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
  return `${mapped}${rest}`;
}

function hostOf(key: string): string {
  const slash = key.indexOf('/');
  return slash === -1 ? key : key.slice(0, slash);
}

function runtimeAuthFile(env: NodeJS.ProcessEnv): string {
  const runtime = xdgRuntimeDir(env);
  return runtime !== undefined
    ? join(runtime, 'containers', 'auth.json')
    : `/run/containers/${currentUid()}/auth.json`;
}

function explicitFile(options: AuthOptions): string | undefined {
  if (options.authFile !== undefined && options.authFile !== '') return options.authFile;
  const fromEnv = (options.env ?? process.env).REGISTRY_AUTH_FILE;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
}

function lookupPaths(options: AuthOptions): AuthPath[] {
  const explicit = explicitFile(options);
  if (explicit !== undefined) return [{ path: explicit, legacy: false }];
  const env = options.env ?? process.env;
  const home = homeDir(env);
  const dockerConfig = env.DOCKER_CONFIG;
  return [
    { path: runtimeAuthFile(env), legacy: false },
    { path: join(xdgConfigHome(env), 'containers', 'auth.json'), legacy: false },
    {
      path:
        dockerConfig !== undefined && dockerConfig !== ''
          ? join(dockerConfig, 'config.json')
          : join(home, '.docker', 'config.json'),
      legacy: false,
    },
    { path: join(home, '.dockercfg'), legacy: true },
  ];
}

/** The auth files read, in order of precedence. */
export function authFileLookupPaths(options: AuthOptions = {}): string[] {
  return lookupPaths(options).map((p) => p.path);
}

/** Where login writes: the explicit auth file, else the runtime-directory auth.json. */
export function defaultAuthFileForWrite(options: AuthOptions = {}): string {
  return explicitFile(options) ?? runtimeAuthFile(options.env ?? process.env);
}

interface LoadedFile {
  /** The whole JSON object, unknown fields included (legacy files: wrapped as { auths }). */
  raw: Record<string, unknown>;
  parsed: AuthFile;
}

async function loadAuthFile(p: AuthPath): Promise<LoadedFile | undefined> {
  let text: string;
  try {
    text = await readFile(p.path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw configError(p.path, `cannot read: ${(err as Error).message}`, err);
  }
  if (text.trim() === '') return { raw: {}, parsed: {} };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw configError(p.path, `not valid JSON: ${(err as Error).message}`, err);
  }
  if (p.legacy) {
    const result = LegacyFileSchema.safeParse(json);
    if (!result.success) throw configError(p.path, describeIssue(result.error));
    return { raw: { auths: json }, parsed: { auths: result.data } };
  }
  const result = AuthFileSchema.safeParse(json);
  if (!result.success) throw configError(p.path, describeIssue(result.error));
  return { raw: json as Record<string, unknown>, parsed: result.data };
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join('.');
  return `${path === '' ? '' : `${path}: `}${issue.message}`;
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decode one entry; undefined for Docker's empty `{}` markers and entries without a colon. */
function decodeEntry(file: string, key: string, entry: AuthEntry): Credentials | undefined {
  const token =
    entry.identitytoken !== undefined && entry.identitytoken !== '' ? entry.identitytoken : undefined;
  const auth = entry.auth ?? '';
  if (!BASE64_RE.test(auth)) throw configError(file, `the "auth" field of "${key}" is not valid base64`);
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) {
    return token !== undefined ? { username: '', password: '', identityToken: token } : undefined;
  }
  const creds: Credentials = {
    username: decoded.slice(0, colon),
    password: decoded.slice(colon + 1).replace(/^\0+|\0+$/g, ''),
  };
  if (token !== undefined) creds.identityToken = token;
  return creds;
}

/** host/a/b/c → [host/a/b/c, host/a/b, host/a, host]. */
function keysForKey(key: string): string[] {
  const keys = [key];
  let k = key;
  for (let slash = k.lastIndexOf('/'); slash !== -1; slash = k.lastIndexOf('/')) {
    k = k.slice(0, slash);
    keys.push(k);
  }
  return keys;
}

// --- credential helpers -------------------------------------------------------------------------

interface HelperResult {
  code: number;
  stdout: string;
  stderr: string;
}

function helperProgram(helper: string): string {
  return `docker-credential-${helper}`;
}

function runHelper(
  helper: string,
  action: string,
  input: string,
  env: NodeJS.ProcessEnv,
): Promise<HelperResult> {
  const program = helperProgram(helper);
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {
      // The helper may exit without reading stdin; its exit status tells what happened.
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        new SkiffError(
          'CREDENTIAL_HELPER',
          e.code === 'ENOENT'
            ? `credential helper ${program} not found in $PATH`
            : `credential helper ${program} could not be started: ${e.message}`,
          { cause: e, hint: `install ${program} or remove "${helper}" from credHelpers/credsStore` },
        ),
      );
    });
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal !== null ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(input);
  });
}

function notFound(result: HelperResult): boolean {
  return /credentials not found/i.test(result.stdout) || /credentials not found/i.test(result.stderr);
}

function helperFailure(helper: string, action: string, server: string, result: HelperResult): SkiffError {
  const detail = (result.stderr.trim() || result.stdout.trim() || `exit status ${result.code}`).split(
    '\n',
  )[0];
  return new SkiffError(
    'CREDENTIAL_HELPER',
    `credential helper ${helperProgram(helper)} ${action} for ${server} failed: ${detail}`,
  );
}

async function helperGet(
  helper: string,
  server: string,
  env: NodeJS.ProcessEnv,
): Promise<Credentials | undefined> {
  const result = await runHelper(helper, 'get', server, env);
  if (result.code !== 0) {
    if (notFound(result)) return undefined;
    throw helperFailure(helper, 'get', server, result);
  }
  let json: unknown;
  try {
    json = JSON.parse(result.stdout);
  } catch (err) {
    throw new SkiffError(
      'CREDENTIAL_HELPER',
      `credential helper ${helperProgram(helper)} get for ${server}: output is not JSON`,
      {
        cause: err,
      },
    );
  }
  const parsed = HelperOutputSchema.safeParse(json);
  if (!parsed.success) {
    throw new SkiffError(
      'CREDENTIAL_HELPER',
      `credential helper ${helperProgram(helper)} get for ${server}: output lacks Username/Secret`,
    );
  }
  const { Username, Secret } = parsed.data;
  if (Username === '<token>') return { username: '', password: '', identityToken: Secret };
  if (Username === '' && Secret === '') return undefined;
  return { username: Username, password: Secret };
}

async function helperStore(
  helper: string,
  server: string,
  creds: Credentials,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const payload = JSON.stringify({ ServerURL: server, Username: creds.username, Secret: creds.password });
  const result = await runHelper(helper, 'store', payload, env);
  if (result.code !== 0) throw helperFailure(helper, 'store', server, result);
}

/** False when the helper had nothing for the server. */
async function helperErase(helper: string, server: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const result = await runHelper(helper, 'erase', server, env);
  if (result.code === 0) return true;
  if (notFound(result)) return false;
  throw helperFailure(helper, 'erase', server, result);
}

/** Docker stores Hub credentials under its v1 URL in credsStore helpers. */
function storeServer(registry: string): string {
  return registry === 'docker.io' ? DOCKER_HUB_HELPER_URL : registry;
}

// --- lookup -------------------------------------------------------------------------------------

async function findInFile(
  p: AuthPath,
  file: LoadedFile,
  registry: string,
  key: string,
  env: NodeJS.ProcessEnv,
): Promise<Credentials | undefined> {
  const { parsed } = file;
  const helper = parsed.credHelpers?.[registry];
  if (helper !== undefined && helper !== '') return helperGet(helper, registry, env);
  const auths = parsed.auths ?? {};
  let exactSeen = false;
  for (const k of p.legacy ? [registry] : keysForKey(key)) {
    const entry = auths[k];
    if (entry === undefined) continue;
    exactSeen = true;
    const creds = decodeEntry(p.path, k, entry);
    if (creds !== undefined) return creds;
    break;
  }
  if (!exactSeen) {
    // Older keys: URLs (https://host/v1/), Hub aliases; matched on the registry host.
    for (const [k, entry] of Object.entries(auths)) {
      const normal = normalizeAuthKey(p.legacy ? hostOf(normalizeAuthKey(k)) : k);
      if (normal === registry) {
        const creds = decodeEntry(p.path, k, entry);
        if (creds !== undefined) return creds;
      }
    }
  }
  if (parsed.credsStore !== undefined && parsed.credsStore !== '') {
    return helperGet(parsed.credsStore, storeServer(registry), env);
  }
  return undefined;
}

/**
 * Credentials for `registry` (host[:port]) and optionally `repository` (its path without host):
 * the first auth file that has a matching entry wins, the most specific key within it.
 */
export async function getCredentials(
  registry: string,
  repository?: string,
  options: AuthOptions = {},
): Promise<Credentials | undefined> {
  const env = options.env ?? process.env;
  const host = normalizeAuthKey(registry);
  const key =
    repository !== undefined && repository !== '' ? `${host}/${repository.replace(/^\/+|\/+$/g, '')}` : host;
  for (const p of lookupPaths(options)) {
    const file = await loadAuthFile(p);
    if (file === undefined) continue;
    const creds = await findInFile(p, file, host, key, env);
    if (creds !== undefined) return creds;
  }
  return undefined;
}

/** Keys with credentials in any auth file, normalised, first occurrence first. */
export async function listCredentialKeys(options: AuthOptions = {}): Promise<string[]> {
  const keys = new Set<string>();
  for (const p of lookupPaths(options)) {
    const file = await loadAuthFile(p);
    if (file === undefined) continue;
    for (const k of Object.keys(file.parsed.auths ?? {})) keys.add(normalizeAuthKey(k));
    for (const k of Object.keys(file.parsed.credHelpers ?? {})) keys.add(normalizeAuthKey(k));
  }
  return [...keys];
}

// --- writes -------------------------------------------------------------------------------------

/** temp file in the same directory → fsync → rename → fsync the directory; mode 0600, parents 0700. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new SkiffError('IO', `cannot create ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.chmod(0o600);
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new SkiffError('IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch {
    // Directory fsync is best effort (not every filesystem supports it).
  }
}

function serialise(raw: Record<string, unknown>): string {
  return `${JSON.stringify(raw, null, '\t')}\n`;
}

function authsOf(raw: Record<string, unknown>): Record<string, unknown> {
  const auths = raw.auths;
  return typeof auths === 'object' && auths !== null && !Array.isArray(auths) ? { ...(auths as object) } : {};
}

async function loadForWrite(options: AuthOptions): Promise<{ path: string; file: LoadedFile }> {
  const path = defaultAuthFileForWrite(options);
  const file = (await loadAuthFile({ path, legacy: false })) ?? { raw: {}, parsed: {} };
  return { path, file };
}

/**
 * Store credentials for `key` (registry or registry/namespace/repo). A credential helper configured
 * for the registry in the write file receives them; otherwise the write file gets an `auths` entry.
 * Returns the file written or the helper program used.
 */
export async function setCredentials(
  key: string,
  credentials: Credentials,
  options: AuthOptions = {},
): Promise<string> {
  const env = options.env ?? process.env;
  const k = normalizeAuthKey(key);
  const registry = hostOf(k);
  const { path, file } = await loadForWrite(options);
  const helper = file.parsed.credHelpers?.[registry] ?? file.parsed.credsStore;
  if (helper !== undefined && helper !== '') {
    if (k !== registry) {
      throw new SkiffError(
        'CREDENTIAL_HELPER',
        `credential helper ${helperProgram(helper)} configured in ${path} cannot store credentials for a namespace (${k})`,
        { hint: `log in to ${registry} instead` },
      );
    }
    const server = file.parsed.credHelpers?.[registry] !== undefined ? registry : storeServer(registry);
    await helperStore(helper, server, credentials, env);
    return helperProgram(helper);
  }
  const entry: Record<string, string> = {
    auth: Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64'),
  };
  if (credentials.identityToken !== undefined && credentials.identityToken !== '') {
    entry.identitytoken = credentials.identityToken;
  }
  const auths = authsOf(file.raw);
  auths[k] = entry;
  await writeAtomic(path, serialise({ ...file.raw, auths }));
  return path;
}

/** Remove the credentials for `key` from the write file (or its helper); false when there were none. */
export async function removeCredentials(key: string, options: AuthOptions = {}): Promise<boolean> {
  const env = options.env ?? process.env;
  const k = normalizeAuthKey(key);
  const registry = hostOf(k);
  const { path, file } = await loadForWrite(options);
  const helperFor = file.parsed.credHelpers?.[registry];
  if (helperFor !== undefined && helperFor !== '' && k === registry) {
    return helperErase(helperFor, registry, env);
  }
  const auths = authsOf(file.raw);
  let removed = false;
  for (const existing of Object.keys(auths)) {
    if (existing === k || normalizeAuthKey(existing) === k) {
      delete auths[existing];
      removed = true;
    }
  }
  const store = file.parsed.credsStore;
  if (store !== undefined && store !== '' && k === registry) {
    if (await helperErase(store, storeServer(registry), env)) removed = true;
  }
  if (removed) await writeAtomic(path, serialise({ ...file.raw, auths }));
  return removed;
}

/** Remove every credential of the write file, erasing them from its helpers too. */
export async function removeAllCredentials(options: AuthOptions = {}): Promise<void> {
  const env = options.env ?? process.env;
  const { path, file } = await loadForWrite(options);
  for (const [registry, helper] of Object.entries(file.parsed.credHelpers ?? {})) {
    if (helper !== '') await helperErase(helper, registry, env);
  }
  const store = file.parsed.credsStore;
  if (store !== undefined && store !== '') {
    for (const k of Object.keys(file.parsed.auths ?? {})) {
      const normal = normalizeAuthKey(k);
      if (!normal.includes('/')) await helperErase(store, storeServer(normal), env);
    }
  }
  if (Object.keys(file.raw).length === 0 && file.parsed.auths === undefined) return;
  await writeAtomic(path, serialise({ ...file.raw, auths: {} }));
}
