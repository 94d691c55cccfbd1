import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { asSkiffError, SkiffError } from '../errors.js';
import { decompressStream, peekCompression } from '../layer/compression.js';
import { fsyncDir, tempName } from './local-fs.js';

/** Tar helpers for the archive transports: index a tar by offsets, extract, pack a directory. */

export interface TarIndexEntry {
  name: string;
  /** Byte offset of the entry's data in the (uncompressed) tar file. */
  offset: number;
  sizeBytes: number;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  linkname: string;
}

function cleanName(name: string): string {
  let n = name.replace(/\\/g, '/');
  while (n.startsWith('./')) n = n.slice(2);
  n = n.replace(/^\/+/, '').replace(/\/+$/, '');
  return path.posix.normalize(n || '.');
}

function parseOctal(buf: Buffer, what: string): number {
  // GNU base-256 for large values.
  if (buf[0]! & 0x80) {
    let v = 0;
    for (let i = 1; i < buf.length; i++) v = v * 256 + buf[i]!;
    return v;
  }
  const s = buf.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s))
    throw new SkiffError('INVALID_ARCHIVE', `${what}: bad number field "${s}" in tar header`);
  return Number.parseInt(s, 8);
}

function cString(buf: Buffer): string {
  const z = buf.indexOf(0);
  return buf.subarray(0, z < 0 ? buf.length : z).toString('utf8');
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = Number.parseInt(data.subarray(pos, sp).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.subarray(sp + 1, pos + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

/**
 * Read only the headers of an uncompressed tar file and record where each entry's data is.
 * Symbolic and hard links to files are resolved so that the returned map answers "where are
 * the bytes of NAME". `what` names the archive in errors.
 */
export async function indexTar(file: string, what: string): Promise<Map<string, TarIndexEntry>> {
  const entries = new Map<string, TarIndexEntry>();
  const fh = await fs.open(file, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const header = Buffer.alloc(512);
    let pos = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    for (;;) {
      if (pos + 512 > fileSize) {
        if (pos === fileSize && entries.size > 0) break; // no end-of-archive blocks; tolerated
        throw new SkiffError(
          'INVALID_ARCHIVE',
          `${what} is not a valid tar archive (truncated at byte ${pos})`,
        );
      }
      await fh.read(header, 0, 512, pos);
      if (header.every((b) => b === 0)) break;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
      const stored = parseOctal(header.subarray(148, 156), what);
      if (stored !== sum) {
        throw new SkiffError(
          'INVALID_ARCHIVE',
          `${what} is not a valid tar archive (bad header checksum at byte ${pos})`,
        );
      }
      let size = parseOctal(header.subarray(124, 136), what);
      const typeflag = String.fromCharCode(header[156]!);
      const dataOffset = pos + 512;
      const readData = async (): Promise<Buffer> => {
        if (size > 16 * 1024 * 1024)
          throw new SkiffError('INVALID_ARCHIVE', `${what}: oversized tar extension header`);
        const b = Buffer.alloc(size);
        await fh.read(b, 0, size, dataOffset);
        return b;
      };
      if (typeflag === 'x' || typeflag === 'L' || typeflag === 'K' || typeflag === 'g') {
        const data = await readData();
        if (typeflag === 'x') pax = parsePax(data);
        else if (typeflag === 'L') longName = cString(data);
        else if (typeflag === 'K') longLink = cString(data);
        pos = dataOffset + Math.ceil(size / 512) * 512;
        continue;
      }
      let name = cString(header.subarray(0, 100));
      const magic = header.subarray(257, 262).toString('latin1');
      if (magic === 'ustar') {
        const prefix = cString(header.subarray(345, 500));
        if (prefix) name = `${prefix}/${name}`;
      }
      if (longName !== undefined) name = longName;
      if (pax.path !== undefined) name = pax.path;
      let linkname = longLink ?? cString(header.subarray(157, 257));
      if (pax.linkpath !== undefined) linkname = pax.linkpath;
      if (pax.size !== undefined) size = Number.parseInt(pax.size, 10);
      longName = undefined;
      longLink = undefined;
      pax = {};
      const type: TarIndexEntry['type'] =
        typeflag === '0' || typeflag === '\0' || typeflag === '7'
          ? 'file'
          : typeflag === '5'
            ? 'directory'
            : typeflag === '2'
              ? 'symlink'
              : typeflag === '1'
                ? 'link'
                : 'other';
      const dataSize = type === 'file' ? size : 0;
      if (dataOffset + dataSize > fileSize) {
        throw new SkiffError(
          'INVALID_ARCHIVE',
          `${what} is truncated: entry "${name}" runs past the end of the file`,
        );
      }
      entries.set(cleanName(name), {
        name: cleanName(name),
        offset: dataOffset,
        sizeBytes: dataSize,
        type,
        linkname,
      });
      pos = dataOffset + Math.ceil(size / 512) * 512;
    }
  } catch (err) {
    throw asSkiffError(err, `reading ${what}`);
  } finally {
    await fh.close();
  }
  // Resolve links (docker save links duplicate layers to one file).
  for (const [name, e] of entries) {
    let cur = e;
    for (let hops = 0; hops < 16 && (cur.type === 'symlink' || cur.type === 'link'); hops++) {
      const target =
        cur.type === 'symlink'
          ? cleanName(path.posix.join(path.posix.dirname(cur.name), cur.linkname))
          : cleanName(cur.linkname);
      const next = entries.get(target);
      if (!next) break;
      cur = next;
    }
    if (cur !== e && cur.type === 'file') entries.set(name, { ...cur, name });
  }
  return entries;
}

/** When FILE is compressed, decompress it into `scratchDir` and return that path; else FILE. */
export async function uncompressedTarPath(file: string, scratchDir: string, what: string): Promise<string> {
  const { compression, stream } = await peekCompression(createReadStream(file));
  if (compression === 'none') {
    stream.destroy();
    return file;
  }
  const out = path.join(scratchDir, 'archive.tar');
  try {
    await pipeline(stream, decompressStream(compression), createWriteStream(out));
  } catch (err) {
    throw asSkiffError(err, `decompressing ${what}`);
  }
  return out;
}

/**
 * Extract a tar stream into `dir`, keeping only directories and regular files; anything that
 * would land outside `dir` is refused.
 */
export async function extractTar(
  input: Readable,
  dir: string,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  const extract = tar.extract();
  const root = path.resolve(dir);
  // Errors are recorded and the rest of the archive drained; handing them to tar-stream's
  // `next` can surface as an uncaught exception with streamx.
  let failure: SkiffError | undefined;
  extract.on('entry', (header, stream, next) => {
    const skip = () => {
      stream.on('end', () => next());
      stream.resume();
    };
    if (failure) {
      skip();
      return;
    }
    const name = cleanName(header.name);
    const target = path.resolve(root, name);
    if (
      name === '..' ||
      name.startsWith('../') ||
      (target !== root && !target.startsWith(`${root}${path.sep}`))
    ) {
      failure = new SkiffError(
        'INVALID_ARCHIVE',
        `${what}: entry "${header.name}" points outside the archive`,
      );
      skip();
      return;
    }
    const fail = (err: unknown) => {
      failure ??= asSkiffError(err, `${what}: ${header.name}`);
      if (!stream.readableEnded) stream.resume();
      next();
    };
    if (header.type === 'directory') {
      fs.mkdir(target, { recursive: true }).then(skip, fail);
    } else if (header.type === 'file' || header.type === 'contiguous-file') {
      fs.mkdir(path.dirname(target), { recursive: true })
        .then(() => pipeline(stream, createWriteStream(target)))
        .then(() => next(), fail);
    } else {
      skip();
    }
  });
  try {
    await pipeline(input, extract, signal ? { signal } : {});
  } catch (err) {
    if ((err as { code?: string }).code === 'INVALID_ARCHIVE') throw err;
    const e = asSkiffError(err, what);
    if (e.code === 'ABORTED' || e.code === 'IO') throw e;
    throw new SkiffError('INVALID_ARCHIVE', `${what} is not a valid tar archive: ${e.message}`, {
      cause: err,
    });
  }
  if (failure) throw failure;
}

async function listFiles(dir: string, rel = ''): Promise<Array<{ rel: string; dir: boolean }>> {
  const out: Array<{ rel: string; dir: boolean }> = [];
  const items = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
  items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const it of items) {
    const r = rel ? `${rel}/${it.name}` : it.name;
    if (it.isDirectory()) {
      out.push({ rel: r, dir: true });
      out.push(...(await listFiles(dir, r)));
    } else if (it.isFile()) out.push({ rel: r, dir: false });
  }
  return out;
}

/** Tar a directory (files and directories, sorted, fixed mtime) to TARGET atomically. */
export async function packDirAtomic(dir: string, target: string, signal?: AbortSignal): Promise<void> {
  const files = await listFiles(dir);
  const pack = tar.pack();
  const tmp = tempName(target);
  const mtime = new Date(0);
  const feed = async () => {
    for (const f of files) {
      if (signal?.aborted) throw new SkiffError('ABORTED', `writing ${target}: aborted`);
      if (f.dir) {
        await new Promise<void>((res, rej) =>
          pack.entry({ name: `${f.rel}/`, type: 'directory', mode: 0o755, mtime }, (e) =>
            e ? rej(e) : res(),
          ),
        );
        continue;
      }
      const full = path.join(dir, f.rel);
      const st = await fs.stat(full);
      await new Promise<void>((res, rej) => {
        const entry = pack.entry({ name: f.rel, type: 'file', size: st.size, mode: 0o644, mtime }, (e) =>
          e ? rej(e) : res(),
        );
        pipeline(createReadStream(full), entry).catch(rej);
      });
    }
    pack.finalize();
  };
  const fh = await fs.open(tmp, 'wx', 0o644);
  try {
    const out = createWriteStream('', { fd: fh.fd, autoClose: false });
    const feeding = feed().catch((err) => pack.destroy(err));
    await pipeline(pack, out);
    await feeding;
    await fh.sync();
    await fh.close();
    await fs.rename(tmp, target);
  } catch (err) {
    await fh.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw asSkiffError(err, `writing ${target}`);
  }
  await fsyncDir(path.dirname(target));
}
