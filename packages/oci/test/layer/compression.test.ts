import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  compressStream,
  decompressStream,
  detectCompression,
  peekCompression,
} from '../../src/layer/compression.js';
import type { Compression } from '../../src/spec/media-types.js';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    stream,
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

function chunked(data: Buffer, size = 65536): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

describe('detectCompression', () => {
  it('recognises gzip and zstd magic numbers', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(detectCompression(Buffer.from('ustar'))).toBe('none');
    expect(detectCompression(Buffer.from([0x1f]))).toBe('none');
    expect(detectCompression(Buffer.alloc(0))).toBe('none');
  });
});

describe('compress/decompress round trips', () => {
  // Half random, half repetitive: compressible but not trivially.
  const data = Buffer.concat([randomBytes(1 << 20), Buffer.alloc(2 << 20, 'skiff ')]);

  for (const kind of ['none', 'gzip', 'zstd'] as Compression[]) {
    it(`${kind}: bytes survive and the output has the right magic`, async () => {
      const compressed = await collect(chunked(data).pipe(compressStream(kind)));
      expect(detectCompression(compressed)).toBe(kind);
      if (kind !== 'none') expect(compressed.length).toBeLessThan(data.length);
      const back = await collect(chunked(compressed).pipe(decompressStream(kind)));
      expect(back.equals(data)).toBe(true);
    });
  }

  it('zstd output is readable by the zstd CLI and vice versa', async () => {
    const compressed = await collect(chunked(data).pipe(compressStream('zstd', { level: 1 })));
    const viaCli = execFileSync('zstd', ['-d', '-c'], { input: compressed, maxBuffer: 16 << 20 });
    expect(viaCli.equals(data)).toBe(true);
    const fromCli = execFileSync('zstd', ['-c', '-19'], {
      input: data.subarray(0, 100_000),
      maxBuffer: 16 << 20,
    });
    const back = await collect(Readable.from([fromCli]).pipe(decompressStream('zstd')));
    expect(back.equals(data.subarray(0, 100_000))).toBe(true);
  });

  it('handles an empty stream', async () => {
    for (const kind of ['gzip', 'zstd'] as Compression[]) {
      const c = await collect(Readable.from([]).pipe(compressStream(kind)));
      expect((await collect(Readable.from([c]).pipe(decompressStream(kind)))).length).toBe(0);
    }
  });
});

describe('errors', () => {
  it('corrupt zstd input fails with INVALID_ARCHIVE', async () => {
    const bad = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(4096)]);
    await expect(collect(Readable.from([bad]).pipe(decompressStream('zstd')))).rejects.toMatchObject({
      code: 'INVALID_ARCHIVE',
      message: expect.stringContaining('zstd'),
    });
  });

  it('corrupt gzip input fails with INVALID_ARCHIVE', async () => {
    const good = gzipSync(Buffer.from('hello world'.repeat(100)));
    const bad = Buffer.from(good);
    bad.fill(0xee, 12, 40);
    const err = await pipeline(
      Readable.from([bad]),
      decompressStream('gzip'),
      new Writable({ write: (_c, _e, cb) => cb() }),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_ARCHIVE' });
  });

  it('destroying a zstd stream kills the process and does not hang', async () => {
    const z = compressStream('zstd');
    z.write(randomBytes(1 << 16));
    z.destroy();
    await new Promise((r) => z.once('close', r));
    expect(z.destroyed).toBe(true);
  });
});

describe('peekCompression', () => {
  it('detects without losing a byte, for each kind and tiny inputs', async () => {
    const raw = randomBytes(200_000);
    for (const kind of ['none', 'gzip', 'zstd'] as Compression[]) {
      const c = await collect(chunked(raw).pipe(compressStream(kind)));
      // one-byte chunks at the start exercise the read loop
      const parts = [c.subarray(0, 1), c.subarray(1, 2), c.subarray(2, 3), c.subarray(3)];
      const { compression, stream } = await peekCompression(Readable.from(parts));
      expect(compression).toBe(kind);
      expect((await collect(stream)).equals(c)).toBe(true);
    }
    const tiny = await peekCompression(Readable.from([Buffer.from([0x1f])]));
    expect(tiny.compression).toBe('none');
    expect((await collect(tiny.stream)).equals(Buffer.from([0x1f]))).toBe(true);
    const empty = await peekCompression(Readable.from([]));
    expect((await collect(empty.stream)).length).toBe(0);
  });
});
