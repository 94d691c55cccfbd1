// skopeo's template data is a Go struct: an unknown field is an error, not <no value>.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { assertBuilt, ferry, makeSandbox, type Sandbox, skopeo } from './ferry-cli.js';

let sb: Sandbox;
let img: FixtureImage;

beforeAll(async () => {
  await assertBuilt();
  sb = await makeSandbox('ferry-e2e-pending-');
  img = await makeImage(sb.path('img'), {});
});

afterAll(async () => {
  await sb?.cleanup();
});

it('an unknown template field fails as in skopeo', async () => {
  const [f, s] = await Promise.all([
    ferry(sb, ['inspect', '--format', '{{.Nope}}', img.transportRef]),
    skopeo(sb, ['inspect', '--format', '{{.Nope}}', img.transportRef]),
  ]);
  expect(s.code).toBe(1);
  expect(f.code).toBe(1);
  expect(f.stdout).toBe('');
  expect(f.stderr).toContain('Nope');
});
