// A blob corrupted early fails in the decompressor before its digest is known: the error must
// still name the blob and the image, and say it is a digest mismatch.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { assertBuilt, corruptFile, ferry, makeSandbox, type Sandbox } from './ferry-cli.js';

let sb: Sandbox;
let img: FixtureImage;
let victim: string;

beforeAll(async () => {
  await assertBuilt();
  sb = await makeSandbox('ferry-e2e-pending-');
  img = await makeImage(sb.path('corrupt'), {});
  const manifest = JSON.parse(
    await readFile(join(img.layoutDir, 'blobs/sha256', img.digest.slice(7)), 'utf8'),
  ) as {
    layers: Array<{ digest: string }>;
  };
  victim = manifest.layers[0]!.digest;
  // Early in the deflate stream, so gunzip fails before the whole blob has been digested.
  await corruptFile(join(img.layoutDir, 'blobs/sha256', victim.slice(7)), 30);
});

afterAll(async () => {
  await sb?.cleanup();
});

it('a corrupt gzip layer copied to docker-archive: names the blob and leaves no archive', async () => {
  const archive = sb.path('out.tar');
  const r = await ferry(sb, ['copy', '-q', img.transportRef, `docker-archive:${archive}:a:1`]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(victim);
  expect(r.stderr).toContain(img.layoutDir);
  await expect(stat(archive)).rejects.toThrow();
});

it('a corrupt gzip layer copied with --dest-decompress to dir: names the blob', async () => {
  const r = await ferry(sb, ['copy', '-q', '--dest-decompress', img.transportRef, `dir:${sb.path('dir')}`]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(victim);
});

it('a corrupt gzip layer recompressed (--dest-compress-format zstd) names the blob', async () => {
  const r = await ferry(sb, [
    'copy',
    '-q',
    '--dest-compress-format',
    'zstd',
    img.transportRef,
    `oci:${sb.path('zstd-layout')}:z`,
  ]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(victim);
});
