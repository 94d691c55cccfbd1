import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * The store's metadata in SQLite. WAL mode so readers never block the writer; a busy timeout
 * so concurrent processes wait for each other instead of failing; synchronous=FULL so a
 * committed state change survives power loss, as podman's store does. One transaction per
 * state change (BEGIN IMMEDIATE: writers serialise at the start, not at commit).
 */

export type Db = Database.Database;

/**
 * 1: the first schema. 2: images.labels (the config's Labels as JSON), so that listing images
 * is one query that parses no config.
 */
export const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  media_type TEXT,
  added INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layers (
  chain_id TEXT PRIMARY KEY,
  parent TEXT REFERENCES layers(chain_id),
  diff_id TEXT NOT NULL,
  blob_digest TEXT,
  size INTEGER NOT NULL,
  files INTEGER NOT NULL,
  added INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS layers_parent ON layers(parent);
CREATE TABLE IF NOT EXISTS images (
  id TEXT PRIMARY KEY,
  manifest_digest TEXT NOT NULL,
  manifest BLOB NOT NULL,
  manifest_media_type TEXT NOT NULL,
  config BLOB NOT NULL,
  top_layer TEXT REFERENCES layers(chain_id),
  created TEXT,
  size INTEGER NOT NULL,
  added INTEGER NOT NULL,
  labels TEXT
);
CREATE TABLE IF NOT EXISTS image_layers (
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  chain_id TEXT NOT NULL REFERENCES layers(chain_id),
  PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS image_blobs (
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  digest TEXT NOT NULL REFERENCES blobs(digest),
  PRIMARY KEY (image_id, digest)
);
CREATE INDEX IF NOT EXISTS image_blobs_digest ON image_blobs(digest);
CREATE TABLE IF NOT EXISTS names (
  name TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS names_image ON names(image_id);
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  name TEXT UNIQUE,
  image_id TEXT NOT NULL REFERENCES images(id),
  layer TEXT,
  added INTEGER NOT NULL
);
`;

let addonPath: string | null | undefined;

/**
 * better-sqlite3's compiled addon, named by path: without it the package finds the addon through
 * `bindings`, which tries a dozen candidate paths (and their package.json files) at every start
 * (~2 ms of every command). Undefined (the package's own search) when the usual build is not there.
 */
function nativeBinding(): string | undefined {
  if (addonPath === undefined) {
    addonPath = null;
    try {
      const pkg = createRequire(import.meta.url).resolve('better-sqlite3/package.json');
      const file = join(dirname(pkg), 'build', 'Release', 'better_sqlite3.node');
      if (existsSync(file)) addonPath = file;
    } catch {}
  }
  return addonPath ?? undefined;
}

export function openDb(file: string, options: { readOnly?: boolean; busyTimeoutMs?: number } = {}): Db {
  const addon = nativeBinding();
  const db = new Database(file, {
    readonly: options.readOnly ?? false,
    fileMustExist: options.readOnly ?? false,
    ...(addon ? { nativeBinding: addon } : {}),
  });
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 60_000}`);
  if (!options.readOnly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
  }
  db.pragma('foreign_keys = ON');
  if (!options.readOnly) {
    db.transaction(() => {
      db.exec(SCHEMA);
      db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)').run(
        'schema',
        String(SCHEMA_VERSION),
      );
      migrate(db);
    }).immediate();
  }
  return db;
}

/** The schema version of an open database (0 when it has none yet). */
export function schemaVersion(db: Db): number {
  try {
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
      | { value: string }
      | undefined;
    return row ? Number(row.value) : 0;
  } catch {
    return 0;
  }
}

/**
 * Bring a database written by an older version up to SCHEMA_VERSION (inside the opening
 * transaction: concurrent openers serialise on it and the second finds nothing to do; a crash
 * rolls the whole step back).
 */
function migrate(db: Db): void {
  const version = schemaVersion(db);
  if (version >= SCHEMA_VERSION) return;
  if (version < 2) {
    const columns = db.prepare('PRAGMA table_info(images)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'labels')) db.exec('ALTER TABLE images ADD COLUMN labels TEXT');
    // The config was parsed and checked when the image was put; SQLite's JSON functions read
    // the one field back without parsing anything in JavaScript.
    db.exec(`UPDATE images SET labels = CASE
        WHEN json_valid(CAST(config AS TEXT)) AND json_type(CAST(config AS TEXT), '$.config.Labels') = 'object'
        THEN json_extract(CAST(config AS TEXT), '$.config.Labels') END`);
  }
  db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(SCHEMA_VERSION));
}

/** A store-wide setting fixed on first open (driver, overlay xattr namespace): the stored value, or `initial` now stored. */
export function fixedSetting(db: Db, key: string, initial: string): string {
  return db
    .transaction(() => {
      const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
        | { value: string }
        | undefined;
      if (row) return row.value;
      db.prepare('INSERT INTO meta(key, value) VALUES (?, ?)').run(key, initial);
      return initial;
    })
    .immediate();
}
