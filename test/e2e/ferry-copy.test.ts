import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage, makeIndex } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import {
  assertBuilt,
  assertDiffIds,
  corruptFile,
  FERRY_BIN,
  ferry,
  makeSandbox,
  ok,
  readDirImage,
  run,
  type Sandbox,
  sha256,
  skopeo,
  startProxy,
} from './ferry-cli.js';

/**
 * `ferry copy` end to end: the built CLI between registries (plain, htpasswd, TLS, token),
 * layouts and archives, with the flags users rely on; results checked with skopeo and by
 * recomputing digests.
 */

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

let sb: Sandbox;
let plain: TestRegistry;
let basic: TestRegistry;
let tls: TestRegistry;
let token: TestRegistry;
let single: FixtureImage;
let multi: FixtureImage;
let many: FixtureImage;
let v2: FixtureImage;
const NO_TLS = '--dest-tls-verify=false';
const SRC_NO_TLS = '--src-tls-verify=false';

/** HTTP status of GET manifest on a plain registry (200 present, 404 absent). */
async function manifestStatus(host: string, repo: string, ref: string): Promise<number> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT } });
  await res.arrayBuffer();
  return res.status;
}

/** Raw manifest bytes through skopeo (an independent reader). */
async function skopeoRaw(image: string, tlsFlags: string[] = ['--tls-verify=false']): Promise<Buffer> {
  const out = await ok(skopeo(sb, ['inspect', '--raw', ...tlsFlags, image]), `skopeo inspect --raw ${image}`);
  return Buffer.from(out, 'utf8');
}

async function layoutIndex(
  dir: string,
): Promise<Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }>> {
  return (JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: never[] }).manifests;
}

beforeAll(async () => {
  await assertBuilt();
  sb = await makeSandbox('ferry-e2e-copy-');
  [plain, basic, tls, token] = await Promise.all([
    startRegistry(),
    startRegistry({ auth: 'htpasswd' }),
    startRegistry({ tls: true }),
    startRegistry({ auth: 'token' }),
  ]);
  single = await makeImage(sb.path('single'));
  multi = await makeIndex(sb.path('multi'), {
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
  });
  many = await makeImage(sb.path('many'), { extraLayers: 10, whiteout: true });
  v2 = await makeImage(sb.path('v2'), { format: 'v2s2' });
});

afterAll(async () => {
  await Promise.all([plain?.stop(), basic?.stop(), tls?.stop(), token?.stop()]);
  await sb?.cleanup();
});

describe('ferry copy between transports', () => {
  it('oci: → docker:// → oci: keeps the digest, and --digestfile holds it', async () => {
    const digestFile = sb.path('digest');
    const out = await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--digestfile',
        digestFile,
        single.transportRef,
        `docker://${plain.host}/single:1`,
      ]),
    );
    expect(out).toBe('');
    expect(await readFile(digestFile, 'utf8')).toBe(single.digest);
    expect(sha256(await skopeoRaw(`docker://${plain.host}/single:1`))).toBe(single.digest);

    const back = sb.path('back');
    await ok(ferry(sb, ['copy', '-q', SRC_NO_TLS, `docker://${plain.host}/single:1`, `oci:${back}:again`]));
    const idx = await layoutIndex(back);
    expect(idx).toHaveLength(1);
    expect(idx[0]!.digest).toBe(single.digest);
    expect(idx[0]!.annotations?.['org.opencontainers.image.ref.name']).toBe('again');
  });

  it('docker:// → oci-archive: → docker:// keeps an index digest', async () => {
    await ok(ferry(sb, ['copy', '-q', NO_TLS, multi.transportRef, `docker://${plain.host}/multi:oa`]));
    const archive = sb.path('multi.tar');
    await ok(
      ferry(sb, ['copy', '-q', SRC_NO_TLS, `docker://${plain.host}/multi:oa`, `oci-archive:${archive}:m`]),
    );
    await ok(
      ferry(sb, ['copy', '-q', NO_TLS, `oci-archive:${archive}:m`, `docker://${plain.host}/from-oa:1`]),
    );
    expect(sha256(await skopeoRaw(`docker://${plain.host}/from-oa:1`))).toBe(multi.digest);
  });

  it('docker:// → docker-archive: → docker:// keeps the config and layers (v2s2 manifest)', async () => {
    const archive = sb.path('single-docker.tar');
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        SRC_NO_TLS,
        `docker://${plain.host}/single:1`,
        `docker-archive:${archive}:single:1`,
      ]),
    );
    await ok(
      ferry(sb, ['copy', '-q', NO_TLS, `docker-archive:${archive}`, `docker://${plain.host}/from-da:1`]),
    );
    const src = JSON.parse((await skopeoRaw(`docker://${plain.host}/single:1`)).toString()) as {
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    const raw = JSON.parse((await skopeoRaw(`docker://${plain.host}/from-da:1`)).toString()) as {
      mediaType: string;
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    expect(raw.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(raw.config.digest).toBe(src.config.digest);
    expect(raw.layers).toHaveLength(src.layers.length);
  });

  it('docker:// → dir: → docker:// keeps the digest', async () => {
    const dir = sb.path('dir');
    await ok(ferry(sb, ['copy', '-q', SRC_NO_TLS, `docker://${plain.host}/single:1`, `dir:${dir}`]));
    expect(sha256(await readFile(join(dir, 'manifest.json')))).toBe(single.digest);
    await assertDiffIds(dir);
    await ok(ferry(sb, ['copy', '-q', NO_TLS, `dir:${dir}`, `docker://${plain.host}/from-dir:1`]));
    expect(sha256(await skopeoRaw(`docker://${plain.host}/from-dir:1`))).toBe(single.digest);
  });

  it('htpasswd registry: --dest-creds / --src-creds, and a 401 without them', async () => {
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--dest-creds',
        'testuser:testpassword',
        many.transportRef,
        `docker://${basic.host}/many:1`,
      ]),
    );
    const denied = await ferry(sb, [
      'copy',
      '-q',
      SRC_NO_TLS,
      `docker://${basic.host}/many:1`,
      `oci:${sb.path('x')}:x`,
    ]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(basic.host);
    expect(denied.stderr).toContain('ferry login');
    const out = sb.path('from-basic');
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        SRC_NO_TLS,
        '--src-creds',
        'testuser:testpassword',
        `docker://${basic.host}/many:1`,
        `oci:${out}:m`,
      ]),
    );
    expect((await layoutIndex(out))[0]!.digest).toBe(many.digest);
    const wrong = await ferry(sb, [
      'copy',
      '-q',
      NO_TLS,
      '--dest-creds',
      'testuser:nope',
      single.transportRef,
      `docker://${basic.host}/w:1`,
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(basic.host);
  });

  it('token registry: Bearer auth both ways with creds', async () => {
    const before = token.tokenServer!.requests.length;
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--dest-creds',
        'testuser:testpassword',
        multi.transportRef,
        `docker://${token.host}/multi:1`,
      ]),
    );
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        SRC_NO_TLS,
        NO_TLS,
        '--src-creds',
        'testuser:testpassword',
        `docker://${token.host}/multi:1`,
        `docker://${plain.host}/from-token:1`,
      ]),
    );
    expect(sha256(await skopeoRaw(`docker://${plain.host}/from-token:1`))).toBe(multi.digest);
    const issued = token.tokenServer!.requests.slice(before);
    expect(issued.some((r) => r.account === 'testuser' && r.scopes.some((s) => s.includes('push')))).toBe(
      true,
    );
    expect(issued.some((r) => r.scopes.some((s) => /^repository:multi:.*pull/.test(s)))).toBe(true);
    const anon = await ferry(sb, [
      'copy',
      '-q',
      NO_TLS,
      single.transportRef,
      `docker://${token.host}/anon:1`,
    ]);
    expect(anon.code).toBe(1);
    expect(anon.stderr).toContain(token.host);
  });

  it('TLS registry: --dest-cert-dir / --src-cert-dir with the test CA; without it a TLS failure', async () => {
    const bad = await ferry(sb, ['copy', '-q', single.transportRef, `docker://${tls.host}/single:1`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(tls.host);
    expect(bad.stderr).toContain('--tls-verify=false');
    expect(bad.stderr.split('\n').filter((l) => l.startsWith('Error:'))).toHaveLength(1);

    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--dest-cert-dir',
        tls.certDir!,
        single.transportRef,
        `docker://${tls.host}/single:1`,
      ]),
    );
    const out = sb.path('from-tls');
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--src-cert-dir',
        tls.certDir!,
        `docker://${tls.host}/single:1`,
        `oci:${out}:t`,
      ]),
    );
    expect((await layoutIndex(out))[0]!.digest).toBe(single.digest);
    const viaSkopeo = await ok(
      skopeo(sb, ['inspect', '--raw', '--cert-dir', tls.certDir!, `docker://${tls.host}/single:1`]),
    );
    expect(sha256(viaSkopeo)).toBe(single.digest);
  });
});

describe('ferry copy of a multi-arch index', () => {
  it('copies the whole index by default: the digest copied is the digest written, both instances present', async () => {
    const digestFile = sb.path('multi-digest');
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--digestfile',
        digestFile,
        multi.transportRef,
        `docker://${plain.host}/idx:all`,
      ]),
    );
    expect(await readFile(digestFile, 'utf8')).toBe(multi.digest);
    const raw = await skopeoRaw(`docker://${plain.host}/idx:all`);
    expect(sha256(raw)).toBe(multi.digest);
    const index = JSON.parse(raw.toString()) as {
      manifests: Array<{ digest: string; platform: { architecture: string } }>;
    };
    expect(index.manifests.map((m) => m.platform.architecture).sort()).toEqual(['amd64', 'arm64']);
    for (const m of index.manifests) {
      expect(await manifestStatus(plain.host, 'idx', m.digest)).toBe(200);
      // skopeo can read each instance and its config.
      await ok(
        skopeo(sb, ['inspect', '--config', '--tls-verify=false', `docker://${plain.host}/idx@${m.digest}`]),
      );
    }
  });

  it('to a destination that cannot hold an index (docker-archive:), the chosen instance is copied', async () => {
    const archive = sb.path('multi-docker.tar');
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--override-arch',
        'arm64',
        multi.transportRef,
        `docker-archive:${archive}:m:1`,
      ]),
    );
    const info = JSON.parse(await ok(skopeo(sb, ['inspect', `docker-archive:${archive}`]))) as {
      Architecture: string;
    };
    expect(info.Architecture).toBe('arm64');
  });

  it('--multi-arch system and --override-arch arm64 narrow to one instance', async () => {
    const index = JSON.parse(
      await readFile(join(multi.layoutDir, 'blobs/sha256', multi.digest.slice(7)), 'utf8'),
    ) as {
      manifests: Array<{ digest: string; platform: { architecture: string } }>;
    };
    const byArch = new Map(index.manifests.map((m) => [m.platform.architecture, m.digest]));
    const hostArch = process.arch === 'x64' ? 'amd64' : process.arch;

    const sys = sb.path('sys');
    await ok(ferry(sb, ['copy', '-q', '--multi-arch', 'system', multi.transportRef, `oci:${sys}:s`]));
    const sysIdx = await layoutIndex(sys);
    expect(sysIdx).toHaveLength(1);
    expect(sysIdx[0]!.digest).toBe(byArch.get(hostArch));
    expect(sysIdx[0]!.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');

    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--override-arch',
        'arm64',
        multi.transportRef,
        `docker://${plain.host}/narrow:arm`,
      ]),
    );
    const raw = await skopeoRaw(`docker://${plain.host}/narrow:arm`);
    expect(sha256(raw)).toBe(byArch.get('arm64'));
    const config = JSON.parse(
      await ok(
        skopeo(sb, [
          'inspect',
          '--config',
          '--raw',
          '--tls-verify=false',
          `docker://${plain.host}/narrow:arm`,
        ]),
      ),
    ) as { architecture: string };
    expect(config.architecture).toBe('arm64');
    // The amd64 instance was not pushed.
    expect(await manifestStatus(plain.host, 'narrow', byArch.get('amd64')!)).toBe(404);
  });
});

describe('ferry copy conversions', () => {
  it('--format v2s2 converts an OCI image; skopeo reads it; the config digest is unchanged', async () => {
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--format',
        'v2s2',
        single.transportRef,
        `docker://${plain.host}/conv:v2s2`,
      ]),
    );
    const src = JSON.parse(
      await readFile(join(single.layoutDir, 'blobs/sha256', single.digest.slice(7)), 'utf8'),
    ) as {
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    const raw = JSON.parse((await skopeoRaw(`docker://${plain.host}/conv:v2s2`)).toString()) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: Array<{ mediaType: string; digest: string }>;
    };
    expect(raw.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(raw.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(raw.config.digest).toBe(src.config.digest);
    expect(raw.layers.map((l) => l.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar.gzip']);
    expect(raw.layers.map((l) => l.digest)).toEqual(src.layers.map((l) => l.digest));
    const inspected = JSON.parse(
      await ok(skopeo(sb, ['inspect', '--tls-verify=false', `docker://${plain.host}/conv:v2s2`])),
    ) as { Architecture: string; Os: string };
    expect(inspected).toMatchObject({ Architecture: 'amd64', Os: 'linux' });
    const dir = sb.path('conv-dir');
    await ok(
      skopeo(sb, ['copy', '-q', '--src-tls-verify=false', `docker://${plain.host}/conv:v2s2`, `dir:${dir}`]),
    );
    await assertDiffIds(dir);
  });

  it('--format oci converts a v2s2 image; --format v2s2 turns an index into a manifest list', async () => {
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--format',
        'oci',
        v2.transportRef,
        `docker://${plain.host}/conv:oci`,
      ]),
    );
    const raw = JSON.parse((await skopeoRaw(`docker://${plain.host}/conv:oci`)).toString()) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
    };
    expect(raw.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(raw.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    const srcConfig = JSON.parse(
      await readFile(join(v2.layoutDir, 'blobs/sha256', v2.digest.slice(7)), 'utf8'),
    ) as {
      config: { digest: string };
    };
    expect(raw.config.digest).toBe(srcConfig.config.digest);

    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--format',
        'v2s2',
        multi.transportRef,
        `docker://${plain.host}/conv:list`,
      ]),
    );
    const list = JSON.parse((await skopeoRaw(`docker://${plain.host}/conv:list`)).toString()) as {
      mediaType: string;
      manifests: Array<{ mediaType: string; digest: string }>;
    };
    expect(list.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(list.manifests).toHaveLength(2);
    for (const m of list.manifests) {
      expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
      expect(await manifestStatus(plain.host, 'conv', m.digest)).toBe(200);
    }
  });

  it('--dest-compress-format zstd then gzip: correct DiffIDs, same uncompressed content', async () => {
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--dest-compress-format',
        'zstd',
        many.transportRef,
        `docker://${plain.host}/comp:zstd`,
      ]),
    );
    const zdir = sb.path('zstd-dir');
    await ok(
      skopeo(sb, ['copy', '-q', '--src-tls-verify=false', `docker://${plain.host}/comp:zstd`, `dir:${zdir}`]),
    );
    const z = await readDirImage(zdir);
    expect(z.manifest.layers).toHaveLength(13);
    for (const l of z.manifest.layers)
      expect(l.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    const zDiffIds = await assertDiffIds(zdir);

    await ok(
      ferry(sb, [
        'copy',
        '-q',
        SRC_NO_TLS,
        NO_TLS,
        '--dest-compress-format',
        'gzip',
        `docker://${plain.host}/comp:zstd`,
        `docker://${plain.host}/comp:gzip`,
      ]),
    );
    const gdir = sb.path('gzip-dir');
    await ok(
      skopeo(sb, ['copy', '-q', '--src-tls-verify=false', `docker://${plain.host}/comp:gzip`, `dir:${gdir}`]),
    );
    const g = await readDirImage(gdir);
    for (const l of g.manifest.layers)
      expect(l.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(await assertDiffIds(gdir)).toEqual(zDiffIds);

    // The uncompressed content is the source's: its diff_ids are the same.
    const srcDir = sb.path('src-dir');
    await ok(skopeo(sb, ['copy', '-q', many.transportRef, `dir:${srcDir}`]));
    expect((await readDirImage(srcDir)).config.rootfs.diff_ids).toEqual(zDiffIds);
  });

  it('--preserve-digests refuses a format or compression change: exit 1, nothing written', async () => {
    for (const flags of [
      ['--format', 'v2s2'],
      ['--dest-compress-format', 'zstd'],
    ]) {
      const r = await ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--preserve-digests',
        ...flags,
        single.transportRef,
        `docker://${plain.host}/pd:${flags[1]}`,
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/preserve-digests/);
      expect(await manifestStatus(plain.host, 'pd', flags[1]!)).toBe(404);
      expect(await manifestStatus(plain.host, 'pd', single.digest)).toBe(404);
    }
    // Without a change it copies.
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--preserve-digests',
        single.transportRef,
        `docker://${plain.host}/pd:same`,
      ]),
    );
    expect(await manifestStatus(plain.host, 'pd', 'same')).toBe(200);
  });
});

describe('ferry copy output and failures', () => {
  it('-q prints nothing; without a TTY progress is plain lines, one per blob', async () => {
    const quiet = await ferry(sb, ['copy', '-q', many.transportRef, `oci:${sb.path('q')}:q`]);
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });

    const loud = await ferry(sb, ['copy', many.transportRef, `oci:${sb.path('loud')}:l`]);
    expect(loud.code).toBe(0);
    expect(loud.stdout).not.toContain('\r');
    expect(loud.stdout).not.toContain('\u001b[');
    const manifest = JSON.parse(
      await readFile(join(many.layoutDir, 'blobs/sha256', many.digest.slice(7)), 'utf8'),
    ) as {
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    const lines = loud.stdout.split('\n');
    for (const l of manifest.layers) {
      expect(lines.filter((line) => line.startsWith('Copying blob') && line.includes(l.digest))).toHaveLength(
        1,
      );
    }
    expect(
      lines.some((line) => line.startsWith('Copying config') && line.includes(manifest.config.digest)),
    ).toBe(true);
    expect(lines).toContain('Writing manifest to image destination');
  });

  it('a digest mismatch in the source fails, names the blob, and commits nothing', async () => {
    const img = await makeImage(sb.path('corrupt'), { extraLayers: 3 });
    const manifest = JSON.parse(
      await readFile(join(img.layoutDir, 'blobs/sha256', img.digest.slice(7)), 'utf8'),
    ) as {
      layers: Array<{ digest: string }>;
    };
    const victim = manifest.layers[2]!.digest;
    await corruptFile(join(img.layoutDir, 'blobs/sha256', victim.slice(7)));
    const r = await ferry(sb, ['copy', '-q', NO_TLS, img.transportRef, `docker://${plain.host}/corrupt:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(victim);
    expect(await manifestStatus(plain.host, 'corrupt', '1')).toBe(404);
    expect(await manifestStatus(plain.host, 'corrupt', img.digest)).toBe(404);
    // Broken early in the deflate stream: still a digest mismatch naming the blob.
    // (a random layer, so that the registry cannot already hold it and skip it).
    const early = await makeImage(sb.path('corrupt-early'), { name: 'e', sizeMiB: 0.05 });
    const earlyManifest = JSON.parse(
      await readFile(join(early.layoutDir, 'blobs/sha256', early.digest.slice(7)), 'utf8'),
    ) as { layers: Array<{ digest: string }> };
    const earlyVictim = earlyManifest.layers[1]!.digest;
    await corruptFile(join(early.layoutDir, 'blobs/sha256', earlyVictim.slice(7)), 30);
    const e = await ferry(sb, [
      'copy',
      '-q',
      NO_TLS,
      early.transportRef,
      `docker://${plain.host}/corrupt:early`,
    ]);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain(earlyVictim);
    expect(await manifestStatus(plain.host, 'corrupt', 'early')).toBe(404);
    // Same into a layout: nothing named there either.
    const out = sb.path('corrupt-out');
    const r2 = await ferry(sb, ['copy', '-q', img.transportRef, `oci:${out}:c`]);
    expect(r2.code).toBe(1);
    const idx = await layoutIndex(out).catch(() => []);
    expect(idx.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'c')).toHaveLength(0);
  });

  it('--retry-times: a transient 503 fails with 0 retries and succeeds with 1', async () => {
    let failNext = 1;
    let failed = 0;
    const proxy = await startProxy(plain.host, (method, url) => {
      if (method !== 'GET' || !url.includes('/manifests/') || failNext === 0) return undefined;
      failNext--;
      failed++;
      return 503;
    });
    try {
      const none = await ferry(sb, [
        'copy',
        '-q',
        SRC_NO_TLS,
        '--retry-times',
        '0',
        `docker://${proxy.host}/single:1`,
        `oci:${sb.path('r0')}:r`,
      ]);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/503|Service Unavailable/i);
      expect(failed).toBe(1);

      failNext = 1;
      failed = 0;
      const out = sb.path('r1');
      await ok(
        ferry(sb, [
          'copy',
          '-q',
          SRC_NO_TLS,
          '--retry-times',
          '1',
          `docker://${proxy.host}/single:1`,
          `oci:${out}:r`,
        ]),
      );
      expect(failed).toBe(1);
      expect(
        proxy.seen.filter((r) => r.startsWith('GET') && r.includes('/manifests/1')).length,
      ).toBeGreaterThanOrEqual(3);
      expect((await layoutIndex(out))[0]!.digest).toBe(single.digest);
    } finally {
      await proxy.stop();
    }
  });
});

describe('ferry copy flags', () => {
  it('on a TTY: one live progress bar per blob, each ending "done"', async () => {
    const out = sb.path('tty');
    const cmd = [process.execPath, FERRY_BIN, 'copy', many.transportRef, `oci:${out}:t`]
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
      .join(' ');
    const r = await run('script', ['-qec', cmd, '/dev/null'], { env: sb.env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\u001b[');
    const manifest = JSON.parse(
      await readFile(join(many.layoutDir, 'blobs/sha256', many.digest.slice(7)), 'utf8'),
    ) as {
      layers: Array<{ digest: string }>;
    };
    for (const l of manifest.layers) {
      expect(r.stdout).toContain(`Copying blob ${l.digest.slice(7, 19)} done`);
    }
    expect((await layoutIndex(out))[0]!.digest).toBe(many.digest);
  });

  it('--dest-username/--dest-password, --src-authfile/--dest-authfile, --src-no-creds', async () => {
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--dest-username',
        'testuser',
        '--dest-password',
        'testpassword',
        single.transportRef,
        `docker://${basic.host}/flags:1`,
      ]),
    );
    const auth = sb.path('auth.json');
    const entry = Buffer.from('testuser:testpassword').toString('base64');
    await writeFile(auth, JSON.stringify({ auths: { [basic.host]: { auth: entry } } }), { mode: 0o600 });
    // The source side reads its own auth file; the destination (plain registry) needs none.
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        SRC_NO_TLS,
        NO_TLS,
        '--src-authfile',
        auth,
        `docker://${basic.host}/flags:1`,
        `docker://${plain.host}/flags:1`,
      ]),
    );
    expect(await manifestStatus(plain.host, 'flags', '1')).toBe(200);
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        NO_TLS,
        '--dest-authfile',
        auth,
        single.transportRef,
        `docker://${basic.host}/flags:2`,
      ]),
    );
    const anon = await ferry(sb, [
      'copy',
      '-q',
      SRC_NO_TLS,
      '--src-authfile',
      auth,
      '--src-no-creds',
      `docker://${basic.host}/flags:1`,
      `oci:${sb.path('anon')}:a`,
    ]);
    expect(anon.code).toBe(1);
    expect(anon.stderr).toContain(basic.host);
    // Accepted for skopeo compatibility but not honoured: refused, never silently ignored.
    const token = await ferry(sb, [
      'copy',
      '-q',
      '--src-registry-token',
      'abc',
      single.transportRef,
      `oci:${sb.path('t')}:t`,
    ]);
    expect(token.code).toBe(2);
    expect(token.stderr).toContain('--src-registry-token');
  });

  it('--override-os with no matching instance fails and lists what the index has', async () => {
    const r = await ferry(sb, [
      'copy',
      '-q',
      '--override-os',
      'windows',
      multi.transportRef,
      `oci:${sb.path('win')}:w`,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('windows');
    expect(r.stderr).toContain('linux/arm64');
  });

  it('--dest-decompress to dir: stores layers uncompressed (digest = DiffID); --dest-compress gzips them', async () => {
    const plainDir = sb.path('decompressed');
    await ok(ferry(sb, ['copy', '-q', '--dest-decompress', v2.transportRef, `dir:${plainDir}`]));
    const d = await readDirImage(plainDir);
    expect(d.manifest.layers.map((l) => l.digest)).toEqual(d.config.rootfs.diff_ids);
    expect(d.manifest.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.docker.image.rootfs.diff.tar',
    ]);
    await assertDiffIds(plainDir);
    const gz = sb.path('recompressed');
    await ok(ferry(sb, ['copy', '-q', '--dest-compress', `dir:${plainDir}`, `dir:${gz}`]));
    const g = await readDirImage(gz);
    expect(g.manifest.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
    ]);
    await assertDiffIds(gz);
    await ok(skopeo(sb, ['inspect', `dir:${gz}`]));
  });
});
