import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage, makeIndex } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import {
  assertBuilt,
  assertDiffIds,
  ferry,
  makeSandbox,
  ok,
  readDirImage,
  run,
  type Sandbox,
  sha256,
  skopeo,
} from './ferry-cli.js';

/**
 * Interoperability both ways: skopeo (containers/image) and podman read what ferry wrote, and
 * ferry reads what skopeo wrote — registry, oci:, oci-archive:, docker-archive:, dir:.
 */

let sb: Sandbox;
let reg: TestRegistry;
let single: FixtureImage;
let multi: FixtureImage;
let many: FixtureImage;
const OFF = '--tls-verify=false';

function blobPath(img: FixtureImage, digest: string): string {
  return join(img.layoutDir, 'blobs/sha256', digest.slice('sha256:'.length));
}

async function configDigestOf(img: FixtureImage): Promise<string> {
  const m = JSON.parse(await readFile(blobPath(img, img.digest), 'utf8')) as { config: { digest: string } };
  return m.config.digest;
}

/** skopeo inspect (JSON) and a skopeo copy to dir: whose layers are checked against the DiffIDs. */
async function skopeoReadsFully(
  image: string,
  tlsFlags: string[] = [],
  sniff = false,
): Promise<{ Digest: string; Layers: string[] }> {
  const info = JSON.parse(
    await ok(skopeo(sb, ['inspect', ...tlsFlags, image]), `skopeo inspect ${image}`),
  ) as {
    Digest: string;
    Layers: string[];
  };
  const dir = sb.path('skopeo-read');
  const srcTls = tlsFlags.map((f) => f.replace('--tls-verify', '--src-tls-verify'));
  await ok(skopeo(sb, ['copy', '-q', ...srcTls, image, `dir:${dir}`]), `skopeo copy ${image}`);
  await assertDiffIds(dir, { sniff });
  return info;
}

beforeAll(async () => {
  await assertBuilt();
  sb = await makeSandbox('ferry-e2e-interop-');
  reg = await startRegistry();
  single = await makeImage(sb.path('single'), { config: { Labels: { 'org.example': 'x' } } });
  multi = await makeIndex(sb.path('multi'), {
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
  });
  many = await makeImage(sb.path('many'), { extraLayers: 10, whiteout: true });
});

afterAll(async () => {
  await reg?.stop();
  await sb?.cleanup();
});

describe('skopeo and podman read what ferry wrote', () => {
  it('registry: single image, zstd image and a whole index', async () => {
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        many.transportRef,
        `docker://${reg.host}/f/many:1`,
      ]),
    );
    const info = await skopeoReadsFully(`docker://${reg.host}/f/many:1`, [OFF]);
    expect(info.Digest).toBe(many.digest);
    expect(info.Layers).toHaveLength(13);

    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        '--dest-compress-format',
        'zstd',
        single.transportRef,
        `docker://${reg.host}/f/zstd:1`,
      ]),
    );
    await skopeoReadsFully(`docker://${reg.host}/f/zstd:1`, [OFF]);

    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        multi.transportRef,
        `docker://${reg.host}/f/multi:1`,
      ]),
    );
    const out = sb.path('skopeo-all');
    await ok(
      skopeo(sb, [
        'copy',
        '-q',
        '--all',
        '--src-tls-verify=false',
        `docker://${reg.host}/f/multi:1`,
        `oci:${out}:m`,
      ]),
    );
    const idx = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    expect(idx.manifests[0]!.digest).toBe(multi.digest);
  });

  it('oci: layout (index and image) and oci-archive:', async () => {
    const layout = sb.path('ferry-layout');
    await ok(ferry(sb, ['copy', '-q', multi.transportRef, `oci:${layout}:m`]));
    await ok(ferry(sb, ['copy', '-q', many.transportRef, `oci:${layout}:many`]));
    const raw = await ok(skopeo(sb, ['inspect', '--raw', `oci:${layout}:m`]));
    expect(sha256(raw)).toBe(multi.digest);
    const info = await skopeoReadsFully(`oci:${layout}:many`);
    expect(info.Digest).toBe(many.digest);
    const back = sb.path('skopeo-from-layout');
    await ok(skopeo(sb, ['copy', '-q', '--all', `oci:${layout}:m`, `oci:${back}:m`]));

    const archive = sb.path('ferry.oci.tar');
    await ok(ferry(sb, ['copy', '-q', many.transportRef, `oci-archive:${archive}:a`]));
    expect((await skopeoReadsFully(`oci-archive:${archive}:a`)).Digest).toBe(many.digest);
  });

  it('docker-archive: skopeo inspects and copies it; podman load takes it', async () => {
    const archive = sb.path('ferry.docker.tar');
    await ok(ferry(sb, ['copy', '-q', many.transportRef, `docker-archive:${archive}:interop/many:1`]));
    // skopeo's docker-archive source labels every layer tar.gzip, whatever it holds.
    await skopeoReadsFully(`docker-archive:${archive}`, [], true);
    const dir = sb.path('from-archive');
    await ok(skopeo(sb, ['copy', '-q', `docker-archive:${archive}`, `dir:${dir}`]));
    expect((await readDirImage(dir)).manifest.config.digest).toBe(await configDigestOf(many));

    const root = sb.path('podman-root');
    const podman = (args: string[]) =>
      run(
        'podman',
        [
          '--root',
          root,
          '--runroot',
          `${root}-run`,
          '--storage-driver',
          'vfs',
          '--events-backend',
          'none',
          ...args,
        ],
        {
          env: sb.env,
        },
      );
    const loaded = await podman(['load', '-i', archive]);
    expect({ code: loaded.code, stderr: loaded.stderr }).toMatchObject({ code: 0 });
    const loadedName = /Loaded image: (\S+)/.exec(loaded.stdout)?.[1];
    expect(loadedName).toBe('docker.io/interop/many:1');
    const id = (await ok(podman(['image', 'inspect', '--format', '{{.ID}}', loadedName!]))).trim();
    expect(`sha256:${id}`).toBe(await configDigestOf(many));
  });

  it('dir: skopeo reads it', async () => {
    const dir = sb.path('ferry-dir');
    await ok(ferry(sb, ['copy', '-q', single.transportRef, `dir:${dir}`]));
    expect((await skopeoReadsFully(`dir:${dir}`)).Digest).toBe(single.digest);
  });
});

describe('ferry reads what skopeo wrote', () => {
  /** ferry inspect agrees with skopeo on the digest; ferry copies it to a layout and skopeo checks the result. */
  async function ferryReads(image: string, tls: string[] = []): Promise<string> {
    const f = JSON.parse(await ok(ferry(sb, ['inspect', ...tls, image]))) as {
      Digest: string;
      Layers: string[];
    };
    const s = JSON.parse(await ok(skopeo(sb, ['inspect', ...tls, image]))) as {
      Digest: string;
      Layers: string[];
    };
    expect(f.Layers).toEqual(s.Layers);
    // To dir: (not oci:, see pending/ferry-oci-layout-docker-manifest.test.ts.txt), then skopeo
    // copies ferry's copy and the layers are checked against the DiffIDs.
    const out = sb.path('ferry-read');
    const srcTls = tls.map((t) => t.replace('--tls-verify', '--src-tls-verify'));
    await ok(ferry(sb, ['copy', '-q', ...srcTls, image, `dir:${out}`]));
    const dir = sb.path('ferry-read-dir');
    await ok(skopeo(sb, ['copy', '-q', `dir:${out}`, `dir:${dir}`]));
    await assertDiffIds(dir);
    return f.Digest;
  }

  it('registry (image and index pushed by skopeo)', async () => {
    await ok(
      skopeo(sb, [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        many.transportRef,
        `docker://${reg.host}/s/many:1`,
      ]),
    );
    expect(await ferryReads(`docker://${reg.host}/s/many:1`, [OFF])).toBe(many.digest);
    await ok(
      skopeo(sb, [
        'copy',
        '-q',
        '--all',
        '--dest-tls-verify=false',
        multi.transportRef,
        `docker://${reg.host}/s/multi:1`,
      ]),
    );
    const out = sb.path('ferry-from-skopeo-index');
    await ok(
      ferry(sb, ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/s/multi:1`, `oci:${out}:m`]),
    );
    const idx = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    expect(idx.manifests[0]!.digest).toBe(multi.digest);
    // skopeo converted to v2s2 on the way: ferry reads that too.
    await ok(
      skopeo(sb, [
        'copy',
        '-q',
        '--format',
        'v2s2',
        '--dest-tls-verify=false',
        single.transportRef,
        `docker://${reg.host}/s/v2:1`,
      ]),
    );
    await ferryReads(`docker://${reg.host}/s/v2:1`, [OFF]);
  });

  it('oci:, oci-archive:, dir:', async () => {
    const layout = sb.path('skopeo-layout');
    await ok(skopeo(sb, ['copy', '-q', many.transportRef, `oci:${layout}:many`]));
    expect(await ferryReads(`oci:${layout}:many`)).toBe(many.digest);
    const archive = sb.path('skopeo.oci.tar');
    await ok(skopeo(sb, ['copy', '-q', many.transportRef, `oci-archive:${archive}:a`]));
    expect(await ferryReads(`oci-archive:${archive}:a`)).toBe(many.digest);
    const dir = sb.path('skopeo-dir');
    await ok(skopeo(sb, ['copy', '-q', many.transportRef, `dir:${dir}`]));
    expect(await ferryReads(`dir:${dir}`)).toBe(many.digest);
  });

  it('docker-archive: (uncompressed layers, as skopeo writes them)', async () => {
    const archive = sb.path('skopeo.docker.tar');
    await ok(skopeo(sb, ['copy', '-q', many.transportRef, `docker-archive:${archive}:s/many:1`]));
    await ferryReads(`docker-archive:${archive}`);
    // Pushed to a registry by ferry, skopeo reads it back with the same config.
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        `docker-archive:${archive}`,
        `docker://${reg.host}/s/da:1`,
      ]),
    );
    const config = await ok(skopeo(sb, ['inspect', '--config', '--raw', OFF, `docker://${reg.host}/s/da:1`]));
    expect(sha256(config)).toBe(await configDigestOf(many));
    await skopeoReadsFully(`docker://${reg.host}/s/da:1`, [OFF]);
  });
});
