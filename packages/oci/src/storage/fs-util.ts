import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { SkiffError } from '../errors.js';

/** fsync a directory so that renames and creations in it are durable. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** fsync one regular file (not following a symlink). */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await fs.promises.open(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync every file and directory of a tree, children first (when syncfs cannot be used). */
export async function fsyncTree(root: string): Promise<void> {
  const entries = await fs.promises.readdir(root, { withFileTypes: true });
  for (const e of entries) {
    const p = join(root, e.name);
    if (e.isDirectory()) await fsyncTree(p);
    else if (e.isFile()) await fsyncFile(p);
  }
  const dir = await fs.promises.open(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * A temp name under the store's tmp/ directory that records its owner: `PID-RANDOM-what`. The
 * cleanup pass removes entries whose process is gone (kill -9 in the middle of a pull).
 */
export function tempPath(tmpDir: string, what: string): string {
  return join(tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}-${what}`);
}

/** The PID a temp entry belongs to, or undefined when the name is not one of ours. */
export function tempOwner(name: string): number | undefined {
  const m = /^(\d+)-/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * A /proc/PID/stat line split after its comm (which may hold spaces and parentheses): `fields[0]`
 * is field 3 of proc(5) (state), `fields[n - 3]` field n.
 */
export function splitProcStat(stat: string): { comm: string; fields: string[] } {
  const close = stat.lastIndexOf(')');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, close),
    fields: stat
      .slice(close + 2)
      .trim()
      .split(/\s+/),
  };
}

export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Turn a filesystem failure into one clear IO error naming what was being done. */
export function ioError(err: unknown, what: string): SkiffError {
  if (err instanceof SkiffError) return err;
  const code = errnoOf(err);
  const message = (err as Error).message ?? String(err);
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new SkiffError('STORAGE', `${what}: the store is busy: another process held it too long`, {
      cause: err,
      hint: 'retry when the other skiff, wright or ferry command has finished',
    });
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new SkiffError('STORAGE', `${what}: the store database is damaged: ${message}`, {
      cause: err,
      hint: 'run `skiff system check`',
    });
  }
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') {
    return new SkiffError('IO', `${what}: no space left on device`, {
      cause: err,
      hint: 'free space on the storage filesystem (skiff image prune) and retry',
    });
  }
  if (code === 'EROFS' || code === 'SQLITE_READONLY') {
    return new SkiffError('IO', `${what}: read-only file system`, {
      cause: err,
      hint: 'use --root to point at a writable storage location',
    });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new SkiffError('IO', `${what}: permission denied`, {
      cause: err,
      hint: 'run as the store owner, or use --root to point at a writable storage location',
    });
  }
  return new SkiffError(
    code?.startsWith('SQLITE_') ? 'STORAGE' : code ? 'IO' : 'INTERNAL',
    `${what}: ${message}`,
    {
      cause: err,
    },
  );
}

/** Run a command; resolves with its exit status and stderr. */
export function runCommand(
  cmd: string,
  args: string[],
  options: { cwd?: string } = {},
): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    child.on('error', (err) => resolve({ ok: false, stderr: err.message }));
    child.on('close', (code) => resolve({ ok: code === 0, stderr: stderr.trim() || `exit status ${code}` }));
  });
}

/**
 * mkdir -p that reports the real reason (Node's recursive mkdir says ENOENT where the kernel
 * said EROFS or EACCES).
 */
export function mkdirs(path: string, mode = 0o700): void {
  const parts = path.split('/').filter(Boolean);
  let cur = '';
  for (const part of parts) {
    cur += `/${part}`;
    try {
      fs.mkdirSync(cur, mode);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
  }
}
