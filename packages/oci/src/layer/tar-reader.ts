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

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type * as tar from 'tar-stream';
import tarStreamHeaders from 'tar-stream/headers.js';

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

/** Bytes pulled from an async source, handed out by exact counts. */
class ByteQueue {
  private readonly chunks: Buffer[] = [];
  private head = 0;
  private offset = 0;
  buffered = 0;
  private ended = false;
  readonly hash = createHash('sha256');
  total = 0;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

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
 * for it). Resolves with the sha256 and size of all the bytes read.
 */
export async function readTar(
  source: AsyncIterable<Buffer>,
  onEntry: TarEntryHandler,
  options: { wholeBytes: number },
): Promise<{ sha256: string; bytes: number }> {
  const q = new ByteQueue(source[Symbol.asyncIterator]());
  let pax: Record<string, string> | null = null;
  let paxGlobal: Record<string, string> | null = null;
  let longPath: string | null = null;
  let longLinkPath: string | null = null;
  for (;;) {
    if (q.buffered === 0 && !(await q.fill())) break;
    const block = await q.take(BLOCK);
    if (block === null) throw truncated();
    const header = headers.decode(joined(block), 'utf-8', false);
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
    if (dataSize < options.wholeBytes) {
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
  return { sha256: q.hash.digest('hex'), bytes: q.total };
}
