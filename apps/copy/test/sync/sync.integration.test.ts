import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { copyImage } from '@skiff/oci/copy/copy';
import { parseReference } from '@skiff/oci/reference/reference';
import { parseImageName } from '@skiff/oci/transports/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, makeIndex } from '../../../../test/support/images.js';
import { type RateLimitProxy, startRateLimitProxy } from '../../../../test/support/rate-limit-proxy.js';
import { startRegistry, type TestRegistry } from '../../../../test/support/registry.js';
import { RegistryAccess } from '../../src/sync/registry.js';
import type { SyncReport } from '../../src/sync/report.js';
import { runSync, type SyncOptions } from '../../src/sync/run.js';

const execFileP = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'ferry-sync-'));
const env: NodeJS.ProcessEnv = { ...process.env, HOME: work, XDG_RUNTIME_DIR: work, NODE_NO_WARNINGS: '1' };
delete env.REGISTRY_AUTH_FILE;
const ferry = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env });

const insecure = { tlsVerify: false };
let src: TestRegistry;
const registries: TestRegistry[] = [];
const access = new RegistryAccess();
const digests: Record<string, string> = {};

async function push(layout: string, ref: string, name: string) {
  const r = await copyImage(
    parseImageName(`oci:${layout}:${ref}`),
    parseImageName(`docker://${src.host}/${name}`),
    {
      destinationOptions: insecure,
      multiArch: 'all',
    },
  );
  digests[name] = r.digest;
}

async function newRegistry(): Promise<TestRegistry> {
  const r = await startRegistry();
  registries.push(r);
  return r;
}

async function tagsAt(host: string, repo: string): Promise<Record<string, string>> {
  const ref = parseReference(`${host}/${repo}`);
  const out: Record<string, string> = {};
  for (const tag of await access.listTags(ref, insecure)) {
    out[tag] = (await access.head(parseReference(`${host}/${repo}:${tag}`), insecure))!.digest;
  }
  return out;
}

function yamlFor(host: string, extra = ''): string {
  return [
    `${host}:`,
    '  tls-verify: false',
    '  images:',
    '    alpha: ["1.0", "2.0"]',
    `    gamma: ["${digests['gamma:pinned']}"]`,
    '  images-by-tag-regex:',
    '    beta: ^v1\\.',
    extra,
  ].join('\n');
}

const options = (over: Partial<SyncOptions>): SyncOptions => ({
  sourceTransport: 'yaml',
  destinationTransport: 'docker',
  source: '',
  destination: '',
  destinationOptions: insecure,
  sourceOptions: insecure,
  ...over,
});

beforeAll(async () => {
  src = await newRegistry();
  const layout = join(work, 'layout');
  await makeImage(layout, { name: 'a1' });
  await makeImage(layout, { name: 'a2', extraLayers: 1 });
  await makeImage(layout, { name: 'a3', extraLayers: 2 });
  await makeImage(layout, { name: 'b1', config: { Env: ['B=1'] } });
  await makeImage(layout, { name: 'b2', config: { Env: ['B=2'] } });
  await makeImage(layout, { name: 'sig', config: { Env: ['SIGNATURE=1'] } });
  await makeIndex(layout, {
    name: 'multi',
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 's390x' },
    ],
  });
  await push(layout, 'a1', 'alpha:1.0');
  await push(layout, 'a2', 'alpha:2.0');
  await push(layout, 'a3', 'alpha:3.0');
  await push(layout, 'b1', 'beta:v1.2.3');
  await push(layout, 'b2', 'beta:v1.3.0');
  await push(layout, 'a3', 'beta:v2.0.0');
  await push(layout, 'b2', 'gamma:pinned');
  await push(layout, 'multi', 'multi:1');
  // A cosign-style signature of alpha:1.0.
  await push(layout, 'sig', `alpha:${digests['alpha:1.0']!.replace(':', '-')}.sig`);
}, 180_000);

afterAll(async () => {
  await access.close();
  await Promise.allSettled(registries.map((r) => r.stop()));
  rmSync(work, { recursive: true, force: true });
});

describe('ferry sync --src yaml', () => {
  let dest: TestRegistry;
  const file = join(work, 'sync.yml');

  it('mirrors several repositories: tag lists, digest pins, regex, semver, platforms, signatures', async () => {
    dest = await newRegistry();
    writeFileSync(
      file,
      yamlFor(
        src.host,
        ['  images-by-semver:', '    multi: ">=1 <2"', '  platforms: [linux/amd64, linux/arm64]'].join('\n'),
      ),
    );
    const report = await runSync(options({ source: file, destination: `${dest.host}/mirror` }));
    expect(report.summary.failed).toBe(0);
    const alpha = await tagsAt(dest.host, 'mirror/alpha');
    const sigTag = `${digests['alpha:1.0']!.replace(':', '-')}.sig`;
    expect(alpha).toEqual({
      '1.0': digests['alpha:1.0'],
      '2.0': digests['alpha:2.0'],
      [sigTag]: digests[`alpha:${sigTag}`],
    });
    expect(await tagsAt(dest.host, 'mirror/beta')).toEqual({
      'v1.2.3': digests['beta:v1.2.3'],
      'v1.3.0': digests['beta:v1.3.0'],
    });
    expect(
      (await access.head(parseReference(`${dest.host}/mirror/gamma@${digests['gamma:pinned']}`), insecure))
        ?.digest,
    ).toBe(digests['gamma:pinned']);
    // The platform filter leaves a valid index of two instances.
    const multi = await access.getManifest(parseReference(`${dest.host}/mirror/multi:1`), insecure);
    const index = JSON.parse(multi.raw.toString()) as {
      manifests: Array<{ platform: { architecture: string } }>;
    };
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    expect(report.images.find((e) => e.kind === 'signature')).toMatchObject({ action: 'copied' });
    expect(report.images.filter((e) => e.action === 'copied')).toHaveLength(7);
  });

  it('a second run sends no blob and skips everything with HEADs', async () => {
    const before = (await dest.requests()).length;
    const srcBefore = (await src.requests()).length;
    const report = await runSync(options({ source: file, destination: `${dest.host}/mirror` }));
    expect(report.summary).toMatchObject({ copied: 0, failed: 0, skipped: 7, bytes: 0 });
    const after = (await dest.requests()).slice(before);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((r) => ['PUT', 'POST', 'PATCH', 'DELETE'].includes(r.method))).toEqual([]);
    expect(after.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))).toEqual([]);
    // One ping per registry, not one per repository; the referrers API is probed once per
    // registry (this one has none), not once per repository.
    const srcAfter = (await src.requests()).slice(srcBefore);
    expect(new Set(srcAfter.map((r) => r.path.split('/')[2])).size).toBeGreaterThan(1);
    expect(after.filter((r) => r.path === '/v2/')).toHaveLength(1);
    expect(srcAfter.filter((r) => r.path === '/v2/')).toHaveLength(1);
    expect(srcAfter.filter((r) => r.path.includes('/referrers/'))).toHaveLength(1);
  });

  it('--keep-going: a broken image is reported, the rest mirrored, exit 3; without it exit 1', async () => {
    const d2 = await newRegistry();
    const broken = join(work, 'broken.yml');
    writeFileSync(broken, yamlFor(src.host).replace('["1.0", "2.0"]', '["1.0", "missing", "2.0"]'));
    const reportFile = join(work, 'report.json');
    const r = ferry(
      'sync',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--dest-tls-verify=false',
      '--keep-going',
      '--report',
      reportFile,
      '--parallel',
      '2',
      broken,
      d2.host,
    );
    expect(r.status, r.stderr + r.stdout).toBe(3);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as SyncReport;
    const failed = report.images.filter((e) => e.action === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      source: `docker://${src.host}/alpha:missing`,
      destination: `docker://${d2.host}/alpha:missing`,
    });
    expect(failed[0]!.error).toMatch(/manifest unknown/i);
    expect(report.images.filter((e) => e.action === 'copied').length).toBe(6);
    for (const e of report.images.filter((x) => x.action === 'copied')) expect(e.digest).toMatch(/^sha256:/);
    expect(r.stdout).toMatch(/6 copied, 0 skipped, 1 failed/);

    const strict = ferry(
      'sync',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--dest-tls-verify=false',
      '--parallel',
      '1',
      broken,
      d2.host,
    );
    expect(strict.status).toBe(1);
    expect(strict.stderr).toMatch(/missing/);
  });

  it('a malformed YAML is rejected with its line before anything is copied', () => {
    const bad = join(work, 'bad.yml');
    writeFileSync(bad, `${src.host}:\n  images:\n    alpha: ["1.0"]\n  tls-verfy: false\n`);
    const r = ferry('sync', '--src', 'yaml', '--dest', 'docker', bad, '127.0.0.1:1');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`bad.yml:4: unknown key "tls-verfy"`);
  });
});

describe('rate limits', () => {
  let proxy: RateLimitProxy;
  afterAll(async () => proxy?.stop());

  it('429 + Retry-After closes the registry for new work, and the job still completes', async () => {
    const dest = await newRegistry();
    proxy = await startRateLimitProxy({
      target: src.host,
      limit: 3,
      retryAfterSeconds: 1,
      // Manifest GETs only: listing and HEADs pass, the copies meet the 429s. (A 429 on a HEAD
      // trips an unhandled body-destroy error in RegistryClient.errorFrom: reported to the library.)
      match: (method, path) => method === 'GET' && path.includes('/manifests/'),
    });
    const file = join(work, 'proxied.yml');
    writeFileSync(file, yamlFor(proxy.host));
    const started = Date.now();
    const events: string[] = [];
    const report = await runSync(
      options({
        source: file,
        destination: dest.host,
        sourceOptions: { ...insecure, retryTimes: 0 },
        removeSignatures: true,
        parallel: 3,
        onEvent: (e) => {
          if (e.type === 'rate-limited') events.push(e.registries.join());
        },
      }),
    );
    expect(report.summary.failed, JSON.stringify(report.images)).toBe(0);
    expect(report.summary.copied).toBe(5);
    expect(proxy.log.filter((r) => r.status === 429)).toHaveLength(3);
    expect(events.length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    // After the first 429, nothing new was asked of that registry before its Retry-After had passed.
    const first = proxy.log.find((r) => r.status === 429)!;
    const later = proxy.log.filter((r) => r.atMs > first.atMs + 50 && r.status !== 429);
    expect(later.length).toBeGreaterThan(0);
    expect(Math.min(...later.map((r) => r.atMs)) - first.atMs).toBeGreaterThanOrEqual(900);
  });
});

describe('prune', () => {
  it('--dry-run shows the plan, --max-delete guards, then stale tags are deleted', async () => {
    const dest = await newRegistry();
    const file = join(work, 'prune.yml');
    writeFileSync(file, yamlFor(src.host));
    await runSync(options({ source: file, destination: dest.host, removeSignatures: true }));
    // Tags the source does not list: one with its own manifest, one sharing a kept tag's manifest.
    await copyImage(
      parseImageName(`docker://${src.host}/alpha:3.0`),
      parseImageName(`docker://${dest.host}/alpha:old`),
      {
        sourceOptions: insecure,
        destinationOptions: insecure,
      },
    );
    await copyImage(
      parseImageName(`docker://${src.host}/alpha:1.0`),
      parseImageName(`docker://${dest.host}/alpha:alias`),
      {
        sourceOptions: insecure,
        destinationOptions: insecure,
      },
    );
    const base = [
      'sync',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--dest-tls-verify=false',
      '--remove-signatures',
      '--prune',
    ];

    const dry = ferry(...base, '--dry-run', file, dest.host);
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`Would delete docker://${dest.host}/alpha:old`);
    expect(Object.keys(await tagsAt(dest.host, 'alpha')).sort()).toEqual(['1.0', '2.0', 'alias', 'old']);

    const guarded = ferry(...base, '--max-delete', '1', file, dest.host);
    expect(guarded.status).toBe(1);
    expect(guarded.stdout + guarded.stderr).toMatch(/more than --max-delete 1: nothing deleted/);
    expect(Object.keys(await tagsAt(dest.host, 'alpha')).sort()).toEqual(['1.0', '2.0', 'alias', 'old']);

    const real = ferry(...base, '--max-delete', '2', file, dest.host);
    expect(real.status, real.stderr + real.stdout).toBe(0);
    expect(real.stdout).toContain(`Deleted docker://${dest.host}/alpha:old`);
    expect(real.stdout).toMatch(/alpha:alias \(tag\): not pruned/);
    expect(Object.keys(await tagsAt(dest.host, 'alpha')).sort()).toEqual(['1.0', '2.0', 'alias']);
  });
});

describe('interop with skopeo sync', () => {
  it('skopeo sync --src yaml and ferry sync --src yaml give the same digests', async () => {
    const a = await newRegistry();
    const b = await newRegistry();
    const file = join(work, 'interop.yml');
    writeFileSync(
      file,
      yamlFor(src.host).replace('    alpha: ["1.0", "2.0"]', '    alpha: ["1.0", "2.0"]\n    multi: ["1"]'),
    );
    expect(readFileSync(file, 'utf8')).toContain('multi: ["1"]');
    await execFileP(
      'skopeo',
      ['sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', file, `${a.host}/m`],
      {
        env: { ...env, REGISTRY_AUTH_FILE: join(work, 'none.json') },
      },
    );
    const r = ferry(
      'sync',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--dest-tls-verify=false',
      '--remove-signatures',
      file,
      `${b.host}/m`,
    );
    expect(r.status, r.stderr).toBe(0);
    for (const repo of ['alpha', 'beta', 'multi']) {
      const fromSkopeo = await tagsAt(a.host, `m/${repo}`);
      expect(Object.keys(fromSkopeo).length).toBeGreaterThan(0);
      expect(await tagsAt(b.host, `m/${repo}`)).toEqual(fromSkopeo);
    }
    const pin = digests['gamma:pinned']!;
    expect((await access.head(parseReference(`${a.host}/m/gamma@${pin}`), insecure))?.digest).toBe(pin);
    expect((await access.head(parseReference(`${b.host}/m/gamma@${pin}`), insecure))?.digest).toBe(pin);
  }, 120_000);
});

describe('--src docker / --dest dir / --src dir, and --print-job', () => {
  it('mirrors a repository into skopeo’s dir layout and back into a registry', async () => {
    const out = join(work, 'usb');
    const r = ferry(
      'sync',
      '--src',
      'docker',
      '--dest',
      'dir',
      '--src-tls-verify=false',
      '--remove-signatures',
      `${src.host}/beta`,
      out,
    );
    expect(r.status, r.stderr).toBe(0);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(out).sort()).toEqual(['beta:v1.2.3', 'beta:v1.3.0', 'beta:v2.0.0']);
    const scoped = ferry(
      'sync',
      '--src',
      'docker',
      '--dest',
      'dir',
      '--scoped',
      '--src-tls-verify=false',
      `${src.host}/beta:v1.2.3`,
      join(work, 'scoped'),
    );
    expect(scoped.status, scoped.stderr).toBe(0);
    expect(readdirSync(join(work, 'scoped', src.host))).toEqual(['beta:v1.2.3']);
    const dest = await newRegistry();
    const back = ferry(
      'sync',
      '--src',
      'dir',
      '--dest',
      'docker',
      '--dest-tls-verify=false',
      out,
      `${dest.host}/test`,
    );
    expect(back.status, back.stderr).toBe(0);
    expect(await tagsAt(dest.host, 'test/beta:v1.2.3'.split(':')[0]!)).toEqual({
      'v1.2.3': digests['beta:v1.2.3'],
      'v1.3.0': digests['beta:v1.3.0'],
      'v2.0.0': digests['beta:v2.0.0'],
    });
  });

  it('--print-job prints an Indexed Job and copies nothing', () => {
    const file = join(work, 'job.yml');
    writeFileSync(file, yamlFor(src.host));
    const r = ferry('sync', '--src', 'yaml', '--dest', 'docker', '--print-job', '3', file, '127.0.0.1:1');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('completionMode: Indexed');
    expect(r.stdout).toContain('$(JOB_COMPLETION_INDEX)/3');
    expect(r.stdout).toContain('images-by-tag-regex');
  });
});
