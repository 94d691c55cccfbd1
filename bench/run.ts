/**
 * `npm run bench`: ferry beside skopeo in one run, on the same images, registries and disk.
 * Each case runs both tools alternately (ferry, skopeo, ferry, ...) RUNS times and reports the
 * medians, the ratio ferry/skopeo, and ferry's peak RSS (GNU time's %M). Writes bench/RESULTS.md.
 *
 * Fairness: two separate registries (source and destination) so no tool can mount blobs across
 * repositories; a fresh destination repository or directory per run (nothing is deleted between
 * timed runs: this disk is slow to create files right after deleting many); skopeo's blob info
 * cache is removed before each of its runs so it cannot skip work ferry has to do; both tools
 * fsync what they write to an OCI layout. Node start-up is reported apart, with and without
 * NODE_EXTRA_CA_CERTS, which this machine sets and which costs every Node start 50-100 ms.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { copyImage } from '../packages/oci/src/copy/copy.js';
import { splitProcStat } from '../packages/oci/src/storage/fs-util.js';
import { parseImageName } from '../packages/oci/src/transports/index.js';
import { makeImage } from '../test/support/images.js';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';
import { FIXED_MTIME, type TarEntrySpec, tarStream } from '../test/support/tar.js';
import { containersSection, writeContainersSection } from './containers.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** Which sections to run: copy (issue 2), sync (issue 3), skiff (issue 4), containers (issue 5); default all. */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'copy,sync,skiff,containers').split(','));
const ROOT = join(import.meta.dirname, '..');
const FERRY = join(ROOT, 'apps', 'copy', 'bin', 'run.js');
const SKIFF = join(ROOT, 'apps', 'run', 'bin', 'run.js');
const SKOPEO_CACHE = [
  '/var/lib/containers/cache/blob-info-cache-v1.boltdb',
  '/var/lib/containers/cache/blob-info-cache-v1.sqlite',
];

interface Sample {
  ms: number;
  rssKiB: number;
  /** The tool's CPU time (user + system, its children included). */
  cpuMs: number;
  /** CPU time the registries spent meanwhile (both of them). */
  registryCpuMs: number;
}

/** Processes whose CPU time a timed run also reports (the registries, once started). */
const watched: number[] = [];

/** User + system CPU time of a process so far, from /proc (0 when it is gone). */
function cpuOf(pid: number): number {
  try {
    const { fields } = splitProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    // utime and stime: fields 14 and 15 of proc(5).
    return ((Number(fields[14 - 3]) + Number(fields[15 - 3])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Sample {
  const registriesBefore = watched.reduce((sum, pid) => sum + cpuOf(pid), 0);
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', cmd, ...args], {
    env,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const registryCpuMs = watched.reduce((sum, pid) => sum + cpuOf(pid), 0) - registriesBefore;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  const [rss, user, sys] = (lines[lines.length - 1] ?? '').split(' ').map(Number);
  return { ms, rssKiB: rss ?? 0, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000, registryCpuMs };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const cleanEnv: NodeJS.ProcessEnv = { ...process.env };
delete cleanEnv.NODE_EXTRA_CA_CERTS;
const machineEnv: NodeJS.ProcessEnv = { ...process.env };

interface Row {
  case: string;
  ferryMs: number;
  skopeoMs: number;
  ratio: number;
  ferryRssMiB: number;
  ferryCpuMs: number;
  skopeoCpuMs: number;
  /** Registry CPU time (source and destination together) during each tool's runs. */
  ferryRegistryCpuMs: number;
  skopeoRegistryCpuMs: number;
  note?: string;
}
const rows: Row[] = [];

function compare(
  name: string,
  ferryArgs: (i: number) => string[],
  skopeoArgs: (i: number) => string[],
  env = cleanEnv,
  note?: string,
): void {
  const f: Sample[] = [];
  const s: Sample[] = [];
  // One warm-up each, not counted: page cache and registry state alike for both.
  timed(process.execPath, [FERRY, ...ferryArgs(-1)], env);
  timed('skopeo', skopeoArgs(-1), env);
  for (let i = 0; i < RUNS; i++) {
    f.push(timed(process.execPath, [FERRY, ...ferryArgs(i)], env));
    for (const c of SKOPEO_CACHE) rmSync(c, { force: true });
    s.push(timed('skopeo', skopeoArgs(i), env));
  }
  const row: Row = {
    case: name,
    ferryMs: median(f.map((x) => x.ms)),
    skopeoMs: median(s.map((x) => x.ms)),
    ratio: 0,
    ferryRssMiB: Math.max(...f.map((x) => x.rssKiB)) / 1024,
    ferryCpuMs: median(f.map((x) => x.cpuMs)),
    skopeoCpuMs: median(s.map((x) => x.cpuMs)),
    ferryRegistryCpuMs: median(f.map((x) => x.registryCpuMs)),
    skopeoRegistryCpuMs: median(s.map((x) => x.registryCpuMs)),
  };
  row.ratio = row.ferryMs / row.skopeoMs;
  if (note) row.note = note;
  rows.push(row);
  console.log(
    `${name}: ferry ${row.ferryMs.toFixed(0)} ms, skopeo ${row.skopeoMs.toFixed(0)} ms, ratio ${row.ratio.toFixed(2)}, ferry peak RSS ${row.ferryRssMiB.toFixed(0)} MiB`,
  );
}

const work = mkdtempSync(join(tmpdir(), 'skiff-bench-'));
const src = await startRegistry();
const dst = await startRegistry();
watched.push(src.pid, dst.pid);
async function copySection(): Promise<void> {
  console.log(`bench: building images in ${work}`);
  const images = {
    small10: await makeImage(join(work, 'small10'), { name: 'latest', extraLayers: 9 }),
    img64: await makeImage(join(work, 'img64'), { name: 'latest', sizeMiB: 64, layers: 8 }),
    img300: await makeImage(join(work, 'img300'), { name: 'latest', sizeMiB: 300, layers: 5 }),
  };
  for (const [name, img] of Object.entries(images)) {
    const r = spawnSync('skopeo', [
      'copy',
      '-q',
      '--dest-tls-verify=false',
      img.transportRef,
      `docker://${src.host}/bench/${name}:latest`,
    ]);
    if (r.status !== 0) throw new Error(`seeding ${name}: ${r.stderr}`);
  }
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  const out = join(work, 'out');
  mkdirSync(out);

  compare(
    'start-up: --version (clean env)',
    () => ['--version'],
    () => ['--version'],
  );
  compare(
    'start-up: --version (machine env, NODE_EXTRA_CA_CERTS set)',
    () => ['--version'],
    () => ['--version'],
    machineEnv,
  );
  for (const name of Object.keys(images)) {
    const from = `docker://${src.host}/bench/${name}:latest`;
    compare(
      `inspect ${name} (registry)`,
      () => ['inspect', '--tls-verify=false', from],
      () => ['inspect', '--tls-verify=false', from],
    );
    compare(
      `copy ${name} registry→registry`,
      (i) => ['copy', '-q', ...tls, from, `docker://${dst.host}/ferry-${i + 1}/${name}:latest`],
      (i) => ['copy', '-q', ...tls, from, `docker://${dst.host}/skopeo-${i + 1}/${name}:latest`],
    );
    compare(
      `copy ${name} registry→oci:`,
      (i) => [
        'copy',
        '-q',
        '--src-tls-verify=false',
        from,
        `oci:${join(out, `ferry-${name}-${i + 1}`)}:latest`,
      ],
      (i) => [
        'copy',
        '-q',
        '--src-tls-verify=false',
        from,
        `oci:${join(out, `skopeo-${name}-${i + 1}`)}:latest`,
      ],
    );
  }
  const inspectSmall = `docker://${src.host}/bench/small10:latest`;
  compare(
    'inspect small10 (machine env)',
    () => ['inspect', '--tls-verify=false', inspectSmall],
    () => ['inspect', '--tls-verify=false', inspectSmall],
    machineEnv,
  );
}

/**
 * A mirror of 20 repositories x 3 tags (10 small busybox images, 10 medium ones with a unique
 * 8 MiB layer per tag) described in one sync YAML: a first run into a fresh destination
 * namespace per run, then second runs of the unchanged mirror into namespaces already synced.
 */
async function syncSection(source: TestRegistry, dest: TestRegistry): Promise<void> {
  const repos: string[] = [];
  const layout = join(work, 'sync-images');
  console.log('bench: seeding 20 repositories x 3 tags for sync');
  for (let r = 1; r <= 20; r++) {
    const repo = `mirror/repo${String(r).padStart(2, '0')}`;
    repos.push(repo);
    for (let t = 1; t <= 3; t++) {
      const img = await makeImage(layout, {
        name: `${r}-${t}`,
        config: { Labels: { repo, tag: `v${t}` } },
        ...(r > 10 ? { sizeMiB: 8 } : {}),
      });
      await copyImage(
        parseImageName(img.transportRef),
        parseImageName(`docker://${source.host}/${repo}:v${t}`),
        {
          destinationOptions: { tlsVerify: false },
        },
      );
    }
  }
  const yamlFile = join(work, 'sync.yaml');
  const yaml = [
    `${source.host}:`,
    '  tls-verify: false',
    '  images:',
    ...repos.map((r) => `    ${r}: [v1, v2, v3]`),
  ];
  writeFileSync(yamlFile, `${yaml.join('\n')}\n`);
  const args = (tool: string, run: number) => [
    'sync',
    '--src',
    'yaml',
    '--dest',
    'docker',
    '--dest-tls-verify=false',
    yamlFile,
    `${dest.host}/${tool}-${run}`,
  ];
  compare(
    'sync 20 repos x 3 tags, first run (fresh destination)',
    (i) => args('ferry', i + 1),
    (i) => args('skopeo', i + 1),
  );
  // Namespaces 0..RUNS were filled by the first-run case: syncing them again changes nothing.
  compare(
    'sync 20 repos x 3 tags, second run (no change)',
    (i) => args('ferry', i + 1),
    (i) => args('skopeo', i + 1),
  );
}

/**
 * skiff beside podman (issue 4): `pull` from a loopback registry into a clean store per run
 * (each run its own fresh --root/--runroot: nothing is deleted between timed runs), both with
 * the overlay driver; and `images` over the same 50 images in each tool's store. podman gets
 * a containers.conf of the bench's own (runc, ulimits this machine allows) and short runroots.
 */
interface PeerRow {
  case: string;
  skiffMs: number;
  podmanMs: number;
  ratio: number;
  skiffRssMiB: number;
}
const peerRows: PeerRow[] = [];

function comparePeer(
  name: string,
  skiffArgs: (i: number) => string[],
  podmanArgs: (i: number) => string[],
  env: NodeJS.ProcessEnv,
): void {
  const k: Sample[] = [];
  const p: Sample[] = [];
  // Each timed run starts with nothing dirty in the page cache (an untimed `sync` first): podman
  // leaves its pull's files for the kernel to write back later, and skiff's syncfs would
  // otherwise write them out for it.
  const settled = (cmd: string, args: string[]) => {
    spawnSync('sync');
    return timed(cmd, args, env);
  };
  settled(process.execPath, [SKIFF, ...skiffArgs(-1)]);
  settled('podman', podmanArgs(-1));
  for (let i = 0; i < RUNS; i++) {
    k.push(settled(process.execPath, [SKIFF, ...skiffArgs(i)]));
    p.push(settled('podman', podmanArgs(i)));
  }
  const row: PeerRow = {
    case: name,
    skiffMs: median(k.map((x) => x.ms)),
    podmanMs: median(p.map((x) => x.ms)),
    ratio: 0,
    skiffRssMiB: Math.max(...k.map((x) => x.rssKiB)) / 1024,
  };
  row.ratio = row.skiffMs / row.podmanMs;
  peerRows.push(row);
  console.log(
    `${name}: skiff ${row.skiffMs.toFixed(0)} ms, podman ${row.podmanMs.toFixed(0)} ms, ratio ${row.ratio.toFixed(2)}, skiff peak RSS ${row.skiffRssMiB.toFixed(0)} MiB`,
  );
}

/** A layer tar of `files` small files (100 B – 4 KiB of deterministic bytes each), 100 per directory. */
async function manyFilesTar(files: number): Promise<Buffer> {
  const entries: TarEntrySpec[] = [{ name: 'data', type: 'directory' }];
  let seed = createHash('sha256').update('many-files').digest();
  for (let f = 0; f < files; f++) {
    if (f % 100 === 0) entries.push({ name: `data/d${f / 100}`, type: 'directory' });
    seed = createHash('sha256').update(seed).digest();
    const size = 100 + (seed.readUInt16LE(0) % 4000);
    const content = Buffer.alloc(size);
    for (let o = 0; o < size; o += 32) seed.copy(content, o, 0, Math.min(32, size - o));
    entries.push({ name: `data/d${Math.floor(f / 100)}/f${f}.txt`, type: 'file', content });
  }
  const chunks: Buffer[] = [];
  for await (const c of tarStream(entries)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** An OCI layout holding one image of one gzip layer of `files` small files (the many-files case). */
async function writeManyFilesLayout(dir: string, files: number): Promise<string> {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const tar = await manyFilesTar(files);
  const put = (data: Buffer) => {
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(dir, 'blobs', 'sha256', hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const layer = put(gzipSync(tar, { level: 6 }));
  const config = put(
    Buffer.from(
      JSON.stringify({
        created: FIXED_MTIME.toISOString(),
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: FIXED_MTIME.toISOString(), created_by: `${files} small files` }],
      }),
    ),
  );
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  return `oci:${dir}:latest`;
}

async function skiffSection(registry: TestRegistry): Promise<void> {
  console.log('bench: building images for skiff/podman');
  const seed = (ref: string, name: string) => {
    const r = spawnSync('skopeo', [
      'copy',
      '-q',
      '--dest-tls-verify=false',
      ref,
      `docker://${registry.host}/${name}`,
    ]);
    if (r.status !== 0) throw new Error(`seeding ${name}: ${r.stderr}`);
  };
  const pulls: Record<string, string> = {
    img64: (await makeImage(join(work, 'p-img64'), { name: 'latest', sizeMiB: 64, layers: 8 })).transportRef,
    img220: (await makeImage(join(work, 'p-img220'), { name: 'latest', sizeMiB: 220, layers: 4 }))
      .transportRef,
    many: await writeManyFilesLayout(join(work, 'p-many'), 20_000),
  };
  for (const [name, ref] of Object.entries(pulls)) seed(ref, `pull/${name}:latest`);

  const conf = join(work, 'containers.conf');
  writeFileSync(
    conf,
    '[engine]\nruntime="runc"\n\n[containers]\ndefault_ulimits=["nofile=1024:1024","nproc=1024:1024"]\n',
  );
  const env: NodeJS.ProcessEnv = { ...cleanEnv, CONTAINERS_CONF: conf };
  // Short paths: podman's runroot must stay under 50 characters.
  const stores = join(work, 's');
  mkdirSync(stores);
  const store = (tool: 'k' | 'p', what: string) => [
    '--root',
    join(stores, `${tool}-${what}`),
    '--runroot',
    join(stores, `${tool}r-${what}`),
    '--storage-driver',
    'overlay',
  ];
  if (store('p', 'many-99')[3]!.length >= 50) throw new Error(`podman runroot too long: ${stores}`);
  const labels = { img64: '~64 MiB, 9 layers', img220: '~220 MiB, 5 layers', many: '20,000 files, 1 layer' };
  for (const name of Object.keys(pulls) as Array<keyof typeof labels>) {
    const from = `${registry.host}/pull/${name}:latest`;
    comparePeer(
      `pull ${name} (${labels[name]}), clean store`,
      (i) => [...store('k', `${name}-${i + 1}`), 'pull', '-q', '--tls-verify=false', from],
      (i) => [...store('p', `${name}-${i + 1}`), 'pull', '-q', '--tls-verify=false', from],
      env,
    );
  }

  console.log('bench: 50 images into one skiff and one podman store');
  const layout = join(work, 'list-images');
  for (let i = 0; i < 50; i++) {
    const img = await makeImage(layout, {
      name: `i${i}`,
      config: { Labels: { bench: 'images', n: String(i) } },
    });
    seed(img.transportRef, `list/img${i}:v1`);
    for (const [tool, cmd] of [
      ['k', [process.execPath, SKIFF]],
      ['p', ['podman']],
    ] as const) {
      const [bin, ...pre] = cmd;
      const r = spawnSync(
        bin,
        [
          ...pre,
          ...store(tool, 'list'),
          'pull',
          '-q',
          '--tls-verify=false',
          `${registry.host}/list/img${i}:v1`,
        ],
        { env, encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`pulling list/img${i} with ${bin}: ${r.stderr}`);
    }
  }
  comparePeer(
    'images (50 images)',
    () => [...store('k', 'list'), 'images'],
    () => [...store('p', 'list'), 'images'],
    env,
  );
}

function writeResults(): void {
  // A run of some sections keeps the other sections' tables from the last full run.
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : '';
  // The containers table (bench/containers.ts) is kept here and rewritten after, when it ran.
  const containersAt = previous.indexOf('\n## skiff containers');
  const previousContainers = containersAt >= 0 ? previous.slice(containersAt + 1).trimEnd() : '';
  const rest = containersAt >= 0 ? previous.slice(0, containersAt) : previous;
  const skiffAt = rest.indexOf('\n## skiff');
  const previousFerry = (skiffAt >= 0 ? rest.slice(0, skiffAt + 1) : rest).trimEnd();
  const previousSkiff = skiffAt >= 0 ? rest.slice(skiffAt + 1).trimEnd() : '';
  const ferry = [
    '# Benchmarks: ferry beside skopeo',
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}: ${RUNS} timed runs per tool per case (after one warm-up each), alternating; medians of wall time.`,
    `skopeo ${spawnSync('skopeo', ['--version'], { encoding: 'utf8' }).stdout.trim()}; Node ${process.version}; registries: Debian docker-registry on 127.0.0.1 (separate source and destination).`,
    'Environment "clean" unsets NODE_EXTRA_CA_CERTS; "machine" keeps it as this machine sets it. Both tools fsync what they write to oci: layouts.',
    "CPU columns are medians of CPU time (user + system): each tool's own, and the two registries' together while that tool ran. On 2 cores, wall time cannot go below (tool CPU + registry CPU) / 2.",
    '',
    '| case | ferry (ms) | skopeo (ms) | ferry/skopeo | ferry peak RSS (MiB) | CPU ferry / skopeo (ms) | registry CPU during ferry / skopeo (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.ferryMs.toFixed(0)} | ${r.skopeoMs.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.ferryRssMiB.toFixed(0)} | ${r.ferryCpuMs.toFixed(0)} / ${r.skopeoCpuMs.toFixed(0)} | ${r.ferryRegistryCpuMs.toFixed(0)} / ${r.skopeoRegistryCpuMs.toFixed(0)} |`,
    ),
  ];
  const skiff = [
    '## skiff',
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}: ${RUNS} timed runs per tool per case (after one warm-up each), alternating skiff and podman; medians of wall time; environment "clean".`,
    `${spawnSync('podman', ['--version'], { encoding: 'utf8' }).stdout.trim()}, runc; both with the overlay driver, a fresh --root/--runroot per pull (nothing deleted between timed runs; an untimed sync before each, so no run writes back another's files), pulls from a Debian docker-registry on 127.0.0.1 with --tls-verify=false. Durability: skiff syncs layer contents (one syncfs per pull) and its metadata before reporting success; podman 4.3.1 fdatasyncs its metadata only (strace: no syncfs, no per-file fsync), so skiff does more durable work than its peer here.`,
    '',
    '| case | skiff (ms) | podman (ms) | skiff/podman | skiff peak RSS (MiB) |',
    '|---|---:|---:|---:|---:|',
    ...peerRows.map(
      (r) =>
        `| ${r.case} | ${r.skiffMs.toFixed(0)} | ${r.podmanMs.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.skiffRssMiB.toFixed(0)} |`,
    ),
  ];
  const parts = [
    rows.length > 0 ? ferry.join('\n') : previousFerry,
    peerRows.length > 0 ? skiff.join('\n') : previousSkiff,
    previousContainers,
  ].filter((x) => x !== '');
  writeFileSync(file, `${parts.join('\n\n')}\n`);
  console.log('bench: wrote bench/RESULTS.md');
}

try {
  if (ONLY.has('copy')) await copySection();
  if (ONLY.has('sync')) await syncSection(src, dst);
  if (ONLY.has('skiff')) await skiffSection(src);
  writeResults();
  if (ONLY.has('containers')) {
    const lines = await containersSection({
      work,
      skiffBin: SKIFF,
      ferryBin: FERRY,
      runs: RUNS,
      env: cleanEnv,
    });
    writeContainersSection(join(ROOT, 'bench', 'RESULTS.md'), lines);
  }
} finally {
  await src.stop();
  await dst.stop();
  rmSync(work, { recursive: true, force: true });
}
