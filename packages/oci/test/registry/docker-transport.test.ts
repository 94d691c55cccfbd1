import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startRegistry, type TestRegistry } from '../../../../test/support/registry.js';
import { digestOf } from '../../src/spec/digest.js';
import { MediaType } from '../../src/spec/media-types.js';
import { dockerTransport, listRepoTags, resolveDigest } from '../../src/transports/docker.js';
import { canMountBlobs, type TransportOptions } from '../../src/transports/types.js';
import { blob, blobOf, CONFIG_JSON, ociManifest, readAll, streamOf } from './helpers.js';

describe('docker:// references', () => {
  test('parse and print as skopeo does', () => {
    const r = dockerTransport.parseReference('//127.0.0.1:5000/a/b');
    expect(r.toString()).toBe('docker://127.0.0.1:5000/a/b:latest');
    expect(r.withinTransport).toBe('//127.0.0.1:5000/a/b:latest');
    expect(dockerTransport.parseReference('//busybox').toString()).toBe(
      'docker://docker.io/library/busybox:latest',
    );
    const d = `sha256:${'a'.repeat(64)}`;
    expect(dockerTransport.parseReference(`//quay.io/x/y@${d}`).toString()).toBe(`docker://quay.io/x/y@${d}`);
    expect(() => dockerTransport.parseReference('busybox')).toThrow(
      expect.objectContaining({ code: 'INVALID_REFERENCE' }),
    );
    expect(() => dockerTransport.parseReference(`//quay.io/x/y:1@${d}`)).toThrow(
      expect.objectContaining({ code: 'INVALID_REFERENCE' }),
    );
  });
});

describe('docker:// against real registries', () => {
  let a: TestRegistry;
  let b: TestRegistry;
  let dir: string;
  let confPath: string;
  let opts: TransportOptions;

  beforeAll(async () => {
    [a, b] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry()]);
    dir = await mkdtemp(join(tmpdir(), 'skiff-docker-transport-'));
    confPath = join(dir, 'registries.conf');
    // a is the primary for its own name; b mirrors it. Both are plain http: insecure.
    await writeFile(
      confPath,
      [
        '[[registry]]',
        `location = "${a.host}"`,
        'insecure = true',
        '[[registry.mirror]]',
        `location = "${b.host}"`,
        'insecure = true',
        '[[registry]]',
        `location = "${b.host}"`,
        'insecure = true',
        '',
      ].join('\n'),
    );
    const authFile = join(dir, 'auth.json');
    await writeFile(
      authFile,
      JSON.stringify({
        auths: { [a.host]: { auth: Buffer.from(`${a.username}:${a.password}`).toString('base64') } },
      }),
    );
    opts = { registriesConfPath: confPath, authFile, retryTimes: 0 };
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function pushImage(ref: string, layerSize = 40_000) {
    const config = blobOf(CONFIG_JSON);
    const layer = blob(layerSize);
    const raw = ociManifest(config, [layer]);
    const dest = await dockerTransport.parseReference(ref).newDestination(opts);
    try {
      expect(dest.capabilities.supportsIndex).toBe(true);
      for (const x of [config, layer]) {
        const desc = { mediaType: MediaType.ociLayerGzip, digest: x.digest, size: x.size };
        if (!(await dest.hasBlob(desc))) {
          const put = await dest.putBlob(streamOf(x.data), {
            digest: x.digest,
            sizeBytes: x.size,
            mediaType: desc.mediaType,
          });
          expect(put).toEqual(desc);
        }
        expect(await dest.hasBlob(desc)).toBe(true);
      }
      await dest.putManifest({ raw, mediaType: MediaType.ociManifest });
      await dest.commit();
    } finally {
      await dest.close();
    }
    return { config, layer, raw };
  }

  test('push with credentials from the auth file, pull, tags, digest, delete', async () => {
    const img = await pushImage(`//${a.host}/tr/app:v1`);
    const src = await dockerTransport.parseReference(`//${a.host}/tr/app:v1`).newSource(opts);
    try {
      const m = await src.getManifest();
      expect(m.raw.equals(img.raw)).toBe(true);
      expect(m.mediaType).toBe(MediaType.ociManifest);
      const blobStream = await src.getBlob({
        mediaType: MediaType.ociLayerGzip,
        digest: img.layer.digest,
        size: img.layer.size,
      });
      expect((await readAll(blobStream.stream)).equals(img.layer.data)).toBe(true);
      expect(await src.repoTags!()).toEqual(['v1']);
    } finally {
      await src.close();
    }
    const ref = dockerTransport.parseReference(`//${a.host}/tr/app:v1`);
    expect(await listRepoTags(ref, opts)).toEqual(['v1']);
    expect(await resolveDigest(ref, opts)).toBe(digestOf(img.raw));
    await ref.deleteImage!(opts);
    await expect(resolveDigest(ref, opts)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    // skopeo delete semantics: the manifest is gone, not just the tag.
    const byDigest = await dockerTransport
      .parseReference(`//${a.host}/tr/app@${digestOf(img.raw)}`)
      .newSource(opts);
    try {
      await expect(byDigest.getManifest()).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    } finally {
      await byDigest.close();
    }
  });

  test('anonymous access to an htpasswd registry is UNAUTHORIZED with a hint', async () => {
    const src = await dockerTransport
      .parseReference(`//${a.host}/tr/app:v1`)
      .newSource({ ...opts, anonymous: true });
    try {
      await expect(src.getManifest()).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
        hint: expect.stringContaining(`ferry login ${a.host}`),
      });
    } finally {
      await src.close();
    }
  });

  test('reads try the mirror first and fall back to the primary', async () => {
    const primary = await pushImage(`//${a.host}/mir/app:v1`);
    const src = await dockerTransport.parseReference(`//${a.host}/mir/app:v1`).newSource(opts);
    try {
      expect((await src.getManifest()).raw.equals(primary.raw)).toBe(true);
    } finally {
      await src.close();
    }
    expect((await b.requests()).some((r) => r.path === '/v2/mir/app/manifests/v1' && r.status === 404)).toBe(
      true,
    );
    // Once the mirror has the image, it is served from there.
    const mirrored = await pushImage(`//${b.host}/mir/app:v1`, 1234);
    const src2 = await dockerTransport.parseReference(`//${a.host}/mir/app:v1`).newSource(opts);
    try {
      expect((await src2.getManifest()).raw.equals(mirrored.raw)).toBe(true);
      const layer = await src2.getBlob({
        mediaType: MediaType.ociLayerGzip,
        digest: mirrored.layer.digest,
        size: 1234,
      });
      expect((await readAll(layer.stream)).equals(mirrored.layer.data)).toBe(true);
    } finally {
      await src2.close();
    }
  });

  test('index instances go by digest, the index at the tag; blobs mount across repositories', async () => {
    const img = await pushImage(`//${b.host}/idx/one:v1`);
    const dest = await dockerTransport.parseReference(`//${b.host}/idx/two:multi`).newDestination(opts);
    try {
      expect(canMountBlobs(dest)).toBe(true);
      if (!canMountBlobs(dest)) return;
      const from = dockerTransport.parseReference(`//${b.host}/idx/one:v1`);
      for (const x of [img.config, img.layer]) {
        expect(
          await dest.mountBlob({ mediaType: MediaType.ociLayerGzip, digest: x.digest, size: x.size }, from),
        ).toBe(true);
      }
      const instanceDigest = digestOf(img.raw);
      await dest.putManifest({ raw: img.raw, mediaType: MediaType.ociManifest }, instanceDigest);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociIndex,
          manifests: [
            {
              mediaType: MediaType.ociManifest,
              digest: instanceDigest,
              size: img.raw.length,
              platform: { os: 'linux', architecture: 'amd64' },
            },
          ],
        }),
      );
      await dest.putManifest({ raw: index, mediaType: MediaType.ociIndex });
      await dest.commit();
    } finally {
      await dest.close();
    }
    const uploads = (await b.requests()).filter((r) => r.path.startsWith('/v2/idx/two/blobs/uploads/'));
    expect(uploads.every((r) => r.method === 'POST' && r.status === 201)).toBe(true);
    const src = await dockerTransport.parseReference(`//${b.host}/idx/two:multi`).newSource(opts);
    try {
      const top = await src.getManifest();
      expect(top.mediaType).toBe(MediaType.ociIndex);
      expect((await src.getManifest(digestOf(img.raw))).raw.equals(img.raw)).toBe(true);
    } finally {
      await src.close();
    }
  });
});
