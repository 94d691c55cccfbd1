import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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

it('an image podman built runs under skiff with the output podman gives it; inspect uses podman field names', async () => {
  const ctx = sb.path('build-ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(
    join(ctx, 'Containerfile'),
    [
      `FROM ${reg.host}/interop/p:1`,
      'ENV GREETING=hello PATH=/bin',
      'WORKDIR /srv',
      'RUN echo built-by-podman > /srv/f && mkdir -p /srv/sub',
      'USER 1:1',
      'CMD ["sh", "-c", "echo $GREETING; cat f; pwd; id; ls /srv"]',
      '',
    ].join('\n'),
  );
  await ok(
    podman([
      'build',
      '-q',
      OFF,
      '--network',
      'none',
      '-t',
      'localhost/interop/built:1',
      '-f',
      join(ctx, 'Containerfile'),
      ctx,
    ]),
    'podman build',
  );
  const file = sb.path('built.tar');
  await ok(podman(['save', '-q', '-o', file, 'localhost/interop/built:1']), 'podman save');
  const store = await makeStore(sb, 'built', 'overlay');
  await ok(skiff(sb, store, ['load', '-q', '-i', file]));

  for (const extra of [
    [],
    ['-e', 'GREETING=hi', '-w', '/', '-u', '0'],
    ['--entrypoint', 'sh', '-u', '2:3'],
  ]) {
    const args =
      extra[0] === '--entrypoint'
        ? [
            'run',
            '--rm',
            '--network',
            'none',
            ...extra,
            'localhost/interop/built:1',
            '-c',
            'id; echo $GREETING',
          ]
        : ['run', '--rm', '--network', 'none', ...extra, 'localhost/interop/built:1'];
    const theirs = await ok(podman(args), `podman ${args.join(' ')}`);
    const ours = await skiff(sb, store, args);
    expect(ours.code, ours.stderr).toBe(0);
    expect(ours.stdout, args.join(' ')).toBe(theirs);
  }
  expect(
    (await skiff(sb, store, ['run', '--rm', 'localhost/interop/built:1', 'sh', '-c', 'exit 3'])).code,
  ).toBe(3);

  // The fields scripts read from `inspect`, as podman names them, with the same values.
  const create = [
    'create',
    '--name',
    'insp',
    '--network',
    'none',
    '-e',
    'A=1',
    '--label',
    'tier=web',
    'localhost/interop/built:1',
  ];
  await ok(podman(create));
  await ok(skiff(sb, store, create));
  const fields =
    '{{.Name}}|{{.State.Status}}|{{.State.Running}}|{{.State.ExitCode}}|{{.Config.Cmd}}|{{.Config.WorkingDir}}|{{.Config.User}}|{{index .Config.Labels "tier"}}|{{.ImageName}}|{{.HostConfig.AutoRemove}}';
  const theirs = await ok(podman(['container', 'inspect', '--format', fields, 'insp']));
  expect(await ok(skiff(sb, store, ['container', 'inspect', '--format', fields, 'insp']))).toBe(theirs);
  const keys = (json: string) => Object.keys((JSON.parse(json) as Record<string, unknown>[])[0] ?? {});
  const podmanKeys = keys(await ok(podman(['container', 'inspect', 'insp'])));
  const skiffKeys = keys(await ok(skiff(sb, store, ['container', 'inspect', 'insp'])));
  for (const k of [
    'Id',
    'Created',
    'Path',
    'Args',
    'State',
    'Image',
    'ImageName',
    'Name',
    'Mounts',
    'Config',
    'HostConfig',
  ]) {
    expect(podmanKeys, k).toContain(k);
    expect(skiffKeys, k).toContain(k);
  }
  await ok(podman(['rm', 'insp']));
  await ok(skiff(sb, store, ['rm', 'insp']));
});
