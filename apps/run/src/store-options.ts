import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveStoreLocation, STORAGE_DRIVERS, type StorageDriver } from '@skiff/oci/storage/config';
import type { OpenStoreOptions, Store } from '@skiff/oci/storage/store';
import { UsageError } from './base-command.js';

/**
 * The global --root, --runroot and --storage-driver flags as store options, shared by every
 * skiff command (and by containers-storage: references the commands build, so that `skiff
 * --root X pull` and `skiff --root X images` see the same store).
 */

export interface StoreFlags {
  root?: string | undefined;
  runroot?: string | undefined;
  'storage-driver'?: string | undefined;
}

export function storeOptions(flags: StoreFlags): OpenStoreOptions {
  const options: OpenStoreOptions = {};
  if (flags.root !== undefined) options.root = flags.root;
  if (flags.runroot !== undefined) options.runroot = flags.runroot;
  const driver = flags['storage-driver'];
  if (driver !== undefined && driver !== '') {
    if (!STORAGE_DRIVERS.includes(driver as StorageDriver)) {
      throw new UsageError(
        `unsupported storage driver "${driver}": use one of ${STORAGE_DRIVERS.join(', ')}`,
      );
    }
    options.driver = driver as StorageDriver;
  }
  return options;
}

/**
 * Open the store the flags name, run `fn`, and close the store whatever happens. `readOnly`
 * (listing, inspecting, checking) skips the clean-up pass and takes no write lock, so it never
 * waits for a pull in another process; a store that does not exist yet is created first.
 */
export async function withStore<T>(
  flags: StoreFlags,
  fn: (store: Store) => T | Promise<T>,
  options: { readOnly?: boolean } = {},
): Promise<T> {
  const base = storeOptions(flags);
  // Loaded here, not at start-up: commands that read container records only (ps) never need it.
  const { openStore } = await import('@skiff/oci/storage/store');
  let store: Store;
  if (options.readOnly && existsSync(join(resolveStoreLocation(base).root, 'skiff.db'))) {
    store = await openStore({ ...base, readOnly: true });
  } else {
    store = await openStore(base);
  }
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}
