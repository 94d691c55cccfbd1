/**
 * Where the store lives, as containers/storage decides it: root `/var/lib/skiff/storage` and
 * runroot `/run/skiff`; rootless `$XDG_DATA_HOME/skiff/storage` and `$XDG_RUNTIME_DIR/skiff`.
 * A storage.conf in containers' format (`[storage] driver, graphroot, runroot`) is read from
 * `$SKIFF_STORAGE_CONF`, else (rootless) `$XDG_CONFIG_HOME/skiff/storage.conf`, else
 * `/etc/skiff/storage.conf`; explicit options (--root, --runroot, --storage-driver) win.
 */

import * as fs from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { currentUid, isRootless, xdgConfigHome, xdgDataHome, xdgRuntimeDir } from '../config/paths.js';
import { SkiffError } from '../errors.js';

export type StorageDriver = 'overlay' | 'vfs';
export const STORAGE_DRIVERS: readonly StorageDriver[] = ['overlay', 'vfs'];

export interface StoreLocationOptions {
  /** --root: the graph root. */
  root?: string;
  /** --runroot: volatile state (mounts). */
  runroot?: string;
  /** --storage-driver. */
  driver?: StorageDriver;
  /** An explicit storage.conf (instead of the search path). */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
}

export interface StoreLocation {
  root: string;
  runroot: string;
  driver: StorageDriver;
  rootless: boolean;
  /** The storage.conf that was read, if any. */
  configFile?: string;
}

/** The part of a storage.conf the store reads (other keys are allowed and ignored). */
export interface StorageConf {
  storage?: {
    driver?: string;
    graphroot?: string;
    runroot?: string;
    rootless_storage_path?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

const STORAGE_KEYS = ['driver', 'graphroot', 'runroot', 'rootless_storage_path'] as const;

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Checked by hand rather than with a zod schema: four optional strings, and this module is on
 * the start-up path of every store command (`skiff images` must not load zod).
 */
function checkStorageConf(doc: Record<string, unknown>, file: string): StorageConf {
  const storage = doc.storage;
  if (storage === undefined) return doc;
  if (!isTable(storage)) throw new SkiffError('CONFIG_FILE', `${file}: storage: expected a table`);
  for (const key of STORAGE_KEYS) {
    const v = storage[key];
    if (v !== undefined && typeof v !== 'string') {
      throw new SkiffError('CONFIG_FILE', `${file}: storage.${key}: expected a string, got ${typeof v}`);
    }
  }
  return doc as StorageConf;
}

export const SYSTEM_STORAGE_CONF = '/etc/skiff/storage.conf';

/** The storage.conf that applies, as containers/storage searches (first that exists). */
export function storageConfPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const override = env.SKIFF_STORAGE_CONF;
  if (override) return override;
  const candidates = isRootless() ? [join(xdgConfigHome(env), 'skiff', 'storage.conf')] : [];
  candidates.push(SYSTEM_STORAGE_CONF);
  return candidates.find((p) => fs.existsSync(p));
}

export function parseStorageConf(text: string, file: string): StorageConf {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new SkiffError('CONFIG_FILE', `${file} is not valid TOML: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const parsed = checkStorageConf(doc, file);
  const driver = parsed.storage?.driver;
  if (driver !== undefined && driver !== '' && !STORAGE_DRIVERS.includes(driver as StorageDriver)) {
    throw new SkiffError('CONFIG_FILE', `${file}: unsupported storage driver "${driver}"`, {
      hint: `use one of: ${STORAGE_DRIVERS.join(', ')}`,
    });
  }
  return parsed;
}

function expandHome(p: string, env: NodeJS.ProcessEnv): string {
  return p.replace(/^\$HOME(?=\/|$)/, env.HOME ?? '').replace(/^~(?=\/|$)/, env.HOME ?? '');
}

/** Resolve root, runroot and driver from options, storage.conf and the rootless defaults. */
export function resolveStoreLocation(options: StoreLocationOptions = {}): StoreLocation {
  const env = options.env ?? process.env;
  const rootless = isRootless();
  const configFile = options.configPath ?? storageConfPath(env);
  let conf: StorageConf['storage'];
  if (configFile) {
    let text: string;
    try {
      text = fs.readFileSync(configFile, 'utf8');
    } catch (err) {
      throw new SkiffError('CONFIG_FILE', `cannot read ${configFile}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    conf = parseStorageConf(text, configFile).storage;
  }
  const runtimeDir = xdgRuntimeDir(env);
  const defaultRoot = rootless ? join(xdgDataHome(env), 'skiff', 'storage') : '/var/lib/skiff/storage';
  const defaultRunroot = rootless
    ? join(runtimeDir ?? join('/tmp', `skiff-run-${currentUid()}`), 'skiff')
    : '/run/skiff';
  // Rootless, the system file's graphroot (meant for root) is not used; rootless_storage_path is.
  const systemFileRootless = rootless && configFile === SYSTEM_STORAGE_CONF;
  const confRoot = systemFileRootless ? conf?.rootless_storage_path : conf?.graphroot;
  const confRunroot = systemFileRootless ? undefined : conf?.runroot;
  const driver = options.driver ?? ((conf?.driver || undefined) as StorageDriver | undefined) ?? 'overlay';
  if (!STORAGE_DRIVERS.includes(driver)) {
    throw new SkiffError('INVALID_ARGUMENT', `unsupported storage driver "${driver}"`, {
      hint: `use one of: ${STORAGE_DRIVERS.join(', ')}`,
    });
  }
  const location: StoreLocation = {
    root: options.root ?? (confRoot ? expandHome(confRoot, env) : defaultRoot),
    runroot: options.runroot ?? (confRunroot ? expandHome(confRunroot, env) : defaultRunroot),
    driver,
    rootless,
  };
  if (configFile) location.configFile = configFile;
  return location;
}
