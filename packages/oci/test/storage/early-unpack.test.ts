import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/spec/digest.js';
import { openStore, type Store } from '../../src/storage/store.js';
import { layerOf, type TestLayer } from './support.js';

const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
let dir: string;
let store: Store | undefined;

beforeEach(async () => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-early-'));
  store = await openStore({
    root: join(dir, 'root'),
    runroot: join(dir, 'run'),
    driver: 'overlay',
    configPath: '/dev/null',
  });
});
afterEach(() => {
  store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const tmpEntries = () => fs.readdirSync(join(dir, 'root', 'tmp'));

/** putBlob a layer, then applyLayer it, expecting the tree unpacked during putBlob (the blob is not read again). */
async function putThenApply(l: TestLayer) {
  await store!.putBlob(Readable.from([l.gz]), {
    digest: l.digest,
    sizeBytes: l.gz.length,
    mediaType: GZIP_LAYER,
  });
  let opened = 0;
  const layer = await store!.applyLayer(undefined, l.diffId, l.digest, () => {
    opened += 1;
    return store!.getBlob(l.digest).stream;
  });
  expect(opened).toBe(0);
  return layer;
}

describe('overlay: layer blobs unpack while they are written', () => {
  it('applyLayer registers the tree unpacked during putBlob without reading the blob again', async () => {
    const l = await layerOf([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/motd', content: 'hi\n' },
    ]);
    const layer = await putThenApply(l);
    expect(fs.readFileSync(join(layer.path, 'etc', 'motd'), 'utf8')).toBe('hi\n');
    expect(layer.files).toBe(1);
    expect(tmpEntries()).toEqual([]);
    expect((await store!.check()).problems).toEqual([]);
  });

  it('a tree unpacked for another diffID is discarded and the layer unpacked from the blob (which then fails the check)', async () => {
    const l = await layerOf([{ name: 'a.txt', content: 'a' }]);
    await store!.putBlob(Readable.from([l.gz]), {
      digest: l.digest,
      sizeBytes: l.gz.length,
      mediaType: GZIP_LAYER,
    });
    const wrong = digestOf('not the diff');
    await expect(
      store!.applyLayer(undefined, wrong, l.digest, () => store!.getBlob(l.digest).stream),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(tmpEntries()).toEqual([]);
  });

  it('a blob that is not a tar is still stored; applyLayer reports it; nothing is left in tmp', async () => {
    const bad = gzipSync(Buffer.from('this is not a tar archive at all'.repeat(40)));
    const digest = digestOf(bad);
    await store!.putBlob(Readable.from([bad]), { digest, sizeBytes: bad.length, mediaType: GZIP_LAYER });
    expect(store!.hasBlob(digest)).toBe(true);
    await expect(
      store!.applyLayer(undefined, digestOf('x'), digest, () => store!.getBlob(digest).stream),
    ).rejects.toThrow();
    expect(tmpEntries()).toEqual([]);
  });

  it('a blob failing its digest check is not stored and leaves no unpacked tree behind', async () => {
    const l = await layerOf([{ name: 'b.txt', content: 'b' }]);
    await expect(
      store!.putBlob(Readable.from([l.gz]), {
        digest: digestOf('other'),
        sizeBytes: l.gz.length,
        mediaType: GZIP_LAYER,
      }),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(store!.hasBlob(l.digest)).toBe(false);
    expect(tmpEntries()).toEqual([]);
  });

  it('a large layer blob (synced with its tree, not fsynced alone) is stored whole and its tree used; a large non-tar blob is still stored', async () => {
    const content = randomBytes(40 << 20);
    const l = await layerOf([
      { name: 'big/', type: 'directory' },
      { name: 'big/data.bin', content },
    ]);
    expect(l.gz.length).toBeGreaterThanOrEqual(32 << 20);
    const layer = await putThenApply(l);
    expect(fs.readFileSync(join(layer.path, 'big', 'data.bin')).equals(content)).toBe(true);
    expect(tmpEntries()).toEqual([]);

    const bad = gzipSync(randomBytes(33 << 20), { level: 1 });
    const badDigest = digestOf(bad);
    await store!.putBlob(Readable.from([bad]), {
      digest: badDigest,
      sizeBytes: bad.length,
      mediaType: GZIP_LAYER,
    });
    expect(store!.hasBlob(badDigest)).toBe(true);
    expect(tmpEntries()).toEqual([]);
    expect((await store!.check()).problems).toEqual([]);
  });

  it('an unclaimed tree is removed on close', async () => {
    const l = await layerOf([{ name: 'c.txt', content: 'c' }]);
    await store!.putBlob(Readable.from([l.gz]), {
      digest: l.digest,
      sizeBytes: l.gz.length,
      mediaType: GZIP_LAYER,
    });
    expect(tmpEntries()).toHaveLength(1);
    store!.close();
    expect(tmpEntries()).toEqual([]);
  });
});
