import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../../../../test/support/net.js';
import { startRegistry, type TestRegistry } from '../../../../test/support/registry.js';
import { RegistryClient } from '../../src/registry/client.js';
import { digestOf } from '../../src/spec/digest.js';
import { MediaType } from '../../src/spec/media-types.js';
import { blob, blobOf, CONFIG_JSON, ociManifest, readAll, streamOf } from './helpers.js';

let reg: TestRegistry;
let client: RegistryClient;

beforeAll(async () => {
  reg = await startRegistry();
  client = new RegistryClient({ endpoint: reg.host, insecure: true, retryDelayMs: 50 });
});

afterAll(async () => {
  await client?.close();
  await reg?.stop();
});

describe('RegistryClient against a plain registry', () => {
  test('ping falls back to http only for an insecure registry', async () => {
    await client.ping();
    const strict = new RegistryClient({ endpoint: reg.host, retryTimes: 0 });
    try {
      await expect(strict.ping()).rejects.toMatchObject({ code: 'TLS' });
    } finally {
      await strict.close();
    }
  });

  test('monolithic upload then download, byte for byte', async () => {
    const b = blob(300_000);
    const up = await client.uploadBlob('mono/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
    expect(up).toEqual({ digest: b.digest, sizeBytes: b.size });
    expect(await client.headBlob('mono/a', b.digest)).toBe(b.size);
    const down = await client.getBlob('mono/a', b.digest, { sizeBytes: b.size });
    expect(down.sizeBytes).toBe(b.size);
    expect((await readAll(down.stream)).equals(b.data)).toBe(true);
    const reqs = await reg.requests();
    expect(
      reqs.filter((r) => r.method === 'PUT' && r.path.startsWith('/v2/mono/a/blobs/uploads/')),
    ).toHaveLength(1);
    expect(reqs.filter((r) => r.method === 'PATCH' && r.path.startsWith('/v2/mono/a/'))).toHaveLength(0);
  });

  test('chunked upload sends several PATCHes with ranges', async () => {
    const b = blob(250_000);
    const up = await client.uploadBlob(
      'chunked/a',
      streamOf(b.data, 10_000),
      { digest: b.digest, sizeBytes: b.size },
      { chunkSizeBytes: 100_000 },
    );
    expect(up.digest).toBe(b.digest);
    const patches = (await reg.requests()).filter(
      (r) => r.method === 'PATCH' && r.path.startsWith('/v2/chunked/a/'),
    );
    expect(patches.map((p) => p.status)).toEqual([202, 202, 202]);
    expect((await readAll((await client.getBlob('chunked/a', b.digest)).stream)).equals(b.data)).toBe(true);
  });

  test('upload without a known digest streams one PATCH and computes the digest', async () => {
    const b = blob(123_457);
    const up = await client.uploadBlob('nodigest/a', streamOf(b.data), { sizeBytes: -1 });
    expect(up).toEqual({ digest: b.digest, sizeBytes: b.size });
    expect(await client.headBlob('nodigest/a', b.digest)).toBe(b.size);
  });

  test('a digest mismatch on upload is detected and nothing is stored', async () => {
    const b = blob(50_000);
    const wrong = digestOf('something else');
    await expect(
      client.uploadBlob('mismatch/a', streamOf(b.data), { digest: wrong, sizeBytes: b.size }),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await client.headBlob('mismatch/a', wrong)).toBeUndefined();
    expect(await client.headBlob('mismatch/a', b.digest)).toBeUndefined();
    await expect(
      client.uploadBlob('mismatch/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size + 10 }),
    ).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
  });

  test('a blob whose bytes do not match the digest asked for fails the download', async () => {
    const b = blob(10_000);
    await client.uploadBlob('dl/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
    // Declared size wrong: the verifier stops the stream.
    const res = await client.getBlob('dl/a', b.digest, { sizeBytes: b.size - 1 });
    await expect(readAll(res.stream)).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
  });

  test('manifests: put by tag, get, head, put by digest, delete', async () => {
    const config = blobOf(CONFIG_JSON);
    const layer = blob(1000);
    for (const b of [config, layer]) {
      await client.uploadBlob('man/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
    }
    const raw = ociManifest(config, [layer]);
    const digest = await client.putManifest('man/a', 'v1', raw, MediaType.ociManifest);
    expect(digest).toBe(digestOf(raw));
    const got = await client.getManifest('man/a', 'v1');
    expect(got.raw.equals(raw)).toBe(true);
    expect(got.mediaType).toBe(MediaType.ociManifest);
    expect(got.digest).toBe(digest);
    expect(await client.headManifest('man/a', 'v1')).toEqual({
      digest,
      mediaType: MediaType.ociManifest,
      sizeBytes: raw.length,
    });
    expect((await client.getManifest('man/a', digest)).raw.equals(raw)).toBe(true);
    await client.putManifest('man/a', digest, raw, MediaType.ociManifest);
    await expect(
      client.putManifest('man/a', digestOf('x'), raw, MediaType.ociManifest),
    ).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
    expect(await client.listTags('man/a')).toEqual(['v1']);
    await client.deleteManifest('man/a', digest);
    expect(await client.headManifest('man/a', 'v1')).toBeUndefined();
    await expect(client.getManifest('man/a', digest)).rejects.toMatchObject({
      code: 'MANIFEST_UNKNOWN',
      status: 404,
    });
  });

  test('not found errors name the image', async () => {
    await expect(client.getManifest('nope/x', 'latest')).rejects.toMatchObject({
      code: 'MANIFEST_UNKNOWN',
      status: 404,
      message: expect.stringContaining(`${reg.host}/nope/x:latest`),
    });
    await expect(client.listTags('nope/x')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      registryCode: 'NAME_UNKNOWN',
      message: expect.stringContaining(`${reg.host}/nope/x`),
    });
    await expect(client.getBlob('man/a', digestOf('absent'))).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
  });

  test('cross-repository mount', async () => {
    const b = blob(20_000);
    await client.uploadBlob('mount/src', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
    expect(await client.mountBlob('mount/dst', b.digest, 'mount/src')).toBe(true);
    expect(await client.headBlob('mount/dst', b.digest)).toBe(b.size);
    const missing = digestOf('not uploaded anywhere');
    expect(await client.mountBlob('mount/dst', missing, 'mount/src')).toBe(false);
    const uploads = (await reg.requests()).filter((r) => r.path.startsWith('/v2/mount/dst/blobs/uploads/'));
    expect(uploads.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 201', 'POST 202', 'DELETE 204']);
  });

  test('referrers fall back to the tag schema when the API is missing', async () => {
    const config = blobOf(CONFIG_JSON);
    await client.uploadBlob('ref/a', streamOf(config.data), {
      digest: config.digest,
      sizeBytes: config.size,
    });
    const subject = ociManifest(config, []);
    const subjectDigest = await client.putManifest('ref/a', 'v1', subject, MediaType.ociManifest);
    expect(await client.referrers('ref/a', subjectDigest)).toEqual([]);
    const sig = ociManifest(config, [], {
      artifactType: 'application/vnd.example.sig',
      subject: { mediaType: MediaType.ociManifest, digest: subjectDigest, size: subject.length },
    });
    const sigDigest = await client.putManifest('ref/a', digestOf(sig), sig, MediaType.ociManifest);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          {
            mediaType: MediaType.ociManifest,
            digest: sigDigest,
            size: sig.length,
            artifactType: 'application/vnd.example.sig',
          },
        ],
      }),
    );
    await client.putManifest('ref/a', `sha256-${subjectDigest.slice(7)}`, index, MediaType.ociIndex);
    const found = await client.referrers('ref/a', subjectDigest);
    expect(found.map((d) => d.digest)).toEqual([sigDigest]);
    expect(await client.referrers('ref/a', subjectDigest, { artifactType: 'application/other' })).toEqual([]);
  });

  test('catalog lists repositories, following pagination', async () => {
    const all = await client.catalog();
    expect(all).toEqual(expect.arrayContaining(['mono/a', 'chunked/a', 'man/a']));
    expect(await client.catalog(undefined, 2)).toEqual(all);
  });

  test('connection refused is a NETWORK error naming the endpoint', async () => {
    const port = await freePort();
    const retries: unknown[] = [];
    // Default retries: nothing listening at first contact must fail at once, not after backoff.
    const c = new RegistryClient({ endpoint: `127.0.0.1:${port}`, onRetry: (info) => retries.push(info) });
    try {
      await expect(c.ping()).rejects.toMatchObject({
        code: 'NETWORK',
        message: expect.stringContaining(`127.0.0.1:${port}`),
      });
      expect(retries).toEqual([]);
    } finally {
      await c.close();
    }
  });
});
