import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { assertBuilt, makeSandbox, ok, type Sandbox } from './ferry-cli.js';
import {
  assertSkiffBuilt,
  storeWithImage as sharedStoreWithImage,
  skiff,
  type TestStore,
  until,
} from './skiff-cli.js';

/**
 * skiff's volumes end to end, as root, on an image with `VOLUME /data` whose /data holds files
 * owned by nobody (65534) with their own modes: anonymous volumes (-v /path and the image's
 * VOLUME) go with their container on rm -v and --rm, named ones persist and are filled from the
 * image once, U chowns, z/Z are accepted, and a bad mount leaves nothing behind (exit 125).
 */

let sb: Sandbox;
let img: FixtureImage;
const IMAGE = 'localhost/e2e/vol:1';
const NOBODY = 65534;

/** A small uncompressed layer whose entries carry their own owners (tar-stream, in memory). */
async function ownedLayer(): Promise<Buffer> {
  const pack = tar.pack();
  const base = { mtime: new Date('2000-01-01T00:00:00Z'), uname: '', gname: '' };
  const dir = (name: string, mode: number, uid = 0) =>
    pack.entry({ ...base, name, type: 'directory', mode, uid, gid: uid });
  const file = (name: string, content: string, mode: number, uid = 0) =>
    pack.entry({ ...base, name, type: 'file', mode, uid, gid: uid }, content);
  dir('data', 0o750, NOBODY);
  file('data/seed.txt', 'seeded\n', 0o640, NOBODY);
  dir('data/sub', 0o700, NOBODY);
  file('data/sub/deep.txt', 'deep\n', 0o600);
  dir('srv', 0o755);
  file('srv/other.txt', 'other\n', 0o644);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Add `layer` on top of the layout's image and `VOLUME /data` to its config. */
async function addLayerAndVolume(image: FixtureImage, layer: Buffer): Promise<void> {
  const blobs = join(image.layoutDir, 'blobs', 'sha256');
  const put = (data: Buffer): string => {
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, hex), data);
    return `sha256:${hex}`;
  };
  const read = (digest: string) => JSON.parse(readFileSync(join(blobs, digest.slice(7)), 'utf8'));
  const indexFile = join(image.layoutDir, 'index.json');
  const index = JSON.parse(readFileSync(indexFile, 'utf8'));
  const desc = index.manifests.find(
    (m: { annotations?: Record<string, string> }) =>
      m.annotations?.['org.opencontainers.image.ref.name'] === image.ref,
  );
  const manifest = read(desc.digest);
  const config = read(manifest.config.digest);
  const layerDigest = put(layer);
  config.rootfs.diff_ids.push(layerDigest);
  config.history.push({ created: '2000-01-01T00:00:00Z', created_by: 'VOLUME /data' });
  config.config.Volumes = { '/data': {} };
  const rawConfig = Buffer.from(JSON.stringify(config));
  manifest.config = { ...manifest.config, digest: put(rawConfig), size: rawConfig.length };
  manifest.layers.push({
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    digest: layerDigest,
    size: layer.length,
  });
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  desc.digest = put(rawManifest);
  desc.size = rawManifest.length;
  writeFileSync(indexFile, JSON.stringify(index));
}

beforeAll(async () => {
  if (process.geteuid?.() !== 0) throw new Error('the skiff volumes e2e suite needs root');
  await assertBuilt();
  await assertSkiffBuilt();
  sb = await makeSandbox('skv-');
  img = await makeImage(sb.path('layout'), { name: 'vol', config: { Env: ['PATH=/bin'], Cmd: ['true'] } });
  await addLayerAndVolume(img, await ownedLayer());
});

const stores: TestStore[] = [];

afterAll(async () => {
  for (const s of stores) await skiff(sb, s, ['rm', '-f', '--all']).catch(() => {});
  await sb?.cleanup();
});

/** A fresh overlay store holding IMAGE. */
async function storeWithImage(name: string): Promise<TestStore> {
  const store = await sharedStoreWithImage(sb, name, img.transportRef, IMAGE);
  stores.push(store);
  return store;
}

async function volumes(store: TestStore): Promise<string[]> {
  return (await ok(skiff(sb, store, ['volume', 'ls', '-q']))).split('\n').filter(Boolean).sort();
}

async function mountpoint(store: TestStore, name: string): Promise<string> {
  return (await ok(skiff(sb, store, ['volume', 'inspect', '--format', '{{.Mountpoint}}', name]))).trim();
}

const HEX64 = /^[0-9a-f]{64}$/;

describe('anonymous volumes', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await storeWithImage('anon');
  });

  it("the image's VOLUME becomes an anonymous volume filled from the image with owners and modes", async () => {
    await ok(skiff(sb, store, ['create', '--name', 'c1', IMAGE]));
    const [name, ...more] = await volumes(store);
    expect(more).toEqual([]);
    expect(name).toMatch(HEX64);
    const info = JSON.parse(await ok(skiff(sb, store, ['volume', 'inspect', name as string])))[0];
    expect(info).toMatchObject({ Name: name, Driver: 'local', Anonymous: true, NeedsCopyUp: false });
    const mp = info.Mountpoint as string;
    // a unique prefix names it too
    expect(
      await ok(
        skiff(sb, store, ['volume', 'inspect', '--format', '{{.Name}}', (name as string).slice(0, 12)]),
      ),
    ).toBe(`${name}\n`);
    expect(readFileSync(join(mp, 'seed.txt'), 'utf8')).toBe('seeded\n');
    const st = (p: string) => statSync(join(mp, p));
    expect([st('.').uid, st('.').gid, st('.').mode & 0o7777]).toEqual([NOBODY, NOBODY, 0o750]);
    expect([st('seed.txt').uid, st('seed.txt').mode & 0o777]).toEqual([NOBODY, 0o640]);
    expect([st('sub').uid, st('sub').mode & 0o777]).toEqual([NOBODY, 0o700]);
    expect([st('sub/deep.txt').uid, st('sub/deep.txt').mode & 0o777]).toEqual([0, 0o600]);
    // The container sees it at /data.
    await ok(skiff(sb, store, ['start', '-a', 'c1']));

    // rm without -v keeps it (dangling, as podman); prune removes it.
    await ok(skiff(sb, store, ['rm', 'c1']));
    expect(await volumes(store)).toEqual([name]);
    expect(await ok(skiff(sb, store, ['volume', 'ls', '-q', '--filter', 'dangling=true']))).toBe(`${name}\n`);
    expect(await ok(skiff(sb, store, ['volume', 'prune', '-f']))).toBe(`${name}\n`);
    expect(await volumes(store)).toEqual([]);
  });

  it('-v /path and the image VOLUME: rm -v removes both; a named volume beside them stays', async () => {
    await ok(
      skiff(sb, store, [
        'run',
        '--name',
        'c2',
        '-v',
        '/scratch',
        '-v',
        'keep:/keep',
        IMAGE,
        'sh',
        '-c',
        'echo x > /scratch/x; echo y > /data/y; echo k > /keep/k',
      ]),
    );
    const vols = await volumes(store);
    expect(vols).toHaveLength(3);
    expect(vols.filter((v) => HEX64.test(v))).toHaveLength(2);
    await ok(skiff(sb, store, ['rm', '-v', 'c2']));
    expect(await volumes(store)).toEqual(['keep']);
    expect(readFileSync(join(await mountpoint(store, 'keep'), 'k'), 'utf8')).toBe('k\n');
  });

  it('--rm removes the anonymous volumes, attached and detached; named ones stay', async () => {
    expect(
      await ok(
        skiff(sb, store, ['run', '--rm', '-v', '/scratch:rw', '-v', 'keep:/keep', IMAGE, 'cat', '/keep/k']),
      ),
    ).toBe('k\n');
    expect(await volumes(store)).toEqual(['keep']);
    await ok(skiff(sb, store, ['run', '-d', '--rm', '--name', 'bg', '-v', '/scratch', IMAGE, 'true']));
    await until(async () => (await ok(skiff(sb, store, ['ps', '-a', '-q']))) === '');
    await until(async () => (await volumes(store)).join() === 'keep');
  });

  it('a mount at the VOLUME path replaces the anonymous volume; --image-volume tmpfs|ignore', async () => {
    const before = await volumes(store);
    const dir = sb.path('over-data');
    mkdirSync(dir);
    expect(await ok(skiff(sb, store, ['run', '--rm', '-v', `${dir}:/data`, IMAGE, 'ls', '/data']))).toBe('');
    expect(
      await ok(skiff(sb, store, ['run', '--rm', '--image-volume', 'tmpfs', IMAGE, 'sh', '-c', 'ls /data'])),
    ).toBe('');
    expect(
      await ok(skiff(sb, store, ['run', '--rm', '--image-volume', 'ignore', IMAGE, 'cat', '/data/seed.txt'])),
    ).toBe('seeded\n');
    expect(await volumes(store)).toEqual(before);
  });
});

describe('named volumes', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await storeWithImage('named');
  });

  it('persist across containers and are filled from the image once', async () => {
    expect(
      await ok(
        skiff(sb, store, [
          'run',
          '--rm',
          '-v',
          'nv:/data',
          IMAGE,
          'sh',
          '-c',
          'cat /data/seed.txt; rm /data/seed.txt; echo mine > /data/mine',
        ]),
      ),
    ).toBe('seeded\n');
    // Not copied again: seed.txt stays deleted, mine stays.
    expect(await ok(skiff(sb, store, ['run', '--rm', '-v', 'nv:/data', IMAGE, 'ls', '/data']))).toBe(
      'mine\nsub\n',
    );
    // Nor into another path of a later container.
    expect(await ok(skiff(sb, store, ['run', '--rm', '-v', 'nv:/srv', IMAGE, 'ls', '/srv']))).toBe(
      'mine\nsub\n',
    );
    // The image VOLUME at /data is covered by nv: no anonymous volume was made.
    expect(await volumes(store)).toEqual(['nv']);
    const mp = await mountpoint(store, 'nv');
    expect([statSync(mp).uid, statSync(mp).mode & 0o7777]).toEqual([NOBODY, 0o750]);
  });

  it('a volume made by volume create is filled on first use; nocopy leaves it empty', async () => {
    await ok(skiff(sb, store, ['volume', 'create', 'pre']));
    expect(JSON.parse(await ok(skiff(sb, store, ['volume', 'inspect', 'pre'])))[0]).toMatchObject({
      NeedsCopyUp: true,
      NeedsChown: true,
    });
    expect(
      await ok(skiff(sb, store, ['run', '--rm', '-v', 'pre:/srv', IMAGE, 'cat', '/srv/other.txt'])),
    ).toBe('other\n');
    expect(await ok(skiff(sb, store, ['run', '--rm', '-v', 'nc:/data:nocopy', IMAGE, 'ls', '/data']))).toBe(
      '',
    );
    expect(
      await ok(
        skiff(sb, store, [
          'run',
          '--rm',
          '--mount',
          'type=volume,src=nc2,dst=/data,volume-nocopy',
          IMAGE,
          'ls',
          '/data',
        ]),
      ),
    ).toBe('');
    expect(await volumes(store)).toEqual(['nc', 'nc2', 'nv', 'pre']);
    expect(await ok(skiff(sb, store, ['volume', 'prune', '-f']))).toBe('nc\nnc2\nnv\npre\n');
  });
});

describe('mount options', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await storeWithImage('opts');
  });

  it('U chowns the source to the container user (bind, --mount, volume)', async () => {
    const a = sb.path('u-a');
    mkdirSync(join(a, 'in'), { recursive: true });
    writeFileSync(join(a, 'in', 'f'), 'x');
    await ok(skiff(sb, store, ['run', '--rm', '-u', '123:456', '-v', `${a}:/b:U`, IMAGE, 'true']));
    for (const p of [a, join(a, 'in'), join(a, 'in', 'f')])
      expect([statSync(p).uid, statSync(p).gid]).toEqual([123, 456]);
    const b = sb.path('u-b');
    mkdirSync(b);
    chownSync(b, 0, 0);
    await ok(
      skiff(sb, store, [
        'run',
        '--rm',
        '-u',
        '77',
        '--mount',
        `type=bind,src=${b},dst=/b,U=true`,
        IMAGE,
        'true',
      ]),
    );
    expect(statSync(b).uid).toBe(77);
    const out = await ok(
      skiff(sb, store, [
        'run',
        '--rm',
        '-u',
        '88:99',
        '-v',
        'uv:/data:U',
        IMAGE,
        'sh',
        '-c',
        'echo hi > /data/new && cat /data/seed.txt',
      ]),
    );
    expect(out).toBe('seeded\n');
    const mp = await mountpoint(store, 'uv');
    expect([statSync(join(mp, 'seed.txt')).uid, statSync(join(mp, 'new')).uid]).toEqual([88, 88]);
    expect(
      await ok(
        skiff(sb, store, [
          'run',
          '--rm',
          '-u',
          '5:6',
          '--tmpfs',
          '/t:U',
          IMAGE,
          'sh',
          '-c',
          'touch /t/x && echo ok',
        ]),
      ),
    ).toBe('ok\n');
  });

  it(':z and :Z (SELinux relabel) are accepted and skipped on this host', async () => {
    const dir = sb.path('zz');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), 'zz\n');
    for (const args of [
      ['-v', `${dir}:/z:z`],
      ['-v', `${dir}:/z:Z,ro`],
      ['--mount', `type=bind,src=${dir},dst=/z,Z`],
      ['--mount', `type=bind,src=${dir},dst=/z,relabel=shared`],
      ['-v', 'zvol:/z:Z'],
    ])
      expect(await ok(skiff(sb, store, ['run', '--rm', ...args, IMAGE, 'ls', '/z']))).toMatch(/^(f\n)?$/);
  });

  it('propagation, ro, noexec and [r]bind reach the runtime spec; ro is enforced', async () => {
    const dir = sb.path('prop');
    mkdirSync(dir);
    const id = (
      await ok(
        skiff(sb, store, [
          'create',
          '--name',
          'prop',
          '-v',
          `${dir}:/p:ro,rslave,noexec,bind`,
          '--mount',
          `type=bind,src=${dir},dst=/q,bind-propagation=runbindable`,
          '--mount',
          'type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700',
          IMAGE,
          'sh',
          '-c',
          'touch /p/x',
        ]),
      )
    ).trim();
    const spec = JSON.parse(readFileSync(join(store.runroot, 'containers', id, 'config.json'), 'utf8'));
    const opts = (dst: string) =>
      spec.mounts.find((m: { destination: string }) => m.destination === dst)?.options as string[];
    expect(opts('/p')).toEqual(['bind', 'ro', 'noexec', 'rslave']);
    expect(opts('/q')).toEqual(['rbind', 'runbindable']);
    expect(opts('/t')).toEqual(expect.arrayContaining(['size=1048576', 'mode=700']));
    const r = await skiff(sb, store, ['start', '-a', 'prop']);
    expect(r.code).not.toBe(0);
    expect(existsSync(join(dir, 'x'))).toBe(false);
    await ok(skiff(sb, store, ['rm', 'prop']));
  });

  it('O: the container writes to an overlay of the host directory, which stays unchanged', async () => {
    const dir = sb.path('ovl');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), 'host\n');
    chownSync(dir, 7, 8);
    const script = 'cat /o/f; echo c > /o/f; echo n > /o/new; cat /o/f /o/new; stat -c %u:%g /o';
    await ok(skiff(sb, store, ['create', '--name', 'ovl', '-v', `${dir}:/o:O`, IMAGE, 'sh', '-c', script]));
    expect(await ok(skiff(sb, store, ['start', '-a', 'ovl']))).toBe('host\nc\nn\n7:8\n');
    expect(readdirSync(dir)).toEqual(['f']);
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('host\n');
    await ok(skiff(sb, store, ['rm', 'ovl']));
  });

  it('bad mount strings: exit 125, one message naming the input, nothing left behind', async () => {
    const before = await volumes(store);
    const dup = sb.path('dup');
    mkdirSync(dup);
    const cases: Array<[string[], string]> = [
      [['-v', 'a:/b:c:d'], 'a:/b:c:d'],
      [['-v', 'newvol:relative'], 'destination "relative" is not an absolute path'],
      [['-v', 'newvol:/x:bogus'], 'bogus'],
      [['-v', 'newvol:/x:O'], 'newvol:/x:O'],
      [['-v', '/no/such/dir:/x:O'], '/no/such/dir'],
      [['--mount', 'type=volume,src=newvol,dst=/x,colour=red'], 'colour'],
      [['--mount', 'type=nfs,dst=/x'], 'type=nfs,dst=/x'],
      [['--mount', 'type=bind,dst=/x'], 'type=bind,dst=/x'],
      [['--mount', 'type=tmpfs,dst=/x,tmpfs-size=huge'], 'huge'],
      [['--tmpfs', '/x:size=huge'], '/x:size=huge'],
      [['--image-volume', 'maybe'], 'maybe'],
      [['-v', 'newvol:/x', '-v', '/no/such/dir:/y'], '/no/such/dir'],
      // fails after the volume would be made: still none is left
      [['-v', 'newvol:/x', '-v', `${dup}:/x`], '/x: duplicate mount destination'],
    ];
    for (const [args, named] of cases) {
      const r = await skiff(sb, store, ['create', '--name', 'bad', ...args, IMAGE, 'true']);
      expect({ args, code: r.code }).toEqual({ args, code: 125 });
      expect(r.stderr).toContain(named);
      expect(r.stderr).toMatch(/^Error: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe('');
    }
    const notFound = await skiff(sb, store, ['run', '--name', 'bad', '-v', 'newvol:/x', IMAGE, 'nosuchcmd']);
    expect(notFound.code).toBe(127);
    expect(await ok(skiff(sb, store, ['ps', '-a', '-q']))).toBe('');
    expect(await volumes(store)).toEqual(before);
    expect(existsSync(join(store.root, 'volumes', 'newvol'))).toBe(false);
    expect(readdirSync(join(store.root, 'volumes')).filter((n) => n.includes('.removing-'))).toEqual([]);
  });
});
