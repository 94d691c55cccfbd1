/**
 * Container records in the store's SQLite database (same file, WAL, busy timeout). The store's
 * own `containers` table (id, unique name, image, layer) is what `rmi` and garbage collection
 * consult; the runtime keeps its state in `container_state`, one row per container, created
 * here idempotently and deleted with the container (ON DELETE CASCADE). Every change is one
 * IMMEDIATE transaction, so concurrent skiff processes see unique names and consistent states.
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { SkiffError } from '../errors.js';
import type { StoreLocation } from '../storage/config.js';
import { type Db, openDb } from '../storage/db.js';
import { ioError, processAlive } from '../storage/fs-util.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS container_state (
  id TEXT PRIMARY KEY REFERENCES containers(id) ON DELETE CASCADE,
  state TEXT NOT NULL,
  image_name TEXT,
  created INTEGER NOT NULL,
  started INTEGER,
  finished INTEGER,
  exit_code INTEGER,
  pid INTEGER,
  monitor_pid INTEGER,
  restarts INTEGER NOT NULL DEFAULT 0,
  runtime TEXT NOT NULL,
  bundle TEXT NOT NULL,
  config TEXT NOT NULL
);
`;

/**
 * podman's states: created → running → exited (stopped); `paused` while the runtime has it
 * frozen (pause/unpause); `removing` while rm runs.
 */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'exited' | 'removing';

export interface ContainerRecord {
  id: string;
  name: string;
  imageId: string;
  /** The name the user gave (as podman's ImageName), if any. */
  imageName?: string;
  /** The top layer's chain ID (keeps it from garbage collection). */
  layer?: string;
  status: ContainerStatus;
  created: Date;
  started?: Date;
  finished?: Date;
  exitCode?: number;
  pid?: number;
  monitorPid?: number;
  restarts: number;
  /** Path of the OCI runtime binary. */
  runtime: string;
  /** The bundle directory (config.json, rootfs mount point, pid files). */
  bundle: string;
  /** What the container was created with (the CLI's options), as JSON. */
  config: unknown;
}

interface Row {
  id: string;
  name: string;
  image_id: string;
  layer: string | null;
  state: string;
  image_name: string | null;
  created: number;
  started: number | null;
  finished: number | null;
  exit_code: number | null;
  pid: number | null;
  monitor_pid: number | null;
  restarts: number;
  runtime: string;
  bundle: string;
  config: string;
}

function toRecord(r: Row): ContainerRecord {
  const rec: ContainerRecord = {
    id: r.id,
    name: r.name,
    imageId: r.image_id,
    status: r.state as ContainerStatus,
    created: new Date(r.created),
    restarts: r.restarts,
    runtime: r.runtime,
    bundle: r.bundle,
    config: JSON.parse(r.config) as unknown,
  };
  if (r.layer) rec.layer = r.layer;
  if (r.image_name) rec.imageName = r.image_name;
  if (r.started !== null) rec.started = new Date(r.started);
  if (r.finished !== null) rec.finished = new Date(r.finished);
  if (r.exit_code !== null) rec.exitCode = r.exit_code;
  if (r.pid !== null) rec.pid = r.pid;
  if (r.monitor_pid !== null) rec.monitorPid = r.monitor_pid;
  return rec;
}

const SELECT = `SELECT c.id, c.name, c.image_id, c.layer, s.state, s.image_name, s.created, s.started, s.finished,
  s.exit_code, s.pid, s.monitor_pid, s.restarts, s.runtime, s.bundle, s.config
  FROM containers c JOIN container_state s ON s.id = c.id`;

const ADJECTIVES = [
  'brave',
  'calm',
  'eager',
  'fancy',
  'gentle',
  'happy',
  'jolly',
  'keen',
  'lucid',
  'merry',
  'nifty',
  'proud',
  'quiet',
  'sharp',
  'tender',
  'vivid',
  'witty',
  'zealous',
];
const NOUNS = [
  'albattani',
  'banach',
  'curie',
  'darwin',
  'euler',
  'fermat',
  'gauss',
  'hopper',
  'johnson',
  'kepler',
  'lovelace',
  'meitner',
  'noether',
  'pascal',
  'ritchie',
  'shannon',
  'turing',
  'wozniak',
];

export function randomContainerName(): string {
  const b = randomBytes(2);
  return `${ADJECTIVES[(b[0] ?? 0) % ADJECTIVES.length]}_${NOUNS[(b[1] ?? 0) % NOUNS.length]}`;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export interface NewContainer {
  id?: string;
  name?: string;
  imageId: string;
  imageName?: string;
  layer?: string;
  runtime: string;
  bundle: string;
  config: unknown;
}

export interface ContainerPaths {
  /** Persistent per-container directory under the store root. */
  dataDir: string;
  upperDir: string;
  workDir: string;
  /** vfs: the container's own full copy of the image. */
  vfsRootfs: string;
  logFile: string;
  /** The bundle (volatile, under the runroot). */
  bundle: string;
  configFile: string;
  /** Where the rootfs is mounted (overlay) — the spec's root.path. */
  rootfsMount: string;
  pidFile: string;
  conmonPidFile: string;
  exitDir: string;
  exitFile: string;
  socketDir: string;
}

/**
 * Where a container's files are: persistent STORE_ROOT/containers/ID/{diff,work,userdata/ctr.log}
 * (vfs: rootfs/), volatile RUNROOT/containers/ID/ (the bundle: config.json, rootfs mount point,
 * pid files, /etc/hosts, resolv.conf, hostname), RUNROOT/exits/ID (conmon's exit file).
 */
export function containerPaths(location: StoreLocation, id: string): ContainerPaths {
  const dataDir = join(location.root, 'containers', id);
  const bundle = join(location.runroot, 'containers', id);
  const exitDir = join(location.runroot, 'exits');
  return {
    dataDir,
    upperDir: join(dataDir, 'diff'),
    workDir: join(dataDir, 'work'),
    vfsRootfs: join(dataDir, 'rootfs'),
    logFile: join(dataDir, 'userdata', 'ctr.log'),
    bundle,
    configFile: join(bundle, 'config.json'),
    rootfsMount: join(bundle, 'rootfs'),
    pidFile: join(bundle, 'pidfile'),
    conmonPidFile: join(bundle, 'conmon.pid'),
    exitDir,
    exitFile: join(exitDir, id),
    socketDir: join(location.runroot, 'socket'),
  };
}

/** The PID the runtime wrote to the bundle's pid file (undefined before it has, or after removal). */
export function runtimePid(location: StoreLocation, id: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(containerPaths(location, id).pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Bring a record up to date with reality: a `running` container whose conmon wrote an exit
 * file (or whose monitor and process are gone) becomes `exited` with that code and time. A
 * running container started attached has its PID in the runtime's pid file, read here (the
 * record keeps none). Other records are returned as they are, without touching the disk.
 */
export function refreshRecord(
  location: StoreLocation,
  db: ContainerDb,
  rec: ContainerRecord,
): ContainerRecord {
  if (rec.status !== 'running' && rec.status !== 'paused') return rec;
  if (rec.pid === undefined) {
    const pid = runtimePid(location, rec.id);
    if (pid !== undefined) rec = { ...rec, pid };
  }
  if (rec.status !== 'running') return rec;
  const exitFile = containerPaths(location, rec.id).exitFile;
  let code: number | undefined;
  let finished: Date | undefined;
  try {
    const text = fs.readFileSync(exitFile, 'utf8').trim();
    if (/^-?\d+$/.test(text)) {
      code = Number(text);
      finished = fs.statSync(exitFile).mtime;
    }
  } catch {}
  if (code === undefined) {
    if (rec.monitorPid !== undefined && processAlive(rec.monitorPid)) return rec;
    if (rec.pid !== undefined && processAlive(rec.pid)) return rec;
    // Monitor and process gone without a word: the exit code is unknown.
    code = 255;
    finished = new Date();
  }
  return (
    db.update(rec.id, { status: 'exited', exitCode: code, finished: finished as Date, clearPid: true }, [
      'running',
    ]) ?? rec
  );
}

/**
 * Every container of the store at `location`, refreshed, oldest first; none when the store has
 * no database yet (nothing is created). Opens only the container records, not the store.
 */
export function listContainers(location: StoreLocation): ContainerRecord[] {
  if (!fs.existsSync(join(location.root, 'skiff.db'))) return [];
  const db = ContainerDb.open(location.root);
  try {
    return db.list().map((rec) => refreshRecord(location, db, rec));
  } finally {
    db.close();
  }
}

export class ContainerDb {
  private constructor(private readonly db: Db) {}

  /** Open the database of the store at `storeRoot` (skiff.db), creating the runtime's table. */
  static open(storeRoot: string, options: { busyTimeoutMs?: number } = {}): ContainerDb {
    let db: Db;
    try {
      db = openDb(
        join(storeRoot, 'skiff.db'),
        options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {},
      );
      // A read first: the write lock only when the table is missing (the first open of a store).
      if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'container_state'").get())
        db.transaction(() => db.exec(SCHEMA)).immediate();
    } catch (err) {
      throw ioError(err, `cannot open the container database of storage root ${storeRoot}`);
    }
    return new ContainerDb(db);
  }

  /** The overlay xattr namespace the store fixed ('user' → mount with userxattr). */
  overlayXattrs(): 'user' | 'trusted' {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'overlay_xattr'").get() as
      | { value: string }
      | undefined;
    return row?.value === 'user' ? 'user' : 'trusted';
  }

  /**
   * Register a container: a new 64-hex ID, and the name given or a random free one. A name in
   * use is refused as podman refuses it.
   */
  create(c: NewContainer): ContainerRecord {
    if (c.name !== undefined && !NAME.test(c.name)) {
      throw new SkiffError('INVALID_ARGUMENT', `invalid container name "${c.name}"`, {
        hint: 'names match [a-zA-Z0-9][a-zA-Z0-9_.-]*',
      });
    }
    const id = c.id ?? randomBytes(32).toString('hex');
    const now = Date.now();
    return this.write(`registering container ${c.name ?? id.slice(0, 12)}`, () => {
      let name = c.name;
      if (name !== undefined) {
        const holder = this.db.prepare('SELECT id FROM containers WHERE name = ?').get(name) as
          | { id: string }
          | undefined;
        if (holder) {
          throw new SkiffError(
            'IN_USE',
            `the container name "${name}" is already in use by ${holder.id}. You have to remove that container to be able to reuse that name: that name is already in use`,
            { hint: 'remove it with `skiff rm`, pick another --name, or use --replace' },
          );
        }
      } else {
        for (let i = 0; ; i++) {
          const candidate =
            i < 20 ? randomContainerName() : `${randomContainerName()}_${randomBytes(3).toString('hex')}`;
          if (!this.db.prepare('SELECT 1 FROM containers WHERE name = ?').get(candidate)) {
            name = candidate;
            break;
          }
        }
      }
      if (!this.db.prepare('SELECT 1 FROM images WHERE id = ?').get(c.imageId))
        throw new SkiffError('NOT_FOUND', `image ${c.imageId} is not in the store`);
      this.db
        .prepare('INSERT INTO containers(id, name, image_id, layer, added) VALUES (?, ?, ?, ?, ?)')
        .run(id, name, c.imageId, c.layer ?? null, now);
      this.db
        .prepare(
          'INSERT INTO container_state(id, state, image_name, created, runtime, bundle, config) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(id, 'created', c.imageName ?? null, now, c.runtime, c.bundle, JSON.stringify(c.config ?? null));
      return this.getById(id) as ContainerRecord;
    });
  }

  private getById(id: string): ContainerRecord | undefined {
    const row = this.db.prepare(`${SELECT} WHERE c.id = ?`).get(id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** By full ID, name, or a unique ID prefix (podman's lookup order). */
  get(idOrName: string): ContainerRecord | undefined {
    const exact = this.getById(idOrName);
    if (exact) return exact;
    const byName = this.db.prepare(`${SELECT} WHERE c.name = ?`).get(idOrName) as Row | undefined;
    if (byName) return toRecord(byName);
    if (/^[a-f0-9]{1,63}$/.test(idOrName)) {
      const rows = this.db.prepare(`${SELECT} WHERE c.id LIKE ? LIMIT 2`).all(`${idOrName}%`) as Row[];
      if (rows.length > 1)
        throw new SkiffError(
          'INVALID_ARGUMENT',
          `more than one container matches the ID prefix ${idOrName}`,
          {
            hint: 'give more characters of the ID',
          },
        );
      if (rows[0]) return toRecord(rows[0]);
    }
    return undefined;
  }

  list(): ContainerRecord[] {
    return (this.db.prepare(`${SELECT} ORDER BY s.created`).all() as Row[]).map(toRecord);
  }

  /** Change state fields in one transaction; returns the new record. */
  update(
    id: string,
    patch: Partial<
      Pick<
        ContainerRecord,
        'status' | 'started' | 'finished' | 'exitCode' | 'pid' | 'monitorPid' | 'restarts'
      >
    > & {
      clearPid?: boolean;
    },
    /** Only apply when the current status is one of these (compare-and-set). */
    ifStatus?: ContainerStatus[],
  ): ContainerRecord | undefined {
    return this.write(`updating container ${id.slice(0, 12)}`, () => {
      const cur = this.getById(id);
      if (!cur) return undefined;
      if (ifStatus && !ifStatus.includes(cur.status)) return cur;
      const sets: string[] = [];
      const vals: unknown[] = [];
      const set = (col: string, v: unknown) => {
        sets.push(`${col} = ?`);
        vals.push(v);
      };
      if (patch.status !== undefined) set('state', patch.status);
      if (patch.started !== undefined) set('started', patch.started.getTime());
      if (patch.finished !== undefined) set('finished', patch.finished.getTime());
      if (patch.exitCode !== undefined) set('exit_code', patch.exitCode);
      if (patch.pid !== undefined) set('pid', patch.pid);
      if (patch.monitorPid !== undefined) set('monitor_pid', patch.monitorPid);
      if (patch.restarts !== undefined) set('restarts', patch.restarts);
      if (patch.clearPid) {
        set('pid', null);
        set('monitor_pid', null);
      }
      if (sets.length)
        this.db.prepare(`UPDATE container_state SET ${sets.join(', ')} WHERE id = ?`).run(...vals, id);
      return this.getById(id);
    });
  }

  /** Give a container another name (unique, as at creation). */
  rename(id: string, name: string): ContainerRecord {
    if (!NAME.test(name)) {
      throw new SkiffError('INVALID_ARGUMENT', `invalid container name "${name}"`, {
        hint: 'names match [a-zA-Z0-9][a-zA-Z0-9_.-]*',
      });
    }
    return this.write(`renaming container ${id.slice(0, 12)}`, () => {
      const holder = this.db.prepare('SELECT id FROM containers WHERE name = ?').get(name) as
        | { id: string }
        | undefined;
      if (holder && holder.id !== id)
        throw new SkiffError(
          'IN_USE',
          `the container name "${name}" is already in use by ${holder.id}. You have to remove that container to be able to reuse that name: that name is already in use`,
        );
      this.db.prepare('UPDATE containers SET name = ? WHERE id = ?').run(name, id);
      const rec = this.getById(id);
      if (!rec) throw new SkiffError('NOT_FOUND', `no container with ID ${id} found`);
      return rec;
    });
  }

  /** Delete the records (the caller has already stopped it and removed its files). */
  remove(id: string): boolean {
    return this.write(`removing container ${id.slice(0, 12)}`, () => {
      return this.db.prepare('DELETE FROM containers WHERE id = ?').run(id).changes > 0;
    });
  }

  close(): void {
    this.db.close();
  }

  private write<T>(what: string, fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      throw ioError(err, what);
    }
  }
}
