import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { asSkiffError, SkiffError } from '../errors.js';
import { type Digest, DigestVerifier } from '../spec/digest.js';

/** Helpers shared by the on-disk transports (oci, oci-archive, docker-archive, dir). */

export function tempName(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
}

export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

/**
 * Write bytes atomically: temp file in the same directory → fsync → rename → fsync dir. With
 * `syncDir: false` the caller fsyncs the directory itself (once, after many writes).
 */
export async function writeFileAtomic(
  target: string,
  data: Buffer | string,
  options: { syncDir?: boolean } = {},
): Promise<void> {
  const tmp = tempName(target);
  try {
    const fh = await fs.open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw asSkiffError(err, `writing ${target}`);
  }
  if (options.syncDir !== false) await fsyncDir(path.dirname(target));
}

/**
 * Stream into a temp file next to `target`, verifying digest/size as bytes flow, fsync, and
 * rename into place when `rename` is true (else leave the temp file and return its path).
 */
export async function writeStreamVerified(
  stream: Readable,
  tmp: string,
  options: { digest?: Digest; sizeBytes?: number; what: string; signal?: AbortSignal; verified?: boolean },
): Promise<{ digest: Digest; sizeBytes: number }> {
  // Checked upstream (the copy engine's verifier): no second pass over the bytes here.
  const trusted = options.verified === true && options.digest !== undefined && (options.sizeBytes ?? -1) >= 0;
  const verifier = trusted
    ? undefined
    : new DigestVerifier({
        ...(options.digest ? { digest: options.digest } : {}),
        sizeBytes: options.sizeBytes ?? -1,
        what: options.what,
      });
  const fh = await fs.open(tmp, 'wx', 0o644);
  try {
    // Large writes: a layer arrives in 16-64 KiB chunks; writev batches them.
    const out = createWriteStream('', { fd: fh.fd, autoClose: false, highWaterMark: 1 << 20 });
    const stages = verifier ? [stream, verifier, out] : [stream, out];
    await pipeline(
      stages as [Readable, NodeJS.WritableStream],
      options.signal ? { signal: options.signal } : {},
    );
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw asSkiffError(err, options.what);
  }
  await fh.close();
  if (!verifier) return { digest: options.digest!, sizeBytes: options.sizeBytes! };
  return { digest: verifier.digest, sizeBytes: verifier.bytes };
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Read a whole small file (JSON metadata); NOT_FOUND names the path. */
export async function readSmallFile(
  file: string,
  what: string,
  maxBytes = 64 * 1024 * 1024,
): Promise<Buffer> {
  try {
    const st = await fs.stat(file);
    if (st.size > maxBytes) {
      throw new SkiffError('INVALID_ARCHIVE', `${what} ${file} is too large (${st.size} bytes)`);
    }
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SkiffError('NOT_FOUND', `${what} ${file} does not exist`, { cause: err });
    }
    throw asSkiffError(err, `reading ${what} ${file}`);
  }
}

export function parseJsonFile(
  raw: Buffer,
  file: string,
  code: 'INVALID_ARCHIVE' | 'INVALID_MANIFEST',
): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new SkiffError(code, `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Open a file for streaming; NOT_FOUND / BLOB_UNKNOWN names it. */
export async function openFileStream(
  file: string,
  what: string,
  range?: { start: number; sizeBytes: number },
): Promise<{ stream: Readable; sizeBytes: number }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SkiffError('BLOB_UNKNOWN', `${what}: ${file} does not exist`, { cause: err });
    }
    throw asSkiffError(err, `opening ${file}`);
  }
  if (range) {
    if (range.sizeBytes === 0) {
      await fh.close();
      return { stream: Readable.from([]), sizeBytes: 0 };
    }
    const stream = createReadStream('', {
      fd: fh,
      start: range.start,
      end: range.start + range.sizeBytes - 1,
      autoClose: true,
    });
    return { stream, sizeBytes: range.sizeBytes };
  }
  const st = await fh.stat();
  return { stream: createReadStream('', { fd: fh, autoClose: true }), sizeBytes: st.size };
}

export async function makeTempDir(prefix: string, near?: string): Promise<string> {
  const base = near ?? tmpdir();
  return fs.mkdtemp(path.join(base, prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

export function statusOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}
