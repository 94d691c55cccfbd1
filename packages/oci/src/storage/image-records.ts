/**
 * The store's images as `images` lists them, read with one SQL query and no config parsing:
 * the columns the listing shows (names, created, size, labels, digest) are kept in the images
 * table when an image is put (schema 2; older stores are migrated on open). This module is on
 * the start-up path of `skiff images`: it loads the database binding and nothing else of the
 * store (no zod, no layer code); a store that does not exist yet is created through the full
 * store code, loaded only then.
 */

import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Digest } from '../spec/digest.js';
import { resolveStoreLocation, type StoreLocationOptions } from './config.js';
import { type Db, openDb, SCHEMA_VERSION, schemaVersion } from './db.js';
import { ioError } from './fs-util.js';

/** What listing needs of an image (ImageInfo has these and more). */
export interface ImageRecord {
  /** The config digest's hex. */
  id: string;
  /** Names in the order they were given. */
  names: string[];
  manifestDigest: Digest;
  /** The config's `created`, as written there. */
  created?: string;
  /** Unpacked size of all layers. */
  sizeBytes: number;
  added: Date;
  /** The config's Labels (empty when it has none). */
  labels: Record<string, string>;
}

/** The labels column (JSON written by the store from a checked config): an object of strings, else empty. */
export function parseLabels(text: string | null | undefined): Record<string, string> {
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

interface RecordRow {
  id: string;
  manifest_digest: string;
  created: string | null;
  size: number;
  added: number;
  labels: string | null;
  names: string | null;
}

// Names never contain whitespace (the store refuses them), so a newline separates them safely.
const LIST_SQL = `
SELECT i.id, i.manifest_digest, i.created, i.size, i.added, i.labels,
  (SELECT group_concat(n.name, char(10) ORDER BY n.rowid) FROM names n WHERE n.image_id = i.id) AS names
FROM images i ORDER BY i.added DESC, i.id`;

/** Every image of an open database (schema ≥ 2), newest first. */
export function readImageRecords(db: Db): ImageRecord[] {
  const rows = db.prepare(LIST_SQL).all() as RecordRow[];
  return rows.map((r) => {
    const record: ImageRecord = {
      id: r.id,
      names: r.names ? r.names.split('\n') : [],
      manifestDigest: r.manifest_digest as Digest,
      sizeBytes: r.size,
      added: new Date(r.added),
      labels: parseLabels(r.labels),
    };
    if (r.created) record.created = r.created;
    return record;
  });
}

/**
 * The images of the store at `options` (as openStore resolves it), newest first. Reads without
 * taking the write lock (WAL: never waits for a pull in another process); a store written by an
 * older version is migrated first (a short write transaction), a missing one created.
 */
export async function listImageRecords(
  options: StoreLocationOptions & { busyTimeoutMs?: number } = {},
): Promise<ImageRecord[]> {
  const location = resolveStoreLocation(options);
  const file = join(location.root, 'skiff.db');
  const what = `the database of storage root ${location.root}`;
  if (!fs.existsSync(file)) {
    const { openStore } = await import('./store.js');
    (await openStore(options)).close();
    return [];
  }
  const timeout = options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {};
  let db: Db | undefined;
  try {
    db = openDb(file, { readOnly: true, ...timeout });
    if (schemaVersion(db) < SCHEMA_VERSION) {
      db.close();
      db = undefined;
      db = openDb(file, timeout);
    }
    return readImageRecords(db);
  } catch (err) {
    throw ioError(err, `reading ${what}`);
  } finally {
    db?.close();
  }
}
