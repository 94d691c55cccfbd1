/**
 * A lean tar reader for unpacking layers: the same header decoding as tar-stream (its
 * `headers.js`: ustar/GNU headers, checksums, PAX and GNU long names), without a stream object,
 * listeners and callbacks per entry. Small entries (below `wholeBytes`) are handed over whole, as
 * the chunks that hold them; larger ones as a Readable that pulls from the input as it is read.
 * On a layer of 20,000 small files tar-stream's per-entry machinery was about a third of the
 * unpacking thread's time.
 *
 * The sha256 of everything read (the layer's diffID) is computed here too, so the input needs no
 * extra hashing stage. Every byte is read to the end, trailing blocks included, as tar-stream does.
 */

import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import type * as tar from 'tar-stream';
import tarStreamHeaders from 'tar-stream/headers.js';
import { OffThreadHash } from './write-pool.js';

const BLOCK = 512;
/** PAX and GNU long-name records larger than this reject the archive (they are held in memory). */
const MAX_LONG_HEADER_BYTES = 1 << 20;

/** Entry content: whole (chunks in order) or a stream to read (to its end, or not at all). */
export type TarBody = Buffer[] | Readable;

export type TarEntryHandler = (header: tar.Headers, body: TarBody) => Promise<void> | void;

interface RawHeader extends tar.Headers {
  pax?: Record<string, string> | null;
}

const headers = tarStreamHeaders as unknown as {
  decode(buf: Buffer, encoding: string, allowUnknownFormat: boolean): RawHeader | null;
  decodeLongPath(buf: Buffer, encoding: string): string;
  decodePax(buf: Buffer): Record<string, string>;
};

const TYPES: Record<number, tar.Headers['type']> = {
  0: 'file',
  1: 'link',
  2: 'symlink',
  3: 'character-device',
  4: 'block-device',
  5: 'directory',
  6: 'fifo',
  7: 'contiguous-file',
  72: 'pax-header',
  55: 'pax-global-header',
  27: 'gnu-long-link-path',
  28: 'gnu-long-path',
  30: 'gnu-long-path',
};

/**
 * An octal field as tar-stream's decoder reads it (leading spaces, then NULs, skipped; up to
 * the first space), or undefined when it holds anything but plain octal digits there (base-256,
 * a sign, other whitespace): those headers go through tar-stream's decoder itself.
 */
function octal(buf: Buffer, off: number, len: number): number | undefined {
  const end = off + len;
  let i = off;
  if (buf[i]! & 0x80) return undefined;
  while (i < end && buf[i] === 32) i++;
  let stop = i;
  while (stop < end && buf[stop] !== 32) stop++;
  while (i < stop && buf[i] === 0) i++;
  if (i === stop) return 0;
  let n = 0;
  const first = i;
  for (; i < stop; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 55) break;
    n = n * 8 + (c - 48);
  }
  return i === first ? undefined : n;
}

function cString(buf: Buffer, off: number, len: number): string {
  let end = off;
  while (end < off + len && buf[end] !== 0) end++;
  return buf.toString('utf8', off, end);
}

function isUstar(buf: Buffer): boolean {
  // "ustar\0" at 257
  return (
    buf[257] === 0x75 &&
    buf[258] === 0x73 &&
    buf[259] === 0x74 &&
    buf[260] === 0x61 &&
    buf[261] === 0x72 &&
    buf[262] === 0
  );
}

/**
 * Decode a header block exactly as tar-stream's `headers.decode` does, without its dozen
 * intermediate buffers: POSIX ustar headers with octal fields (what layer tars hold) are read
 * here; anything else (zero blocks, bad checksums, GNU headers, base-256 numbers) by tar-stream.
 */
export function decodeHeader(buf: Buffer): RawHeader | null {
  const mode = octal(buf, 100, 8);
  const uid = octal(buf, 108, 8);
  const gid = octal(buf, 116, 8);
  const size = octal(buf, 124, 12);
  const mtime = octal(buf, 136, 12);
  const devmajor = octal(buf, 329, 8);
  const devminor = octal(buf, 337, 8);
  const stored = octal(buf, 148, 8);
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += buf[i]!;
  for (let i = 156; i < 512; i++) sum += buf[i]!;
  if (
    sum === 8 * 32 ||
    sum !== stored ||
    !isUstar(buf) ||
    mode === undefined ||
    uid === undefined ||
    gid === undefined ||
    size === undefined ||
    mtime === undefined ||
    devmajor === undefined ||
    devminor === undefined
  ) {
    return headers.decode(buf, 'utf-8', false);
  }
  // (tar-stream's type is the flag's, also for an old tar's "name/" of flag 0.)
  const typeflag = buf[156] === 0 ? 0 : buf[156]! - 48;
  let name = cString(buf, 0, 100);
  if (buf[345]) name = `${cString(buf, 345, 155)}/${name}`;
  return {
    name,
    mode,
    uid,
    gid,
    size,
    mtime: new Date(1000 * mtime),
    type: TYPES[typeflag] ?? (null as unknown as undefined),
    linkname: buf[157] === 0 ? (null as unknown as undefined) : cString(buf, 157, 100),
    uname: cString(buf, 265, 32),
    gname: cString(buf, 297, 32),
    devmajor,
    devminor,
    pax: null,
  };
}

/** Bytes pulled from an async source, handed out by exact counts. */
class ByteQueue {
  private readonly chunks: Buffer[] = [];
  private head = 0;
  private offset = 0;
  buffered = 0;
  private ended = false;
  total = 0;

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly hash: { update(chunk: Buffer): void },
    private readonly offThread: OffThreadHash | undefined,
  ) {}

  /** Pull one more chunk; false at the end of the input. */
  async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.source.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = next.value;
    if (chunk.length === 0) return true;
    this.hash.update(chunk);
    if (this.offThread) await this.offThread.room();
    this.total += chunk.length;
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks.splice(0, this.head);
      this.head = 0;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    return true;
  }

  /** Up to `n` bytes (at least one) from what is buffered. */
  takeSome(n: number): Buffer {
    const buf = this.chunks[this.head]!;
    const rem = buf.length - this.offset;
    let out: Buffer;
    if (n >= rem) {
      out = this.offset === 0 ? buf : buf.subarray(this.offset);
      this.chunks[this.head++] = EMPTY;
      this.offset = 0;
    } else {
      out = buf.subarray(this.offset, this.offset + n);
      this.offset += n;
    }
    this.buffered -= out.length;
    return out;
  }

  /** Exactly `n` bytes as chunks, or null when the input ends first. */
  async take(n: number): Promise<Buffer[] | null> {
    while (this.buffered < n) if (!(await this.fill())) return null;
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const b = this.takeSome(left);
      out.push(b);
      left -= b.length;
    }
    return out;
  }

  /** Drop `n` bytes; false when the input ends first. */
  async skip(n: number): Promise<boolean> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill())) return false;
      left -= this.takeSome(left).length;
    }
    return true;
  }
}

const EMPTY = Buffer.alloc(0);

function joined(chunks: Buffer[]): Buffer {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function truncated(): Error {
  return new Error('Unexpected end of data');
}

/**
 * Read the tar in `source` to its end, calling `onEntry` for each entry in order (and waiting
 * for it). Resolves with the sha256 and size of all the bytes read; with `hashOffThread` the
 * sha256 is computed on a writer thread (OffThreadHash) instead of this one.
 */
export async function readTar(
  source: AsyncIterable<Buffer>,
  onEntry: TarEntryHandler,
  options: { wholeBytes: number; hashOffThread?: boolean },
): Promise<{ sha256: string; bytes: number }> {
  const offThread = options.hashOffThread ? new OffThreadHash() : undefined;
  const hash = offThread ?? createHash('sha256');
  const q = new ByteQueue(source[Symbol.asyncIterator](), hash, offThread);
  try {
    const bytes = await readEntries(q, onEntry, options.wholeBytes);
    return { sha256: offThread ? await offThread.digest() : (hash as Hash).digest('hex'), bytes };
  } finally {
    offThread?.dispose();
  }
}

async function readEntries(q: ByteQueue, onEntry: TarEntryHandler, wholeBytes: number): Promise<number> {
  let pax: Record<string, string> | null = null;
  let paxGlobal: Record<string, string> | null = null;
  let longPath: string | null = null;
  let longLinkPath: string | null = null;
  for (;;) {
    if (q.buffered === 0 && !(await q.fill())) break;
    const block = await q.take(BLOCK);
    if (block === null) throw truncated();
    const header = decodeHeader(joined(block));
    if (header === null) continue; // a zero block (the end marker, or padding after it)
    const size = header.size ?? 0;
    switch (header.type) {
      case 'gnu-long-path':
      case 'gnu-long-link-path':
      case 'pax-global-header':
      case 'pax-header': {
        if (size > MAX_LONG_HEADER_BYTES)
          throw new Error(`${header.type} record of ${size} bytes is too large`);
        const data = await q.take(size);
        if (data === null || !(await q.skip(padding(size)))) throw truncated();
        const buf = joined(data);
        if (header.type === 'gnu-long-path') longPath = headers.decodeLongPath(buf, 'utf-8');
        else if (header.type === 'gnu-long-link-path') longLinkPath = headers.decodeLongPath(buf, 'utf-8');
        else if (header.type === 'pax-global-header') paxGlobal = headers.decodePax(buf);
        else pax = paxGlobal === null ? headers.decodePax(buf) : { ...paxGlobal, ...headers.decodePax(buf) };
        continue;
      }
    }
    // Long names and PAX records apply to the next entry (as tar-stream applies them).
    if (longPath !== null) {
      header.name = longPath;
      longPath = null;
    }
    if (longLinkPath !== null) {
      header.linkname = longLinkPath;
      longLinkPath = null;
    }
    if (pax !== null) {
      if (pax.path) header.name = pax.path;
      if (pax.linkpath) header.linkname = pax.linkpath;
      if (pax.size) header.size = Number.parseInt(pax.size, 10);
      header.pax = pax;
      pax = null;
    }
    const bodySize = header.size ?? 0;
    if (!Number.isSafeInteger(bodySize) || bodySize < 0)
      throw new Error(`entry "${header.name}" has an invalid size`);
    // A directory's content (if any) is not file data: skipped, never parsed as headers.
    const dataSize = header.type === 'directory' ? 0 : bodySize;
    let left = dataSize;
    if (dataSize < wholeBytes) {
      const data = dataSize === 0 ? [] : await q.take(dataSize);
      if (data === null) throw truncated();
      left = 0;
      await onEntry(header, data);
    } else {
      async function* content(): AsyncGenerator<Buffer> {
        while (left > 0) {
          if (q.buffered === 0 && !(await q.fill())) throw truncated();
          const b = q.takeSome(left);
          left -= b.length;
          yield b;
        }
      }
      const stream = Readable.from(content(), { objectMode: false });
      try {
        await onEntry(header, stream);
      } finally {
        if (!stream.readableEnded && !stream.destroyed) stream.destroy();
      }
      // What the handler did not read is skipped, once the generator has stopped (destroying
      // the stream returns it).
      if (!stream.readableEnded && !stream.closed) {
        await new Promise<void>((resolve) => stream.once('close', resolve));
      }
    }
    if (!(await q.skip(left + (bodySize - dataSize) + padding(bodySize)))) throw truncated();
  }
  return q.total;
}
