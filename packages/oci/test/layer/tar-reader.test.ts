import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStreamHeaders from 'tar-stream/headers.js';
import { describe, expect, it } from 'vitest';
import { decodeHeader, readTar } from '../../src/layer/tar-reader.js';
import { rawTarBuffer } from './apply-support.js';

/** The input in pieces of `piece` bytes (entries and headers straddle chunk boundaries). */
function chunked(buf: Buffer, piece: number): AsyncIterable<Buffer> {
  const parts: Buffer[] = [];
  for (let o = 0; o < buf.length; o += piece) parts.push(buf.subarray(o, o + piece));
  return Readable.from(parts);
}

interface Seen {
  name: string;
  type: string | null | undefined;
  linkname: string | null | undefined;
  whole: boolean;
  content: string;
}

async function readAll(
  buf: Buffer,
  piece: number,
  opts: { wholeBytes: number; read?: (name: string) => boolean; hashOffThread?: boolean },
): Promise<{ seen: Seen[]; sha256: string; bytes: number }> {
  const seen: Seen[] = [];
  const r = await readTar(
    chunked(buf, piece),
    async (header, body) => {
      let content = '';
      const whole = Array.isArray(body);
      if (whole) content = Buffer.concat(body).toString();
      else if (opts.read?.(header.name) ?? true) {
        const parts: Buffer[] = [];
        for await (const c of body) parts.push(c as Buffer);
        content = Buffer.concat(parts).toString();
      }
      seen.push({ name: header.name, type: header.type, linkname: header.linkname, whole, content });
    },
    { wholeBytes: opts.wholeBytes, hashOffThread: opts.hashOffThread ?? false },
  );
  return { seen, ...r };
}

describe('readTar', () => {
  const big = 'b'.repeat(5000);
  const longName = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
  const entries = [
    { name: 'dir', type: 'directory' as const },
    { name: 'dir/small', content: 'hello' },
    { name: 'dir/big', content: big },
    { name: longName, content: 'long' },
    { name: 'link', type: 'symlink' as const, linkname: `/${'t'.repeat(200)}` },
    { name: 'after', content: 'end', pax: { 'SCHILY.xattr.user.a': 'v' } },
  ];

  it('reads every entry, whole or streamed, across chunk boundaries, and hashes all the bytes', async () => {
    const buf = await rawTarBuffer(entries);
    for (const piece of [1, 7, 512, 700, 1 << 20]) {
      const { seen, sha256, bytes } = await readAll(buf, piece, { wholeBytes: 1000 });
      expect(seen.map((s) => [s.name, s.type, s.whole, s.content])).toEqual([
        ['dir', 'directory', true, ''],
        ['dir/small', 'file', true, 'hello'],
        ['dir/big', 'file', false, big],
        [longName, 'file', true, 'long'],
        ['link', 'symlink', true, ''],
        ['after', 'file', true, 'end'],
      ]);
      expect(seen[4]!.linkname).toBe(`/${'t'.repeat(200)}`);
      expect(sha256).toBe(createHash('sha256').update(buf).digest('hex'));
      expect(bytes).toBe(buf.length);
    }
  });

  it('hashes on a writer thread (hashOffThread) to the same sha256, in chunks of any size, across several MiB', async () => {
    const large = Buffer.alloc(5 * (1 << 20) + 123, 7);
    for (let i = 0; i < large.length; i += 4096) large[i] = i & 0xff;
    const buf = await rawTarBuffer([...entries, { name: 'large', content: large }]);
    for (const piece of [511, 300_000, 3 << 20]) {
      const { sha256, bytes } = await readAll(buf, piece, { wholeBytes: 1000, hashOffThread: true });
      expect(sha256, String(piece)).toBe(createHash('sha256').update(buf).digest('hex'));
      expect(bytes).toBe(buf.length);
    }
    // A failed read leaves nothing waiting (the next hash still works).
    await expect(
      readAll(buf.subarray(0, 3 << 20), 1 << 20, { wholeBytes: 1000, hashOffThread: true }),
    ).rejects.toThrow(/Unexpected end of data/);
    const again = await readAll(buf, 1 << 20, { wholeBytes: 1000, hashOffThread: true });
    expect(again.sha256).toBe(createHash('sha256').update(buf).digest('hex'));
  });

  it('skips what a handler leaves of a streamed entry', async () => {
    const buf = await rawTarBuffer(entries);
    const { seen } = await readAll(buf, 300, { wholeBytes: 1000, read: () => false });
    expect(seen.map((s) => s.name)).toEqual(['dir', 'dir/small', 'dir/big', longName, 'link', 'after']);
    expect(seen[5]!.content).toBe('end');
  });

  it('rejects a truncated tar and a corrupted header', async () => {
    const buf = await rawTarBuffer(entries);
    const cut = buf.subarray(0, 512 * 4 + 100);
    await expect(readAll(cut, 512, { wholeBytes: 1000 })).rejects.toThrow(/Unexpected end of data/);
    const bad = Buffer.from(buf);
    bad[512 + 10] = bad[512 + 10]! ^ 0xff;
    await expect(readAll(bad, 512, { wholeBytes: 1000 })).rejects.toThrow(/Invalid tar header/);
  });
});

describe('decodeHeader', () => {
  it('decodes every header as tar-stream does (GNU tar in each format, odd fields, corrupt blocks)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-tar-headers-'));
    try {
      mkdirSync(join(dir, 'src', `${'p'.repeat(90)}`, 'sub'), { recursive: true });
      writeFileSync(join(dir, 'src', `${'p'.repeat(90)}`, 'sub', `${'n'.repeat(60)}.txt`), 'x');
      writeFileSync(join(dir, 'src', 'ünï'), 'y');
      symlinkSync('target/ü', join(dir, 'src', 'ln'));
      linkSync(join(dir, 'src', 'ünï'), join(dir, 'src', 'hard'));
      const blocks: Buffer[] = [];
      for (const format of ['ustar', 'posix', 'gnu', 'oldgnu', 'v7']) {
        const r = spawnSync(
          'tar',
          ['-c', `--format=${format}`, '--owner=4000000', '-C', join(dir, 'src'), '.'],
          {
            maxBuffer: 1 << 24,
          },
        );
        const ok = r.status === 0;
        const tarBuf = ok
          ? r.stdout
          : spawnSync('tar', ['-c', `--format=${format}`, '-C', join(dir, 'src'), '.']).stdout;
        for (let o = 0; o + 512 <= tarBuf.length; o += 512) blocks.push(tarBuf.subarray(o, o + 512));
      }
      // Odd fields: a space-padded size, a base-256 uid, a leading sign, a broken checksum.
      const base = Buffer.from(blocks.find((b) => b.subarray(257, 262).toString() === 'ustar')!);
      const variants = [
        (b: Buffer) => b.write('  00017 ', 124, 'latin1'),
        (b: Buffer) => {
          b.fill(0, 108, 116);
          b[108] = 0x80;
          b[115] = 7;
        },
        (b: Buffer) => b.write('+0000644', 100, 'latin1'),
        (b: Buffer) => b.write('0000644\u0000', 100, 'latin1'),
      ];
      const reseal = (b: Buffer) => {
        b.fill(32, 148, 156);
        let sum = 0;
        for (const x of b) sum += x;
        b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
      };
      for (const v of variants) {
        const b = Buffer.from(base);
        v(b);
        reseal(b);
        blocks.push(b);
      }
      const corrupt = Buffer.from(base);
      corrupt[0] = corrupt[0]! ^ 1;
      blocks.push(corrupt, Buffer.alloc(512));
      const decodeWith = (f: () => unknown) => {
        try {
          return { ok: f() };
        } catch (err) {
          return { error: (err as Error).message };
        }
      };
      let decoded = 0;
      for (const b of blocks) {
        const mine = decodeWith(() => decodeHeader(b));
        const theirs = decodeWith(() => tarStreamHeaders.decode(b, 'utf-8', false));
        expect(mine).toEqual(theirs);
        if ('ok' in mine && mine.ok) decoded++;
      }
      expect(decoded).toBeGreaterThan(20);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
