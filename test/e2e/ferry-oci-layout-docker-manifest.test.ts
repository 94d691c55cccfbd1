// oci: holds OCI manifests: a Docker v2s2 image is converted on the way in, as skopeo does.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { assertBuilt, ferry, makeSandbox, ok, type Sandbox, skopeo } from './ferry-cli.js';

let sb: Sandbox;
let v2: FixtureImage;

beforeAll(async () => {
  await assertBuilt();
  sb = await makeSandbox('ferry-e2e-pending-');
  v2 = await makeImage(sb.path('v2'), { format: 'v2s2' });
});

afterAll(async () => {
  await sb?.cleanup();
});

it('a v2s2 image copied to oci: is stored as OCI and skopeo reads it', async () => {
  const archive = sb.path('v2.tar');
  await ok(ferry(sb, ['copy', '-q', v2.transportRef, `docker-archive:${archive}:v2:1`]));
  const layout = sb.path('layout');
  await ok(ferry(sb, ['copy', '-q', `docker-archive:${archive}`, `oci:${layout}:x`]));
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ mediaType: string }>;
  };
  expect(index.manifests[0]!.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  await ok(skopeo(sb, ['inspect', `oci:${layout}:x`]));
  await ok(skopeo(sb, ['copy', '-q', `oci:${layout}:x`, `dir:${sb.path('dir')}`]));
});
