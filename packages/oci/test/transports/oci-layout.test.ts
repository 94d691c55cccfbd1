import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, makeIndex } from '../../../../test/support/images.js';
import { validateImage } from '../../src/image/validate.js';
import { digestOf } from '../../src/spec/digest.js';
import { MediaType } from '../../src/spec/media-types.js';
import { ociTransport } from '../../src/transports/oci-layout.js';
import { copyAll, withDestination, withSource } from './local-copy.js';

const run = promisify(execFile);
let work: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(tmpdir(), 'skiff-oci-test-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function indexJson(
  dir: string,
): Promise<{ manifests: Array<{ digest: string; annotations?: Record<string, string> }> }> {
  return JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'));
}

describe('oci: references', () => {
  it('parses PATH, PATH:REF and PATH:@N like skopeo', () => {
    expect(ociTransport.parseReference('/tmp/x').withinTransport).toBe('/tmp/x');
    expect(ociTransport.parseReference('/tmp/x:latest').toString()).toBe('oci:/tmp/x:latest');
    expect(ociTransport.parseReference('/tmp/x:a/b:c').withinTransport).toBe('/tmp/x:a/b:c');
    expect(ociTransport.parseReference('/tmp/x:@2').withinTransport).toBe('/tmp/x:@2');
    expect(() => ociTransport.parseReference(':latest')).toThrow(
      expect.objectContaining({ code: 'INVALID_REFERENCE' }),
    );
    expect(() => ociTransport.parseReference('/tmp/x:bad ref')).toThrow(
      expect.objectContaining({ code: 'INVALID_REFERENCE' }),
    );
    expect(() => ociTransport.parseReference('/tmp/x:@x')).toThrow(
      expect.objectContaining({ code: 'INVALID_REFERENCE' }),
    );
  });
});

describe('oci: round trip', () => {
  it('copies an image into a new layout, byte-identical, and validates', async () => {
    const fx = await makeImage(path.join(work, 'src1'), { extraLayers: 2, whiteout: true });
    const dst = path.join(work, 'dst1');
    const top = await withSource(ociTransport.parseReference(`${fx.layoutDir}:${fx.ref}`).newSource(), (s) =>
      withDestination(ociTransport.parseReference(`${dst}:copied`).newDestination(), (d) => copyAll(s, d)),
    );
    expect(digestOf(top)).toBe(fx.digest);
    await withSource(ociTransport.parseReference(`${dst}:copied`).newSource(), async (s) => {
      const m = await s.getManifest();
      expect(m.raw.equals(top)).toBe(true);
      expect(m.mediaType).toBe(MediaType.ociManifest);
      const r = await validateImage(s);
      expect(r.manifests).toBe(1);
      expect(r.blobs).toBe(1 + 1 + 2 + 2);
      expect(await s.repoTags?.()).toEqual(['copied']);
    });
    // without REF: the only image
    await withSource(ociTransport.parseReference(dst).newSource(), async (s) => {
      expect(digestOf((await s.getManifest()).raw)).toBe(fx.digest);
    });
  });

  it('copies a multi-arch index with every instance', async () => {
    const fx = await makeIndex(path.join(work, 'src2'), {
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ],
    });
    const dst = path.join(work, 'dst2');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:${fx.ref}`).newSource(), (s) =>
      withDestination(ociTransport.parseReference(`${dst}:multi`).newDestination(), (d) => copyAll(s, d)),
    );
    await withSource(ociTransport.parseReference(`${dst}:multi`).newSource(), async (s) => {
      const m = await s.getManifest();
      expect(digestOf(m.raw)).toBe(fx.digest);
      expect(m.mediaType).toBe(MediaType.ociIndex);
      const r = await validateImage(s);
      expect(r.manifests).toBe(4);
    });
  });

  it('replaces the entry of the same ref and keeps others; @N selects by position', async () => {
    const dir = path.join(work, 'multi');
    const a = await makeImage(dir, { name: 'a', extraLayers: 1 });
    const b = await makeImage(dir, { name: 'b', extraLayers: 2 });
    await withSource(ociTransport.parseReference(`${dir}:b`).newSource(), (s) =>
      withDestination(ociTransport.parseReference(`${dir}:a`).newDestination(), (d) => copyAll(s, d)),
    );
    const idx = await indexJson(dir);
    expect(
      idx.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]),
    ).toEqual([
      ['b', b.digest],
      ['a', b.digest],
    ]);
    await withSource(ociTransport.parseReference(`${dir}:@0`).newSource(), async (s) => {
      expect(digestOf((await s.getManifest()).raw)).toBe(b.digest);
    });
    expect(a.digest).not.toBe(b.digest);
  });
});

describe('oci: rejections', () => {
  it('names a missing directory', async () => {
    const p = path.join(work, 'nope');
    await expect(ociTransport.parseReference(`${p}:x`).newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(p),
    });
  });

  it('lists the refs present when REF is absent from the layout', async () => {
    const dir = path.join(work, 'refs');
    await makeImage(dir, { name: 'one' });
    await makeImage(dir, { name: 'two' });
    await expect(ociTransport.parseReference(`${dir}:three`).newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/three.*one, two/),
    });
    await expect(ociTransport.parseReference(dir).newSource()).rejects.toMatchObject({
      code: 'INVALID_REFERENCE',
      message: expect.stringContaining('one, two'),
    });
    await expect(ociTransport.parseReference(`${dir}:@5`).newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('rejects a corrupt index.json naming the file', async () => {
    const dir = path.join(work, 'corrupt');
    await makeImage(dir);
    await fs.writeFile(path.join(dir, 'index.json'), '{"schemaVersion": 2, "manifests": [');
    await expect(ociTransport.parseReference(dir).newSource()).rejects.toMatchObject({
      code: 'INVALID_MANIFEST',
      message: expect.stringContaining(path.join(dir, 'index.json')),
    });
    await fs.writeFile(
      path.join(dir, 'index.json'),
      '{"schemaVersion": 2, "manifests": [{"digest": "sha256:zz"}]}',
    );
    await expect(ociTransport.parseReference(dir).newSource()).rejects.toMatchObject({
      code: 'INVALID_MANIFEST',
    });
  });

  it('fails validation on a missing or altered blob', async () => {
    const dir = path.join(work, 'missing');
    const fx = await makeImage(dir, { extraLayers: 1 });
    const m = JSON.parse(await fs.readFile(path.join(dir, 'blobs/sha256', fx.digest.slice(7)), 'utf8'));
    const layer = m.layers[1].digest as string;
    const layerFile = path.join(dir, 'blobs/sha256', layer.slice(7));
    const saved = await fs.readFile(layerFile);
    await fs.rm(layerFile);
    await withSource(ociTransport.parseReference(dir).newSource(), async (s) => {
      await expect(validateImage(s)).rejects.toMatchObject({
        code: 'BLOB_UNKNOWN',
        message: expect.stringContaining(layer),
      });
    });
    saved[saved.length - 30]! ^= 0xff;
    await fs.writeFile(layerFile, saved);
    await withSource(ociTransport.parseReference(dir).newSource(), async (s) => {
      await expect(validateImage(s)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    });
  });

  it('verifies putBlob digests and keeps nothing on mismatch', async () => {
    const dir = path.join(work, 'verify');
    await withDestination(ociTransport.parseReference(`${dir}:x`).newDestination(), async (d) => {
      const wrong = digestOf('other');
      await expect(
        d.putBlob(Readable.from([Buffer.from('hello')]), { digest: wrong, sizeBytes: 5, mediaType: 'x' }),
      ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
      expect(await fs.readdir(path.join(dir, 'blobs/sha256'))).toEqual([]);
    });
  });
});

describe('oci: destination lifecycle', () => {
  it('leaves nothing behind when closed without commit', async () => {
    const src = await makeImage(path.join(work, 'lc-src'), { extraLayers: 1 });
    const dir = path.join(work, 'lc');
    const keep = await makeImage(dir, { name: 'keep', compression: 'none' });
    const before = (await fs.readdir(path.join(dir, 'blobs/sha256'))).sort();
    const indexBefore = await fs.readFile(path.join(dir, 'index.json'));
    await withSource(ociTransport.parseReference(`${src.layoutDir}:latest`).newSource(), async (s) => {
      const d = await ociTransport.parseReference(`${dir}:new`).newDestination();
      const top = await s.getManifest();
      for (const desc of JSON.parse(top.raw.toString()).layers) {
        const b = await s.getBlob(desc);
        await d.putBlob(b.stream, { digest: desc.digest, sizeBytes: b.sizeBytes, mediaType: desc.mediaType });
      }
      await d.putManifest(top);
      await d.close();
    });
    expect((await fs.readFile(path.join(dir, 'index.json'))).equals(indexBefore)).toBe(true);
    expect((await fs.readdir(path.join(dir, 'blobs/sha256'))).sort()).toEqual(before);
    expect(keep.ref).toBe('keep');
    // a new directory is removed entirely
    const fresh = path.join(work, 'lc-fresh');
    const d = await ociTransport.parseReference(`${fresh}:x`).newDestination();
    await d.putBlob(Readable.from([Buffer.from('abc')]), { sizeBytes: 3, mediaType: 'x' });
    await d.close();
    await expect(fs.access(fresh)).rejects.toThrow();
  });

  it('concurrent commits to one layout keep every ref', async () => {
    const src = await makeImage(path.join(work, 'cc-src'));
    const dir = path.join(work, 'cc');
    const names = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
    await Promise.all(
      names.map((n) =>
        withSource(ociTransport.parseReference(`${src.layoutDir}:latest`).newSource(), (s) =>
          withDestination(ociTransport.parseReference(`${dir}:${n}`).newDestination(), (d) => copyAll(s, d)),
        ),
      ),
    );
    const idx = await indexJson(dir);
    expect(idx.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort()).toEqual(
      names,
    );
    expect((await fs.readdir(dir)).filter((n) => n.includes('lock') || n.includes('.tmp-'))).toEqual([]);
  });

  it('an aborted putBlob fails with ABORTED and keeps nothing', async () => {
    const dir = path.join(work, 'abort');
    await withDestination(ociTransport.parseReference(`${dir}:x`).newDestination(), async (d) => {
      const ac = new AbortController();
      const slow = new Readable({ read() {} });
      slow.push(Buffer.alloc(1000));
      const p = d.putBlob(slow, { sizeBytes: -1, mediaType: 'x' }, ac.signal);
      setTimeout(() => ac.abort(), 20);
      await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await fs.readdir(path.join(dir, 'blobs/sha256'))).toEqual([]);
    });
  });

  it('deleteImage removes the entry and garbage-collects unreferenced blobs', async () => {
    const dir = path.join(work, 'gc');
    const a = await makeImage(dir, { name: 'a', extraLayers: 1 });
    await makeImage(dir, { name: 'b', extraLayers: 2 });
    const ref = ociTransport.parseReference(`${dir}:b`);
    await ref.deleteImage!();
    const idx = await indexJson(dir);
    expect(idx.manifests.map((m) => m.digest)).toEqual([a.digest]);
    await withSource(ociTransport.parseReference(`${dir}:a`).newSource(), async (s) => {
      const r = await validateImage(s);
      // exactly a's manifest + config + 2 layers remain
      expect((await fs.readdir(path.join(dir, 'blobs/sha256'))).length).toBe(1 + r.blobs);
    });
    await expect(ociTransport.parseReference(`${dir}:b`).deleteImage!()).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('oci: interoperability with skopeo', () => {
  it('skopeo inspects and copies what we wrote; we read what skopeo wrote', async () => {
    const fx = await makeImage(path.join(work, 'sk-src'), { compression: 'zstd', extraLayers: 1 });
    const ours = path.join(work, 'sk-ours');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), (s) =>
      withDestination(ociTransport.parseReference(`${ours}:v1`).newDestination(), (d) => copyAll(s, d)),
    );
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${ours}:v1`]);
    expect(digestOf(Buffer.from(stdout))).toBe(fx.digest);
    const { stdout: info } = await run('skopeo', ['inspect', `oci:${ours}:v1`]);
    expect(JSON.parse(info).Layers).toHaveLength(2);
    const theirs = path.join(work, 'sk-theirs');
    await run('skopeo', ['copy', '--preserve-digests', `oci:${ours}:v1`, `oci:${theirs}:t`]);
    await withSource(ociTransport.parseReference(`${theirs}:t`).newSource(), async (s) => {
      expect(digestOf((await s.getManifest()).raw)).toBe(fx.digest);
      await validateImage(s);
    });
    // an index
    const ix = await makeIndex(path.join(work, 'sk-ix'), {
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const ixOut = path.join(work, 'sk-ix-out');
    await run('skopeo', ['copy', '--all', `oci:${ix.layoutDir}:latest`, `oci:${ixOut}:all`]);
    await withSource(ociTransport.parseReference(`${ixOut}:all`).newSource(), async (s) => {
      expect((await validateImage(s)).manifests).toBe(3);
    });
  });
});
