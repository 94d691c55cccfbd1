import { describe, expect, it } from 'vitest';
import { parseSyncConfig, SyncConfigError } from '../../src/sync/config.js';
import { jobArguments, kubernetesJob } from '../../src/sync/job.js';
import { destinationImageName, destinationSuffix } from '../../src/sync/naming.js';
import { filterIndex } from '../../src/sync/platforms.js';
import { companionTags } from '../../src/sync/registry.js';
import { exitCodeOf, summarize } from '../../src/sync/report.js';
import { parseRange, parseVersion, satisfies } from '../../src/sync/semver.js';
import { inShard, parseShard, shardOf } from '../../src/sync/shard.js';

const lineOf = (text: string): number | undefined => {
  try {
    parseSyncConfig(text, 'sync.yml');
  } catch (err) {
    expect(err).toBeInstanceOf(SyncConfigError);
    return (err as SyncConfigError).line;
  }
  throw new Error('expected a SyncConfigError');
};

describe('sync YAML', () => {
  it('parses skopeo’s example plus semver and platforms', () => {
    const c = parseSyncConfig(
      [
        'registry.example.com:',
        '  images:',
        '    busybox: []',
        '    redis:',
        '      - "1.0"',
        '      - "sha256:0000000000000000000000000000000011111111111111111111111111111111"',
        '  images-by-tag-regex:',
        '    nginx: ^1\\.13\\.[12]-alpine-perl$',
        '  images-by-semver:',
        '    alpine: ">= 3.12.0 < 3.20"',
        '  credentials:',
        '    username: john',
        '    password: this is a secret',
        '  tls-verify: true',
        '  cert-dir: /home/john/certs',
        '  platforms: [linux/amd64, linux/arm/v7]',
        'quay.io:',
        '  tls-verify: false',
        '  images:',
        '    coreos/etcd:',
        '      - latest',
        '    empty:',
      ].join('\n'),
    );
    const r = c.get('registry.example.com')!;
    expect(r.images).toEqual({
      busybox: [],
      redis: ['1.0', 'sha256:0000000000000000000000000000000011111111111111111111111111111111'],
    });
    expect(r.imagesByTagRegex.nginx).toBe('^1\\.13\\.[12]-alpine-perl$');
    expect(r.imagesBySemver.alpine).toBe('>= 3.12.0 < 3.20');
    expect(r.credentials).toEqual({ username: 'john', password: 'this is a secret' });
    expect(r.platforms).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ]);
    expect(c.get('quay.io')).toMatchObject({
      tlsVerify: false,
      images: { 'coreos/etcd': ['latest'], empty: [] },
    });
  });

  it('names the line of an unknown key, a wrong type, a bad tag, a bad regex, a bad range, a bad repo', () => {
    expect(lineOf('r.io:\n  images:\n    a: [x]\n  tls-verfy: true\n')).toBe(4);
    expect(lineOf('r.io:\n  images:\n    a: [x]\n  tls-verify: "yes"\n')).toBe(4);
    expect(lineOf('r.io:\n  images:\n    a:\n      - ok\n      - "bad tag!"\n')).toBe(5);
    expect(lineOf('r.io:\n  images-by-tag-regex:\n    a: "[unclosed"\n')).toBe(3);
    expect(lineOf('r.io:\n  images-by-semver:\n    a: ">= banana"\n')).toBe(3);
    expect(lineOf('r.io:\n  images:\n    Bad_Repo: []\n')).toBe(3);
    expect(lineOf('r.io:\n  credentials:\n    username: u\n')).toBe(3);
    expect(lineOf('a: b: c\n')).toBe(1);
    expect(() => parseSyncConfig('r.io:\n  bogus: 1\n', 'f.yml')).toThrow(
      /^f\.yml:2: unknown key "bogus" in r\.io$/,
    );
  });
});

describe('semver selection', () => {
  const tags = [
    '1.0.0',
    'v1.2.3',
    '1.2',
    '1.10.0',
    '2.0.0',
    '2.0.0-rc.1',
    '2.1.0-beta',
    'latest',
    '3.0.0',
    '0.9.9',
  ];
  const pick = (range: string) => tags.filter((t) => satisfies(t, range));
  it('matches comparators, wildcards, ~ ^, hyphens and alternatives', () => {
    expect(pick('>=1.2.0 <2.0.0')).toEqual(['v1.2.3', '1.2', '1.10.0']);
    expect(pick('1.x')).toEqual(['1.0.0', 'v1.2.3', '1.2', '1.10.0']);
    expect(pick('~1.2.0')).toEqual(['v1.2.3', '1.2']);
    expect(pick('^1.2.0')).toEqual(['v1.2.3', '1.2', '1.10.0']);
    expect(pick('^0.9.0')).toEqual(['0.9.9']);
    expect(pick('1.0.0 - 1.2')).toEqual(['1.0.0', 'v1.2.3', '1.2']);
    expect(pick('<1.0.0 || >=3')).toEqual(['3.0.0', '0.9.9']);
    expect(pick('>= 2.0.0-rc.0 <3')).toEqual(['2.0.0', '2.0.0-rc.1']);
    expect(pick('*')).toEqual(['1.0.0', 'v1.2.3', '1.2', '1.10.0', '2.0.0', '3.0.0', '0.9.9']);
    expect(pick('>1.2.3, <=2.0.0')).toEqual(['1.10.0', '2.0.0']);
  });
  it('rejects malformed ranges and non-versions', () => {
    expect(() => parseRange('>= banana')).toThrow(/banana/);
    expect(() => parseRange('')).toThrow();
    expect(parseVersion('latest')).toBeUndefined();
    expect(parseVersion('1.2.3-alpha.1+build')).toEqual({
      major: 1,
      minor: 2,
      patch: 3,
      prerelease: ['alpha', '1'],
    });
  });
});

describe('sharding', () => {
  const images = Array.from({ length: 97 }, (_, i) => `docker://r.io/repo${i % 13}:tag-${i}`);
  it('covers every image exactly once for N=1..5', () => {
    for (let n = 1; n <= 5; n++) {
      const seen = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        for (const img of images.filter((x) => inShard(x, { index: i, count: n })))
          seen.set(img, (seen.get(img) ?? 0) + 1);
      }
      expect(seen.size).toBe(images.length);
      expect([...seen.values()].every((v) => v === 1)).toBe(true);
      if (n > 1) {
        // Not degenerate: every shard gets some work.
        for (let i = 0; i < n; i++) expect(images.some((x) => shardOf(x, n) === i)).toBe(true);
      }
    }
  });
  it('is stable and parses I/N', () => {
    expect(shardOf('docker://r.io/a:1', 4)).toBe(shardOf('docker://r.io/a:1', 4));
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    expect(() => parseShard('5/5')).toThrow();
    expect(() => parseShard('x')).toThrow();
  });
});

describe('destination naming (as skopeo sync)', () => {
  it('docker sources, scoped and not', () => {
    const s = (reference: string, scoped: boolean) =>
      destinationSuffix({ kind: 'docker', reference }, scoped);
    expect(s('registry.example.com/busybox:1-glibc', false)).toBe('busybox:1-glibc');
    expect(s('registry.example.com/busybox:1-glibc', true)).toBe('registry.example.com/busybox:1-glibc');
    expect(s('registry.example.com/repo/busybox:latest', false)).toBe('busybox:latest');
    expect(s('docker.io/library/busybox:1', true)).toBe('docker.io/library/busybox:1');
    const digest = 'sha256:0000000000000000000000000000000011111111111111111111111111111111';
    expect(s(`registry.example.com/redis@${digest}`, false)).toBe(`redis@${digest}`);
    expect(destinationImageName('docker', 'my-registry.local.lan/repo/', 'busybox:1')).toBe(
      'docker://my-registry.local.lan/repo/busybox:1',
    );
    expect(destinationImageName('dir', '/media/usb', 'registry.example.com/busybox:1-glibc')).toBe(
      'dir:/media/usb/registry.example.com/busybox:1-glibc',
    );
    expect(destinationImageName('oci', '/srv/oci', 'busybox:1')).toBe('oci:/srv/oci/busybox:1');
    expect(destinationImageName('oci', '/srv/oci', `redis@${digest}`)).toBe(`oci:/srv/oci/redis:${digest}`);
  });
  it('dir sources', () => {
    expect(
      destinationSuffix(
        { kind: 'dir', path: '/media/usb/busybox:1-glibc', base: '/media/usb/busybox:1-glibc' },
        false,
      ),
    ).toBe('busybox:1-glibc');
    expect(
      destinationSuffix({ kind: 'dir', path: '/media/usb/r.io/busybox:1', base: '/media/usb' }, true),
    ).toBe('/r.io/busybox:1');
    expect(
      destinationSuffix({ kind: 'dir', path: '/media/usb/r.io/busybox:1', base: '/media/usb' }, false),
    ).toBe('busybox:1');
    expect(destinationImageName('docker', 'my-registry.local.lan/test/', 'busybox:1-glibc')).toBe(
      'docker://my-registry.local.lan/test/busybox:1-glibc',
    );
  });
});

describe('report, companions, platforms, gate, job', () => {
  it('exit codes: 0 ok, 3 partial with --keep-going, 1 otherwise', () => {
    const e = (action: 'copied' | 'failed') => ({
      source: 's',
      destination: 'd',
      action,
      bytes: 1,
      kind: 'image' as const,
    });
    expect(exitCodeOf(summarize([e('copied')], 0), true)).toBe(0);
    expect(exitCodeOf(summarize([e('copied'), e('failed')], 0), true)).toBe(3);
    expect(exitCodeOf(summarize([e('copied'), e('failed')], 0), false)).toBe(1);
    expect(exitCodeOf(summarize([e('failed')], 0), true)).toBe(1);
  });
  it('finds cosign and referrers-fallback tags of a digest', () => {
    const hex = 'a'.repeat(64);
    const tags = [
      '1.0',
      `sha256-${hex}`,
      `sha256-${hex}.sig`,
      `sha256-${hex}.att`,
      `sha256-${hex}.sbom`,
      `sha256-${'b'.repeat(64)}.sig`,
    ];
    expect(companionTags(tags, `sha256:${hex}`)).toEqual(tags.slice(1, 5));
  });
  it('filters an index to the listed platforms, keeping it valid', () => {
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${'1'.repeat(64)}`,
          size: 1,
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${'2'.repeat(64)}`,
          size: 1,
          platform: { os: 'linux', architecture: 'arm64' },
        },
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${'3'.repeat(64)}`,
          size: 1,
          platform: { os: 'linux', architecture: 's390x' },
        },
      ],
    };
    const raw = Buffer.from(JSON.stringify(index));
    const f = filterIndex(
      raw,
      [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
      'x',
    );
    expect(f.kept).toBe(2);
    const doc = JSON.parse(f.raw.toString());
    expect(doc.mediaType).toBe(index.mediaType);
    expect(doc.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)).toEqual(
      ['amd64', 'arm64'],
    );
    expect(filterIndex(raw, [{ os: 'linux' }], 'x').raw).toBe(raw);
    expect(() => filterIndex(raw, [{ os: 'windows' }], 'x')).toThrow(/no instance/);
  });
  it('prints an Indexed Job with JOB_COMPLETION_INDEX shards and the YAML as a ConfigMap', () => {
    const args = jobArguments([
      '--src',
      'yaml',
      '--dest',
      'docker',
      'sync.yml',
      'm.io',
      '--print-job',
      '4',
      '--job-image=x',
      '--shard',
      '0/2',
    ]);
    expect(args).toEqual(['--src', 'yaml', '--dest', 'docker', 'sync.yml', 'm.io']);
    const out = kubernetesJob({
      name: 'mirror',
      image: 'ferry:1',
      shards: 4,
      args,
      config: { argument: 'sync.yml', text: 'r.io: {}\n' },
    });
    expect(out).toContain('kind: ConfigMap');
    expect(out).toContain('completionMode: Indexed');
    expect(out).toContain('completions: 4');
    expect(out).toContain('- $(JOB_COMPLETION_INDEX)/4');
    expect(out).toContain('- /etc/ferry/sync.yaml');
    expect(out).not.toContain('sync.yml\n');
  });
});
