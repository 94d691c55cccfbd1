import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/spec/digest.js';
import { resolveStoreLocation } from '../../src/storage/config.js';
import { chainIdOf, openStore, type Store } from '../../src/storage/store.js';
import { familyImage, imageOf, layerOf, putTestImage } from './support.js';

const isRoot = process.geteuid?.() === 0;
let dir: string;
let store: Store | undefined;

beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-store-'));
});
afterEach(() => {
  store?.close();
  store = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

async function open(driver: 'vfs' | 'overlay' = 'vfs') {
  store = await openStore({
    root: join(dir, 'root'),
    runroot: join(dir, 'run'),
    driver,
    configPath: '/dev/null',
  });
  return store;
}

describe('local store', () => {
  it('puts, gets, lists, tags, untags and removes images', async () => {
    const s = await open();
    const img = await familyImage(1);
    await putTestImage(s, img, ['localhost/a:1']);
    const got = s.getImage('localhost/a:1');
    expect(got?.id).toBe(img.id);
    expect(got?.manifestDigest).toBe(img.manifestDigest);
    expect(got?.manifest.equals(img.manifest)).toBe(true);
    expect(got?.config.equals(img.config)).toBe(true);
    expect(got?.created).toBe('2020-01-01T00:00:00Z');
    expect(got?.layers).toHaveLength(3);
    expect(s.getImage(img.id.slice(0, 12))?.id).toBe(img.id);
    expect(s.getImage(`sha256:${img.id}`)?.id).toBe(img.id);
    expect(s.getImage('localhost/nope:1')).toBeUndefined();

    s.tag(img.id.slice(0, 12), 'localhost/b:2');
    expect(s.getImage(img.id)?.names).toEqual(['localhost/a:1', 'localhost/b:2']);
    expect(s.listImages().map((i) => i.names)).toEqual([['localhost/a:1', 'localhost/b:2']]);
    s.untag('localhost/a:1');
    expect(s.getImage(img.id)?.names).toEqual(['localhost/b:2']);
    expect(() => s.untag('localhost/a:1')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));

    // Removing by one of several names only untags, as podman.
    s.tag(img.id, 'localhost/c:3');
    expect(s.removeImage('localhost/c:3')).toMatchObject({ deleted: false, untagged: ['localhost/c:3'] });
    const r = s.removeImage('localhost/b:2');
    expect(r).toMatchObject({
      deleted: true,
      untagged: ['localhost/b:2'],
      removedLayers: 3,
      removedBlobs: 4,
    });
    expect(s.listImages()).toEqual([]);
    expect(fs.readdirSync(join(dir, 'root', 'layers'))).toEqual([]);
    expect(fs.readdirSync(join(dir, 'root', 'blobs', 'sha256'))).toEqual([]);
    expect(await s.check()).toEqual({ ok: true, problems: [], leftovers: [] });
  });

  it('stores shared layers and blobs once and keeps them while another image uses them', async () => {
    const s = await open();
    const a = await familyImage(1);
    const b = await familyImage(3); // same base and mid layer as 1
    await putTestImage(s, a, ['localhost/a:latest']);
    await putTestImage(s, b, ['localhost/b:latest']);
    expect(fs.readdirSync(join(dir, 'root', 'layers'))).toHaveLength(4);
    expect(fs.readdirSync(join(dir, 'root', 'blobs', 'sha256'))).toHaveLength(4 + 2);
    expect(s.getImage('localhost/a:latest')?.layers.slice(0, 2)).toEqual(
      s.getImage('localhost/b:latest')?.layers.slice(0, 2),
    );
    const r = s.removeImage('localhost/a:latest');
    expect(r).toMatchObject({ removedLayers: 1, removedBlobs: 2 });
    expect((await s.check()).ok).toBe(true);
    // The vfs layer holds the whole filesystem: base file present, whiteout applied, own file there.
    const top = s.getLayer(s.getImage('localhost/b:latest')!.layers[2]!)!;
    expect(fs.existsSync(join(top.path, 'bin/sh'))).toBe(true);
    expect(fs.existsSync(join(top.path, 'usr/lib/mid1'))).toBe(true);
    expect(fs.existsSync(join(top.path, 'app/3.bin'))).toBe(true);
    expect(fs.existsSync(join(top.path, 'etc/os-release'))).toBe(false);
  });

  it('applyLayer is idempotent by chain ID and checks the diffID', async () => {
    const s = await open();
    const l = await layerOf([{ name: 'x', content: 'x' }]);
    await s.putBlob(Readable.from([l.gz]), { digest: l.digest });
    let opened = 0;
    const openBlob = () => {
      opened += 1;
      return s.getBlob(l.digest).stream;
    };
    const first = await s.applyLayer(undefined, l.diffId, l.digest, openBlob);
    const second = await s.applyLayer(undefined, l.diffId, l.digest, openBlob);
    expect(first).toEqual(second);
    expect(first.chainId).toBe(chainIdOf(undefined, l.diffId));
    expect(opened).toBe(1);
    const wrong = await layerOf([{ name: 'y', content: 'y' }]);
    await expect(s.applyLayer(first.chainId, wrong.diffId, l.digest, openBlob)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
    expect(fs.readdirSync(join(dir, 'root', 'tmp'))).toEqual([]);
    expect((await s.check()).ok).toBe(true);
  });

  it('putBlob verifies digest and size while streaming and keeps nothing on failure', async () => {
    const s = await open();
    const data = Buffer.from('hello');
    await expect(s.putBlob(Readable.from([data]), { digest: digestOf('other') })).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
    await expect(s.putBlob(Readable.from([data]), { sizeBytes: 3 })).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
    });
    expect(fs.readdirSync(join(dir, 'root', 'tmp'))).toEqual([]);
    expect(fs.readdirSync(join(dir, 'root', 'blobs', 'sha256'))).toEqual([]);
    const info = await s.putBlob(Readable.from([data]));
    expect(info).toEqual({ digest: digestOf(data), sizeBytes: 5 });
    expect(await s.putBlob(Readable.from([data]))).toEqual(info);
  });

  it('putImage refuses an image whose layers are not unpacked, and registers nothing', async () => {
    const s = await open();
    const img = await familyImage(2);
    await s.putBlob(Readable.from([img.config]));
    expect(() => s.putImage({ manifest: img.manifest, names: ['localhost/x:1'] })).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
    expect(s.listImages()).toEqual([]);
  });

  it('check reports a corrupted blob and a missing layer directory', async () => {
    const s = await open();
    const img = await familyImage(1);
    await putTestImage(s, img, ['localhost/a:1']);
    fs.appendFileSync(join(dir, 'root', 'blobs', 'sha256', img.layers[0]!.digest.slice(7)), 'x');
    fs.rmSync(s.getLayer(s.getImage('localhost/a:1')!.layers[1]!)!.path, { recursive: true });
    const report = await s.check();
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toContain(`blob ${img.layers[0]!.digest}`);
    expect(report.problems.join('\n')).toMatch(/layer sha256:[0-9a-f]+: directory missing/);
  });

  it('the open cleanup removes temp entries of dead processes and unregistered files', async () => {
    let s = await open();
    s.close();
    const dead = spawnSync('true').pid!;
    fs.mkdirSync(join(dir, 'root', 'tmp', `${dead}-abc-layer`, 'diff'), { recursive: true });
    fs.writeFileSync(join(dir, 'root', 'blobs', 'sha256', 'a'.repeat(64)), 'orphan');
    fs.mkdirSync(join(dir, 'root', 'layers', 'b'.repeat(64)));
    s = await open();
    expect(fs.readdirSync(join(dir, 'root', 'tmp'))).toEqual([]);
    expect(fs.readdirSync(join(dir, 'root', 'blobs', 'sha256'))).toEqual([]);
    expect(fs.readdirSync(join(dir, 'root', 'layers'))).toEqual([]);
  });

  it('refuses to reopen a store with another driver when one is asked for', async () => {
    (await open('vfs')).close();
    store = undefined;
    await expect(open('overlay')).rejects.toMatchObject({
      code: 'STORAGE',
      message: expect.stringContaining('vfs'),
    });
  });

  it.runIf(isRoot)(
    'overlay: diff dirs hold overlay whiteouts; a mount of the chain shows the merged tree',
    async () => {
      const s = await open('overlay');
      const img = await familyImage(1);
      await putTestImage(s, img, ['localhost/o:1']);
      const layers = s.getImage('localhost/o:1')!.layers.map((c) => s.getLayer(c)!);
      expect(fs.existsSync(join(layers[0]!.path, 'bin/sh'))).toBe(true);
      expect(fs.existsSync(join(layers[2]!.path, 'bin/sh'))).toBe(false);
      expect(fs.lstatSync(join(layers[2]!.path, 'etc/os-release')).isCharacterDevice()).toBe(true);
      const mount = await s.mountImage('localhost/o:1');
      const merged = mount.path;
      expect(merged).toBe(join(dir, 'run', 'mounts', img.id));
      try {
        expect(fs.readdirSync(merged).sort()).toEqual(['app', 'bin', 'etc', 'usr']);
        expect(fs.existsSync(join(merged, 'etc/os-release'))).toBe(false);
        expect(fs.statSync(join(merged, 'bin/sh')).size).toBe(64 * 1024);
        expect(() => fs.writeFileSync(join(merged, 'x'), 'x')).toThrow(/EROFS/);
      } finally {
        await mount.unmount();
      }
      expect(fs.existsSync(merged)).toBe(false);
      // A one-layer image mounts too (overlay needs two lowers: an empty one is added).
      const one = imageOf([await layerOf([{ name: 'only', content: '1' }])]);
      await putTestImage(s, one, ['localhost/one:1']);
      const m1 = await s.mountImage('localhost/one:1', { target: join(dir, 'm1') });
      try {
        expect(fs.readdirSync(m1.path)).toEqual(['only']);
      } finally {
        await m1.unmount();
      }
    },
  );

  it('reports a read-only root clearly', async () => {
    const ro = join(dir, 'ro');
    fs.mkdirSync(ro);
    if (isRoot) {
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
      expect(m.status).toBe(0);
    } else {
      fs.chmodSync(ro, 0o555);
    }
    try {
      await expect(
        openStore({ root: join(ro, 'storage'), runroot: join(dir, 'run'), configPath: '/dev/null' }),
      ).rejects.toMatchObject({
        code: 'IO',
        message: expect.stringMatching(
          /storage root .*ro\/storage: (read-only file system|permission denied)/,
        ),
        hint: expect.stringContaining('--root'),
      });
    } finally {
      if (isRoot) spawnSync('umount', [ro]);
    }
  });

  it.runIf(isRoot)('reports a full disk clearly and stays usable', async () => {
    const small = join(dir, 'small');
    fs.mkdirSync(small);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]).status).toBe(0);
    try {
      const s = await openStore({
        root: join(small, 'storage'),
        runroot: join(dir, 'run'),
        driver: 'vfs',
        configPath: '/dev/null',
      });
      try {
        const big = Buffer.alloc(4 << 20, 1);
        await expect(s.putBlob(Readable.from([big]))).rejects.toMatchObject({
          code: 'IO',
          message: expect.stringContaining('no space left on device'),
        });
        const img = imageOf([await layerOf([{ name: 'f', content: 'small' }])]);
        await putTestImage(s, img, ['localhost/small:1']);
        expect(s.getImage('localhost/small:1')?.id).toBe(img.id);
        expect(await s.check()).toEqual({ ok: true, problems: [], leftovers: [] });
      } finally {
        s.close();
      }
    } finally {
      spawnSync('umount', [small]);
    }
  });
});

describe('store location', () => {
  it('reads [storage] driver, graphroot and runroot from storage.conf; options win', () => {
    const conf = join(dir, 'storage.conf');
    fs.writeFileSync(conf, '[storage]\ndriver = "vfs"\ngraphroot = "/srv/g"\nrunroot = "/srv/r"\n');
    if (isRoot) {
      expect(resolveStoreLocation({ configPath: conf })).toMatchObject({
        root: '/srv/g',
        runroot: '/srv/r',
        driver: 'vfs',
      });
    }
    expect(resolveStoreLocation({ configPath: conf, root: '/x', driver: 'overlay' })).toMatchObject({
      root: '/x',
      driver: 'overlay',
    });
    fs.writeFileSync(conf, '[storage]\ndriver = "btrfs"\n');
    expect(() => resolveStoreLocation({ configPath: conf })).toThrow(
      expect.objectContaining({ code: 'CONFIG_FILE' }),
    );
    fs.writeFileSync(conf, '[storage\n');
    expect(() => resolveStoreLocation({ configPath: conf })).toThrow(/not valid TOML/);
  });

  it('defaults to /var/lib/skiff/storage and /run/skiff as root, XDG paths rootless', () => {
    const env = {
      HOME: '/home/u',
      XDG_DATA_HOME: '/d',
      XDG_RUNTIME_DIR: '/r',
      SKIFF_STORAGE_CONF: '/dev/null',
    };
    const loc = resolveStoreLocation({ env });
    if (isRoot)
      expect(loc).toMatchObject({ root: '/var/lib/skiff/storage', runroot: '/run/skiff', rootless: false });
    else expect(loc).toMatchObject({ root: '/d/skiff/storage', runroot: '/r/skiff', rootless: true });
  });
});

describe('garbage collection', () => {
  it('removes unreferenced blobs and layers older than the grace period, keeps used ones', async () => {
    const s = await open();
    const img = await familyImage(1);
    await putTestImage(s, img, ['localhost/keep:1']);
    const stray = await layerOf([{ name: 'stray', content: 'stray' }]);
    await s.putBlob(Readable.from([stray.gz]));
    await s.applyLayer(undefined, stray.diffId, stray.digest, () => s.getBlob(stray.digest).stream);
    expect(s.collectGarbage()).toEqual({ removedLayers: 0, removedBlobs: 0 });
    expect(s.collectGarbage({ olderThanMs: 0 })).toEqual({ removedLayers: 1, removedBlobs: 1 });
    expect(s.hasBlob(stray.digest)).toBe(false);
    expect(s.getLayer(stray.diffId)).toBeUndefined();
    expect(s.getImage('localhost/keep:1')?.layers).toHaveLength(3);
    expect(await s.check()).toEqual({ ok: true, problems: [], leftovers: [] });
  });
});

describe('images used by containers', () => {
  it('removeImage refuses while a container uses the image, unless forced', async () => {
    const s = await open();
    const img = await familyImage(4);
    await putTestImage(s, img, ['localhost/used:1']);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(dir, 'root', 'skiff.db'));
    db.pragma('busy_timeout = 5000');
    db.prepare('INSERT INTO containers(id, name, image_id, layer, added) VALUES (?, ?, ?, ?, ?)').run(
      'c'.repeat(64),
      'web',
      img.id,
      null,
      Date.now(),
    );
    db.close();
    expect(() => s.removeImage('localhost/used:1')).toThrow(
      expect.objectContaining({ code: 'IN_USE', message: expect.stringContaining('cccccccccccc') }),
    );
    expect(s.getImage('localhost/used:1')).toBeDefined();
    expect(s.removeImage('localhost/used:1', { force: true })).toMatchObject({ deleted: true });
    expect(s.listImages()).toEqual([]);
    expect(await s.check()).toEqual({ ok: true, problems: [], leftovers: [] });
  });
});

describe('overlay unpacks layers concurrently', () => {
  it.runIf(isRoot)(
    'registers in chain order, and a failed parent fails its children without leftovers',
    async () => {
      const s = await open('overlay');
      const a = await layerOf([{ name: 'a', content: 'a'.repeat(100_000) }]);
      const b = await layerOf([{ name: 'b', content: 'b' }]);
      for (const l of [a, b]) await s.putBlob(Readable.from([l.gz]));
      const order: string[] = [];
      const opener = (l: typeof a, name: string) => () => {
        order.push(name);
        return s.getBlob(l.digest).stream;
      };
      // The child is asked for at once, before its parent is registered.
      const [pa, pb] = await Promise.all([
        s.applyLayer(undefined, a.diffId, a.digest, opener(a, 'a')),
        s.applyLayer(chainIdOf(undefined, a.diffId), b.diffId, b.digest, opener(b, 'b')),
      ]);
      expect(pb.parent).toBe(pa.chainId);
      expect(order.sort()).toEqual(['a', 'b']);

      const c = await layerOf([{ name: 'c', content: 'c' }]);
      const d = await layerOf([{ name: 'd', content: 'd' }]);
      for (const l of [c, d]) await s.putBlob(Readable.from([l.gz]));
      const wrongDiffId = (await layerOf([{ name: 'other', content: 'x' }])).diffId;
      const results = await Promise.allSettled([
        s.applyLayer(pb.chainId, wrongDiffId, c.digest, () => s.getBlob(c.digest).stream),
        s.applyLayer(
          chainIdOf(pb.chainId, wrongDiffId),
          d.diffId,
          d.digest,
          () => s.getBlob(d.digest).stream,
        ),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'DIGEST_MISMATCH' });
      expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'NOT_FOUND' });
      expect(fs.readdirSync(join(dir, 'root', 'layers'))).toHaveLength(2);
      expect(fs.readdirSync(join(dir, 'root', 'tmp'))).toEqual([]);
      expect(await s.check()).toEqual({ ok: true, problems: [], leftovers: [] });
    },
  );
});
