import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage, makeIndex } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import {
  assertBuilt,
  ferry,
  makeSandbox,
  ok,
  type RunResult,
  type Sandbox,
  sha256,
  skopeo,
  startProxy,
  withEditedConfig,
} from './ferry-cli.js';

/**
 * ferry inspect, list-tags, delete, manifest-digest, login/logout and the failure messages and
 * exit codes, run as a user runs them and compared with skopeo on the same inputs.
 */

let sb: Sandbox;
let plain: TestRegistry;
let basic: TestRegistry;
let single: FixtureImage;
let multi: FixtureImage;
let customRef: string;
let customDigest: string;
const TLS_OFF = '--tls-verify=false';

type Json = Record<string, unknown>;

function parse(r: RunResult, what: string): Json {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Json;
}

/** Every field skopeo prints is printed by ferry with the same value, in the same order. */
async function expectInspectLikeSkopeo(
  image: string,
  flags: string[] = [],
  skip: string[] = [],
): Promise<Json> {
  const [f, s] = await Promise.all([
    ferry(sb, ['inspect', ...flags, image]),
    skopeo(sb, ['inspect', ...flags, image]),
  ]);
  const fj = parse(f, `ferry inspect ${image}`);
  const sj = parse(s, `skopeo inspect ${image}`);
  expect(Object.keys(sj).length).toBeGreaterThanOrEqual(8);
  for (const key of Object.keys(sj)) {
    if (!skip.includes(key)) expect({ key, value: fj[key] }).toEqual({ key, value: sj[key] });
  }
  expect(Object.keys(fj).filter((k) => k in sj)).toEqual(Object.keys(sj));
  return fj;
}

beforeAll(async () => {
  await assertBuilt();
  sb = await makeSandbox('ferry-e2e-commands-');
  [plain, basic] = await Promise.all([startRegistry(), startRegistry({ auth: 'htpasswd' })]);
  single = await makeImage(sb.path('single'), { config: { Labels: { zeta: 'z', alpha: 'a<&>' } } });
  multi = await makeIndex(sb.path('multi'), {
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
  });
  customDigest = await withEditedConfig(single.layoutDir, single.digest, 'custom', (c) => ({
    zzz_unknown: true,
    docker_version: '24.0.7',
    container_config: { Cmd: ['ignored'] },
    history: [
      {
        empty_layer: true,
        comment: 'c',
        created_by: 'ENV A=1',
        author: 'me',
        created: '2021-03-04T05:06:07.123400+02:00',
      },
      ...(c.history as unknown[]),
    ],
    rootfs: c.rootfs,
    config: {
      Shell: ['/bin/sh'],
      ArgsEscaped: true,
      StopSignal: 'SIGTERM',
      Labels: { b: '2', a: '1' },
      WorkingDir: '/w',
      Volumes: { '/v2': {}, '/v1': {} },
      Cmd: ['sh'],
      Entrypoint: ['/bin/env'],
      Env: ['A=1', 'B=2'],
      ExposedPorts: { '80/tcp': {}, '443/tcp': {} },
      User: 'nobody',
    },
    os: 'linux',
    architecture: 'amd64',
    author: 'someone',
    created: '2021-03-04T05:06:07.500000000Z',
  }));
  customRef = `oci:${single.layoutDir}:custom`;
  await ok(
    ferry(sb, ['copy', '-q', '--dest-tls-verify=false', single.transportRef, `docker://${plain.host}/img:1`]),
  );
  await ok(
    ferry(sb, ['copy', '-q', '--dest-tls-verify=false', single.transportRef, `docker://${plain.host}/img:2`]),
  );
  await ok(
    ferry(sb, [
      'copy',
      '-q',
      '--dest-tls-verify=false',
      multi.transportRef,
      `docker://${plain.host}/multi:1`,
    ]),
  );
  await ok(
    ferry(sb, [
      'copy',
      '-q',
      '--dest-tls-verify=false',
      '--dest-creds',
      'testuser:testpassword',
      single.transportRef,
      `docker://${basic.host}/img:1`,
    ]),
  );
});

afterAll(async () => {
  await Promise.all([plain?.stop(), basic?.stop()]);
  await sb?.cleanup();
});

describe('ferry inspect vs skopeo inspect', () => {
  it('a registry image: every field, RepoTags listing all tags', async () => {
    const out = await expectInspectLikeSkopeo(`docker://${plain.host}/img:1`, [TLS_OFF]);
    expect(out.Name).toBe(`${plain.host}/img`);
    expect(out.Digest).toBe(single.digest);
    expect([...(out.RepoTags as string[])].sort()).toEqual(['1', '2']);
    expect(out.Labels).toEqual({ alpha: 'a<&>', zeta: 'z' });
    const r = await ferry(sb, ['inspect', TLS_OFF, `docker://${plain.host}/img:1`]);
    // Go's encoder: HTML characters escaped, sorted map keys.
    expect(r.stdout).toContain('"alpha": "a\\u003c\\u0026\\u003e"');
    expect(r.stdout.indexOf('"alpha"')).toBeLessThan(r.stdout.indexOf('"zeta"'));
    expect(out.LayersData).toEqual([
      expect.objectContaining({
        MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        Size: expect.any(Number),
      }),
    ]);
  });

  it('a multi-arch index: Digest is the index digest; --override-arch picks the instance', async () => {
    const out = await expectInspectLikeSkopeo(`docker://${plain.host}/multi:1`, [TLS_OFF]);
    expect(out.Digest).toBe(multi.digest);
    expect(out.Architecture).toBe(process.arch === 'arm64' ? 'arm64' : 'amd64');
    const arm = await expectInspectLikeSkopeo(multi.transportRef, ['--override-arch', 'arm64']);
    expect(arm.Architecture).toBe('arm64');
    expect(arm.Digest).toBe(multi.digest);
    // One instance by digest: its own digest and platform.
    const index = JSON.parse(
      await ok(ferry(sb, ['inspect', '--raw', TLS_OFF, `docker://${plain.host}/multi:1`])),
    ) as {
      manifests: Array<{ digest: string; platform: { architecture: string } }>;
    };
    const armDigest = index.manifests.find((m) => m.platform.architecture === 'arm64')!.digest;
    const one = await expectInspectLikeSkopeo(`docker://${plain.host}/multi@${armDigest}`, [TLS_OFF]);
    expect(one).toMatchObject({ Digest: armDigest, Architecture: 'arm64' });
  });

  it('an OCI layout image with a rich config', async () => {
    const out = await expectInspectLikeSkopeo(customRef);
    expect(out.Digest).toBe(customDigest);
    expect(out.Created).toBe('2021-03-04T05:06:07.5Z');
    expect(out.DockerVersion).toBe('24.0.7');
    expect(out.Labels).toEqual({ a: '1', b: '2' });
  });

  it('--no-tags, --raw, --config, --config --raw are byte-identical to skopeo', async () => {
    const images = [`docker://${plain.host}/img:1`, `docker://${plain.host}/multi:1`];
    for (const image of images) {
      for (const flags of [['--raw'], ['--config'], ['--config', '--raw'], ['--no-tags']]) {
        const [f, s] = await Promise.all([
          ferry(sb, ['inspect', TLS_OFF, ...flags, image]),
          skopeo(sb, ['inspect', TLS_OFF, ...flags, image]),
        ]);
        expect({ flags, code: f.code }).toEqual({ flags, code: 0 });
        if (flags.includes('--no-tags')) {
          const fj = JSON.parse(f.stdout) as Json;
          const sj = JSON.parse(s.stdout) as Json;
          expect(fj.RepoTags).toEqual([]);
          for (const key of Object.keys(sj)) expect({ key, v: fj[key] }).toEqual({ key, v: sj[key] });
        } else {
          expect({ flags, image, out: f.stdout }).toEqual({ flags, image, out: s.stdout });
        }
      }
    }
    const raw = await ok(ferry(sb, ['inspect', TLS_OFF, '--raw', `docker://${plain.host}/multi:1`]));
    expect(sha256(raw)).toBe(multi.digest);
  });

  it('--config decodes like skopeo: spec order, unknown fields dropped, Go times and sorted maps', async () => {
    const [f, s] = await Promise.all([
      ferry(sb, ['inspect', '--config', customRef]),
      skopeo(sb, ['inspect', '--config', customRef]),
    ]);
    expect(f.code).toBe(0);
    expect(f.stdout).toBe(s.stdout);
    expect(f.stdout).not.toContain('zzz_unknown');
    expect(f.stdout).toContain('"created": "2021-03-04T05:06:07.1234+02:00"');
  });

  it('--format templates render as skopeo renders them; json is the JSON output', async () => {
    for (const format of [
      '{{.Digest}}',
      '{{.Name}}|{{.Architecture}}/{{.Os}}',
      '{{.RepoTags}}',
      '{{.Labels}}',
      '{{.Created}}',
      '{{range .Layers}}{{.}},{{end}}',
      '{{index .Labels "alpha"}}',
      'json',
    ]) {
      const [f, s] = await Promise.all([
        ferry(sb, ['inspect', TLS_OFF, '--format', format, `docker://${plain.host}/img:1`]),
        skopeo(sb, ['inspect', TLS_OFF, '--format', format, `docker://${plain.host}/img:1`]),
      ]);
      if (format === 'json') {
        // skopeo 1.9 does not print LayersData; every field it prints must match.
        const fj = JSON.parse(f.stdout) as Json;
        const sj = JSON.parse(s.stdout) as Json;
        for (const key of Object.keys(sj)) expect({ key, v: fj[key] }).toEqual({ key, v: sj[key] });
        expect(fj.LayersData).toBeDefined();
      } else {
        expect({ format, code: f.code, out: f.stdout }).toEqual({ format, code: 0, out: s.stdout });
      }
    }
  });

  it('--config --format renders over the config as skopeo (Go field names); --raw --format is refused', async () => {
    for (const format of [
      '{{.Architecture}}/{{.OS}}',
      '{{.RootFS.DiffIDs}}',
      '{{.Config.Env}} {{.Config.Cmd}} {{.Config.User}}',
      '{{.Config.Labels}} {{.Config.ExposedPorts}} {{.Config.Volumes}}',
      '{{.Created}}',
      '{{(index .History 0).CreatedBy}} {{len .History}}',
    ]) {
      const [f, s] = await Promise.all([
        ferry(sb, ['inspect', '--config', '--format', format, customRef]),
        skopeo(sb, ['inspect', '--config', '--format', format, customRef]),
      ]);
      expect({ format, code: f.code, out: f.stdout }).toEqual({ format, code: 0, out: s.stdout });
    }
    const raw = await ferry(sb, ['inspect', '--raw', '--format', '{{.Digest}}', customRef]);
    expect(raw.code).toBe(2);
    expect(raw.stdout).toBe('');
    expect((await skopeo(sb, ['inspect', '--raw', '--format', '{{.Digest}}', customRef])).code).not.toBe(0);
  });

  it('reads docker-archive:, dir: and oci-archive: images skopeo wrote, field for field', async () => {
    const da = sb.path('sk-docker.tar');
    const dir = sb.path('sk-dir');
    const oa = sb.path('sk-oci.tar');
    await ok(skopeo(sb, ['copy', '-q', customRef, `docker-archive:${da}:custom:1`]));
    await ok(skopeo(sb, ['copy', '-q', customRef, `dir:${dir}`]));
    await ok(skopeo(sb, ['copy', '-q', customRef, `oci-archive:${oa}:c`]));
    // A docker-archive has no stored manifest: each tool synthesises one, so the Digest differs
    // (skopeo: compact JSON, every layer typed tar.gzip with its DiffID; ferry: the true types).
    const a = await expectInspectLikeSkopeo(`docker-archive:${da}`, [], ['Digest']);
    expect(a.Digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const d = await expectInspectLikeSkopeo(`dir:${dir}`);
    expect(d.Digest).toBe(customDigest);
    const o = await expectInspectLikeSkopeo(`oci-archive:${oa}:c`);
    expect(o.Digest).toBe(customDigest);
  });
});

describe('ferry list-tags, delete, manifest-digest', () => {
  it('list-tags follows pagination (>100 tags) and prints what skopeo prints', async () => {
    const manifest = await readFile(join(single.layoutDir, 'blobs/sha256', single.digest.slice(7)));
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        single.transportRef,
        `docker://${plain.host}/many:seed`,
      ]),
    );
    const tags = Array.from({ length: 120 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    for (const tag of tags) {
      const res = await fetch(`http://${plain.host}/v2/many/manifests/${tag}`, {
        method: 'PUT',
        headers: { 'Content-Type': single.mediaType },
        body: manifest,
      });
      expect(res.status).toBe(201);
      await res.arrayBuffer();
    }
    // distribution 2.8 ignores `n` on tags/list: the proxy pages the list by 50 with Link
    // headers, as registries that paginate do (`last` = the last tag of the previous page).
    const page = async (url: string) => {
      const u = new URL(url, 'http://x');
      const res = await fetch(`http://${plain.host}${u.pathname}`);
      const all = ((await res.json()) as { name: string; tags: string[] }).tags.sort();
      const last = u.searchParams.get('last');
      const start = last === null ? 0 : all.indexOf(last) + 1;
      const tags = all.slice(start, start + 50);
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (start + 50 < all.length) {
        headers.Link = `<${u.pathname}?n=50&last=${encodeURIComponent(tags.at(-1)!)}>; rel="next"`;
      }
      return { status: 200, headers, body: JSON.stringify({ name: 'many', tags }) };
    };
    const proxy = await startProxy(plain.host, (method, url) =>
      method === 'GET' && url.includes('/tags/list') ? page(url) : undefined,
    );
    try {
      const f = await ferry(sb, ['list-tags', TLS_OFF, `docker://${proxy.host}/many`]);
      const pages = proxy.seen.filter((r) => r.includes('/tags/list')).length;
      const s = await skopeo(sb, ['list-tags', TLS_OFF, `docker://${proxy.host}/many`]);
      expect(f.code).toBe(0);
      expect(pages).toBeGreaterThanOrEqual(3);
      const fj = JSON.parse(f.stdout) as { Repository: string; Tags: string[] };
      expect(fj.Tags).toHaveLength(121);
      expect(new Set(fj.Tags)).toEqual(new Set([...tags, 'seed']));
      expect(f.stdout).toBe(s.stdout);
    } finally {
      await proxy.stop();
    }
  });

  it('list-tags docker-archive: prints the archive tags as skopeo does', async () => {
    const fromSkopeo = sb.path('tags-skopeo.tar');
    await ok(skopeo(sb, ['copy', '-q', single.transportRef, `docker-archive:${fromSkopeo}:tagged/one:1`]));
    const fromFerry = sb.path('tags-ferry.tar');
    await ok(ferry(sb, ['copy', '-q', single.transportRef, `docker-archive:${fromFerry}:busybox:2`]));
    for (const archive of [fromSkopeo, fromFerry]) {
      const [f, s] = await Promise.all([
        ferry(sb, ['list-tags', `docker-archive:${archive}`]),
        skopeo(sb, ['list-tags', `docker-archive:${archive}`]),
      ]);
      expect({ archive, code: f.code, out: f.stdout }).toEqual({ archive, code: 0, out: s.stdout });
    }
    expect(JSON.parse(await ok(ferry(sb, ['list-tags', `docker-archive:${fromFerry}`])))).toEqual({
      Tags: ['docker.io/library/busybox:2'],
    });
  });

  it('list-tags refuses a tag or a non-registry transport with exit 1, as skopeo', async () => {
    for (const arg of [`docker://${plain.host}/img:1`, `oci:${single.layoutDir}`]) {
      const [f, s] = await Promise.all([
        ferry(sb, ['list-tags', TLS_OFF, arg]),
        skopeo(sb, ['list-tags', TLS_OFF, arg]),
      ]);
      expect({ arg, code: f.code }).toEqual({ arg, code: s.code });
      expect(f.code).toBe(1);
    }
  });

  it('delete removes the manifest; inspect then fails with 404 naming the image', async () => {
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        single.transportRef,
        `docker://${plain.host}/del:1`,
      ]),
    );
    await ok(ferry(sb, ['delete', TLS_OFF, `docker://${plain.host}/del:1`]));
    const r = await ferry(sb, ['inspect', TLS_OFF, `docker://${plain.host}/del:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${plain.host}/del`);
    const s = await skopeo(sb, ['inspect', TLS_OFF, `docker://${plain.host}/del@${single.digest}`]);
    expect(s.code).toBe(1);
    const again = await ferry(sb, ['delete', TLS_OFF, `docker://${plain.host}/del:1`]);
    expect(again.code).toBe(1);
    // skopeo 1.9 cannot delete from an OCI layout (newer skopeo can); ferry removes the ref.
    const layout = await makeImage(sb.path('del-layout'), { name: 'a' });
    await makeImage(layout.layoutDir, { name: 'b', extraLayers: 1 });
    await ok(ferry(sb, ['delete', `oci:${layout.layoutDir}:a`]));
    const refs = (
      JSON.parse(await readFile(join(layout.layoutDir, 'index.json'), 'utf8')) as {
        manifests: Array<{ annotations?: Record<string, string> }>;
      }
    ).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']);
    expect(refs).toEqual(['b']);
    expect((await ferry(sb, ['inspect', `oci:${layout.layoutDir}:a`])).code).toBe(1);
  });

  it('manifest-digest prints what skopeo prints (image, index, any bytes) and fails on a missing file', async () => {
    const files: string[] = [];
    for (const d of [single.digest, multi.digest])
      files.push(join(single.layoutDir, 'blobs/sha256', d.slice(7)));
    const multiFile = join(multi.layoutDir, 'blobs/sha256', multi.digest.slice(7));
    const junk = sb.path('junk.json');
    await writeFile(junk, 'not a manifest\n');
    for (const file of [files[0]!, multiFile, junk]) {
      const [f, s] = await Promise.all([
        ferry(sb, ['manifest-digest', file]),
        skopeo(sb, ['manifest-digest', file]),
      ]);
      expect({ file, code: f.code, out: f.stdout }).toEqual({ file, code: 0, out: s.stdout });
    }
    expect((await ok(ferry(sb, ['manifest-digest', multiFile]))).trim()).toBe(multi.digest);
    const missing = await ferry(sb, ['manifest-digest', sb.path('absent')]);
    expect(missing.code).toBe(1);
  });
});

describe('ferry login / logout and credentials', () => {
  it('login --password-stdin writes a 0600 auth file that ferry and skopeo use; --get-login; logout', async () => {
    const authDir = join(sb.env.XDG_RUNTIME_DIR!, 'containers');
    const login = await ferry(sb, ['login', TLS_OFF, '-u', 'testuser', '--password-stdin', basic.host], {
      input: 'testpassword\n',
    });
    expect(login.code).toBe(0);
    expect(login.stdout).toContain('Login Succeeded');
    const authFile = join(authDir, 'auth.json');
    expect((await stat(authFile)).mode & 0o777).toBe(0o600);
    const auth = JSON.parse(await readFile(authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(auth.auths[basic.host]!.auth, 'base64').toString()).toBe('testuser:testpassword');

    expect((await ok(ferry(sb, ['login', '--get-login', basic.host]))).trim()).toBe('testuser');
    expect((await ok(skopeo(sb, ['login', '--get-login', basic.host]))).trim()).toBe('testuser');

    // The default auth file is used by copy (push) and by skopeo (pull).
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        single.transportRef,
        `docker://${basic.host}/img:1`,
      ]),
    );
    const viaSkopeo = await ok(skopeo(sb, ['inspect', '--raw', TLS_OFF, `docker://${basic.host}/img:1`]));
    expect(sha256(viaSkopeo)).toBe(single.digest);

    await ok(ferry(sb, ['logout', basic.host]));
    const gone = await ferry(sb, ['login', '--get-login', basic.host]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(basic.host);
    const denied = await ferry(sb, ['inspect', TLS_OFF, `docker://${basic.host}/img:1`]);
    expect(denied.code).toBe(1);
  });

  it('--authfile on login and copy; wrong password is refused and not stored; logout --all', async () => {
    const authFile = sb.path('auth.json');
    const bad = await ferry(
      sb,
      ['login', TLS_OFF, '--authfile', authFile, '-u', 'testuser', '--password-stdin', basic.host],
      {
        input: 'wrong\n',
      },
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(basic.host);
    const after = await readFile(authFile, 'utf8').catch(() => '');
    expect(after).not.toContain(basic.host);

    await ok(
      ferry(
        sb,
        ['login', TLS_OFF, '--authfile', authFile, '-u', 'testuser', '--password-stdin', basic.host],
        {
          input: 'testpassword',
        },
      ),
    );
    expect((await stat(authFile)).mode & 0o777).toBe(0o600);
    const out = sb.path('pulled');
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--src-tls-verify=false',
        '--authfile',
        authFile,
        `docker://${basic.host}/img:1`,
        `oci:${out}:x`,
      ]),
    );
    const viaSkopeo = await ok(
      skopeo(sb, ['inspect', '--raw', TLS_OFF, '--authfile', authFile, `docker://${basic.host}/img:1`]),
    );
    expect(sha256(viaSkopeo)).toBe(single.digest);
    await ok(ferry(sb, ['logout', '--authfile', authFile, '--all']));
    const emptied = JSON.parse(await readFile(authFile, 'utf8')) as { auths?: Record<string, unknown> };
    expect(Object.keys(emptied.auths ?? {})).toEqual([]);
  });

  it('a 401 names the registry and suggests ferry login; --creds fixes it', async () => {
    const r = await ferry(sb, ['inspect', TLS_OFF, `docker://${basic.host}/img:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(basic.host);
    expect(r.stderr).toMatch(/ferry login/);
    expect(r.stderr.startsWith('Error: ')).toBe(true);
    const okr = await ferry(sb, [
      'inspect',
      TLS_OFF,
      '--creds',
      'testuser:testpassword',
      `docker://${basic.host}/img:1`,
    ]);
    expect(okr.code).toBe(0);
  });
});

describe('failures: messages and exit codes as skopeo', () => {
  it('not usage errors: exit 1 like skopeo, one message naming the input', async () => {
    const cases: Array<{ args: string[]; mention: string }> = [
      { args: ['inspect', TLS_OFF, `docker://${plain.host}/nope:1`], mention: `${plain.host}/nope` },
      { args: ['inspect', TLS_OFF, `docker://${plain.host}/UPPER:1`], mention: 'UPPER' },
      { args: ['inspect', `docker://${plain.host}/a:bad tag`], mention: 'bad tag' },
      { args: ['inspect', 'foo:bar'], mention: 'foo' },
      { args: ['inspect', 'nocolon'], mention: 'nocolon' },
      { args: ['copy', 'bogus:x', `oci:${sb.path('u')}:x`], mention: 'bogus' },
      {
        args: ['copy', '--src-tls-verify=false', `docker://${plain.host}/nope:1`, `oci:${sb.path('n')}:x`],
        mention: 'nope',
      },
      { args: ['inspect', `oci:${sb.path('no-layout')}:x`], mention: 'no-layout' },
    ];
    for (const c of cases) {
      const [f, s] = await Promise.all([ferry(sb, c.args), skopeo(sb, c.args)]);
      expect({ args: c.args, code: f.code }).toEqual({ args: c.args, code: s.code });
      expect(f.code).toBe(1);
      expect(f.stdout).toBe('');
      expect(f.stderr.startsWith('Error: ')).toBe(true);
      expect(f.stderr.match(/^Error: /gm)).toHaveLength(1);
      expect(f.stderr).toContain(c.mention);
      expect(f.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('usage errors (flags, arguments) exit 2', async () => {
    const cases = [
      ['copy', single.transportRef],
      ['copy', '--bogus', single.transportRef, 'oci:/tmp/x:y'],
      ['copy', '--format', 'v2s9', single.transportRef, 'oci:/tmp/x:y'],
      ['copy', '--multi-arch', 'some', single.transportRef, 'oci:/tmp/x:y'],
      ['inspect'],
      ['inspect', 'a:b', 'c:d'],
      ['list-tags'],
      ['nosuchcommand'],
      ['manifest-digest'],
    ];
    for (const args of cases) {
      const r = await ferry(sb, args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/^Error: /);
    }
  });
});
