import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { assertBuilt, ferry, makeSandbox, ok, run, type Sandbox } from './ferry-cli.js';
import { assertSkiffBuilt, makeStore, skiff } from './skiff-cli.js';

/** podman as a peer: `skiff load` reads what `podman save` wrote (podman with a store of its own). */

let sb: Sandbox;
let reg: TestRegistry;
let img: FixtureImage;
let podmanDir: string;
let podmanEnv: NodeJS.ProcessEnv;
const OFF = '--tls-verify=false';

beforeAll(async () => {
  await assertBuilt();
  await assertSkiffBuilt();
  sb = await makeSandbox('skiff-interop-');
  reg = await startRegistry();
  img = await makeImage(sb.path('layout'), { name: 'p', extraLayers: 1 });
  await ok(
    ferry(sb, [
      'copy',
      '-q',
      '--dest-tls-verify=false',
      img.transportRef,
      `docker://${reg.host}/interop/p:1`,
    ]),
  );
  // podman's runroot path must stay short (< 50 characters): a directory of its own under /tmp.
  podmanDir = await mkdtemp('/tmp/skpm-');
  const conf = join(podmanDir, 'containers.conf');
  await writeFile(
    conf,
    '[engine]\nruntime="runc"\n[containers]\ndefault_ulimits=["nofile=1024:1024","nproc=1024:1024"]\n',
  );
  podmanEnv = { ...sb.env, CONTAINERS_CONF: conf };
});

afterAll(async () => {
  await reg?.stop();
  await sb?.cleanup();
  if (podmanDir) await rm(podmanDir, { recursive: true, force: true });
});

function podman(args: string[]) {
  return run(
    'podman',
    ['--root', join(podmanDir, 'r'), '--runroot', join(podmanDir, 'rr'), '--storage-driver', 'vfs', ...args],
    { env: podmanEnv, timeoutMs: 120_000 },
  );
}

it('skiff load reads what podman save wrote (docker-archive and oci-archive)', async () => {
  await ok(podman(['pull', '-q', OFF, `${reg.host}/interop/p:1`]), 'podman pull');
  const podmanId = (await ok(podman(['images', '-q', '--no-trunc']))).trim();
  for (const format of ['docker-archive', 'oci-archive']) {
    const file = sb.path(`${format}.tar`);
    await ok(
      podman(['save', '-q', '--format', format, '-o', file, `${reg.host}/interop/p:1`]),
      `podman save ${format}`,
    );
    const store = await makeStore(sb, `from-podman-${format}`);
    const r = await skiff(sb, store, ['load', '-i', file]);
    expect(r.code, `${format}: ${r.stderr}`).toBe(0);
    expect(r.stdout, format).toBe(`Loaded image: ${reg.host}/interop/p:1\n`);
    const ids = await ok(skiff(sb, store, ['images', '-q', '--no-trunc']));
    expect(ids, format).toBe(`${podmanId}\n`);
    const check = await skiff(sb, store, ['system', 'check']);
    expect(check.code, check.stdout).toBe(0);
  }
});

it('podman load reads what skiff save wrote', async () => {
  const store = await makeStore(sb, 'to-podman');
  const id = (await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/interop/p:1`]))).trim();
  const file = sb.path('skiff-save.tar');
  await ok(skiff(sb, store, ['save', '-q', '-o', file, `${reg.host}/interop/p:1`]));
  await ok(podman(['rmi', '-a', '-f']));
  const loaded = await ok(podman(['load', '-q', '-i', file]), 'podman load');
  expect(loaded).toContain(`${reg.host}/interop/p:1`);
  expect((await ok(podman(['images', '-q', '--no-trunc']))).trim()).toBe(`sha256:${id}`);
});
