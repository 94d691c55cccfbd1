import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage } from '../../../../test/support/images.js';
import { copyImage } from '../../src/copy/copy.js';
import { openStore } from '../../src/storage/store.js';
import { containersStorageTransport, parseStorageDetails } from '../../src/transports/containers-storage.js';
import { ociTransport } from '../../src/transports/oci-layout.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-cs-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('containers-storage: reference syntax', () => {
  it('parses [driver@root+runroot:options] and normalises the name', () => {
    const t = parseStorageDetails('[vfs@/var/s+/run/s:opt=1]busybox');
    expect(t.store).toMatchObject({ driver: 'vfs', root: '/var/s', runroot: '/run/s' });
    expect(t.ref?.toString()).toBe('docker.io/library/busybox:latest');
    const r = containersStorageTransport.parseReference('[overlay@/s]quay.io/a/b:1');
    expect(r.toString()).toBe('containers-storage:[overlay@/s]quay.io/a/b:1');
    const id = 'a'.repeat(64);
    expect(parseStorageDetails(id).imageId).toBe(id);
    expect(parseStorageDetails(`localhost/x:1@${id}`)).toMatchObject({ imageId: id });
    expect(parseStorageDetails(`[/s]localhost/x@sha256:${'b'.repeat(64)}`).ref?.digest).toBe(
      `sha256:${'b'.repeat(64)}`,
    );
  });

  it('rejects bad specifiers with INVALID_REFERENCE', () => {
    for (const bad of ['[btrfs@/s]x', '[relative]x', '[/s', '[/s]', '[/s+rel]x', 'UPPER']) {
      expect(() => parseStorageDetails(bad), bad).toThrow(
        expect.objectContaining({ code: 'INVALID_REFERENCE' }),
      );
    }
  });
});

describe('containers-storage: transport', () => {
  const drivers = process.geteuid?.() === 0 ? (['vfs', 'overlay'] as const) : (['vfs'] as const);
  it.each(drivers)(
    'copies oci: → store → oci: keeping the manifest digest, and the store checks clean (%s)',
    async (driver) => {
      const fixture = await makeImage(join(dir, `layout-${driver}`), {
        extraLayers: 2,
        whiteout: true,
        compression: 'gzip',
      });
      const root = join(dir, `store-${driver}`);
      const storeRef = containersStorageTransport.parseReference(
        `[${driver}@${root}+${root}-run]localhost/cs/busybox:1`,
      );
      const into = await copyImage(
        ociTransport.parseReference(`${fixture.layoutDir}:${fixture.ref}`),
        storeRef,
      );
      expect(into.digest).toBe(fixture.digest);

      const store = await openStore({ root, runroot: `${root}-run`, driver, configPath: '/dev/null' });
      try {
        const image = store.getImage('localhost/cs/busybox:1');
        expect(image?.manifestDigest).toBe(fixture.digest);
        const mount = await store.mountImage('localhost/cs/busybox:1');
        try {
          expect(fs.statSync(join(mount.path, 'bin/busybox')).size).toBe(fs.statSync('/bin/busybox').size);
          expect(fs.readlinkSync(join(mount.path, 'bin/sh'))).toBe('busybox');
          expect(fs.existsSync(join(mount.path, 'etc/removeme'))).toBe(false);
          expect(fs.existsSync(join(mount.path, 'etc/passwd'))).toBe(true);
        } finally {
          await mount.unmount();
        }
        expect(await store.check()).toEqual({ ok: true, problems: [], leftovers: [] });
      } finally {
        store.close();
      }

      // Copy again: nothing new to unpack, same image.
      const again = await copyImage(
        ociTransport.parseReference(`${fixture.layoutDir}:${fixture.ref}`),
        storeRef,
      );
      expect(again.blobsCopied).toBe(0);

      const out = join(dir, `out-${driver}`);
      const back = await copyImage(storeRef, ociTransport.parseReference(`${out}:back`));
      expect(back.digest).toBe(fixture.digest);
      const skopeo = spawnSync('skopeo', ['inspect', '--raw', `oci:${out}:back`], { encoding: 'utf8' });
      if (skopeo.status === 0)
        expect(JSON.parse(skopeo.stdout).layers).toHaveLength(
          JSON.parse(into.manifest.toString()).layers.length,
        );

      // By image ID too.
      const byId = containersStorageTransport.parseReference(
        `[${driver}@${root}]${JSON.parse(into.manifest.toString()).config.digest.slice(7)}`,
      );
      const src = await byId.newSource();
      try {
        expect((await src.getManifest()).raw.equals(into.manifest)).toBe(true);
      } finally {
        await src.close();
      }
    },
  );

  it('a missing image is NOT_FOUND naming the store', async () => {
    const root = join(dir, 'empty');
    const ref = containersStorageTransport.parseReference(`[vfs@${root}]localhost/none:1`);
    await expect(ref.newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(root),
    });
  });

  it('a destination closed without commit registers no image', async () => {
    const fixture = await makeImage(join(dir, 'layout2'), { name: 'x' });
    const root = join(dir, 'uncommitted');
    const src = await ociTransport.parseReference(`${fixture.layoutDir}:x`).newSource();
    const dst = await containersStorageTransport
      .parseReference(`[vfs@${root}]localhost/u:1`)
      .newDestination();
    const m = await src.getManifest();
    const parsed = JSON.parse(m.raw.toString()) as {
      config: { digest: string; size: number; mediaType: string };
    };
    const blob = await src.getBlob(parsed.config as never);
    await dst.putBlob(blob.stream, {
      digest: parsed.config.digest as never,
      sizeBytes: blob.sizeBytes,
      mediaType: parsed.config.mediaType,
    });
    await dst.close();
    await src.close();
    const store = await openStore({ root, driver: 'vfs', configPath: '/dev/null' });
    try {
      expect(store.listImages()).toEqual([]);
      expect((await store.check()).ok).toBe(true);
    } finally {
      store.close();
    }
  });
});
