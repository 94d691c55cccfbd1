/**
 * The containers section of `npm run bench` (issue 5): skiff beside podman, both as root with
 * runc, the overlay driver and `--network none`, on one busybox image loaded into a store of each
 * tool's own. Cases: `run --rm IMAGE true`, a `run -d` + `stop` cycle, `ps` with 20 running
 * containers, and `exec` into a running container. Each case alternates the tools RUNS times
 * after one warm-up; medians of wall time, and skiff's peak RSS (GNU time's %M).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { makeImage } from '../test/support/images.js';

export interface ContainersBenchOptions {
  /** Scratch directory (short: podman's runroot must stay under 50 characters). */
  work: string;
  skiffBin: string;
  ferryBin: string;
  runs: number;
  /** Environment without NODE_EXTRA_CA_CERTS. */
  env: NodeJS.ProcessEnv;
}

interface Sample {
  ms: number;
  rssKiB: number;
}

interface Row {
  case: string;
  skiffMs: number;
  podmanMs: number;
  skiffRssMiB: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Sample & { stdout: string } {
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  return { ms, rssKiB: Number(lines[lines.length - 1]), stdout: r.stdout };
}

type Tool = 'skiff' | 'podman';

export async function containersSection(o: ContainersBenchOptions): Promise<string[]> {
  console.log('bench: containers, skiff beside podman');
  // The machine is shared: the load around the timed runs says how far to trust them.
  const loadAtStart = loadavg()[0] as number;
  const dir = join(o.work, 'c');
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'containers.conf');
  writeFileSync(
    conf,
    '[engine]\nruntime="runc"\n\n[containers]\ndefault_ulimits=["nofile=1024:1024","nproc=1024:1024"]\n',
  );
  const env: NodeJS.ProcessEnv = { ...o.env, CONTAINERS_CONF: conf };
  const global = (t: Tool) => [
    '--root',
    join(dir, `${t[0]}`),
    '--runroot',
    join(dir, `${t[0]}r`),
    '--storage-driver',
    'overlay',
  ];
  if ((global('podman')[3] as string).length >= 50) throw new Error(`podman runroot too long: ${dir}`);
  const cli = (t: Tool, args: string[]): [string, string[]] =>
    t === 'skiff'
      ? [process.execPath, [o.skiffBin, ...global(t), ...args]]
      : ['podman', [...global(t), ...args]];
  const run = (t: Tool, args: string[]) => {
    const [cmd, a] = cli(t, args);
    return timed(cmd, a, env);
  };

  const img = await makeImage(join(dir, 'layout'), {
    name: 'bb',
    config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
  });
  const archive = join(dir, 'bb.tar');
  const cp = spawnSync(
    process.execPath,
    [o.ferryBin, 'copy', '-q', img.transportRef, `oci-archive:${archive}`],
    {
      env,
      encoding: 'utf8',
    },
  );
  if (cp.status !== 0) throw new Error(`writing ${archive}: ${cp.stderr}`);
  const IMAGE = 'localhost/bench/bb:1';
  for (const t of ['skiff', 'podman'] as const) {
    run(t, ['load', '-q', '-i', archive]);
    const id = run(t, ['images', '-q']).stdout.trim().split('\n')[0] as string;
    run(t, ['tag', id, IMAGE]);
  }

  const rows: Row[] = [];
  const compare = (name: string, sample: (t: Tool, i: number) => Sample) => {
    const k: Sample[] = [];
    const p: Sample[] = [];
    sample('skiff', -1);
    sample('podman', -1);
    for (let i = 0; i < o.runs; i++) {
      k.push(sample('skiff', i));
      p.push(sample('podman', i));
    }
    const row = {
      case: name,
      skiffMs: median(k.map((s) => s.ms)),
      podmanMs: median(p.map((s) => s.ms)),
      skiffRssMiB: Math.max(...k.map((s) => s.rssKiB)) / 1024,
    };
    rows.push(row);
    console.log(
      `${name}: skiff ${row.skiffMs.toFixed(0)} ms, podman ${row.podmanMs.toFixed(0)} ms, ratio ${(row.skiffMs / row.podmanMs).toFixed(2)}, skiff peak RSS ${row.skiffRssMiB.toFixed(0)} MiB`,
    );
  };

  compare('run --rm --network none IMAGE true', (t) =>
    run(t, ['run', '--rm', '--network', 'none', IMAGE, 'true']),
  );

  compare('run -d + stop -t 0 (one cycle)', (t, i) => {
    const name = `cycle-${i + 1}`;
    const a = run(t, ['run', '-d', '--network', 'none', '--name', name, IMAGE, 'sleep', '600']);
    const b = run(t, ['stop', '-t', '0', name]);
    return { ms: a.ms + b.ms, rssKiB: Math.max(a.rssKiB, b.rssKiB) };
  });

  // 20 running containers in each store (the stopped cycle ones are removed first, untimed).
  for (const t of ['skiff', 'podman'] as const) {
    run(t, ['stop', '-t', '0', '--all']);
    run(t, ['rm', '--all']);
    for (let n = 0; n < 20; n++)
      run(t, ['run', '-d', '--network', 'none', '--name', `ps-${n}`, IMAGE, 'sleep', '3600']);
  }
  compare('ps (20 running containers)', (t) => run(t, ['ps']));
  compare('exec CONTAINER true (running container)', (t) => run(t, ['exec', 'ps-0', 'true']));
  for (const t of ['skiff', 'podman'] as const) {
    run(t, ['stop', '-t', '0', '--all']);
    run(t, ['rm', '--all']);
  }

  const loadAtEnd = loadavg()[0] as number;
  return [
    '## skiff containers',
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}: ${o.runs} timed runs per tool per case (after one warm-up each), alternating skiff and podman; medians of wall time; environment "clean" (no NODE_EXTRA_CA_CERTS).`,
    `Machine load (1-minute load average) ${loadAtStart.toFixed(1)} at the start, ${loadAtEnd.toFixed(1)} at the end, on ${availableParallelism()} cores.`,
    `${spawnSync('podman', ['--version'], { encoding: 'utf8' }).stdout.trim()}; both as root with runc, the overlay driver, --network none, one busybox-static image; podman with a containers.conf of the bench's own (runc, ulimits this machine allows) and a runroot under 50 characters.`,
    '',
    '| case | skiff (ms) | podman (ms) | skiff/podman | skiff peak RSS (MiB) |',
    '|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.skiffMs.toFixed(0)} | ${r.podmanMs.toFixed(0)} | ${(r.skiffMs / r.podmanMs).toFixed(2)} | ${r.skiffRssMiB.toFixed(0)} |`,
    ),
  ];
}

/** Replace (or add) the `## skiff containers` block of RESULTS.md, keeping everything else. */
export function writeContainersSection(file: string, lines: string[]): void {
  const previous = existsSync(file) ? readFileSync(file, 'utf8').trimEnd() : '';
  const heading = '\n## skiff containers';
  const at = previous.indexOf(heading);
  let before = at >= 0 ? previous.slice(0, at) : previous;
  let after = '';
  if (at >= 0) {
    const next = previous.indexOf('\n## ', at + heading.length);
    if (next >= 0) after = previous.slice(next);
  }
  before = before.trimEnd();
  writeFileSync(file, `${before ? `${before}\n\n` : ''}${lines.join('\n')}${after ? `\n${after}` : ''}\n`);
}
