/**
 * Attaching to a container that runs under conmon (`skiff attach`, `skiff run -t` without a
 * terminal on stdin): its output, its stdin, its terminal's size, and its exit code.
 *
 * conmon serves attach clients on a SOCK_SEQPACKET unix socket in the bundle (`attach`): each
 * packet it sends is one byte of stream (2 stdout, 3 stderr) and the data; each packet it
 * receives goes to the container's stdin (the pty with -t; the stdin pipe with -i). Node can
 * not open a SEQPACKET socket, so a few lines of Perl (perl-base is part of every Debian and
 * most other systems) relay it: they connect, then frame every packet on their stdout as a
 * 4-byte big-endian length and the packet, and send what they read on their stdin as packets
 * (an end of input shuts down the socket's writing side: conmon then closes the container's
 * stdin, as podman's attach does). Window sizes go through conmon's `ctl` FIFO
 * (`1 ROWS COLS\n`), which Node can write.
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { SkiffError } from '../errors.js';
import type { Store } from '../storage/store.js';
import type { ContainerDb, ContainerRecord } from './containers.js';
import { containerPaths, refreshContainer } from './run.js';

/** The relay: `perl -e RELAY DIR in|out` (DIR holds the `attach` socket). */
const RELAY = String.raw`
use strict; use Socket;
$SIG{PIPE} = 'IGNORE';
my ($dir, $mode) = @ARGV;
chdir($dir) or die "cannot enter $dir: $!\n";
socket(my $s, AF_UNIX, SOCK_SEQPACKET, 0) or die "socket: $!\n";
connect($s, pack_sockaddr_un('attach')) or die "cannot connect to $dir/attach: $!\n";
binmode STDIN; binmode STDOUT;
sub out { my $d = shift; while (length $d) { my $w = syswrite(STDOUT, $d); exit 0 unless defined $w; substr($d, 0, $w) = ''; } }
out(pack('N', 1) . "\0");
my $in = $mode eq 'in';
for (;;) {
  my $r = ''; vec($r, fileno($s), 1) = 1; vec($r, fileno(STDIN), 1) = 1 if $in;
  my $n = select($r, undef, undef, undef);
  if ($n < 0) { next if $!{EINTR}; die "select: $!\n"; }
  if (vec($r, fileno($s), 1)) {
    my $buf = '';
    my $from = recv($s, $buf, 65536, 0);
    if (!defined $from) { next if $!{EINTR}; last; }
    last if length($buf) == 0;
    out(pack('N', length $buf) . $buf);
  }
  if ($in && vec($r, fileno(STDIN), 1)) {
    my $buf;
    my $k = sysread(STDIN, $buf, 8192);
    if (!defined $k) { next if $!{EINTR}; $k = 0; }
    if ($k == 0) { $in = 0; shutdown($s, 1); next; }
    defined(send($s, $buf, 0)) or last;
  }
}
exit 0;
`;

/** podman's default detach keys. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/**
 * Parse a detach-key spec as podman and Docker write it: comma-separated `ctrl-X` (X a letter
 * or one of `@[\]^_`) or single characters; `''` disables detaching.
 */
export function parseDetachKeys(spec: string): Uint8Array {
  if (spec === '') return new Uint8Array();
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^ctrl-(.)$/i.exec(part);
    if (m) {
      const c = (m[1] as string).toLowerCase();
      if (c >= 'a' && c <= 'z') out.push(c.charCodeAt(0) - 96);
      else if (c === '@') out.push(0);
      else if ('[\\]^_'.includes(c)) out.push(27 + '[\\]^_'.indexOf(c));
      else throw new SkiffError('INVALID_ARGUMENT', `invalid detach keys "${spec}": unknown key "${part}"`);
    } else if (part.length === 1) {
      out.push(part.charCodeAt(0));
    } else {
      throw new SkiffError('INVALID_ARGUMENT', `invalid detach keys "${spec}": unknown key "${part}"`);
    }
  }
  return Uint8Array.from(out);
}

/**
 * Watches input for the detach sequence: `push(chunk)` returns the bytes to pass on and
 * whether the sequence was completed. A partial match is held back until the next chunk shows
 * whether it was the sequence (then dropped) or not (then passed on).
 */
export function detachScanner(keys: Uint8Array): (chunk: Uint8Array) => { forward: Buffer; detach: boolean } {
  let matched = 0;
  return (chunk) => {
    if (keys.length === 0) return { forward: Buffer.from(chunk), detach: false };
    const out: number[] = [];
    for (const b of chunk) {
      if (b === keys[matched]) {
        matched++;
        if (matched === keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      for (let i = 0; i < matched; i++) out.push(keys[i] as number);
      matched = b === keys[0] ? 1 : 0;
      if (matched === 0) out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  };
}

/** Split the relay's frames (4-byte length + packet) from a byte stream. */
export function frameReader(onPacket: (packet: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 4) {
      const len = pending.readUInt32BE(0);
      if (pending.length < 4 + len) break;
      onPacket(pending.subarray(4, 4 + len));
      pending = pending.subarray(4 + len);
    }
  };
}

/**
 * Tell conmon the container's terminal size (its `ctl` FIFO). False when conmon is not there
 * to read it (the FIFO is opened without blocking).
 */
export function resizeContainerTerminal(bundle: string, rows: number, cols: number): boolean {
  if (!(rows > 0 && cols > 0)) return false;
  let fd: number | undefined;
  try {
    fd = fs.openSync(join(bundle, 'ctl'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.writeSync(fd, `1 ${Math.min(rows, 1000)} ${Math.min(cols, 1000)}\n`);
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export interface AttachStreams {
  /** Forwarded to the container (omitted: --no-stdin). */
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Detach key bytes (parseDetachKeys); empty or omitted: no detaching. */
  detachKeys?: Uint8Array;
}

export interface AttachConnection {
  /** Resolves once connected to conmon (output from then on is received). */
  ready: Promise<void>;
  /** Resolves when conmon closes the connection (`ended`) or the detach keys were typed. */
  done: Promise<'ended' | 'detached'>;
  /** Disconnect (the container keeps running). */
  close(): void;
}

/** Connect to the attach socket of the container whose bundle is `bundle` (see the module doc). */
export function connectAttach(bundle: string, streams: AttachStreams): AttachConnection {
  const child = spawn('perl', ['-e', RELAY, bundle, streams.stdin ? 'in' : 'out'], {
    stdio: [streams.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let readyResolve: () => void = () => {};
  let readyReject: (err: Error) => void = () => {};
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => {});
  let detached = false;
  let errText = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    if (errText.length < 4096) errText += s;
  });
  const stdoutOf = child.stdout as NodeJS.ReadableStream;
  const write = (dest: NodeJS.WritableStream, data: Buffer) => {
    if (!dest.write(data)) {
      stdoutOf.pause();
      dest.once('drain', () => stdoutOf.resume());
    }
  };
  stdoutOf.on(
    'data',
    frameReader((p) => {
      const kind = p[0];
      if (kind === 0) readyResolve();
      else if (kind === 3) write(streams.stderr, p.subarray(1));
      else write(streams.stdout, p.subarray(1));
    }),
  );
  const input = streams.stdin;
  const scan = detachScanner(streams.detachKeys ?? new Uint8Array());
  const onData = (chunk: Buffer | string) => {
    const { forward, detach } = scan(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (forward.length) child.stdin?.write(forward);
    if (detach) {
      detached = true;
      stop();
    }
  };
  const onEnd = () => child.stdin?.end();
  const stop = () => {
    input?.off('data', onData);
    input?.off('end', onEnd);
    child.kill('SIGTERM');
  };
  if (input) {
    child.stdin?.on('error', () => {});
    input.on('data', onData);
    input.on('end', onEnd);
  }
  const done = new Promise<'ended' | 'detached'>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      const e = new SkiffError(
        'RUNTIME',
        err.code === 'ENOENT'
          ? 'attaching needs perl (it relays conmon’s attach socket), which is not installed'
          : `cannot start perl to attach: ${err.message}`,
        { cause: err, ...(err.code === 'ENOENT' ? { hint: 'apt-get install perl-base' } : {}) },
      );
      readyReject(e);
      reject(e);
    });
    child.on('close', (code) => {
      input?.off('data', onData);
      input?.off('end', onEnd);
      if (detached) {
        readyResolve();
        resolve('detached');
      } else if (code === 0) {
        readyResolve();
        resolve('ended');
      } else {
        const e = new SkiffError(
          'RUNTIME',
          `cannot attach: ${errText.trim() || `the relay exited with status ${code}`}`,
        );
        readyReject(e);
        reject(e);
      }
    });
  });
  return { ready, done, close: stop };
}

export interface AttachOptions extends AttachStreams {
  signal?: AbortSignal;
}

export interface AttachResult {
  /** True when the user detached (the container keeps running). */
  detached: boolean;
  /** The container's exit code when it exited while attached. */
  exitCode?: number;
}

/**
 * Wait for the container's exit code after its output ended: conmon writes the exit file; the
 * record says it once refreshed; `seen` is the code read while attached (before an exit
 * command with --rm removed the container and its exit file).
 */
async function exitCodeAfter(store: Store, db: ContainerDb, id: string, seen: () => number | undefined) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const s = seen();
    if (s !== undefined) return s;
    const rec = refreshContainer(store, db, id);
    if (!rec) break;
    if (rec.status === 'exited') return rec.exitCode ?? 255;
    await new Promise((r) => setTimeout(r, 25));
  }
  const s = seen();
  if (s !== undefined) return s;
  throw new SkiffError('RUNTIME', `the exit code of container ${id.slice(0, 12)} is unknown`);
}

/** Read conmon's exit file for `id` while attached (undefined until it is written). */
function exitFileWatcher(file: string): { code(): number | undefined; stop(): void } {
  let code: number | undefined;
  const read = () => {
    if (code !== undefined) return;
    try {
      const text = fs.readFileSync(file, 'utf8').trim();
      if (/^-?\d+$/.test(text)) code = Number(text);
    } catch {}
  };
  const timer = setInterval(read, 50);
  return {
    code: () => {
      read();
      return code;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Attach to a running container under conmon (`skiff attach`): its output to `stdout`/`stderr`,
 * `stdin` to it, until it exits (the result has its exit code) or the detach keys are typed.
 */
export async function attachContainer(
  store: Store,
  db: ContainerDb,
  id: string,
  options: AttachOptions,
): Promise<AttachResult> {
  const rec = attachableContainer(store, db, id);
  const bundle = containerPaths(store.location, rec.id).bundle;
  return attachSession(store, db, rec.id, connectAttach(bundle, options), options.signal);
}

/**
 * The record of a container one can attach to: running, under conmon (which serves the attach
 * socket). A container started attached by another skiff has none: INVALID_ARGUMENT.
 */
export function attachableContainer(store: Store, db: ContainerDb, id: string): ContainerRecord {
  const rec = refreshContainer(store, db, id);
  if (!rec)
    throw new SkiffError('NOT_FOUND', `no container with name or ID "${id}" found: no such container`);
  if (rec.status !== 'running')
    throw new SkiffError('INVALID_ARGUMENT', `you can only attach to running containers`);
  const paths = containerPaths(store.location, rec.id);
  if (!fs.existsSync(join(paths.bundle, 'attach')))
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `container ${rec.name} runs attached to another skiff process${rec.monitorPid ? ` (PID ${rec.monitorPid})` : ''}: it has no monitor to attach to`,
      { hint: 'containers started with -d (or skiff start) can be attached to' },
    );
  return rec;
}

/** Follow a connection to its end: the exit code when the container exited, or detached. */
export async function attachSession(
  store: Store,
  db: ContainerDb,
  id: string,
  conn: AttachConnection,
  signal?: AbortSignal,
): Promise<AttachResult> {
  const watcher = exitFileWatcher(containerPaths(store.location, id).exitFile);
  const onAbort = () => conn.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const how = await conn.done;
    if (how === 'detached' || signal?.aborted) return { detached: true };
    return { detached: false, exitCode: await exitCodeAfter(store, db, id, watcher.code) };
  } finally {
    watcher.stop();
    signal?.removeEventListener('abort', onAbort);
  }
}
