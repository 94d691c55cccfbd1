import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, makeIndex } from '../../../../test/support/images.js';
import { startRegistry, type TestRegistry } from '../../../../test/support/registry.js';
import { copyImage } from '../../src/copy/copy.js';
import type { CopyProgressEvent } from '../../src/copy/events.js';
import { validateImage } from '../../src/image/validate.js';
import { decompressStream } from '../../src/layer/compression.js';
import { RegistryClientPool } from '../../src/registry/pool.js';
import type { Digest } from '../../src/spec/digest.js';
import { parseManifest } from '../../src/spec/manifest.js';
import { MediaType } from '../../src/spec/media-types.js';
import { openStore } from '../../src/storage/store.js';
import { parseImageName } from '../../src/transports/index.js';

let work: string;
let registry: TestRegistry;
const insecure = { tlsVerify: false };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'copy-engine-'));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function validate(name: string) {
  const src = await parseImageName(name).newSource(insecure);
  try {
    return await validateImage(src);
  } finally {
    await src.close();
  }
}

async function manifestAt(name: string) {
  const src = await parseImageName(name).newSource(insecure);
  try {
    const { raw, mediaType } = await src.getManifest();
    return parseManifest(raw, mediaType, name);
  } finally {
    await src.close();
  }
}

async function sha256OfDecompressed(path: string, kind: 'gzip' | 'zstd' | 'none'): Promise<string> {
  const hash = createHash('sha256');
  const d = decompressStream(kind);
  const done = new Promise<void>((resolve, reject) => {
    d.on('data', (c: Buffer) => hash.update(c));
    d.on('end', resolve);
    d.on('error', reject);
  });
  d.end(await readFile(path));
  await done;
  return `sha256:${hash.digest('hex')}`;
}

describe('copyImage', () => {
  it('copies an image byte for byte, then skips every blob the second time', async () => {
    const img = await makeImage(join(work, 'single'), { extraLayers: 3 });
    const dest = `docker://${registry.host}/engine/single:1`;
    const events: CopyProgressEvent[] = [];
    const first = await copyImage(parseImageName(img.transportRef), parseImageName(dest), {
      destinationOptions: insecure,
      onProgress: (e) => events.push(e),
    });
    expect(first.digest).toBe(img.digest);
    expect(first.blobsCopied).toBe(5); // 4 layers + config
    expect(events[0]).toMatchObject({ type: 'start' });
    expect(events.at(-1)).toEqual({ type: 'done', digest: img.digest });
    expect(events.filter((e) => e.type === 'blob-done')).toHaveLength(5);
    await validate(dest);

    const second = await copyImage(parseImageName(img.transportRef), parseImageName(dest), {
      destinationOptions: insecure,
    });
    expect(second).toMatchObject({ digest: img.digest, blobsCopied: 0, blobsSkipped: 5 });
  });

  it('copies every instance of an index by default, keeping its digest', async () => {
    const idx = await makeIndex(join(work, 'index'), {
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const dest = `oci:${join(work, 'index-copy')}:x`;
    const result = await copyImage(parseImageName(idx.transportRef), parseImageName(dest));
    expect(result.digest).toBe(idx.digest);
    expect(result.instances).toBe(2);
    const written = await manifestAt(dest);
    expect(written.kind).toBe('index');
    expect((await validate(dest)).manifests).toBe(3);
  });

  it('narrows an index to one platform with --override-arch semantics', async () => {
    const idx = await makeIndex(join(work, 'index2'), {
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const src = await manifestAt(idx.transportRef);
    if (src.kind !== 'index') throw new Error('fixture is not an index');
    const arm = src.manifests.find((d) => d.platform?.architecture === 'arm64')!;
    const dest = `oci:${join(work, 'narrow')}:arm`;
    const result = await copyImage(parseImageName(idx.transportRef), parseImageName(dest), {
      platform: { architecture: 'arm64' },
    });
    expect(result.digest).toBe(arm.digest);
    expect((await manifestAt(dest)).kind).toBe('manifest');

    await expect(
      copyImage(parseImageName(idx.transportRef), parseImageName(`oci:${join(work, 'narrow')}:s390x`), {
        platform: { architecture: 's390x' },
      }),
    ).rejects.toMatchObject({
      code: 'NO_MATCHING_PLATFORM',
      message: expect.stringContaining('linux/arm64'),
    });
  });

  it('converts to Docker v2s2 and recompresses to zstd with DiffIDs intact', async () => {
    const img = await makeImage(join(work, 'convert'), { extraLayers: 2 });
    const v2s2 = `dir:${join(work, 'v2s2')}`;
    const r1 = await copyImage(parseImageName(img.transportRef), parseImageName(v2s2), { format: 'v2s2' });
    const m1 = await manifestAt(v2s2);
    expect(m1.mediaType).toBe(MediaType.dockerManifest);
    expect(r1.digest).not.toBe(img.digest);
    await validate(v2s2);

    const zstdDir = join(work, 'zstd');
    await copyImage(parseImageName(v2s2), parseImageName(`dir:${zstdDir}`), {
      format: 'oci',
      compression: 'zstd',
    });
    const m2 = await manifestAt(`dir:${zstdDir}`);
    if (m2.kind !== 'manifest') throw new Error('expected a manifest');
    expect(m2.layers.every((l) => l.mediaType === MediaType.ociLayerZstd)).toBe(true);
    const config = JSON.parse(await readFile(join(zstdDir, m2.config.digest.slice(7)), 'utf8'));
    for (const [i, layer] of m2.layers.entries()) {
      expect(await sha256OfDecompressed(join(zstdDir, layer.digest.slice(7)), 'zstd')).toBe(
        config.rootfs.diff_ids[i],
      );
    }
    await validate(`dir:${zstdDir}`);
  });

  it('decompresses layers for docker-archive, which cannot hold an index', async () => {
    const idx = await makeIndex(join(work, 'index3'), {
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const archive = join(work, 'out.tar');
    const r = await copyImage(
      parseImageName(idx.transportRef),
      parseImageName(`docker-archive:${archive}:demo/x:1`),
      {
        platform: { os: 'linux', architecture: 'amd64' },
      },
    );
    expect(r.mediaType).toBe(MediaType.dockerManifest);
    await validate(`docker-archive:${archive}`);
    await expect(
      copyImage(parseImageName(idx.transportRef), parseImageName(`docker-archive:${join(work, 'all.tar')}`), {
        multiArch: 'all',
      }),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    expect(existsSync(join(work, 'all.tar'))).toBe(false);
  });

  it('refuses a conversion with preserveDigests before writing anything', async () => {
    const img = await makeImage(join(work, 'preserve'));
    const dest = `docker://${registry.host}/engine/preserve:1`;
    await expect(
      copyImage(parseImageName(img.transportRef), parseImageName(dest), {
        destinationOptions: insecure,
        format: 'v2s2',
        preserveDigests: true,
      }),
    ).rejects.toMatchObject({ code: 'DIGEST_WOULD_CHANGE' });
    const requests = await registry.requests();
    expect(requests.filter((r) => r.path.includes('/engine/preserve/'))).toEqual([]);
  });

  it('fails on a corrupted blob, names it, and leaves no manifest at the destination', async () => {
    const img = await makeImage(join(work, 'corrupt'), { extraLayers: 1 });
    const m = await manifestAt(img.transportRef);
    if (m.kind !== 'manifest') throw new Error('expected a manifest');
    const victim = m.layers[1]!;
    const path = join(img.layoutDir, 'blobs', 'sha256', victim.digest.slice(7));
    const bytes = await readFile(path);
    bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    const dest = `docker://${registry.host}/engine/corrupt:1`;
    await expect(
      copyImage(parseImageName(img.transportRef), parseImageName(dest), { destinationOptions: insecure }),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(victim.digest) });
    await expect(manifestAt(dest)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });

    const layoutDest = join(work, 'corrupt-out');
    await expect(
      copyImage(parseImageName(img.transportRef), parseImageName(`oci:${layoutDest}:x`)),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    const left = existsSync(join(layoutDest, 'index.json'))
      ? JSON.parse(await readFile(join(layoutDest, 'index.json'), 'utf8')).manifests
      : [];
    expect(left).toEqual([]);
    if (existsSync(join(layoutDest, 'blobs', 'sha256'))) {
      expect(await readdir(join(layoutDest, 'blobs', 'sha256'))).not.toContain(victim.digest.slice(7));
    }

    // The store trusts the engine's check (it does not hash verified blobs again): the corrupt
    // blob must still never land there, nor an image naming it.
    const root = join(work, 'corrupt-store');
    const storeRef = `containers-storage:[vfs@${root}/root+${root}/run]localhost/corrupt:1`;
    await expect(copyImage(parseImageName(img.transportRef), parseImageName(storeRef))).rejects.toMatchObject(
      {
        code: 'DIGEST_MISMATCH',
      },
    );
    expect(existsSync(join(root, 'root'))).toBe(true); // the copy really opened this store
    const store = await openStore({ root: join(root, 'root'), runroot: join(root, 'run'), driver: 'vfs' });
    try {
      expect(store.hasBlob(victim.digest as Digest)).toBe(false);
      expect(store.listImages()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('with a shared client pool, mounts a blob another repository of the job already holds', async () => {
    const img = await makeImage(join(work, 'pooled'), { extraLayers: 1 });
    const pool = new RegistryClientPool();
    const options = { destinationOptions: { ...insecure, clientPool: pool } };
    try {
      const first = await copyImage(
        parseImageName(img.transportRef),
        parseImageName(`docker://${registry.host}/engine/pool-a:1`),
        options,
      );
      expect(first.blobsMounted).toBe(0);
      const second = await copyImage(
        parseImageName(img.transportRef),
        parseImageName(`docker://${registry.host}/engine/pool-b:1`),
        options,
      );
      // Every blob of the second copy came by mount from pool-a, none was uploaded again.
      expect(second).toMatchObject({ blobsMounted: 2, blobsCopied: 1 }); // the config is put, not mounted
      const uploads = (await registry.requests()).filter(
        (r) => r.method === 'POST' && r.path.startsWith('/v2/engine/pool-b/blobs/uploads/'),
      );
      expect(uploads.filter((r) => r.path.includes('mount=')).length).toBe(2);
      await validate(`docker://${registry.host}/engine/pool-b:1`);
    } finally {
      await pool.close();
    }
  });

  it('stops when aborted', async () => {
    const img = await makeImage(join(work, 'abort'));
    const controller = new AbortController();
    controller.abort();
    await expect(
      copyImage(parseImageName(img.transportRef), parseImageName(`oci:${join(work, 'abort-out')}:x`), {
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
