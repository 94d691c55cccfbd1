import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { assertBuilt, makeSandbox, ok, type Sandbox } from './ferry-cli.js';
import {
  assertSkiffBuilt,
  SKIFF_BIN,
  storeWithImage as sharedStoreWithImage,
  skiff,
  type TestStore,
  until,
} from './skiff-cli.js';

/**
 * skiff's container commands end to end, as root: the built CLI, runc and conmon, each test
 * with its own overlay store under a short /tmp path, on an image made from busybox-static.
 */

let sb: Sandbox;
let img: FixtureImage;
const IMAGE = 'localhost/e2e/bb:1';

beforeAll(async () => {
  if (process.geteuid?.() !== 0) throw new Error('the skiff run e2e suite needs root');
  await assertBuilt();
  await assertSkiffBuilt();
  sb = await makeSandbox('skr-');
  img = await makeImage(sb.path('layout'), {
    name: 'bb',
    config: {
      Env: ['PATH=/bin', 'FOO=from-image'],
      Cmd: ['echo', 'default', 'cmd'],
      WorkingDir: '/tmp',
      Labels: { tier: 'test' },
    },
  });
});

afterAll(async () => {
  await sb?.cleanup();
});

const stores: TestStore[] = [];

/** A fresh overlay store holding IMAGE. */
async function storeWithImage(name: string): Promise<TestStore> {
  const store = await sharedStoreWithImage(sb, name, img.transportRef, IMAGE);
  stores.push(store);
  return store;
}

afterAll(async () => {
  for (const s of stores) await skiff(sb, s, ['rm', '-f', '--all']).catch(() => {});
});

async function psNames(store: TestStore): Promise<string[]> {
  const out = await ok(skiff(sb, store, ['ps', '-a', '--format', '{{.Names}}']));
  return out.split('\n').filter(Boolean);
}

describe('skiff run (attached)', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await storeWithImage('att');
  });

  it('run IMAGE echo hi prints hi and exits 0; the container stays as exited', async () => {
    const r = await skiff(sb, store, ['run', '--name', 'hi', IMAGE, 'echo', 'hi']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hi\n');
    const ps = await ok(skiff(sb, store, ['ps', '-a', '--filter', 'name=^hi$', '--format', '{{.Status}}']));
    expect(ps).toMatch(/^Exited \(0\) .* ago\n$/);
    // An attached run keeps its output in the log too, as podman's.
    expect(await ok(skiff(sb, store, ['logs', 'hi']))).toBe('hi\n');
    expect(await ok(skiff(sb, store, ['ps', '-q']))).toBe('');
    await ok(skiff(sb, store, ['rm', 'hi']));
  });

  it("exit codes: the container's own, 126, 127, 137 for SIGKILL", async () => {
    expect((await skiff(sb, store, ['run', '--rm', IMAGE, 'sh', '-c', 'exit 3'])).code).toBe(3);
    const nf = await skiff(sb, store, ['run', '--rm', IMAGE, 'nosuchcmd']);
    expect(nf.code).toBe(127);
    expect(nf.stderr).toContain('nosuchcmd');
    const ne = await skiff(sb, store, ['run', '--rm', IMAGE, '/etc/passwd']);
    expect(ne.code).toBe(126);
    // SIGKILL from outside: the attached run reports 128+9.
    const attached = skiff(sb, store, ['run', '--rm', '--name', 'victim', IMAGE, 'sleep', '60']);
    await until(async () => (await skiff(sb, store, ['ps', '--format', '{{.Names}}'])).stdout === 'victim\n');
    await ok(skiff(sb, store, ['kill', 'victim']));
    expect((await attached).code).toBe(137);
    expect(await psNames(store)).toEqual([]);
  });

  it('bad input exits 125 with one message and leaves nothing behind', async () => {
    for (const args of [
      ['run', '--memory', 'lots', IMAGE, 'true'],
      ['run', '--mount', 'type=bind,target=/x', IMAGE, 'true'],
      ['run', '-v', '/no/such/dir:/x', IMAGE, 'true'],
      ['run', '--pids-limit', 'x', IMAGE, 'true'],
      ['run', '--pull', 'never', 'localhost/no/such:image', 'true'],
      ['run', '--bogus-flag', IMAGE, 'true'],
    ]) {
      const r = await skiff(sb, store, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(125);
      expect(r.stderr).toMatch(/^Error: /);
      expect(r.stdout).toBe('');
    }
    expect(await psNames(store)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(store.runroot);
  });

  it('env, user, workdir, entrypoint and cmd combine as podman', async () => {
    expect(await ok(skiff(sb, store, ['run', '--rm', IMAGE]))).toBe('default cmd\n');
    const envFile = sb.path('env');
    writeFileSync(envFile, '# comment\nFROM_FILE=yes\nBAR=file\n');
    const out = await ok(
      skiff(sb, { ...store }, [
        'run',
        '--rm',
        '-e',
        'BAR=flag',
        '--env-file',
        envFile,
        '-u',
        '65534:65534',
        '-w',
        '/etc',
        IMAGE,
        'sh',
        '-c',
        'echo $FOO $BAR $FROM_FILE; id -u; id -g; pwd',
      ]),
    );
    expect(out).toBe('from-image flag yes\n65534\n65534\n/etc\n');
    expect(await ok(skiff(sb, store, ['run', '--rm', '--entrypoint', 'echo', IMAGE, 'a', '-n', 'b']))).toBe(
      'a -n b\n',
    );
    expect(
      await ok(skiff(sb, store, ['run', '--rm', '--entrypoint', '["sh","-c"]', IMAGE, 'echo $0', 'x'])),
    ).toBe('x\n');
    expect(
      await ok(skiff(sb, store, ['run', '--rm', '--hostname', 'box', IMAGE, 'cat', '/etc/hostname'])),
    ).toBe('box\n');
    expect(await ok(skiff(sb, store, ['run', '--rm', '-u', 'nobody', IMAGE, 'id', '-un']))).toBe('nobody\n');
  });

  it('--privileged, --cap-add/--cap-drop, --security-opt, limits and --network host run', async () => {
    const caps = async (...flags: string[]) =>
      BigInt(
        `0x${(await ok(skiff(sb, store, ['run', '--rm', ...flags, IMAGE, 'sh', '-c', 'grep CapEff /proc/self/status']))).split(/\s+/)[1]}`,
      );
    const base = await caps();
    expect(base & (1n << 12n)).toBe(0n); // no CAP_NET_ADMIN by default
    expect(base & 1n).toBe(1n); // CAP_CHOWN
    const changed = await caps('--cap-add', 'NET_ADMIN', '--cap-drop', 'CHOWN');
    expect(changed & (1n << 12n)).toBe(1n << 12n);
    expect(changed & 1n).toBe(0n);
    expect(await caps('--privileged')).toBeGreaterThan(base);
    expect(
      await ok(
        skiff(sb, store, [
          'run',
          '--rm',
          '--security-opt',
          'no-new-privileges',
          IMAGE,
          'sh',
          '-c',
          'grep NoNewPrivs /proc/self/status',
        ]),
      ),
    ).toMatch(/NoNewPrivs:\s+1/);
    expect(
      await ok(
        skiff(sb, store, ['run', '--rm', '--ulimit', 'nofile=100:200', IMAGE, 'sh', '-c', 'ulimit -n']),
      ),
    ).toBe('100\n');
    expect(
      await ok(
        skiff(sb, store, [
          'run',
          '--rm',
          '--pids-limit',
          '20',
          IMAGE,
          'sh',
          '-c',
          'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max',
        ]),
      ),
    ).toBe('20\n');
    const hostNets = (
      await ok(skiff(sb, store, ['run', '--rm', '--network', 'host', IMAGE, 'sh', '-c', 'ls /sys/class/net']))
    ).split(/\s+/);
    expect(hostNets.length).toBeGreaterThan(1);
    expect((await ok(skiff(sb, store, ['run', '--rm', IMAGE, 'sh', '-c', 'ls /sys/class/net']))).trim()).toBe(
      'lo',
    );
  });

  it('-i passes stdin; without -i the container reads nothing', async () => {
    expect(await ok(skiff(sb, store, ['run', '--rm', '-i', IMAGE, 'cat'], { input: 'piped\n' }))).toBe(
      'piped\n',
    );
    expect(await ok(skiff(sb, store, ['run', '--rm', IMAGE, 'cat'], { input: 'piped\n' }))).toBe('');
  });

  it('a name in use is refused (125), --replace replaces it', async () => {
    await ok(skiff(sb, store, ['create', '--name', 'taken', IMAGE, 'true']));
    const r = await skiff(sb, store, ['run', '--name', 'taken', IMAGE, 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('the container name "taken" is already in use');
    expect(await ok(skiff(sb, store, ['run', '--replace', '--name', 'taken', IMAGE, 'echo', 'new']))).toBe(
      'new\n',
    );
    expect(await psNames(store)).toEqual(['taken']);
    await ok(skiff(sb, store, ['rm', 'taken']));
  });

  it('bind volumes persist data across containers; :ro is read-only; --read-only', async () => {
    const dir = sb.path('vol');
    mkdirSync(dir);
    await ok(
      skiff(sb, store, ['run', '--rm', '-v', `${dir}:/data`, IMAGE, 'sh', '-c', 'echo kept > /data/f']),
    );
    expect(readFileSync(`${dir}/f`, 'utf8')).toBe('kept\n');
    expect(
      await ok(
        skiff(sb, store, ['run', '--rm', '--mount', `type=bind,src=${dir},dst=/d`, IMAGE, 'cat', '/d/f']),
      ),
    ).toBe('kept\n');
    const ro = await skiff(sb, store, [
      'run',
      '--rm',
      '-v',
      `${dir}:/data:ro`,
      IMAGE,
      'sh',
      '-c',
      'echo x > /data/g',
    ]);
    expect(ro.code).not.toBe(0);
    expect(existsSync(`${dir}/g`)).toBe(false);
    const rofs = await skiff(sb, store, ['run', '--rm', '--read-only', IMAGE, 'sh', '-c', 'touch /x']);
    expect(rofs.code).not.toBe(0);
    expect(
      await ok(
        skiff(sb, store, [
          'run',
          '--rm',
          '--read-only',
          '--tmpfs',
          '/scratch',
          IMAGE,
          'sh',
          '-c',
          'touch /scratch/x && echo ok',
        ]),
      ),
    ).toBe('ok\n');
  });

  it('named volumes: created on first use, filled from the image, kept across containers, volume ls/inspect/rm/prune', async () => {
    expect(
      await ok(
        skiff(sb, store, [
          'run',
          '--rm',
          '-v',
          'v1:/etc',
          IMAGE,
          'sh',
          '-c',
          'cat /etc/passwd >/dev/null && echo seeded; echo mine > /etc/mine',
        ]),
      ),
    ).toBe('seeded\n');
    expect(await ok(skiff(sb, store, ['run', '--rm', '-v', 'v1:/data', IMAGE, 'cat', '/data/mine']))).toBe(
      'mine\n',
    );
    expect(await ok(skiff(sb, store, ['volume', 'ls', '-q']))).toBe('v1\n');
    const mp = (
      await ok(skiff(sb, store, ['volume', 'inspect', '--format', '{{.Mountpoint}}', 'v1']))
    ).trim();
    expect(readFileSync(`${mp}/mine`, 'utf8')).toBe('mine\n');
    await ok(skiff(sb, store, ['create', '--name', 'vuser', '-v', 'v1:/d', IMAGE, 'true']));
    expect((await skiff(sb, store, ['volume', 'rm', 'v1'])).code).toBe(125);
    expect(await ok(skiff(sb, store, ['volume', 'prune', '-f']))).toBe('');
    await ok(skiff(sb, store, ['rm', 'vuser']));
    expect(await ok(skiff(sb, store, ['volume', 'prune', '-f']))).toBe('v1\n');
    expect(await ok(skiff(sb, store, ['volume', 'ls', '-q']))).toBe('');
  });

  it('--rm removes the container; --cidfile writes its ID', async () => {
    const cid = sb.path('cid');
    await ok(skiff(sb, store, ['run', '--cidfile', cid, '--name', 'withcid', IMAGE, 'true']));
    const id = readFileSync(cid, 'utf8');
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(
      await ok(
        skiff(sb, store, [
          'inspect',
          '--format',
          '{{.Id}} {{.Name}} {{.State.Status}} {{.State.ExitCode}}',
          'withcid',
        ]),
      ),
    ).toBe(`${id} withcid exited 0\n`);
    await ok(skiff(sb, store, ['rm', 'withcid']));
    await ok(skiff(sb, store, ['run', '--rm', '--name', 'gone', IMAGE, 'true']));
    expect(await psNames(store)).toEqual([]);
  });
});

describe('detached containers', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await storeWithImage('det');
  });

  it('--log-driver passthrough: output goes straight to the caller, attached and detached; logs refuses', async () => {
    const att = await skiff(sb, store, [
      'run',
      '--name',
      'pt',
      '--log-driver',
      'passthrough',
      IMAGE,
      'sh',
      '-c',
      'echo out; echo err >&2',
    ]);
    expect(att.code, att.stderr).toBe(0);
    expect(att.stdout).toBe('out\n');
    expect(att.stderr).toBe('err\n');
    const logs = await skiff(sb, store, ['logs', 'pt']);
    expect(logs.code).toBe(125);
    expect(logs.stderr).toBe(
      "Error: this container is using the 'passthrough' log driver, cannot read logs\n",
    );
    // Detached, conmon hands the caller's stdout to the container: its output arrives there.
    const det = await skiff(sb, store, [
      'run',
      '-d',
      '--rm',
      '--log-driver',
      'passthrough',
      IMAGE,
      'sh',
      '-c',
      'echo from-detached',
    ]);
    expect(det.code, det.stderr).toBe(0);
    const lines = det.stdout.trim().split('\n').sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(lines[1]).toBe('from-detached');
    const tty = await skiff(sb, store, ['run', '-t', '--log-driver', 'passthrough', IMAGE, 'true']);
    expect(tty.code).toBe(125);
    await ok(skiff(sb, store, ['rm', 'pt']));
  });

  it('-d + logs + stop + rm', async () => {
    const id = (
      await ok(
        skiff(sb, store, [
          'run',
          '-d',
          '--name',
          'web',
          IMAGE,
          'sh',
          '-c',
          'echo started; echo err >&2; trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done',
        ]),
      )
    ).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await until(async () => (await ok(skiff(sb, store, ['logs', 'web']))).includes('started'));
    const logs = await skiff(sb, store, ['logs', 'web']);
    expect(logs.stdout).toBe('started\n');
    expect(logs.stderr).toBe('err\n');
    expect(await ok(skiff(sb, store, ['ps', '--format', '{{.ID}} {{.Names}} {{.State}}']))).toBe(
      `${id.slice(0, 12)} web running\n`,
    );
    const insp = JSON.parse(await ok(skiff(sb, store, ['container', 'inspect', 'web']))) as Array<{
      State: { Running: boolean; Pid: number };
      Config: { Labels: unknown; Image: string };
      Image: string;
    }>;
    expect(insp[0]!.State.Running).toBe(true);
    expect(insp[0]!.State.Pid).toBeGreaterThan(0);
    expect(insp[0]!.Config.Image).toBe(IMAGE);
    expect(await ok(skiff(sb, store, ['stop', 'web']))).toBe('web\n');
    expect(await ok(skiff(sb, store, ['logs', '--tail', '1', 'web']))).toBe('bye\n');
    expect(
      await ok(skiff(sb, store, ['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', 'web'])),
    ).toBe('exited 0\n');
    expect(await ok(skiff(sb, store, ['rm', 'web']))).toBe('web\n');
    expect(await psNames(store)).toEqual([]);
  });

  it('a detached container keeps running after the skiff that started it is SIGKILLed; --rm cleans up on exit', async () => {
    const child = spawn(
      process.execPath,
      [
        SKIFF_BIN,
        ...store.flags,
        'run',
        '-d',
        '--rm',
        '--name',
        'orphan',
        IMAGE,
        'sh',
        '-c',
        'sleep 1.5; echo done',
      ],
      { env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    await until(async () => /^[0-9a-f]{64}\n$/.test(out));
    child.kill('SIGKILL');
    expect(await ok(skiff(sb, store, ['ps', '--format', '{{.Names}} {{.State}}']))).toBe('orphan running\n');
    await until(async () => (await psNames(store)).length === 0, 15_000);
  });

  it('create + start -a, wait, kill -s, restart, rename, prune', async () => {
    const id = (
      await ok(skiff(sb, store, ['create', '--name', 'c1', IMAGE, 'sh', '-c', 'echo once']))
    ).trim();
    expect(await ok(skiff(sb, store, ['ps', '-a', '--format', '{{.Names}} {{.State}}']))).toBe(
      'c1 created\n',
    );
    expect(await ok(skiff(sb, store, ['start', '-a', 'c1']))).toBe('once\n');
    expect(await ok(skiff(sb, store, ['wait', id]))).toBe('0\n');
    await ok(skiff(sb, store, ['rename', 'c1', 'c2']));
    await ok(skiff(sb, store, ['run', '-d', '--init', '--name', 'sleeper', IMAGE, 'sleep', '60']));
    expect(await ok(skiff(sb, store, ['kill', '-s', 'TERM', 'sleeper']))).toBe('sleeper\n');
    expect(await ok(skiff(sb, store, ['wait', 'sleeper']))).toBe('143\n');
    await ok(skiff(sb, store, ['restart', 'sleeper']));
    expect(await ok(skiff(sb, store, ['ps', '--format', '{{.Names}}']))).toBe('sleeper\n');
    await ok(skiff(sb, store, ['kill', 'sleeper']));
    expect(await ok(skiff(sb, store, ['wait', 'sleeper']))).toBe('137\n');
    const pruned = await ok(skiff(sb, store, ['container', 'prune', '-f']));
    expect(pruned.split('\n').filter(Boolean)).toHaveLength(2);
    expect(await psNames(store)).toEqual([]);
  });

  it('exec into a running container: env, user, workdir, exit codes, stdin', async () => {
    await ok(skiff(sb, store, ['run', '-d', '--name', 'ex', '-e', 'X=1', IMAGE, 'sleep', '60']));
    expect(await ok(skiff(sb, store, ['exec', 'ex', 'sh', '-c', 'echo $X; id -u; pwd']))).toBe(
      '1\n0\n/tmp\n',
    );
    expect(
      await ok(
        skiff(sb, store, [
          'exec',
          '-e',
          'Y=2',
          '-u',
          'nobody',
          '-w',
          '/',
          'ex',
          'sh',
          '-c',
          'echo $X $Y; id -u; pwd',
        ]),
      ),
    ).toBe('1 2\n65534\n/\n');
    expect((await skiff(sb, store, ['exec', 'ex', 'sh', '-c', 'exit 4'])).code).toBe(4);
    expect((await skiff(sb, store, ['exec', 'ex', 'nosuch'])).code).toBe(127);
    expect(await ok(skiff(sb, store, ['exec', '-i', 'ex', 'cat'], { input: 'in\n' }))).toBe('in\n');
    expect((await skiff(sb, store, ['exec', 'nosuchctr', 'true'])).code).toBe(125);
    await ok(skiff(sb, store, ['rm', '-f', 'ex']));
  });

  it('--restart on-failure:3 restarts three times, then stays exited', async () => {
    await ok(
      skiff(sb, store, [
        'run',
        '-d',
        '--name',
        'flaky',
        '--restart',
        'on-failure:3',
        IMAGE,
        'sh',
        '-c',
        'echo try; exit 2',
      ]),
    );
    await until(
      async () =>
        (await ok(
          skiff(sb, store, ['inspect', '--format', '{{.RestartCount}} {{.State.Status}}', 'flaky']),
        )) === '3 exited\n',
      20_000,
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(await ok(skiff(sb, store, ['logs', 'flaky']))).toBe('try\ntry\ntry\ntry\n');
    expect(
      await ok(skiff(sb, store, ['inspect', '--format', '{{.State.ExitCode}} {{.RestartCount}}', 'flaky'])),
    ).toBe('2 3\n');
    await ok(skiff(sb, store, ['rm', 'flaky']));
  });

  it('20 containers started concurrently by separate processes get unique names and correct state', async () => {
    const ids = await Promise.all(
      Array.from({ length: 20 }, async () =>
        (await ok(skiff(sb, store, ['run', '-d', IMAGE, 'sleep', '60']))).trim(),
      ),
    );
    expect(new Set(ids).size).toBe(20);
    const rows = (
      await ok(skiff(sb, store, ['ps', '--no-trunc', '--format', '{{.ID}} {{.Names}} {{.State}}']))
    )
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' '));
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => r[1])).size).toBe(20);
    expect(rows.every((r) => r[2] === 'running')).toBe(true);
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set(ids));
    expect((await ok(skiff(sb, store, ['rm', '-f', '--all']))).split('\n').filter(Boolean)).toHaveLength(20);
    expect(await psNames(store)).toEqual([]);
  }, 120_000);

  it("a container's root cannot write outside its rootfs", async () => {
    const out = await skiff(sb, store, [
      'run',
      '--rm',
      IMAGE,
      'sh',
      '-c',
      `echo x > /../../escaped; mkdir -p ${store.root}; echo y > ${store.root}/escaped; cat /escaped`,
    ]);
    expect(out.stdout).toBe('x\n'); // it landed in the container's own root
    expect(existsSync('/escaped')).toBe(false);
    expect(existsSync(`${store.root}/escaped`)).toBe(false);
  });

  it('ps formats and filters', async () => {
    await ok(skiff(sb, store, ['run', '--name', 'ok0', '--label', 'app=a', IMAGE, 'true']));
    await ok(skiff(sb, store, ['run', '-d', '--name', 'up1', '--label', 'app=b', IMAGE, 'sleep', '60']));
    expect((await skiff(sb, store, ['run', '--name', 'bad3', IMAGE, 'sh', '-c', 'exit 3'])).code).toBe(3);
    const table = (await ok(skiff(sb, store, ['ps', '-a']))).trimEnd().split('\n');
    expect(table[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(table).toHaveLength(4);
    const f = async (...filters: string[]) =>
      (
        await ok(
          skiff(sb, store, [
            'ps',
            '-a',
            ...filters.flatMap((x) => ['--filter', x]),
            '--format',
            '{{.Names}}',
          ]),
        )
      )
        .split('\n')
        .filter(Boolean)
        .sort();
    expect(await f('status=exited')).toEqual(['bad3', 'ok0']);
    expect(await f('status=running')).toEqual(['up1']);
    expect(await f('name=ok')).toEqual(['ok0']);
    expect(await f('label=app')).toEqual(['ok0', 'up1']);
    expect(await f('label=app=b')).toEqual(['up1']);
    expect(await f(`ancestor=${IMAGE}`)).toEqual(['bad3', 'ok0', 'up1']);
    expect(await f('exited=3')).toEqual(['bad3']);
    const json = JSON.parse(await ok(skiff(sb, store, ['ps', '-a', '--format', 'json']))) as Array<{
      Names: string[];
      State: string;
      ExitCode: number;
      Labels: Record<string, string> | null;
    }>;
    expect(json.map((c) => [c.Names[0], c.State, c.ExitCode])).toEqual([
      ['ok0', 'exited', 0],
      ['up1', 'running', 0],
      ['bad3', 'exited', 3],
    ]);
    expect(await ok(skiff(sb, store, ['ps', '--last', '1', '--format', '{{.Names}}']))).toBe('bad3\n');
    expect((await ok(skiff(sb, store, ['ps', '-q', '--no-trunc']))).trim()).toMatch(/^[0-9a-f]{64}$/);
    const bad = await skiff(sb, store, ['ps', '--filter', 'bogus=1']);
    expect(bad.code).toBe(125);
    await ok(skiff(sb, store, ['rm', '-f', '--all']));
    expect(await psNames(store)).toEqual([]);
  });
});
