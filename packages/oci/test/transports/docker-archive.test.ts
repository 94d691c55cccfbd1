import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage } from '../../../../test/support/images.js';
import { readTar, writeTar } from '../../../../test/support/tar.js';
import { validateImage } from '../../src/image/validate.js';
import { digestOf } from '../../src/spec/digest.js';
import { parseManifest } from '../../src/spec/manifest.js';
import { MediaType } from '../../src/spec/media-types.js';
import { dockerArchiveTransport } from '../../src/transports/docker-archive.js';
import { ociTransport } from '../../src/transports/oci-layout.js';
import { copyAll, withDestination, withSource } from './local-copy.js';

const run = promisify(execFile);
let work: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(tmpdir(), 'skiff-darchive-test-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function writeArchive(name: string, ref: string, spec: Parameters<typeof makeImage>[1] = {}) {
  const fx = await makeImage(path.join(work, `${name}-src`), {
    format: 'v2s2',
    compression: 'none',
    ...spec,
  });
  const file = path.join(work, `${name}.tar`);
  const top = await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), (s) =>
    withDestination(
      dockerArchiveTransport.parseReference(`${file}${ref ? `:${ref}` : ''}`).newDestination(),
      (d) => copyAll(s, d),
    ),
  );
  return { fx, file, top };
}

describe('docker-archive: references', () => {
  it('parses PATH, PATH:NAME:TAG and PATH:@N', () => {
    expect(dockerArchiveTransport.parseReference('/a.tar').withinTransport).toBe('/a.tar');
    expect(dockerArchiveTransport.parseReference('/a.tar:busybox:1').toString()).toBe(
      'docker-archive:/a.tar:docker.io/library/busybox:1',
    );
    expect(dockerArchiveTransport.parseReference('/a.tar:localhost:5000/x/y:z').withinTransport).toBe(
      '/a.tar:localhost:5000/x/y:z',
    );
    expect(dockerArchiveTransport.parseReference('/a.tar:@1').withinTransport).toBe('/a.tar:@1');
    expect(() => dockerArchiveTransport.parseReference('/a.tar:busybox')).toThrow(
      expect.objectContaining({ code: 'INVALID_REFERENCE' }),
    );
    expect(() => dockerArchiveTransport.parseReference('/a.tar:Upper:1')).toThrow(
      expect.objectContaining({ code: 'INVALID_REFERENCE' }),
    );
  });
});

describe('docker-archive: round trip', () => {
  it('writes docker save format and reads it back identically', async () => {
    const { fx, file, top } = await writeArchive('rt', 'x/y:z', { extraLayers: 2, whiteout: true });
    expect(digestOf(top)).toBe(fx.digest);
    const entries = await readTar(file);
    const manifestJson = JSON.parse(entries.find((e) => e.name === 'manifest.json')!.content!.toString());
    expect(manifestJson).toHaveLength(1);
    expect(manifestJson[0].RepoTags).toEqual(['docker.io/x/y:z']);
    expect(manifestJson[0].Layers).toHaveLength(5);
    expect(manifestJson[0].Config).toMatch(/^[a-f0-9]{64}\.json$/);
    for (const ref of ['', ':x/y:z', ':docker.io/x/y:z', ':@0']) {
      await withSource(dockerArchiveTransport.parseReference(`${file}${ref}`).newSource(), async (s) => {
        const m = await s.getManifest();
        // The source synthesises v2s2 with uncompressed layers: byte-identical to the fixture's.
        expect(m.mediaType).toBe(MediaType.dockerManifest);
        const parsed = parseManifest(m.raw, m.mediaType, 'x');
        const orig = parseManifest(top, undefined, 'orig');
        expect(parsed.kind === 'manifest' && parsed.layers.map((l) => l.digest)).toEqual(
          orig.kind === 'manifest' && orig.layers.map((l) => l.digest),
        );
        expect(parsed.kind === 'manifest' && parsed.config.digest).toBe(
          orig.kind === 'manifest' && orig.config.digest,
        );
        expect((await validateImage(s)).blobs).toBe(6);
        expect(await s.repoTags?.()).toEqual(['docker.io/x/y:z']);
      });
    }
    // copying the synthesised image on to a layout and back gives the same manifest bytes
    const again = path.join(work, 'rt2.tar');
    const raw1 = await withSource(dockerArchiveTransport.parseReference(file).newSource(), (s) =>
      withDestination(dockerArchiveTransport.parseReference(`${again}:x/y:z`).newDestination(), (d) =>
        copyAll(s, d),
      ),
    );
    const raw2 = await withSource(
      dockerArchiveTransport.parseReference(again).newSource(),
      async (s) => (await s.getManifest()).raw,
    );
    expect(raw2.equals(raw1)).toBe(true);
  });

  it('reads a gzip-compressed archive', async () => {
    const { file } = await writeArchive('gz', 'a:b');
    const gz = path.join(work, 'gz.tar.gz');
    await pipeline(createReadStream(file), createGzip(), createWriteStream(gz));
    await withSource(dockerArchiveTransport.parseReference(gz).newSource(), async (s) => {
      expect((await validateImage(s)).blobs).toBe(2);
    });
  });

  it('refuses compressed layers and indexes', async () => {
    const fx = await makeImage(path.join(work, 'cz-src'), { format: 'v2s2', compression: 'gzip' });
    const file = path.join(work, 'cz.tar');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), async (s) => {
      const d = await dockerArchiveTransport.parseReference(file).newDestination();
      expect(d.capabilities).toMatchObject({
        supportsIndex: false,
        layerCompression: 'decompress',
        concurrentBlobs: false,
      });
      await expect(copyAll(s, d)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      await d.close();
    });
    await expect(fs.access(file)).rejects.toThrow();
    expect((await fs.readdir(work)).filter((n) => n.startsWith('.cz.tar'))).toEqual([]);
  });
});

describe('docker-archive: several images in one archive', () => {
  it('selects by NAME:TAG or @N and asks for one when REF is absent', async () => {
    const a = await writeArchive('multi-a', 'a/one:1', { extraLayers: 1 });
    const b = await writeArchive('multi-b', 'b/two:2', { extraLayers: 2 });
    const merged = path.join(work, 'merged');
    await fs.mkdir(merged);
    await run('tar', ['-xf', a.file, '-C', merged]);
    const first = JSON.parse(await fs.readFile(path.join(merged, 'manifest.json'), 'utf8'));
    await run('tar', ['-xf', b.file, '-C', merged]);
    const second = JSON.parse(await fs.readFile(path.join(merged, 'manifest.json'), 'utf8'));
    await fs.writeFile(path.join(merged, 'manifest.json'), JSON.stringify([...first, ...second]));
    const file = path.join(work, 'merged.tar');
    await run('tar', ['-cf', file, '-C', merged, '.']);
    const digestOfRef = (ref: string) =>
      withSource(dockerArchiveTransport.parseReference(`${file}:${ref}`).newSource(), async (s) => {
        await validateImage(s);
        const m = parseManifest((await s.getManifest()).raw, undefined, ref);
        return m.kind === 'manifest' ? m.config.digest : '';
      });
    const configOf = (raw: Buffer) => {
      const m = parseManifest(raw, undefined, 'x');
      return m.kind === 'manifest' ? m.config.digest : '';
    };
    expect(await digestOfRef('b/two:2')).toBe(configOf(b.top));
    expect(await digestOfRef('@0')).toBe(configOf(a.top));
    expect(await digestOfRef('docker.io/a/one:1')).toBe(configOf(a.top));
    await expect(dockerArchiveTransport.parseReference(file).newSource()).rejects.toMatchObject({
      code: 'INVALID_REFERENCE',
      message: expect.stringContaining('docker.io/b/two:2'),
    });
  });
});

describe('docker-archive: rejections', () => {
  it('names a missing archive, a tag that is not there, and a bad manifest.json', async () => {
    const missing = path.join(work, 'missing.tar');
    await expect(dockerArchiveTransport.parseReference(missing).newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(missing),
    });
    const { file } = await writeArchive('rej', 'one:v1');
    await expect(dockerArchiveTransport.parseReference(`${file}:two:v2`).newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('docker.io/library/one:v1'),
    });
    await expect(dockerArchiveTransport.parseReference(`${file}:@3`).newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const bad = path.join(work, 'bad.tar');
    await writeTar(bad, [{ name: 'manifest.json', type: 'file', content: '[{"Config": 1}' }]);
    await expect(dockerArchiveTransport.parseReference(bad).newSource()).rejects.toMatchObject({
      code: 'INVALID_ARCHIVE',
      message: expect.stringContaining('manifest.json'),
    });
    await writeTar(bad, [
      { name: 'manifest.json', type: 'file', content: '[{"Config": "c.json", "Layers": ["l.tar"]}]' },
    ]);
    await expect(dockerArchiveTransport.parseReference(bad).newSource()).rejects.toMatchObject({
      code: 'INVALID_ARCHIVE',
      message: expect.stringContaining('"c.json"'),
    });
    await fs.writeFile(bad, 'this is not a tar file at all, just text that goes on for a while'.repeat(20));
    await expect(dockerArchiveTransport.parseReference(bad).newSource()).rejects.toMatchObject({
      code: 'INVALID_ARCHIVE',
    });
  });

  it('spools blobs of unknown digest/size, and a lying blob poisons the archive', async () => {
    const fx = await makeImage(path.join(work, 'sp-src'), {
      format: 'v2s2',
      compression: 'none',
      extraLayers: 1,
    });
    const file = path.join(work, 'sp.tar');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), async (s) => {
      const top = await s.getManifest();
      const m = parseManifest(top.raw, undefined, 'x');
      if (m.kind !== 'manifest') throw new Error('expected a manifest');
      // unknown digest and size: spooled, digest computed
      await withDestination(
        dockerArchiveTransport.parseReference(`${file}:s/p:1`).newDestination(),
        async (d) => {
          for (const desc of [m.config, ...m.layers]) {
            const b = await s.getBlob(desc);
            const got = await d.putBlob(b.stream, {
              sizeBytes: -1,
              mediaType: desc.mediaType,
              isConfig: desc === m.config,
            });
            expect(got.digest).toBe(desc.digest);
          }
          await d.putManifest(top);
          await d.commit();
        },
      );
      await withSource(dockerArchiveTransport.parseReference(file).newSource(), (src) => validateImage(src));
      // a blob that does not match its digest: putBlob fails, commit refuses, nothing is left
      const bad = path.join(work, 'sp-bad.tar');
      const d = await dockerArchiveTransport.parseReference(bad).newDestination();
      const layer = m.layers[0]!;
      const b = await s.getBlob(m.layers[1]!);
      await expect(
        d.putBlob(b.stream, {
          digest: layer.digest as `sha256:${string}`,
          sizeBytes: m.layers[1]!.size,
          mediaType: 'x',
        }),
      ).rejects.toMatchObject({ code: expect.stringMatching(/DIGEST_MISMATCH|SIZE_MISMATCH/) });
      await expect(d.commit()).rejects.toBeDefined();
      await d.close();
      expect((await fs.readdir(work)).filter((n) => n.includes('sp-bad'))).toEqual([]);
    });
  });

  it('leaves no file behind when closed without commit', async () => {
    const fx = await makeImage(path.join(work, 'nc-src'), { format: 'v2s2', compression: 'none' });
    const file = path.join(work, 'nc.tar');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), async (s) => {
      const d = await dockerArchiveTransport.parseReference(`${file}:a:b`).newDestination();
      const m = parseManifest((await s.getManifest()).raw, undefined, 'x');
      if (m.kind !== 'manifest') throw new Error('expected a manifest');
      const b = await s.getBlob(m.layers[0]!);
      await d.putBlob(b.stream, {
        digest: m.layers[0]!.digest as `sha256:${string}`,
        sizeBytes: b.sizeBytes,
        mediaType: 'x',
      });
      await d.close();
    });
    expect((await fs.readdir(work)).filter((n) => n.includes('nc.tar'))).toEqual([]);
  });
});

describe('docker-archive: interoperability', () => {
  it('skopeo reads what we wrote and we read what skopeo wrote', async () => {
    const { file } = await writeArchive('sk', 'x/y:z', { extraLayers: 1 });
    const { stdout } = await run('skopeo', ['inspect', `docker-archive:${file}`]);
    const info = JSON.parse(stdout);
    expect(info.Layers).toHaveLength(2);
    expect(info.RepoTags ?? []).toBeDefined();
    const back = path.join(work, 'sk-back');
    await run('skopeo', ['copy', `docker-archive:${file}`, `oci:${back}:b`]);
    await withSource(ociTransport.parseReference(`${back}:b`).newSource(), (s) => validateImage(s));
    // skopeo writes docker-archive (with the legacy per-layer directories and symlinks): we read it.
    // (skopeo 1.9 reads only OCI media types from an OCI layout, so the source here is an OCI image.)
    const oci = await makeImage(path.join(work, 'sk-oci'), { extraLayers: 1 });
    const theirs = path.join(work, 'theirs.tar');
    await run('skopeo', ['copy', `oci:${oci.layoutDir}:latest`, `docker-archive:${theirs}:x/y:z`]);
    await withSource(dockerArchiveTransport.parseReference(`${theirs}:x/y:z`).newSource(), async (s) => {
      expect((await validateImage(s)).blobs).toBe(3);
    });
  });

  it('podman load accepts what we wrote', async () => {
    const { file } = await writeArchive('pl', 'skiff-test/loaded:v1');
    const root = await fs.mkdtemp(path.join(tmpdir(), 'skiff-podman-'));
    const args = [
      '--root',
      path.join(root, 'root'),
      '--runroot',
      path.join(root, 'run'),
      '--storage-driver',
      'vfs',
    ];
    try {
      const { stdout } = await run('podman', [...args, 'load', '-i', file]);
      expect(stdout).toContain('skiff-test/loaded:v1');
      const { stdout: images } = await run('podman', [
        ...args,
        'images',
        '--format',
        '{{.Repository}}:{{.Tag}}',
      ]);
      expect(images).toContain('skiff-test/loaded:v1');
    } finally {
      await run('podman', [...args, 'system', 'reset', '--force']).catch(() => {});
      await fs.rm(root, { recursive: true, force: true });
    }
  }, 120_000);
});
