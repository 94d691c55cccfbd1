import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage } from '../../../../test/support/images.js';
import { readTar } from '../../../../test/support/tar.js';
import { validateImage } from '../../src/image/validate.js';
import { digestOf } from '../../src/spec/digest.js';
import { ociTransport } from '../../src/transports/oci-layout.js';
import { withSource } from './local-copy.js';

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(tmpdir(), 'skiff-validate-test-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Rewrite a fixture's config and manifest (index.json follows) so a test can break one invariant. */
async function tamper(
  dir: string,
  edit: (
    config: { rootfs: { diff_ids: string[] } },
    manifest: { layers: Array<{ mediaType: string }> },
  ) => void,
): Promise<void> {
  const index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'));
  const blob = (d: string) => path.join(dir, 'blobs/sha256', d.slice(7));
  const manifest = JSON.parse(await fs.readFile(blob(index.manifests[0].digest), 'utf8'));
  const config = JSON.parse(await fs.readFile(blob(manifest.config.digest), 'utf8'));
  edit(config, manifest);
  const configRaw = Buffer.from(JSON.stringify(config));
  manifest.config = { ...manifest.config, digest: digestOf(configRaw), size: configRaw.length };
  await fs.writeFile(blob(manifest.config.digest), configRaw);
  const raw = Buffer.from(JSON.stringify(manifest));
  await fs.writeFile(blob(digestOf(raw)), raw);
  index.manifests[0] = { ...index.manifests[0], digest: digestOf(raw), size: raw.length };
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
}

describe('validateImage', () => {
  it('counts manifests, blobs and bytes of a good image (gzip, zstd, none, padded)', async () => {
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const fx = await makeImage(path.join(work, `ok-${compression}`), {
        compression,
        extraLayers: 1,
        whiteout: true,
      });
      await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), async (s) => {
        const r = await validateImage(s);
        expect(r).toMatchObject({ manifests: 1, blobs: 1 + 4 });
        expect(r.bytes).toBeGreaterThan(100_000);
      });
    }
    const big = await makeImage(path.join(work, 'big'), { sizeMiB: 3, layers: 2, compression: 'none' });
    await withSource(ociTransport.parseReference(`${big.layoutDir}:latest`).newSource(), async (s) => {
      const r = await validateImage(s);
      expect(r.blobs).toBe(1 + 1 + 2);
      expect(r.bytes).toBeGreaterThan(3 * 1024 * 1024);
    });
  });

  it('the busybox layer holds busybox, applet links and passwd', async () => {
    const fx = await makeImage(path.join(work, 'bb'), { compression: 'none' });
    const manifest = JSON.parse(
      await fs.readFile(path.join(fx.layoutDir, 'blobs/sha256', fx.digest.slice(7)), 'utf8'),
    );
    const entries = await readTar(
      path.join(fx.layoutDir, 'blobs/sha256', manifest.layers[0].digest.slice(7)),
    );
    const names = entries.map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['bin/busybox', 'bin/sh', 'etc/passwd', 'etc/group']));
    expect(entries.find((e) => e.name === 'bin/sh')).toMatchObject({ type: 'symlink', linkname: 'busybox' });
    const config = JSON.parse(
      await fs.readFile(path.join(fx.layoutDir, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'),
    );
    expect(config.config.Cmd).toEqual(['sh']);
    // deterministic: the same spec gives the same digest
    expect((await makeImage(path.join(work, 'bb2'), { compression: 'none' })).digest).toBe(fx.digest);
  });

  it('rejects a diff_id that does not match the layer', async () => {
    const fx = await makeImage(path.join(work, 'diff'), { extraLayers: 1 });
    await tamper(fx.layoutDir, (c) => {
      c.rootfs.diff_ids[1] = digestOf('not the layer');
    });
    await withSource(ociTransport.parseReference(fx.layoutDir).newSource(), async (s) => {
      await expect(validateImage(s)).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
        message: expect.stringContaining('diff_ids[1]'),
      });
    });
  });

  it('rejects a diff_ids count that differs from the layers', async () => {
    const fx = await makeImage(path.join(work, 'count'), { extraLayers: 1 });
    await tamper(fx.layoutDir, (c) => {
      c.rootfs.diff_ids.pop();
    });
    await withSource(ociTransport.parseReference(fx.layoutDir).newSource(), async (s) => {
      await expect(validateImage(s)).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    });
  });

  it('rejects a layer whose media type lies about its compression', async () => {
    const fx = await makeImage(path.join(work, 'mt'), { compression: 'gzip' });
    await tamper(fx.layoutDir, (_c, m) => {
      m.layers[0]!.mediaType = 'application/vnd.oci.image.layer.v1.tar+zstd';
    });
    await withSource(ociTransport.parseReference(fx.layoutDir).newSource(), async (s) => {
      await expect(validateImage(s)).rejects.toMatchObject({
        code: 'INVALID_MANIFEST',
        message: expect.stringContaining('zstd'),
      });
    });
  });
});
