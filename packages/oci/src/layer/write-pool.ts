/**
 * Small-file writes for layer unpacking on worker threads. Parsing a layer tar is cheap; creating
 * its files is not (open, write, futimes and close cost ~50 µs a file on this disk). The caller
 * parses and resolves every path on its own thread and hands each small file, whole, to a pool of
 * workers (one per core) in batches: the numbers in one Float64Array, the paths in one array, the
 * contents in one transferred buffer. The files of one layer are then created on two threads at
 * once while the caller keeps decompressing, hashing and parsing.
 *
 * Ordering: the caller drains (`barrier`) before anything that depends on earlier writes or
 * changes the tree's structure (links, removals, replacing an entry): while writes are in flight
 * the tree only gains new files and directories, so no write can be redirected. Files are opened
 * with O_CREAT|O_EXCL|O_NOFOLLOW.
 *
 * The workers run a self-contained script (Node built-ins only) given as source, so the bundled
 * CLIs need no separate worker file. They keep the process alive only while batches are in flight.
 */

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Numbers per item in a batch: path index, perm, data offset, length (-1: a directory), uid, gid,
 * mode, atime, mtime.
 */
const SLOTS = 9;

interface Batch {
  job: number;
  seq: number;
  paths: string[];
  nums: Float64Array;
  data: ArrayBuffer | null;
  /** The job's stop flag (non-zero once a write of the job failed): shared, not copied. */
  stop: SharedArrayBuffer;
}

/** Bytes for a job's sha256 (`len` bytes of `data`); `final`: answer with the digest and forget it. */
interface HashBatch {
  job: number;
  seq: number;
  hash: true;
  data: ArrayBuffer | null;
  len: number;
  final: boolean;
}

interface Ack {
  job: number;
  seq: number;
  /** A hash job's sha256 (hex), in answer to its final batch. */
  digest?: string;
  error?: { message: string; code?: string; syscall?: string; path?: string };
  /** The batch's content arena, handed back for reuse. */
  data?: ArrayBuffer | null;
}

/**
 * The worker: writes each file of a batch (open with the permission bits, write, then chown when
 * uid ≥ 0, chmod when mode ≥ 0, times, close) and makes each directory (mkdir with the permission
 * bits, then chown and chmod likewise; its times are set by the caller at the end). A directory's
 * parent may still be queued on another worker: mkdir waits for it (ENOENT) in 1 ms steps, until
 * the job stops or 60 s passed. The first failure ends the batch and is reported.
 */
function writerMain(req: NodeRequire): void {
  const fs = req('node:fs') as typeof import('node:fs');
  const { parentPort } = req('node:worker_threads') as typeof import('node:worker_threads');
  const C = fs.constants;
  const FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
  const NUMS = 9;
  const { createHash } = req('node:crypto') as typeof import('node:crypto');
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const hashes = new Map<number, import('node:crypto').Hash>();
  // (No named inner functions: a bundler's name-keeping helper does not exist in the worker.)
  parentPort!.on('message', (m: Batch | HashBatch) => {
    if ('hash' in m) {
      let h = hashes.get(m.job);
      if (!h) {
        h = createHash('sha256');
        hashes.set(m.job, h);
      }
      if (m.data) h.update(new Uint8Array(m.data, 0, m.len));
      const digest = m.final ? h.digest('hex') : undefined;
      if (m.final) hashes.delete(m.job);
      const ack =
        digest === undefined
          ? { job: m.job, seq: m.seq, data: m.data }
          : { job: m.job, seq: m.seq, data: m.data, digest };
      parentPort!.postMessage(ack, m.data ? [m.data] : []);
      return;
    }
    const b = m;
    const data = b.data ? Buffer.from(b.data) : Buffer.alloc(0);
    const stop = new Int32Array(b.stop);
    const n = b.nums;
    let error: Ack['error'];
    try {
      for (let i = 0; i < b.paths.length; i++) {
        const o = i * NUMS;
        const path = b.paths[i]!;
        if (n[o + 3]! < 0) {
          for (let waited = 0; ; waited++) {
            try {
              fs.mkdirSync(path, n[o + 1]!);
              break;
            } catch (err) {
              const code = (err as NodeJS.ErrnoException).code;
              if (code !== 'ENOENT' || waited >= 60_000 || Atomics.load(stop, 0) !== 0) throw err;
            }
            Atomics.wait(nap, 0, 0, 1);
          }
          if (n[o + 4]! >= 0) fs.lchownSync(path, n[o + 4]!, n[o + 5]!);
          if (n[o + 6]! >= 0) fs.chmodSync(path, n[o + 6]!);
          continue;
        }
        const fd = fs.openSync(path, FLAGS, n[o + 1]!);
        try {
          let off = n[o + 2]!;
          const end = off + n[o + 3]!;
          while (off < end) off += fs.writeSync(fd, data, off, end - off);
          if (n[o + 4]! >= 0) fs.fchownSync(fd, n[o + 4]!, n[o + 5]!);
          if (n[o + 6]! >= 0) fs.fchmodSync(fd, n[o + 6]!);
          fs.futimesSync(fd, n[o + 7]!, n[o + 8]!);
        } finally {
          fs.closeSync(fd);
        }
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      error = { message: e.message };
      if (e.code) error.code = e.code;
      if (e.syscall) error.syscall = e.syscall;
      if (e.path) error.path = e.path;
      Atomics.store(stop, 0, 1);
    }
    // The arena goes back to the caller (transferred) to be filled again.
    const back = b.data;
    const ack = error
      ? { job: b.job, seq: b.seq, error, data: back }
      : { job: b.job, seq: b.seq, data: back };
    parentPort!.postMessage(ack, back ? [back] : []);
  });
}

/** Content bytes per batch (small files only: larger ones are written by the caller). */
const BATCH_DATA_BYTES = 256 << 10;
const WORKER_SOURCE = `(${writerMain.toString()})(require);`;
/**
 * Arenas of BATCH_DATA_BYTES handed back by the workers, reused (allocating and transferring a
 * fresh one per batch churned external memory, and the garbage collector with it).
 */
const freeArenas: ArrayBuffer[] = [];
const MAX_FREE_ARENAS = 32;
const BATCH_FILES = 256;
/**
 * An idle worker is sent what is batched from this many files or bytes on (fewer would cost a
 * message per file when the workers keep up; barrier() sends the rest).
 */
const IDLE_POST_FILES = 128;
const IDLE_POST_BYTES = 128 << 10;
/** Batches queued to one worker before the caller waits (backpressure). */
const MAX_IN_FLIGHT_BATCHES = 8;

let pool: Worker[] | undefined;
const handlers = new Map<number, (ack: Ack, index: number) => void>();
let nextJob = 1;
/** Batches sent and not yet answered, over all jobs: the workers keep the process alive only then. */
let unanswered = 0;

function countBatch(delta: number): void {
  const before = unanswered;
  unanswered = Math.max(0, unanswered + delta);
  if ((before === 0) === (unanswered === 0)) return;
  for (const w of pool ?? []) {
    if (unanswered > 0) w.ref();
    else w.unref();
  }
}

function workers(): Worker[] {
  if (pool) return pool;
  const size = Math.min(4, Math.max(2, availableParallelism()));
  const started: Worker[] = [];
  pool = started;
  for (let i = 0; i < size; i++) {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const index = i;
    worker.on('message', (ack: Ack) => handlers.get(ack.job)?.(ack, index));
    worker.on('error', (err) => failPool(started, err));
    worker.on('exit', () => failPool(started, new Error('layer writer thread exited')));
    // After the listeners (adding a 'message' listener refs the worker again).
    if (unanswered === 0) worker.unref();
    started.push(worker);
  }
  return started;
}

/** A worker died (out of memory, a bug): every job in flight fails; the next job starts a new pool. */
function failPool(dead: Worker[], err: Error): void {
  if (pool !== dead) return;
  pool = undefined;
  unanswered = 0;
  for (const [job, handler] of [...handlers]) handler({ job, seq: -1, error: { message: err.message } }, -1);
  for (const w of dead) void w.terminate();
}

interface Pending {
  paths: string[];
  nums: Float64Array;
  data: Buffer | null;
  used: number;
}

function emptyPending(): Pending {
  return { paths: [], nums: new Float64Array(BATCH_FILES * SLOTS), data: null, used: 0 };
}

export interface SmallFile {
  /** Where to create it: its parent exists and nothing is at this path. */
  path: string;
  /** Permission bits given at creation. */
  perm: number;
  content: Buffer[];
  sizeBytes: number;
  /** chown to these when ≥ 0. */
  uid: number;
  gid: number;
  /** chmod to this after the chown when ≥ 0. */
  mode: number;
  /** Seconds since the epoch. */
  atime: number;
  mtime: number;
}

/** The small-file writes of one layer being unpacked (one caller at a time). */
export class LayerWriter {
  private readonly job = nextJob++;
  private readonly workers = workers();
  /** Set (by a worker or here) when the job fails: a worker waiting for a parent directory gives up. */
  private readonly stop = new SharedArrayBuffer(4);
  /** The worker of each directory key seen (hashing a long path once, not per file). */
  private readonly slots = new Map<string, number>();
  private readonly pending: Pending[];
  private readonly inFlight: number[];
  private seq = 0;
  private outstanding = 0;
  private error: Error | undefined;
  private waiters: Array<() => void> = [];

  constructor() {
    this.pending = this.workers.map(() => emptyPending());
    this.inFlight = this.workers.map(() => 0);
    handlers.set(this.job, (ack, index) => this.onAck(ack, index));
    liveWriters.add(this);
  }

  private onAck(ack: Ack, index: number): void {
    if (ack.data?.byteLength === BATCH_DATA_BYTES && freeArenas.length < MAX_FREE_ARENAS) {
      freeArenas.push(ack.data);
    }
    if (ack.seq >= 0) {
      countBatch(-1);
      this.outstanding -= 1;
      if (index >= 0) this.inFlight[index]! -= 1;
    } else {
      this.outstanding = 0; // the pool died: nothing more will answer
      this.inFlight.fill(0);
    }
    if (ack.error && !this.error) {
      const e = new Error(ack.error.message) as NodeJS.ErrnoException;
      if (ack.error.code) e.code = ack.error.code;
      if (ack.error.syscall) e.syscall = ack.error.syscall;
      if (ack.error.path) e.path = ack.error.path;
      this.error = e;
      Atomics.store(new Int32Array(this.stop), 0, 1);
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /**
   * Queue a file. `key` picks the worker: files of one directory go to one worker, as creations
   * in a directory serialise on its lock.
   */
  add(file: SmallFile, key: string): void {
    const index = this.slotOf(key);
    let p = this.pending[index]!;
    if (p.data && p.used + file.sizeBytes > p.data.length) {
      this.post(index);
      p = this.pending[index]!;
    }
    if (!p.data && file.sizeBytes > 0) {
      const reuse = file.sizeBytes <= BATCH_DATA_BYTES ? freeArenas.pop() : undefined;
      p.data = reuse
        ? Buffer.from(reuse)
        : Buffer.allocUnsafeSlow(Math.max(BATCH_DATA_BYTES, file.sizeBytes));
      p.used = 0;
    }
    const off = p.used;
    for (const c of file.content) {
      p.data!.set(c, p.used);
      p.used += c.length;
    }
    this.enqueue(
      index,
      file.path,
      file.perm,
      off,
      file.sizeBytes,
      file.uid,
      file.gid,
      file.mode,
      file.atime,
      file.mtime,
    );
  }

  /**
   * Queue making a directory (its parent exists or is queued before it): mkdir with `perm`, then
   * chown to uid/gid when ≥ 0 and chmod to `mode` when ≥ 0. `key` is the directory's own path, the
   * key its files are queued under, so that it is made before them.
   */
  addDir(path: string, perm: number, uid: number, gid: number, mode: number): void {
    this.enqueue(this.slotOf(path), path, perm, 0, -1, uid, gid, mode, 0, 0);
  }

  /** Append one item's numbers (see SLOTS) to worker `index`'s batch; sent once it is full. */
  private enqueue(
    index: number,
    path: string,
    perm: number,
    offset: number,
    length: number,
    uid: number,
    gid: number,
    mode: number,
    atime: number,
    mtime: number,
  ): void {
    const p = this.pending[index]!;
    const o = p.paths.length * SLOTS;
    p.paths.push(path);
    const n = p.nums;
    n[o] = p.paths.length - 1;
    n[o + 1] = perm;
    n[o + 2] = offset;
    n[o + 3] = length;
    n[o + 4] = uid;
    n[o + 5] = gid;
    n[o + 6] = mode;
    n[o + 7] = atime;
    n[o + 8] = mtime;
    if (p.paths.length >= BATCH_FILES) this.post(index);
  }

  private slotOf(key: string): number {
    let index = this.slots.get(key);
    if (index === undefined) {
      index = hashOf(key) % this.workers.length;
      this.slots.set(key, index);
    }
    return index;
  }

  private post(index: number): void {
    const p = this.pending[index]!;
    if (p.paths.length === 0) return;
    const seq = this.seq++;
    // The arena (allocUnsafeSlow: its own ArrayBuffer) and the numbers are transferred, not copied.
    const data = p.data ? (p.data.buffer as ArrayBuffer) : null;
    const nums = p.nums.subarray(0, p.paths.length * SLOTS).slice();
    const batch: Batch = { job: this.job, seq, paths: p.paths, nums, data, stop: this.stop };
    this.inFlight[index]! += 1;
    this.outstanding += 1;
    countBatch(1);
    this.workers[index]!.postMessage(batch, data ? [data, nums.buffer] : [nums.buffer]);
    p.paths = [];
    p.data = null;
    p.used = 0;
  }

  /**
   * Send a worker its batch when it is idle and the batch is worth a message. True when the caller must wait for room (`room()`):
   * a worker has too much queued, or a write failed.
   */
  pace(): boolean {
    for (let i = 0; i < this.workers.length; i++) {
      const p = this.pending[i]!;
      if (this.inFlight[i] === 0 && (p.paths.length >= IDLE_POST_FILES || p.used >= IDLE_POST_BYTES)) {
        this.post(i);
      }
    }
    return this.error !== undefined || this.inFlight.some((b) => b >= MAX_IN_FLIGHT_BATCHES);
  }

  /**
   * Wait until no worker has too much queued; throws the first write error. Everything batched
   * is sent first: a worker may be waiting for a parent directory that another worker's unsent
   * batch would make, and it must not wait on this wait.
   */
  async room(): Promise<void> {
    if (!this.error && this.inFlight.some((b) => b >= MAX_IN_FLIGHT_BATCHES)) this.flush();
    while (!this.error && this.inFlight.some((b) => b >= MAX_IN_FLIGHT_BATCHES)) await this.next();
    if (this.error) throw this.error;
  }

  /** Send every worker what is batched for it. */
  flush(): void {
    for (let i = 0; i < this.workers.length; i++) this.post(i);
  }

  private next(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Send everything and wait until it is written; throws the first write error. */
  async barrier(): Promise<void> {
    this.flush();
    while (this.outstanding > 0) await this.next();
    if (this.error) throw this.error;
  }

  /** Wait for everything sent (nothing more is sent), and forget the job. */
  async dispose(): Promise<void> {
    for (const p of this.pending) p.paths = [];
    // Nothing more is sent: a directory still waiting for its parent will not get it.
    Atomics.store(new Int32Array(this.stop), 0, 1);
    liveWriters.delete(this);
    while (this.outstanding > 0) await this.next();
    handlers.delete(this.job);
  }
}

/** The LayerWriters not disposed of: flushed before an OffThreadHash waits (see its room()). */
const liveWriters = new Set<LayerWriter>();

function hashOf(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Bytes per message of an OffThreadHash, and how many may be in flight before update() waits. */
const HASH_CHUNK_BYTES = 1 << 20;
const MAX_HASH_IN_FLIGHT = 8;
const freeHashArenas: ArrayBuffer[] = [];

/**
 * A sha256 computed on a writer thread: update() copies the bytes (a memcpy costs a fraction of
 * hashing them) into 1 MiB arenas sent in order to one worker. Used for a layer's diffID, which
 * the unpacking thread otherwise hashed itself, often the busiest thread of a pull.
 */
export class OffThreadHash {
  private readonly job = nextJob++;
  private readonly worker: number;
  private readonly workers = workers();
  private arena: Buffer | null = null;
  private used = 0;
  private seq = 0;
  private inFlight = 0;
  private error: Error | undefined;
  private result: string | undefined;
  private waiters: Array<() => void> = [];

  constructor() {
    this.worker = this.job % this.workers.length;
    handlers.set(this.job, (ack) => this.onAck(ack));
  }

  private onAck(ack: Ack): void {
    if (ack.data?.byteLength === HASH_CHUNK_BYTES && freeHashArenas.length < MAX_HASH_IN_FLIGHT * 2) {
      freeHashArenas.push(ack.data);
    }
    if (ack.seq >= 0) {
      countBatch(-1);
      this.inFlight -= 1;
    } else this.inFlight = 0;
    if (ack.error && !this.error) this.error = new Error(ack.error.message);
    if (ack.digest !== undefined) this.result = ack.digest;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  update(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (!this.arena) {
        const reuse = freeHashArenas.pop();
        this.arena = reuse ? Buffer.from(reuse) : Buffer.allocUnsafeSlow(HASH_CHUNK_BYTES);
        this.used = 0;
      }
      const n = Math.min(chunk.length - off, HASH_CHUNK_BYTES - this.used);
      chunk.copy(this.arena, this.used, off, off + n);
      this.used += n;
      off += n;
      if (this.used === HASH_CHUNK_BYTES) this.send(false);
    }
  }

  private send(final: boolean): void {
    const data = this.arena ? (this.arena.buffer as ArrayBuffer) : null;
    const batch: HashBatch = { job: this.job, seq: this.seq++, hash: true, data, len: this.used, final };
    this.arena = null;
    this.used = 0;
    this.inFlight += 1;
    countBatch(1);
    this.workers[this.worker]!.postMessage(batch, data ? [data] : []);
  }

  /**
   * Wait while too much is in flight (call between updates); throws when the worker failed. The
   * hashing worker may be a writer waiting for a parent directory in another writer's unsent
   * batch: every writer's batches are sent before waiting.
   */
  async room(): Promise<void> {
    if (!this.error && this.inFlight >= MAX_HASH_IN_FLIGHT) for (const w of liveWriters) w.flush();
    while (!this.error && this.inFlight >= MAX_HASH_IN_FLIGHT) await this.next();
    if (this.error) throw this.error;
  }

  private next(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The hex sha256 of everything given to update(); the hash is done with after this. */
  async digest(): Promise<string> {
    this.send(true);
    while (!this.error && this.inFlight > 0) await this.next();
    handlers.delete(this.job);
    if (this.error) throw this.error;
    if (this.result === undefined) throw new Error('the hashing thread sent no digest');
    return this.result;
  }

  /** Forget the hash (what is in flight is answered and dropped). */
  dispose(): void {
    if (this.result !== undefined || this.error) return;
    this.send(true);
    const forget = () => {
      if (this.inFlight > 0) this.waiters.push(forget);
      else handlers.delete(this.job);
    };
    forget();
  }
}
