import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { assertBuilt, makeSandbox, ok, type Sandbox } from './ferry-cli.js';
import {
  assertSkiffBuilt,
  SKIFF_BIN,
  storeWithImage as sharedStoreWithImage,
  skiff,
  type TestStore,
} from './skiff-cli.js';

/**
 * skiff cp, diff, top, port, pause and unpause end to end, as root: the built CLI, runc and
 * conmon, on an image made from busybox-static, in overlay and vfs stores.
 */

let sb: Sandbox;
let img: FixtureImage;
const IMAGE = 'localhost/e2e/tools:1';
const stores: TestStore[] = [];

beforeAll(async () => {
  if (process.geteuid?.() !== 0) throw new Error('the skiff container tools e2e suite needs root');
  await assertBuilt();
  await assertSkiffBuilt();
  sb = await makeSandbox('skt-');
  img = await makeImage(sb.path('layout'), {
    name: 'tools',
    config: { Env: ['PATH=/bin'], Cmd: ['sleep', '300'] },
  });
});

afterAll(async () => {
  // Retried: a rebuild of the CLI running meanwhile must not leave containers and mounts behind.
  for (const s of stores) {
    for (let i = 0; i < 5; i++) {
      if ((await skiff(sb, s, ['rm', '-f', '--all']).catch(() => undefined))?.code === 0) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    // conmon runs `container cleanup` after a kill: let it finish before the store goes.
    for (let i = 0; i < 100 && spawnSync('pgrep', ['-f', `conmon.*${s.runroot}`]).status === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
  }
  await sb?.cleanup();
});

async function storeWithImage(name: string, driver: 'overlay' | 'vfs' = 'overlay'): Promise<TestStore> {
  const store = await sharedStoreWithImage(sb, name, img.transportRef, IMAGE, driver);
  stores.push(store);
  return store;
}

/** A shell command line running skiff against `store` (for binary pipes). */
function skiffLine(store: TestStore, args: string[]): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [process.execPath, SKIFF_BIN, ...store.flags, ...args].map(q).join(' ');
}

/** Run a shell line (stdin closed) for pipes of binary tar streams. */
function sh(line: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', line], {
    env: sb.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

describe.each(['overlay', 'vfs'] as const)('skiff cp and diff (%s)', (driver) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await storeWithImage(`cp-${driver}`, driver);
    await ok(skiff(sb, store, ['run', '-d', '--name', 'live', '--tmpfs', '/scratch', IMAGE]));
    await ok(skiff(sb, store, ['create', '--name', 'idle', IMAGE]));
  });

  it('copies a host file into a running container with its mode, owned by the container user', async () => {
    const src = sb.path(`in-${driver}.sh`);
    writeFileSync(src, '#!/bin/sh\necho copied\n', { mode: 0o750 });
    await ok(skiff(sb, store, ['cp', src, 'live:/tmp/script.sh']));
    expect(await ok(skiff(sb, store, ['exec', 'live', '/tmp/script.sh']))).toBe('copied\n');
    expect(await ok(skiff(sb, store, ['exec', 'live', 'ls', '-ln', '/tmp/script.sh']))).toMatch(
      /^-rwxr-x--- +1 0 +0 /,
    );
    // Into a mount of the running container (a tmpfs here): what its processes see.
    await ok(skiff(sb, store, ['cp', src, 'live:/scratch/s.sh']));
    expect(await ok(skiff(sb, store, ['exec', 'live', 'cat', '/scratch/s.sh']))).toContain('copied');
    // Into an existing directory: the source's name is kept.
    await ok(skiff(sb, store, ['cp', src, 'live:/tmp']));
    expect(await ok(skiff(sb, store, ['exec', 'live', 'cat', `/tmp/${basename(src)}`]))).toContain('copied');
  });

  it('copies a container directory to the host, and SRC/. copies its contents', async () => {
    await ok(
      skiff(sb, store, [
        'exec',
        'live',
        'sh',
        '-c',
        'mkdir -p /data/sub && echo one > /data/sub/f && ln -s sub/f /data/link',
      ]),
    );
    const out = sb.path(`out-${driver}`);
    await ok(skiff(sb, store, ['cp', 'live:/data', out]));
    expect(readFileSync(`${out}/sub/f`, 'utf8')).toBe('one\n');
    expect(readlinkSync(`${out}/link`)).toBe('sub/f');
    const into = sb.path(`into-${driver}`);
    mkdirSync(into);
    await ok(skiff(sb, store, ['cp', 'live:/data', into]));
    expect(statSync(`${into}/data/sub`).isDirectory()).toBe(true);
    const contents = sb.path(`contents-${driver}`);
    mkdirSync(contents);
    await ok(skiff(sb, store, ['cp', 'live:/data/.', contents]));
    expect(readFileSync(`${contents}/sub/f`, 'utf8')).toBe('one\n');
    expect(lstatSync(`${contents}/link`).isSymbolicLink()).toBe(true);
  });

  it('works on a container that never ran (its rootfs is mounted for the copy only)', async () => {
    const src = sb.path(`idle-${driver}.txt`);
    writeFileSync(src, 'idle\n');
    await ok(skiff(sb, store, ['cp', src, 'idle:/idle.txt']));
    const back = sb.path(`idle-back-${driver}.txt`);
    await ok(skiff(sb, store, ['cp', 'idle:/idle.txt', back]));
    expect(readFileSync(back, 'utf8')).toBe('idle\n');
    expect((await ok(skiff(sb, store, ['diff', 'idle']))).split('\n')).toContain('A /idle.txt');
  });

  it('streams a tar: `cp CTR:PATH -` writes one, `cp - CTR:DIR` extracts one', async () => {
    const tarFile = sb.path(`etc-${driver}.tar`);
    const r = sh(`${skiffLine(store, ['cp', 'live:/etc/passwd', '-'])} > '${tarFile}'`);
    expect(r.code, r.stderr).toBe(0);
    const list = sh(`tar -tvf '${tarFile}'`).stdout;
    expect(list).toMatch(/^-rw-r--r-- .* passwd\n$/);
    const tree = sb.path(`tree-${driver}`);
    mkdirSync(`${tree}/a`, { recursive: true });
    writeFileSync(`${tree}/a/x.txt`, 'from tar\n');
    const put = sh(`tar -C '${tree}' -cf - a | ${skiffLine(store, ['cp', '-', 'live:/tmp'])}`);
    expect(put.code, put.stderr).toBe(0);
    expect(await ok(skiff(sb, store, ['exec', 'live', 'cat', '/tmp/a/x.txt']))).toBe('from tar\n');
    // Into something that is not a directory: refused.
    const bad = sh(`tar -C '${tree}' -cf - a | ${skiffLine(store, ['cp', '-', 'live:/etc/passwd'])}`);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^Error: .*must be a directory/);
  });

  it('symlinks cannot lead a copy out of the container: they resolve inside its rootfs', async () => {
    const hostDir = sb.path(`victim-${driver}`);
    mkdirSync(hostDir);
    await ok(
      skiff(sb, store, [
        'exec',
        'live',
        'sh',
        '-c',
        `mkdir -p /esc ${hostDir} && ln -s ${hostDir} /esc/abs && ln -s ../../../../../../..${hostDir} /esc/rel && ln -s /nonexistent/dir /esc/gone`,
      ]),
    );
    const src = sb.path(`payload-${driver}.txt`);
    writeFileSync(src, 'payload\n');
    await ok(skiff(sb, store, ['cp', src, 'live:/esc/abs/p1']));
    await ok(skiff(sb, store, ['cp', src, 'live:/esc/rel/p2']));
    // Nothing reached the host directory; both landed at that path inside the container.
    expect(() => statSync(`${hostDir}/p1`)).toThrow();
    expect(() => statSync(`${hostDir}/p2`)).toThrow();
    expect(await ok(skiff(sb, store, ['exec', 'live', 'cat', `${hostDir}/p1`, `${hostDir}/p2`]))).toBe(
      'payload\npayload\n',
    );
    // A link to a directory the container lacks: no such directory (the host's is not used).
    const gone = await skiff(sb, store, ['cp', src, 'live:/esc/gone/p3']);
    expect(gone.code).toBe(125);
    expect(gone.stderr).toMatch(/could not be found on container live/);
    // Reading through a link: the container's file, not the host's.
    await ok(
      skiff(sb, store, [
        'exec',
        'live',
        'sh',
        '-c',
        'echo inside > /esc/hostname-file && ln -s /esc/hostname-file /esc/h && ln -s /etc /esc/etc',
      ]),
    );
    const back = sb.path(`back-${driver}`);
    await ok(skiff(sb, store, ['cp', 'live:/esc/etc/', back]));
    expect(readFileSync(`${back}/passwd`, 'utf8')).toMatch(/^root:x:0:0:root:\/root:\/bin\/sh\n/);
    // A tar whose entries climb out is refused.
    const evil = sb.path(`evil-${driver}.tar`);
    const up = `../${basename(dirname(src))}/${basename(src)}`;
    expect(sh(`cd '${dirname(src)}' && tar -cf '${evil}' --absolute-names '${up}'`).code).toBe(0);
    const r = sh(`${skiffLine(store, ['cp', '-', 'live:/tmp'])} < '${evil}'`);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/outside/);
  });

  it('diff lists changes, additions and deletions, sorted; --format json', async () => {
    await ok(
      skiff(sb, store, [
        'run',
        '--name',
        'changer',
        IMAGE,
        'sh',
        '-c',
        'echo x >> /etc/group && mkdir /newdir && echo n > /newdir/file && rm /bin/true',
      ]),
    );
    const text = await ok(skiff(sb, store, ['diff', 'changer']));
    const lines = text.split('\n').filter(Boolean);
    expect(lines).toEqual([...lines].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1)));
    expect(lines).toEqual(
      expect.arrayContaining([
        'C /etc',
        'C /etc/group',
        'A /newdir',
        'A /newdir/file',
        'C /bin',
        'D /bin/true',
      ]),
    );
    expect(lines.some((l) => /\/(proc|sys|dev|etc\/hosts|etc\/resolv\.conf|etc\/hostname)$/.test(l))).toBe(
      false,
    );
    const json = JSON.parse(
      await ok(skiff(sb, store, ['container', 'diff', '--format', 'json', 'changer'])),
    ) as Record<string, string[]>;
    expect(json.added).toEqual(['/newdir', '/newdir/file']);
    expect(json.deleted).toEqual(['/bin/true']);
    expect(json.changed).toEqual(expect.arrayContaining(['/etc', '/etc/group', '/bin']));
    // Two arguments: the first against the second (a container against an image, and back).
    const against = (await ok(skiff(sb, store, ['diff', 'changer', IMAGE]))).split('\n');
    expect(against).toEqual(
      expect.arrayContaining(['A /newdir', 'A /newdir/file', 'D /bin/true', 'C /etc/group']),
    );
    expect(against.some((l) => /\/(proc|sys|dev|etc\/hosts)$/.test(l))).toBe(false);
    const back = (await ok(skiff(sb, store, ['diff', IMAGE, 'changer']))).split('\n');
    expect(back).toEqual(expect.arrayContaining(['D /newdir', 'A /bin/true']));
    // An image: its (only) layer over nothing.
    expect((await ok(skiff(sb, store, ['diff', IMAGE]))).split('\n')).toContain('A /bin/busybox');
  });
});

describe('skiff top, pause, unpause, port', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await storeWithImage('proc');
    await ok(skiff(sb, store, ['run', '-d', '--name', 'sleeper', IMAGE, 'sleep', '300']));
  });

  it("top shows the container's process with podman's default columns", async () => {
    const out = await ok(skiff(sb, store, ['top', 'sleeper']));
    const [head, ...rows] = out.split('\n').filter(Boolean);
    expect(head?.split(/\s+/)).toEqual(['USER', 'PID', 'PPID', '%CPU', 'ELAPSED', 'TTY', 'TIME', 'COMMAND']);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/^root {8}1 {11}0 {11}\d+\.\d{3} +\S+s +\? {11}0s {10}sleep 300 $/);
    const custom = await ok(skiff(sb, store, ['top', 'sleeper', 'pid', 'comm', 'hpid']));
    expect(custom).toMatch(/^PID +COMMAND +HPID\n1 +sleep +\d+\n$/);
    expect(await ok(skiff(sb, store, ['top', 'sleeper', '%p', '%c']))).toMatch(/^PID +COMMAND\n1 +sleep\n$/);
    const bad = await skiff(sb, store, ['top', 'sleeper', 'nosuch']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('unknown descriptor: nosuch');
  });

  it('pause freezes the container (ps and inspect say paused), unpause thaws it', async () => {
    expect(await ok(skiff(sb, store, ['pause', 'sleeper']))).toBe('sleeper\n');
    expect(
      await ok(skiff(sb, store, ['ps', '-a', '--filter', 'name=sleeper', '--format', '{{.State}}'])),
    ).toBe('paused\n');
    expect(await ok(skiff(sb, store, ['inspect', '--format', '{{.State.Status}}', 'sleeper']))).toBe(
      'paused\n',
    );
    const pid = Number(
      (await ok(skiff(sb, store, ['inspect', '--format', '{{.State.Pid}}', 'sleeper']))).trim(),
    );
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^State:\s+[DS]/m);
    expect((await skiff(sb, store, ['top', 'sleeper'])).stderr).toContain(
      'top can only be used on running containers',
    );
    const again = await skiff(sb, store, ['pause', 'sleeper']);
    expect(again.code).toBe(125);
    expect(again.stderr).toContain("can't pause");
    expect(await ok(skiff(sb, store, ['unpause', 'sleeper']))).toBe('sleeper\n');
    expect(await ok(skiff(sb, store, ['ps', '--filter', 'name=sleeper', '--format', '{{.State}}']))).toBe(
      'running\n',
    );
    const not = await skiff(sb, store, ['unpause', 'sleeper']);
    expect(not.code).toBe(125);
    expect(not.stderr).toMatch(/^Error: "[0-9a-f]{64}" is not paused, can't unpause/);
    expect(await ok(skiff(sb, store, ['exec', 'sleeper', 'echo', 'alive']))).toBe('alive\n');
  });

  it('a paused container: rm and prune refuse it, kill names its state, stop thaws and stops it', async () => {
    await ok(skiff(sb, store, ['run', '-d', '--name', 'frozen', IMAGE, 'sleep', '300']));
    await ok(skiff(sb, store, ['pause', 'frozen']));
    const rm = await skiff(sb, store, ['rm', 'frozen']);
    expect(rm.code).toBe(125);
    expect(rm.stderr).toContain('running or paused containers cannot be removed without force');
    await ok(skiff(sb, store, ['container', 'prune']));
    const kill = await skiff(sb, store, ['kill', 'frozen']);
    expect(kill.code).toBe(125);
    expect(kill.stderr).toContain('is in state paused');
    expect(await ok(skiff(sb, store, ['stop', '-t', '0', 'frozen']))).toBe('frozen\n');
    expect(await ok(skiff(sb, store, ['inspect', '--format', '{{.State.Status}}', 'frozen']))).toBe(
      'exited\n',
    );
    // rm -f of a paused container kills and removes it.
    await ok(skiff(sb, store, ['start', 'frozen']));
    await ok(skiff(sb, store, ['pause', 'frozen']));
    await ok(skiff(sb, store, ['rm', '-f', 'frozen']));
    expect((await skiff(sb, store, ['inspect', 'frozen'])).code).toBe(125);
  });

  it('port of a container without published ports prints nothing', async () => {
    expect(await skiff(sb, store, ['port', 'sleeper'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await skiff(sb, store, ['port', '--all'])).toMatchObject({ code: 0, stdout: '' });
    // A given port of a container that publishes none: nothing either, as podman.
    expect(await skiff(sb, store, ['port', 'sleeper', '80/tcp'])).toMatchObject({ code: 0, stdout: '' });
    const bad = await skiff(sb, store, ['port', 'sleeper', 'http']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid port "http"');
  });

  it('unknown containers exit 125 with one message', async () => {
    for (const args of [
      ['cp', 'nosuch:/etc/passwd', sb.path('x')],
      ['cp', sb.path('x'), 'nosuch:/tmp'],
      ['diff', 'nosuch'],
      ['top', 'nosuch'],
      ['port', 'nosuch'],
      ['pause', 'nosuch'],
      ['unpause', 'nosuch'],
    ]) {
      const r = await skiff(sb, store, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(125);
      expect(r.stderr).toMatch(/^Error: .*nosuch/);
      expect(r.stdout).toBe('');
    }
  });
});
