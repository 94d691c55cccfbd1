import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, makeIndex } from '../../../../test/support/images.js';
import { validateImage } from '../../src/image/validate.js';
import { digestOf } from '../../src/spec/digest.js';
import { dirTransport } from '../../src/transports/dir.js';
import { ociTransport } from '../../src/transports/oci-layout.js';
import { copyAll, withDestination, withSource } from './local-copy.js';

const run = promisify(execFile);
let work: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(tmpdir(), 'skiff-dir-test-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('dir', () => {
  it('round-trips an image in skopeo directory format', async () => {
    const fx = await makeImage(path.join(work, 'src'), { extraLayers: 1 });
    const out = path.join(work, 'img');
    const top = await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), (s) =>
      withDestination(dirTransport.parseReference(out).newDestination(), (d) => copyAll(s, d)),
    );
    expect(await fs.readFile(path.join(out, 'version'), 'utf8')).toBe('Directory Transport Version: 1.1\n');
    expect((await fs.readFile(path.join(out, 'manifest.json'))).equals(top)).toBe(true);
    expect((await fs.readdir(out)).filter((n) => /^[a-f0-9]{64}$/.test(n))).toHaveLength(3);
    await withSource(dirTransport.parseReference(out).newSource(), async (s) => {
      expect(digestOf((await s.getManifest()).raw)).toBe(fx.digest);
      expect((await validateImage(s)).blobs).toBe(3);
    });
    // rewriting the same dir: image replaces it
    const other = await makeImage(path.join(work, 'src2'), { extraLayers: 2 });
    await withSource(ociTransport.parseReference(`${other.layoutDir}:latest`).newSource(), (s) =>
      withDestination(dirTransport.parseReference(out).newDestination(), (d) => copyAll(s, d)),
    );
    await withSource(dirTransport.parseReference(out).newSource(), async (s) => {
      expect(digestOf((await s.getManifest()).raw)).toBe(other.digest);
    });
    expect((await fs.readdir(work)).filter((n) => n.startsWith('.img'))).toEqual([]);
  });

  it('stores an index with HEX.manifest.json instances', async () => {
    const fx = await makeIndex(path.join(work, 'isrc'), {
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 's390x' },
      ],
    });
    const out = path.join(work, 'index');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), (s) =>
      withDestination(dirTransport.parseReference(out).newDestination(), (d) => copyAll(s, d)),
    );
    expect((await fs.readdir(out)).filter((n) => n.endsWith('.manifest.json'))).toHaveLength(2);
    await withSource(dirTransport.parseReference(out).newSource(), async (s) => {
      expect((await validateImage(s)).manifests).toBe(3);
    });
  });

  it('rejects a missing dir and a missing blob, refuses to overwrite a foreign directory, and leaves nothing uncommitted', async () => {
    const missing = path.join(work, 'none');
    await expect(dirTransport.parseReference(missing).newSource()).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(missing),
    });
    const foreign = path.join(work, 'foreign');
    await fs.mkdir(foreign);
    await fs.writeFile(path.join(foreign, 'precious.txt'), 'keep');
    await expect(dirTransport.parseReference(foreign).newDestination()).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const d = await dirTransport.parseReference(path.join(work, 'uncommitted')).newDestination();
    await d.close();
    expect((await fs.readdir(work)).filter((n) => n.includes('uncommitted'))).toEqual([]);

    const fx = await makeImage(path.join(work, 'msrc'));
    const out = path.join(work, 'broken');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), (s) =>
      withDestination(dirTransport.parseReference(out).newDestination(), (dd) => copyAll(s, dd)),
    );
    const layer = JSON.parse(await fs.readFile(path.join(out, 'manifest.json'), 'utf8')).layers[0]
      .digest as string;
    await fs.rm(path.join(out, layer.slice(7)));
    await withSource(dirTransport.parseReference(out).newSource(), async (s) => {
      await expect(validateImage(s)).rejects.toMatchObject({
        code: 'BLOB_UNKNOWN',
        message: expect.stringContaining(layer),
      });
    });
  });

  it('skopeo reads what we wrote; we read what skopeo wrote', async () => {
    const fx = await makeImage(path.join(work, 'sk'), { extraLayers: 1 });
    const ours = path.join(work, 'ours');
    await withSource(ociTransport.parseReference(`${fx.layoutDir}:latest`).newSource(), (s) =>
      withDestination(dirTransport.parseReference(ours).newDestination(), (d) => copyAll(s, d)),
    );
    const { stdout } = await run('skopeo', ['inspect', '--raw', `dir:${ours}`]);
    expect(digestOf(Buffer.from(stdout))).toBe(fx.digest);
    const theirs = path.join(work, 'theirs');
    await run('skopeo', ['copy', `dir:${ours}`, `dir:${theirs}`]);
    await withSource(dirTransport.parseReference(theirs).newSource(), async (s) => {
      expect(digestOf((await s.getManifest()).raw)).toBe(fx.digest);
      await validateImage(s);
    });
    const ix = await makeIndex(path.join(work, 'skix'), {
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const theirsIx = path.join(work, 'theirs-ix');
    await run('skopeo', ['copy', '--all', `oci:${ix.layoutDir}:latest`, `dir:${theirsIx}`]);
    await withSource(dirTransport.parseReference(theirsIx).newSource(), async (s) => {
      expect((await validateImage(s)).manifests).toBe(3);
    });
  });
});
