import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer } from '../../src/layer/apply.js';
import { getXattr, MTIME, type RawEntry, rawTarBuffer } from './apply-support.js';

const isRoot = process.geteuid?.() === 0;
let target: string;

beforeEach(() => {
  target = fs.mkdtempSync(join(tmpdir(), 'skiff-apply-'));
});
afterEach(() => {
  fs.rmSync(target, { recursive: true, force: true });
});

async function apply(entries: RawEntry[], options = {}) {
  return applyLayer(target, Readable.from([await rawTarBuffer(entries)]), options);
}

describe('applyLayer', () => {
  it('writes files, dirs, symlinks, hard links with modes, mtimes and a diffID of the uncompressed tar', async () => {
    const buf = await rawTarBuffer([
      { name: 'etc/', type: 'directory', mode: 0o750 },
      { name: 'etc/passwd', content: 'root:x:0:0\n', mode: 0o644 },
      { name: 'bin/', type: 'directory' },
      { name: 'bin/su', content: 'ELF', mode: 0o4755 },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
      { name: 'bin/busybox', content: 'BB', mode: 0o755 },
      { name: 'bin/ls', type: 'link', linkname: 'bin/busybox' },
    ]);
    for (const [kind, bytes] of [
      ['none', buf],
      ['gzip', gzipSync(buf)],
      ['zstd', spawnSync('zstd', ['-q', '-c'], { input: buf }).stdout],
    ] as const) {
      fs.rmSync(target, { recursive: true, force: true });
      fs.mkdirSync(target);
      const stats = await applyLayer(target, Readable.from([bytes]));
      expect(stats.diffId, kind).toBe(`sha256:${createHash('sha256').update(buf).digest('hex')}`);
      expect(stats.tarBytes).toBe(buf.length);
      expect(stats.files).toBe(3);
      expect(stats.bytes).toBe(11 + 3 + 2);
      expect(fs.statSync(join(target, 'etc')).mode & 0o7777).toBe(0o750);
      expect(fs.statSync(join(target, 'etc')).mtime.getTime()).toBe(MTIME.getTime());
      expect(fs.statSync(join(target, 'bin/su')).mode & 0o7777).toBe(0o4755);
      expect(fs.lstatSync(join(target, 'etc/passwd')).mtime.getTime()).toBe(MTIME.getTime());
      expect(fs.readlinkSync(join(target, 'bin/sh'))).toBe('busybox');
      expect(fs.lstatSync(join(target, 'bin/sh')).mtime.getTime()).toBe(MTIME.getTime());
      expect(fs.statSync(join(target, 'bin/ls')).ino).toBe(fs.statSync(join(target, 'bin/busybox')).ino);
      expect(fs.statSync(join(target, 'bin/busybox')).nlink).toBe(2);
    }
  });

  it('fails with DIGEST_MISMATCH when the diffID is not the expected one', async () => {
    await expect(
      apply([{ name: 'a', content: 'a' }], { expectedDiffId: `sha256:${'0'.repeat(64)}` }),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('rejects a corrupt stream with INVALID_ARCHIVE', async () => {
    const gz = gzipSync(await rawTarBuffer([{ name: 'a', content: 'x'.repeat(10000) }]));
    await expect(applyLayer(target, Readable.from([gz.subarray(0, gz.length - 20)]))).rejects.toMatchObject({
      code: 'INVALID_ARCHIVE',
    });
  });

  it.runIf(isRoot)('sets ownership, mapped through mapIds', async () => {
    await apply([
      { name: 'd/', type: 'directory', uid: 10, gid: 20 },
      { name: 'd/f', content: 'x', uid: 1234, gid: 5678, mode: 0o2755 },
      { name: 'd/l', type: 'symlink', linkname: 'f', uid: 7, gid: 8 },
    ]);
    expect(fs.statSync(join(target, 'd')).uid).toBe(10);
    const f = fs.statSync(join(target, 'd/f'));
    expect([f.uid, f.gid, f.mode & 0o7777]).toEqual([1234, 5678, 0o2755]);
    expect(fs.lstatSync(join(target, 'd/l')).uid).toBe(7);

    await apply([{ name: 'm', content: 'x', uid: 1000, gid: 1000 }], {
      mapIds: ({ uid, gid }: { uid: number; gid: number }) => ({ uid: uid + 100000, gid: gid + 200000 }),
    });
    const m = fs.statSync(join(target, 'm'));
    expect([m.uid, m.gid]).toEqual([101000, 201000]);
  });

  it('vfs whiteouts delete lower content; opaque dirs keep only this layer entries', async () => {
    await apply([
      { name: 'a/', type: 'directory' },
      { name: 'a/old1', content: '1' },
      { name: 'a/sub/old2', content: '2' },
      { name: 'b/', type: 'directory' },
      { name: 'b/gone', content: 'x' },
      { name: 'b/stay', content: 'x' },
      { name: 'c/', type: 'directory' },
      { name: 'c/deep/x', content: 'x' },
    ]);
    await apply([
      { name: 'a/', type: 'directory' },
      { name: 'a/new', content: 'n' },
      { name: 'a/.wh..wh..opq', content: '' },
      { name: 'a/after', content: 'n' },
      { name: 'b/.wh.gone', content: '' },
      { name: '.wh.c', content: '' },
    ]);
    expect(fs.readdirSync(join(target, 'a')).sort()).toEqual(['after', 'new']);
    expect(fs.readdirSync(join(target, 'b'))).toEqual(['stay']);
    expect(fs.existsSync(join(target, 'c'))).toBe(false);
    expect(fs.existsSync(join(target, 'b/.wh.gone'))).toBe(false);
  });

  it.runIf(isRoot)('overlay whiteouts: 0/0 character devices and the opaque xattr', async () => {
    await apply(
      [
        { name: 'a/', type: 'directory' },
        { name: 'a/.wh..wh..opq', content: '' },
        { name: 'a/new', content: 'n' },
        { name: 'b/.wh.gone', content: '' },
      ],
      { whiteouts: 'overlay' },
    );
    const wh = fs.lstatSync(join(target, 'b/gone'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(getXattr(join(target, 'a'), 'trusted.overlay.opaque')).toBe('y');
    expect(fs.readdirSync(join(target, 'a'))).toEqual(['new']);
    // A whiteout and a new entry of the same name in one layer: the new entry stays.
    await apply(
      [
        { name: 'c/.wh.same', content: '' },
        { name: 'c/same', content: 'kept' },
      ],
      { whiteouts: 'overlay' },
    );
    expect(fs.readFileSync(join(target, 'c/same'), 'utf8')).toBe('kept');
  });

  it.runIf(isRoot)('makes devices and FIFOs as root', async () => {
    const stats = await apply([
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/fifo', type: 'fifo', mode: 0o640 },
    ]);
    expect(stats.warnings).toEqual([]);
    const n = fs.lstatSync(join(target, 'dev/null'));
    expect(n.isCharacterDevice()).toBe(true);
    expect(n.rdev).toBe(fs.statSync('/dev/null').rdev);
    expect(n.mode & 0o777).toBe(0o666);
    expect(fs.lstatSync(join(target, 'dev/fifo')).isFIFO()).toBe(true);
    expect(fs.lstatSync(join(target, 'dev/fifo')).mode & 0o777).toBe(0o640);
  });

  it('sets xattrs from PAX SCHILY.xattr records', async () => {
    await apply([{ name: 'f', content: 'x', pax: { 'SCHILY.xattr.user.skiff': 'hello' } }]);
    expect(getXattr(join(target, 'f'), 'user.skiff')).toBe('hello');
  });

  it('replaces entries of a lower layer: file → dir, dir → file, symlink → file', async () => {
    await apply([
      { name: 'x', content: 'file' },
      { name: 'y/z', content: 'in dir' },
      { name: 's', type: 'symlink', linkname: 'x' },
    ]);
    await apply([
      { name: 'x/', type: 'directory' },
      { name: 'y', content: 'now a file' },
      { name: 's', content: 'now a file too' },
    ]);
    expect(fs.lstatSync(join(target, 'x')).isDirectory()).toBe(true);
    expect(fs.readFileSync(join(target, 'y'), 'utf8')).toBe('now a file');
    expect(fs.readFileSync(join(target, 's'), 'utf8')).toBe('now a file too');
  });

  it('streams a large file without holding it (64 MiB, fsynced)', async () => {
    const size = 64 << 20;
    const { pack } = await import('tar-stream');
    const p = pack();
    const chunk = Buffer.alloc(1 << 20, 7);
    const w = p.entry({ name: 'big', size, mode: 0o644, mtime: MTIME });
    (async () => {
      for (let i = 0; i < 64; i++) if (!w.write(chunk)) await new Promise((r) => w.once('drain', r));
      w.end();
      p.finalize();
    })();
    const rssBefore = process.memoryUsage().rss;
    const stats = await applyLayer(target, p);
    expect(stats.bytes).toBe(size);
    expect(fs.statSync(join(target, 'big')).size).toBe(size);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(48 << 20);
  });

  it('makes new directories on the writer threads: nested chains, modes, times, owners, a set-group-ID parent', async () => {
    // A chain 40 deep with a file at each level: each directory's parent may be queued on
    // another writer thread than the directory itself and its files.
    const entries: RawEntry[] = [];
    let path = '';
    for (let i = 0; i < 40; i++) {
      path += `n${i}/`;
      entries.push({ name: path, type: 'directory', mode: i % 2 ? 0o750 : 0o755 });
      entries.push({ name: `${path}f`, content: `level ${i}\n` });
    }
    entries.push(
      { name: 'sticky/', type: 'directory', mode: 0o1777 },
      { name: 'ro/', type: 'directory', mode: 0o555 },
      { name: 'ro/inside', content: 'x' },
      { name: 'sgid/', type: 'directory', mode: 0o2775, gid: 4242 },
      { name: 'sgid/plain/', type: 'directory', mode: 0o755, gid: 7 },
      { name: 'sgid/plain/f', content: 'y', gid: 7 },
      { name: 'sgid/kept/', type: 'directory', mode: 0o2755, gid: 4242 },
      // A file, then a directory of the same name: replaced (on the caller's thread).
      { name: 'swap', content: 'file first' },
      { name: 'swap/', type: 'directory', mode: 0o700 },
      { name: 'swap/in', content: 'z' },
    );
    await apply(entries);
    path = target;
    for (let i = 0; i < 40; i++) {
      path = join(path, `n${i}`);
      const st = fs.statSync(path);
      expect(st.mode & 0o7777, path).toBe(i % 2 ? 0o750 : 0o755);
      expect(st.mtime.getTime(), path).toBe(MTIME.getTime());
      expect(fs.readFileSync(join(path, 'f'), 'utf8')).toBe(`level ${i}\n`);
    }
    expect(fs.statSync(join(target, 'sticky')).mode & 0o7777).toBe(0o1777);
    expect(fs.statSync(join(target, 'ro')).mode & 0o7777).toBe(0o555);
    expect(fs.readFileSync(join(target, 'ro/inside'), 'utf8')).toBe('x');
    expect(fs.statSync(join(target, 'sgid')).mode & 0o7777).toBe(0o2775);
    // Made in a set-group-ID directory, which would give it the set-group-ID bit: the header's mode wins.
    expect(fs.statSync(join(target, 'sgid/plain')).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(join(target, 'sgid/kept')).mode & 0o7777).toBe(0o2755);
    if (isRoot) {
      expect(fs.statSync(join(target, 'sgid')).gid).toBe(4242);
      expect(fs.statSync(join(target, 'sgid/plain')).gid).toBe(7);
      expect(fs.statSync(join(target, 'sgid/plain/f')).gid).toBe(7);
      expect(fs.statSync(join(target, 'sgid/kept')).gid).toBe(4242);
    }
    expect(fs.statSync(join(target, 'swap')).isDirectory()).toBe(true);
    expect(fs.statSync(join(target, 'swap')).mode & 0o7777).toBe(0o700);
    expect(fs.readFileSync(join(target, 'swap/in'), 'utf8')).toBe('z');
  });

  it('a directory whose parent waits, unsent, for another writer thread does not stall the layer', async () => {
    // The writer threads' choice of thread (write-pool.ts: FNV-1a of the directory path).
    const threads = Math.min(4, Math.max(2, availableParallelism()));
    const threadOf = (path: string) => {
      let h = 2166136261;
      for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 16777619);
      return (h >>> 0) % threads;
    };
    const root = fs.realpathSync(target);
    let b = 0;
    while (threadOf(join(root, 'a')) === threadOf(join(root, 'a', `b${b}`))) b++;
    // Nothing else goes to the parent's thread, and the child's thread gets more batches than
    // it may have queued: its first batch (making the child) waits for the parent.
    const entries: RawEntry[] = [
      { name: 'a/', type: 'directory' },
      { name: `a/b${b}/`, type: 'directory' },
    ];
    for (let f = 0; f < 2600; f++) entries.push({ name: `a/b${b}/f${f}`, content: 'x' });
    const stats = await apply(entries);
    expect(stats.files).toBe(2600);
    expect(fs.readdirSync(join(target, 'a', `b${b}`))).toHaveLength(2600);
  });

  // Timing belongs in `npm run bench`; this checks that a many-files layer lands whole.
  it('unpacks 20,000 small files', async () => {
    const entries: RawEntry[] = [];
    for (let d = 0; d < 100; d++) {
      entries.push({ name: `d${d}/`, type: 'directory' });
      for (let f = 0; f < 200; f++) entries.push({ name: `d${d}/f${f}`, content: `file ${d}/${f}\n` });
    }
    const buf = await rawTarBuffer(entries);
    const stats = await applyLayer(target, Readable.from([buf]));
    expect(stats.files).toBe(20000);
    expect(fs.readdirSync(join(target, 'd99'))).toHaveLength(200);
    expect(fs.readFileSync(join(target, 'd42', 'f199'), 'utf8')).toBe('file 42/199\n');
  });
});

describe('applyLayer binary xattrs', () => {
  it('keeps non-UTF-8 xattr bytes (security.capability style) intact', async () => {
    // A PAX record with raw bytes 0x01 0xff 0x00 0x80 as the value of user.bin.
    const value = Buffer.from([0x01, 0xff, 0x80, 0xfe]);
    const body = Buffer.concat([Buffer.from('SCHILY.xattr.user.bin='), value, Buffer.from('\n')]);
    let len = body.length + 3;
    if (String(len).length + 1 + body.length !== len) len = String(len + 1).length + 1 + body.length;
    const record = Buffer.concat([Buffer.from(`${len} `), body]);
    const headerBlock = (name: string, type: string, size: number) => {
      const h = Buffer.alloc(512);
      h.write(name, 0, 'latin1');
      h.write('0000644\0', 100, 'latin1');
      h.write('0000000\0', 108, 'latin1');
      h.write('0000000\0', 116, 'latin1');
      h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
      h.write(
        `${Math.floor(MTIME.getTime() / 1000)
          .toString(8)
          .padStart(11, '0')}\0`,
        136,
        'latin1',
      );
      h.write(type, 156, 'latin1');
      h.write('ustar\x0000', 257, 'latin1');
      h.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
      return h;
    };
    const pax = headerBlock('PaxHeader', 'x', record.length);
    const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
    const file = headerBlock('f', '0', 1);
    const tarBuf = Buffer.concat([pax, pad(record), file, pad(Buffer.from('x')), Buffer.alloc(1024)]);
    await applyLayer(target, Readable.from([tarBuf]));
    expect(fs.readFileSync(join(target, 'f'), 'utf8')).toBe('x');
    const r = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], "user.bin").hex())',
        join(target, 'f'),
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(r.stdout).toBe(value.toString('hex'));
  });
});
