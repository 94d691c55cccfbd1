import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { writeTar } from '../support/tar.js';
import { assertBuilt, ferry, makeSandbox, ok, run, type Sandbox, skopeo } from './ferry-cli.js';
import { assertSkiffBuilt, blobGets, makeStore, SKIFF_BIN, skiff } from './skiff-cli.js';

/**
 * skiff's image commands end to end: the built CLI against a real registry, each test with its
 * own store; skopeo reads what skiff wrote.
 */

let sb: Sandbox;
let reg: TestRegistry;
let a: FixtureImage;
let b: FixtureImage;
const OFF = '--tls-verify=false';

beforeAll(async () => {
  await assertBuilt();
  await assertSkiffBuilt();
  sb = await makeSandbox('skiff-e2e-');
  reg = await startRegistry();
  const layout = sb.path('layout');
  // Both on the busybox base layer; b has one more layer on top of a's.
  a = await makeImage(layout, { name: 'a', extraLayers: 1, config: { Labels: { tier: 'base' } } });
  b = await makeImage(layout, { name: 'b', extraLayers: 2 });
  await ok(
    ferry(sb, ['copy', '-q', '--dest-tls-verify=false', a.transportRef, `docker://${reg.host}/app/a:1`]),
  );
  await ok(
    ferry(sb, ['copy', '-q', '--dest-tls-verify=false', b.transportRef, `docker://${reg.host}/app/b:1`]),
  );
});

afterAll(async () => {
  await reg?.stop();
  await sb?.cleanup();
});

async function logMark(): Promise<number> {
  return (await reg.requests()).length;
}
async function blobGetsSince(mark: number): Promise<string[]> {
  return blobGets((await reg.requests()).slice(mark));
}

describe('skiff pull / images / tag / rmi', () => {
  it('pulls with podman progress, prints the ID, and lists the image', async () => {
    const store = await makeStore(sb, 'pull');
    const r = await skiff(sb, store, ['pull', OFF, `${reg.host}/app/a:1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Trying to pull ${reg.host}/app/a:1...`);
    expect(r.stderr).toContain('Getting image source signatures');
    expect(r.stderr).toMatch(/Copying blob sha256:[0-9a-f]{64} done/);
    expect(r.stderr).toMatch(/Copying config sha256:[0-9a-f]{64} done/);
    expect(r.stderr).toContain('Writing manifest to image destination');
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    const images = await ok(skiff(sb, store, ['images']));
    const lines = images.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(lines[1]).toMatch(
      new RegExp(`^${reg.host}/app/a\\s+1\\s+${id.slice(0, 12)}\\s+\\S.* ago\\s+[0-9.]+ [kMG]?B$`),
    );
    expect(await ok(skiff(sb, store, ['images', '-q']))).toBe(`${id.slice(0, 12)}\n`);
    expect(await ok(skiff(sb, store, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}']))).toBe(
      `${reg.host}/app/a:1\n`,
    );
    const json = JSON.parse(await ok(skiff(sb, store, ['images', '--format', 'json']))) as Array<
      Record<string, unknown>
    >;
    expect(json).toHaveLength(1);
    expect(json[0]!.Id).toBe(id);
    expect(json[0]!.Names).toEqual([`${reg.host}/app/a:1`]);
    expect(json[0]!.Labels).toEqual({ tier: 'base' });

    const quiet = await skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/a:1`]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe(`${id}\n`);
    expect(quiet.stderr).toBe('');
  });

  it('pulling the same image twice downloads nothing the second time', async () => {
    const store = await makeStore(sb, 'twice');
    await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/a:1`]));
    const mark = await logMark();
    const r = await skiff(sb, store, ['pull', OFF, `${reg.host}/app/a:1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('skipped: already exists');
    expect(await blobGetsSince(mark)).toEqual([]);
  });

  it('two images sharing base layers download the shared layers once', async () => {
    const store = await makeStore(sb, 'shared');
    const m1 = await logMark();
    await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/a:1`]));
    const first = await blobGetsSince(m1);
    const m2 = await logMark();
    await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/b:1`]));
    const second = await blobGetsSince(m2);
    const digests = (paths: string[]) => paths.map((p) => p.slice(p.lastIndexOf('/') + 1));
    // a: 2 layers + config; b: only its third layer + its config.
    expect(first).toHaveLength(3);
    expect(second).toHaveLength(2);
    for (const d of digests(second)) expect(digests(first)).not.toContain(d);
    const out = await ok(skiff(sb, store, ['images', '--format', '{{.Repository}}:{{.Tag}}']));
    expect(out.split('\n').filter(Boolean).sort()).toEqual([`${reg.host}/app/a:1`, `${reg.host}/app/b:1`]);
    const check = await skiff(sb, store, ['system', 'check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });

  it('tag, untag, inspect, history and rmi', async () => {
    const store = await makeStore(sb, 'tag');
    const id = (await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/a:1`]))).trim();
    await ok(skiff(sb, store, ['tag', `${reg.host}/app/a:1`, 'mybox', 'other/box:2']));
    const names = await ok(
      skiff(sb, store, ['images', '--format', '{{.Repository}}:{{.Tag}}', '--sort', 'repository']),
    );
    expect(names).toBe(`${reg.host}/app/a:1\nlocalhost/mybox:latest\nlocalhost/other/box:2\n`);

    const inspect = JSON.parse(await ok(skiff(sb, store, ['image', 'inspect', 'mybox']))) as Array<
      Record<string, unknown>
    >;
    expect(inspect[0]!.Id).toBe(id);
    expect(inspect[0]!.RepoTags).toContain('localhost/mybox:latest');
    expect(inspect[0]!.Architecture).toBe('amd64');
    expect(inspect[0]!.Os).toBe('linux');
    expect((inspect[0]!.RootFS as { Layers: string[] }).Layers).toHaveLength(2);
    expect((inspect[0]!.Config as { Labels: Record<string, string> }).Labels).toEqual({ tier: 'base' });
    expect(await ok(skiff(sb, store, ['inspect', '--format', '{{.Id}} {{.Os}}', id.slice(0, 12)]))).toBe(
      `${id} linux\n`,
    );

    const history = await ok(skiff(sb, store, ['history', 'mybox']));
    expect(history.split('\n')[0]).toMatch(/^ID\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(history.split('\n')[1]).toMatch(new RegExp(`^${id.slice(0, 12)}\\s`));

    await ok(skiff(sb, store, ['untag', id, 'other/box:2']));
    const rmiName = await skiff(sb, store, ['rmi', 'mybox']);
    expect(rmiName.code).toBe(0);
    expect(rmiName.stdout).toBe('Untagged: localhost/mybox:latest\n');
    const rmiId = await skiff(sb, store, ['rmi', id]);
    expect(rmiId.code, rmiId.stderr).toBe(0);
    expect(rmiId.stdout).toBe(`Untagged: ${reg.host}/app/a:1\nDeleted: ${id}\n`);
    expect(await ok(skiff(sb, store, ['images', '-q']))).toBe('');
    const again = await skiff(sb, store, ['rmi', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`Error: ${id}: image not known\n`);
  });

  it('filters: dangling, reference, label', async () => {
    const store = await makeStore(sb, 'filter');
    await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/a:1`, `${reg.host}/app/b:1`]));
    const f = (args: string[]) => ok(skiff(sb, store, ['images', '--format', '{{.Repository}}', ...args]));
    expect(await f(['--filter', 'reference=*/app/a'])).toBe(`${reg.host}/app/a\n`);
    expect(await f(['--filter', 'reference=b'])).toBe(`${reg.host}/app/b\n`);
    expect(await f(['--filter', 'label=tier=base'])).toBe(`${reg.host}/app/a\n`);
    expect(await f(['--filter', 'dangling=true'])).toBe('');
    await ok(skiff(sb, store, ['untag', `${reg.host}/app/b:1`]));
    expect(await f(['--filter', 'dangling=true'])).toBe('<none>\n');
    const pruned = await ok(skiff(sb, store, ['image', 'prune', '-f']));
    expect(pruned.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(await f([])).toBe(`${reg.host}/app/a\n`);
    const bad = await skiff(sb, store, ['images', '--filter', 'nope=1']);
    expect(bad.code).toBe(125);
  });
});

describe('save / load / push', () => {
  it('save (docker-archive, oci-archive, oci-dir, docker-dir) is read by skopeo and loads back with its name', async () => {
    const store = await makeStore(sb, 'save');
    const id = (await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/a:1`]))).trim();
    const cases: Array<[string, (p: string) => string]> = [
      ['docker-archive', (p) => `docker-archive:${p}`],
      ['oci-archive', (p) => `oci-archive:${p}`],
      ['oci-dir', (p) => `oci:${p}`],
      ['docker-dir', (p) => `dir:${p}`],
    ];
    for (const [format, ref] of cases) {
      const out = sb.path(format);
      const r = await skiff(sb, store, ['save', '-q', '--format', format, '-o', out, `${reg.host}/app/a:1`]);
      expect(r.code, `${format}: ${r.stderr}`).toBe(0);
      const info = JSON.parse(await ok(skopeo(sb, ['inspect', ref(out)]), `skopeo inspect ${format}`)) as {
        Layers: string[];
      };
      expect(info.Layers.length, format).toBe(2);
      const fresh = await makeStore(sb, `load-${format}`);
      const loaded = await skiff(sb, fresh, ['load', '-q', '-i', out]);
      expect(loaded.code, `${format}: ${loaded.stderr}`).toBe(0);
      if (format !== 'docker-dir') expect(loaded.stdout, format).toBe(`Loaded image: ${reg.host}/app/a:1\n`);
      const ids = await ok(skiff(sb, fresh, ['images', '-q', '--no-trunc']));
      expect(ids, format).toBe(`sha256:${id}\n`);
    }
  });

  it('load reads stdin; a bad archive exits 125 with one clear message', async () => {
    const store = await makeStore(sb, 'stdin');
    await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/a:1`]));
    const out = sb.path('a.tar');
    await ok(skiff(sb, store, ['save', '-q', '-o', out, `${reg.host}/app/a:1`]));
    const fresh = await makeStore(sb, 'stdin2');
    const r = await run(
      'sh',
      ['-c', `"${process.execPath}" "${SKIFF_BIN}" ${fresh.flags.join(' ')} load < "${out}"`],
      {
        env: sb.env,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Loaded image: ${reg.host}/app/a:1\n`);
    const junk = sb.path('junk.tar');
    await writeFile(junk, 'not an archive');
    const bad = await skiff(sb, fresh, ['load', '-i', junk]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^Error: payload does not match any of the supported image formats/);
  });

  it('push to a registry and to oci: is read by skopeo', async () => {
    const store = await makeStore(sb, 'push');
    await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/a:1`]));
    await ok(skiff(sb, store, ['tag', `${reg.host}/app/a:1`, `${reg.host}/pushed/a:2`]));
    const r = await skiff(sb, store, ['push', OFF, `${reg.host}/pushed/a:2`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Writing manifest to image destination');
    const info = JSON.parse(await ok(skopeo(sb, ['inspect', OFF, `docker://${reg.host}/pushed/a:2`]))) as {
      Layers: string[];
      Labels: Record<string, string>;
    };
    expect(info.Layers).toHaveLength(2);
    expect(info.Labels).toEqual({ tier: 'base' });
    const layout = sb.path('pushed-layout');
    await ok(skiff(sb, store, ['push', '-q', `${reg.host}/app/a:1`, `oci:${layout}:a`]));
    await ok(skopeo(sb, ['inspect', `oci:${layout}:a`]));
  });
});

describe('import', () => {
  it('a rootfs tarball becomes an image with --change and --message', async () => {
    const store = await makeStore(sb, 'import');
    const tar = sb.path('rootfs.tar');
    await writeTar(tar, [
      { name: 'etc', type: 'directory' },
      { name: 'etc/hello', type: 'file', content: 'hi\n' },
    ]);
    const r = await skiff(sb, store, [
      'import',
      '--change',
      'CMD=["/bin/sh"]',
      '--change',
      'ENV=A=b',
      '--change',
      'WORKDIR /work',
      '--message',
      'imported here',
      tar,
      'imported:1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const data = JSON.parse(await ok(skiff(sb, store, ['image', 'inspect', 'imported:1']))) as Array<{
      Config: { Cmd: string[]; Env: string[]; WorkingDir: string };
      RepoTags: string[];
      Comment: string;
    }>;
    expect(data[0]!.RepoTags).toEqual(['localhost/imported:1']);
    expect(data[0]!.Config.Cmd).toEqual(['/bin/sh']);
    expect(data[0]!.Config.Env).toEqual(['A=b']);
    expect(data[0]!.Config.WorkingDir).toBe('/work');
    expect(data[0]!.Comment).toBe('imported here');
    const check = await skiff(sb, store, ['system', 'check']);
    expect(check.code, check.stdout).toBe(0);
  });
});

describe('errors', () => {
  it('a bad reference or an unknown image exits 125 with one clear message', async () => {
    const store = await makeStore(sb, 'errors');
    for (const args of [
      ['pull', OFF, 'UPPER/Case:x'],
      ['pull', OFF, `${reg.host}/app/nope:1`],
      ['image', 'inspect', 'nope'],
      ['tag', 'nope', 'x'],
      ['history', 'nope'],
      ['save', '-o', join(sb.dir, 'x.tar'), 'nope'],
    ]) {
      const r = await skiff(sb, store, args);
      expect(r.code, args.join(' ')).toBe(125);
      const stderr = r.stderr.replace(/^Trying to pull \S+\.\.\.\n/, '');
      expect(stderr, args.join(' ')).toMatch(/^Error: .+\n(?:[^\n]+\n)?$/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('system df and info show the store', async () => {
    const store = await makeStore(sb, 'df');
    await ok(skiff(sb, store, ['pull', '-q', OFF, `${reg.host}/app/a:1`, `${reg.host}/app/b:1`]));
    const df = await ok(skiff(sb, store, ['system', 'df']));
    expect(df).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+2\s+0\s+\S+\s+\S+ \(100%\)\n/);
    const info = JSON.parse(await ok(skiff(sb, store, ['info', '--format', 'json']))) as {
      store: { graphRoot: string; runRoot: string; graphDriverName: string; imageStore: { number: number } };
    };
    expect(info.store.graphRoot).toBe(store.root);
    expect(info.store.runRoot).toBe(store.runroot);
    expect(info.store.graphDriverName).toBe('vfs');
    expect(info.store.imageStore.number).toBe(2);
  });
});
