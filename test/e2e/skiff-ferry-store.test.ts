// Pending until scripts/bundle-cli.mjs keeps better-sqlite3 out of the bundle (external): ferry's
// fast path bundles the native module, whose `bindings` loader then fails with "__filename is
// not defined", so every containers-storage: copy by the built ferry fails.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { assertBuilt, ferry, makeSandbox, ok, type Sandbox, skopeo } from './ferry-cli.js';
import { assertSkiffBuilt, makeStore, skiff } from './skiff-cli.js';

let sb: Sandbox;
let reg: TestRegistry;
let img: FixtureImage;
const OFF = '--tls-verify=false';

beforeAll(async () => {
  await assertBuilt();
  await assertSkiffBuilt();
  sb = await makeSandbox('skiff-ferry-');
  reg = await startRegistry();
  img = await makeImage(sb.path('layout'), { name: 'f', extraLayers: 1 });
  await ok(
    ferry(sb, ['copy', '-q', '--dest-tls-verify=false', img.transportRef, `docker://${reg.host}/ferry/f:1`]),
  );
});

afterAll(async () => {
  await reg?.stop();
  await sb?.cleanup();
});

it('ferry reads what skiff pulled, and skiff lists what ferry wrote into the store', async () => {
  const store = await makeStore(sb, 'shared');
  const id = (await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/ferry/f:1`]))).trim();
  const out = await ferry(sb, [
    'copy',
    '-q',
    '--dest-tls-verify=false',
    `${store.spec}${reg.host}/ferry/f:1`,
    `docker://${reg.host}/ferry/copied:2`,
  ]);
  expect(out.code, out.stderr).toBe(0);
  await ok(skopeo(sb, ['inspect', OFF, `docker://${reg.host}/ferry/copied:2`]));
  const back = await ferry(sb, [
    'copy',
    '-q',
    '--src-tls-verify=false',
    `docker://${reg.host}/ferry/copied:2`,
    `${store.spec}${reg.host}/ferry/back:3`,
  ]);
  expect(back.code, back.stderr).toBe(0);
  const listed = await ok(
    skiff(sb, store, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', '--sort', 'repository']),
  );
  expect(listed).toBe(
    `${reg.host}/ferry/back:3 ${id.slice(0, 12)}\n${reg.host}/ferry/f:1 ${id.slice(0, 12)}\n`,
  );
});
