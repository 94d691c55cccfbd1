import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { assertBuilt, FERRY_BIN, makeSandbox, ok, type RunResult, type Sandbox } from './ferry-cli.js';
import { assertSkiffBuilt, makeStore, SKIFF_BIN, type TestStore, until } from './skiff-cli.js';

/**
 * skiff's terminals end to end, as root: `run -t`/`-it` (a real pty from the runtime, or from
 * conmon when stdin is not a terminal), `exec -t/-i/-d/-e/-u/-w`, `start -a`, and `attach`
 * (output, stdin, detach keys, exit code). A terminal for skiff itself comes from util-linux
 * `script`, which puts the command on a pty and relays its own stdin to it.
 */

let sb: Sandbox;
let img: FixtureImage;
let store: TestStore;
const IMAGE = 'localhost/e2e/tty:1';

beforeAll(async () => {
  if (process.geteuid?.() !== 0) throw new Error('the skiff tty e2e suite needs root');
  await assertBuilt();
  await assertSkiffBuilt();
  sb = await makeSandbox('skt-');
  const probe = await runLive('script', ['--version']);
  if (probe.code !== 0) throw new Error('the skiff tty e2e suite needs util-linux script');
  img = await makeImage(sb.path('layout'), { name: 'tty', config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
  store = await makeStore(sb, 'tty', 'overlay');
  await ok(
    runLive(process.execPath, [
      FERRY_BIN,
      'copy',
      '-q',
      img.transportRef,
      `containers-storage:[overlay@${store.root}+${store.runroot}]${IMAGE}`,
    ]),
  );
  // A running container for exec.
  await ok(sk(['run', '-d', '--name', 'ex', IMAGE, 'sleep', '600']));
});

afterAll(async () => {
  if (store) await sk(['rm', '-f', '--all']).catch(() => {});
  await sb?.cleanup();
});

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The shell words that run skiff on this store. */
function skiffCmd(args: string[]): string {
  return [process.execPath, SKIFF_BIN, ...store.flags, ...args].map(q).join(' ');
}

/** Run to the end with `input` on stdin (a stdin the process closed early is not an error). */
async function runLive(cmd: string, args: string[], input = ''): Promise<RunResult> {
  const p = live(cmd, args);
  p.child.stdin.end(input);
  const code = await p.exit;
  return { code, stdout: p.out(), stderr: p.err() };
}

/** skiff on this suite's store. */
function sk(args: string[], input = ''): Promise<RunResult> {
  return runLive(process.execPath, [SKIFF_BIN, ...store.flags, ...args], input);
}

/** Run a shell command line on a fresh pty (`script`); its exit code is the command's. */
function onPty(line: string, input = ''): Promise<RunResult> {
  return runLive('script', ['-qec', line, '/dev/null'], input);
}

/** A process whose output can be awaited and whose stdin is written step by step. */
interface Live {
  child: ChildProcessWithoutNullStreams;
  out(): string;
  err(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  exit: Promise<number>;
}

function live(cmd: string, args: string[]): Live {
  const child = spawn(cmd, args, { env: sb.env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exit = new Promise<number>((resolve) => child.on('close', (c, s) => resolve(c ?? (s ? 128 : -1))));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exit.then(() => clearTimeout(timer));
  return {
    child,
    out: () => out,
    err: () => err,
    exit,
    waitFor: async (re, timeoutMs = 20_000) => {
      const end = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (Date.now() > end) throw new Error(`no ${re} in output: ${JSON.stringify(out)} / ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

async function status(name: string): Promise<string> {
  return (await ok(sk(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}']))).trim();
}

describe('skiff run -t / -i', () => {
  it('-t on a terminal: the container has a pty of the caller’s size, TERM, and its exit code', async () => {
    const r = await onPty(
      `stty rows 33 cols 77; ${skiffCmd(['run', '--rm', '-t', IMAGE, 'sh', '-c', 'busybox tty; busybox stty size; echo "T=$TERM"; exit 3'])}`,
    );
    expect(r.code, r.stdout).toBe(3);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\n33 77\r\nT=xterm\r\n$/);
  });

  it('-t follows the caller’s window size while it runs (SIGWINCH)', async () => {
    // The container waits for the size to change; the shell resizes its terminal meanwhile.
    const wait =
      'busybox stty size; while [ "$(busybox stty size)" = "20 50" ]; do sleep 0.1; done; busybox stty size';
    const resize = '(sleep 1; stty rows 40 cols 100 </dev/tty) &';
    const r = await onPty(
      `stty rows 20 cols 50; ${resize} ${skiffCmd(['run', '--rm', '-t', IMAGE, 'sh', '-c', wait])}`,
    );
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/40 100\r\n$/);
    const e = await onPty(
      `stty rows 20 cols 50; ${resize} ${skiffCmd(['exec', '-t', 'ex', 'sh', '-c', wait])}`,
    );
    expect(e.code, e.stdout).toBe(0);
    expect(e.stdout).toMatch(/40 100\r\n$/);
  });

  it('without -t there is no tty', async () => {
    const r = await onPty(skiffCmd(['run', '--rm', IMAGE, 'busybox', 'tty']));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('not a tty');
  });

  it('-it on a terminal: input reaches the shell, the caller’s terminal is restored after', async () => {
    const a = live('script', [
      '-qec',
      `stty -g; ${skiffCmd(['run', '--rm', '-it', IMAGE, 'sh'])}; echo "rc=$?"; stty -g`,
      '/dev/null',
    ]);
    await a.waitFor(/# /);
    a.child.stdin.end('echo $((6*7)); exit 9\r');
    expect(await a.exit).toBe(0);
    const out = a.out();
    expect(out).toContain('\r\n42\r\n');
    expect(out).toContain('rc=9\r\n');
    const modes = out.split('\r\n').filter((l) => /^[0-9a-f]+(:[0-9a-f]+){20,}$/.test(l));
    expect(modes).toHaveLength(2);
    expect(modes[1]).toBe(modes[0]);
  });

  it('-t without a terminal on stdin: conmon makes the pty and skiff relays it', async () => {
    const r = await sk([
      'run',
      '--rm',
      '--name',
      'tc',
      '-t',
      IMAGE,
      'sh',
      '-c',
      'busybox tty; echo done; exit 4',
    ]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\ndone\r\n$/);
    expect(await ok(sk(['ps', '-a', '-q', '--filter', 'name=^tc$']))).toBe('');
  });

  it('-i forwards stdin (and its end) to the container', async () => {
    const r = await sk(['run', '--rm', '-i', IMAGE, 'sh', '-c', 'cat; echo end'], 'hello\nworld\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello\nworld\nend\n');
  });

  it('-d -t: the container has a pty under conmon and its output is logged', async () => {
    const id = (
      await ok(sk(['run', '-d', '-t', '--name', 'dt', IMAGE, 'sh', '-c', 'busybox tty; exit 2']))
    ).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await ok(sk(['wait', 'dt']))).trim()).toBe('2');
    expect(await ok(sk(['logs', 'dt']))).toMatch(/^\/dev\/pts\/\d+\r?\n/);
    await ok(sk(['rm', 'dt']));
  });
});

describe('skiff exec', () => {
  it('-t allocates a pty of the caller’s size; without -t there is none', async () => {
    const r = await onPty(
      `stty rows 21 cols 55; ${skiffCmd(['exec', '-t', 'ex', 'sh', '-c', 'busybox tty; busybox stty size; exit 6'])}`,
    );
    expect(r.code, r.stdout).toBe(6);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\n21 55\r\n$/);
    const n = await onPty(skiffCmd(['exec', 'ex', 'busybox', 'tty']));
    expect(n.code).toBe(1);
    expect(n.stdout).toContain('not a tty');
  });

  it('-i forwards stdin; -e, -u, -w set env, user and workdir', async () => {
    const r = await sk(['exec', '-i', 'ex', 'sh', '-c', 'cat; echo end'], 'in\n');
    expect(r.stdout).toBe('in\nend\n');
    const e = await ok(
      sk([
        'exec',
        '-e',
        'A=1',
        '-u',
        'nobody',
        '-w',
        '/tmp',
        'ex',
        'sh',
        '-c',
        'echo $A $(id -u):$(id -g) $PWD',
      ]),
    );
    expect(e).toBe('1 65534:65534 /tmp\n');
  });

  it('-d starts the process in the background and returns at once', async () => {
    const r = await sk(['exec', '-d', 'ex', 'sh', '-c', 'echo $$ > /tmp/bg.pid; sleep 300']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    let pid = '';
    await until(async () => {
      pid = (await sk(['exec', 'ex', 'cat', '/tmp/bg.pid'])).stdout.trim();
      return /^\d+$/.test(pid);
    });
    // Still running after skiff exec -d returned.
    const alive = await sk(['exec', 'ex', 'sh', '-c', `test -d /proc/${pid} && echo alive`]);
    expect(alive.stdout).toBe('alive\n');
  });
});

describe('skiff attach / start -a', () => {
  it('shows a detached container’s output as it comes and returns its exit code', async () => {
    await ok(
      sk([
        'run',
        '-d',
        '--name',
        'at',
        IMAGE,
        'sh',
        '-c',
        'while [ ! -e /tmp/stop ]; do echo tick; sleep 0.2; done; echo bye; echo oops >&2; exit 7',
      ]),
    );
    const a = live(process.execPath, [SKIFF_BIN, ...store.flags, 'attach', '--no-stdin', 'at']);
    await a.waitFor(/tick\n/);
    await ok(sk(['exec', 'at', 'sh', '-c', ': > /tmp/stop']));
    expect(await a.exit).toBe(7);
    expect(a.out()).toMatch(/^(tick\n)+bye\n$/);
    expect(a.err()).toBe('oops\n');
    expect(await status('at')).toMatch(/^Exited \(7\)/);
    // Attaching to a container that is not running is an error (125).
    const r = await sk(['attach', 'at']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('you can only attach to running containers');
    await ok(sk(['rm', 'at']));
  });

  it('proxies signals to the container (--sig-proxy, default true)', async () => {
    await ok(
      sk([
        'run',
        '-d',
        '--name',
        'sig',
        IMAGE,
        'sh',
        '-c',
        'trap "echo got TERM; exit 42" TERM; while :; do echo ready; sleep 0.2; done',
      ]),
    );
    const a = live(process.execPath, [SKIFF_BIN, ...store.flags, 'attach', '--no-stdin', 'sig']);
    await a.waitFor(/ready\n/);
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(42);
    expect(a.out()).toMatch(/got TERM\n$/);
    await ok(sk(['rm', 'sig']));
  });

  it('forwards stdin to a -d -i container', async () => {
    await ok(sk(['run', '-d', '-i', '--name', 'ai', IMAGE, 'sh', '-c', 'read x; echo got $x; exit 5']));
    const r = await sk(['attach', 'ai'], 'hello\n');
    expect(r.code, r.stderr).toBe(5);
    expect(r.stdout).toBe('got hello\n');
    await ok(sk(['rm', 'ai']));
  });

  it('-dit: attach on a terminal takes input, follows the window size, and detaches with ctrl-p,ctrl-q', async () => {
    await ok(sk(['run', '-dit', '--name', 'ash', IMAGE, 'sh']));
    const a = live('script', [
      '-qec',
      `stty rows 44 cols 88; ${skiffCmd(['attach', 'ash'])}; echo "rc=$?"`,
      '/dev/null',
    ]);
    a.child.stdin.write('busybox stty size; echo $((6*7))\r');
    await a.waitFor(/44 88\r\n42\r\n/);
    a.child.stdin.write('\x10\x11');
    await a.waitFor(/rc=0/);
    a.child.stdin.end();
    expect(await a.exit).toBe(0);
    expect(await status('ash')).toMatch(/^Up /);
    // Attach again and end the shell: attach returns its exit code.
    const r = await onPty(`${skiffCmd(['attach', 'ash'])}; echo "rc=$?"`, 'exit 3\r');
    expect(r.stdout).toContain('rc=3');
    expect(await status('ash')).toMatch(/^Exited \(3\)/);
    await ok(sk(['rm', 'ash']));
  });

  it('start -a of a -t container without a terminal relays its pty; start -a -i forwards stdin', async () => {
    await ok(sk(['create', '--name', 'st', '-t', IMAGE, 'sh', '-c', 'busybox tty; exit 8']));
    const r = await sk(['start', '-a', 'st']);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
    await ok(sk(['create', '--name', 'si', '-i', IMAGE, 'sh', '-c', 'read x; echo got $x']));
    const i = await sk(['start', '-a', '-i', 'si'], 'there\n');
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toBe('got there\n');
    await ok(sk(['rm', 'st', 'si']));
  });
});
