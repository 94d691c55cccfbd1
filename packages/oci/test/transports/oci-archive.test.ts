import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, makeIndex } from '../../../../test/support/images.js';
import { readTar, writeTar } from '../../../../test/support/tar.js';
import { validateImage } from '../../src/image/validate.js';
import { digestOf } from '../../src/spec/digest.js';
import { ociArchiveTransport } from '../../src/transports/oci-archive.js';
import { ociTransport } from '../../src/transports/oci-layout.js';
import { copyAll, withDestination, withSource } from './local-copy.js';

const run = promisify(execFile);
let work: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(tmpdir(), 'skiff-oarchive-test-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function tempDirsNow(): Promise<string[]> {
  return (await fs.readdir(tmpdir())).filter((n) => n.startsWith('skiff-oci-archive-'));
}

describe('oci-archive', () => {
  it('round-trips an image and an index byte-identically, cleaning its temp dirs', async () => {
    const before = await tempDirsNow();
    const img = await makeImage(path.join(work, 'src'), { name: 'one', extraLayers: 1, compression: 'zstd' });
    const ix = await makeIndex(path.join(work, 'src'), {
      name: 'multi',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const file = path.join(work, 'a.tar');
    for (const [fx, ref] of [
      [img, 'one'],
      [ix, 'multi'],
    ] as const) {
      const out = path.join(work, `${ref}.tar`);
      const top = await withSource(ociTransport.parseReference(`${fx.layoutDir}:${ref}`).newSource(), (s) =>
        withDestination(ociArchiveTransport.parseReference(`${out}:${ref}`).newDestination(), (d) =>
          copyAll(s, d),
        ),
      );
      expect(digestOf(top)).toBe(fx.digest);
      await withSource(ociArchiveTransport.parseReference(`${out}:${ref}`).newSource(), async (s) => {
        expect((await s.getManifest()).raw.equals(top)).toBe(true);
        await validateImage(s);
      });
      const names = (await readTar(out)).map((e) => e.name);
      expect(names).toContain('index.json');
      expect(names).toContain('oci-layout');
      expect(names).toContain(`blobs/sha256/${fx.digest.slice(7)}`);
    }
    expect(await tempDirsNow()).toEqual(before);
    await expect(fs.access(file)).rejects.toThrow();
  });

  it('rejects missing archives, absent refs, and corrupt content', async () => {
    const missing = path.join(work, 'missing.tar');
    await expect(ociArchiveTransport.parseReference(missing).newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(missing),
    });
    const fx = await makeImage(path.join(work, 'rsrc'), { name: 'here' });
    const out = path.join(work, 'r.tar');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:here`).newSource(), (s) =>
      withDestination(ociArchiveTransport.parseReference(`${out}:here`).newDestination(), (d) =>
        copyAll(s, d),
      ),
    );
    await expect(ociArchiveTransport.parseReference(`${out}:gone`).newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/gone.*here/),
    });
    const bad = path.join(work, 'bad.tar');
    await writeTar(bad, [
      { name: 'oci-layout', type: 'file', content: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', type: 'file', content: 'nope' },
    ]);
    await expect(ociArchiveTransport.parseReference(bad).newSource()).rejects.toMatchObject({
      code: 'INVALID_MANIFEST',
      message: expect.stringContaining(`${bad}:/index.json`),
    });
    await writeTar(bad, [{ name: '../escape', type: 'file', content: 'x' }]);
    await expect(ociArchiveTransport.parseReference(bad).newSource()).rejects.toMatchObject({
      code: 'INVALID_ARCHIVE',
    });
    await fs.writeFile(bad, 'garbage '.repeat(200));
    await expect(ociArchiveTransport.parseReference(bad).newSource()).rejects.toMatchObject({
      code: 'INVALID_ARCHIVE',
    });
  });

  it('writes no archive when closed without commit', async () => {
    const out = path.join(work, 'never.tar');
    const d = await ociArchiveTransport.parseReference(`${out}:x`).newDestination();
    await d.close();
    expect((await fs.readdir(work)).filter((n) => n.includes('never'))).toEqual([]);
  });

  it('skopeo reads what we wrote; we read what skopeo wrote', async () => {
    const fx = await makeImage(path.join(work, 'sk'), { extraLayers: 1 });
    const ours = path.join(work, 'ours.tar');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), (s) =>
      withDestination(ociArchiveTransport.parseReference(`${ours}:v1`).newDestination(), (d) =>
        copyAll(s, d),
      ),
    );
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci-archive:${ours}:v1`]);
    expect(digestOf(Buffer.from(stdout))).toBe(fx.digest);
    const theirs = path.join(work, 'theirs.tar');
    await run('skopeo', ['copy', `oci-archive:${ours}:v1`, `oci-archive:${theirs}:t`]);
    await withSource(ociArchiveTransport.parseReference(`${theirs}:t`).newSource(), async (s) => {
      expect(digestOf((await s.getManifest()).raw)).toBe(fx.digest);
      await validateImage(s);
    });
  });
});
