import { execFileSync, spawn } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { assertBuilt, FERRY_BIN, ferry, makeSandbox, ok, run, type Sandbox } from './ferry-cli.js';
import { assertSkiffBuilt, SKIFF_BIN, until } from './skiff-cli.js';

/**
 * Rootless: an unprivileged user (created here, with /etc/subuid and /etc/subgid ranges) pulls
 * and lists images in its default store ($XDG_DATA_HOME/skiff/storage), and runs containers in
 * its user namespace (held by a pause process, re-entered by every changing command).
 */

const USER = 'skiffrl';
let sb: Sandbox;
let reg: TestRegistry;
let img: FixtureImage;
let home: string;
let uid: number;
const OFF = '--tls-verify=false';

function ensureUser(): void {
  try {
    execFileSync('id', [USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-M', '-s', '/bin/sh', USER]);
  }
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    if (
      !readFileSync(f, 'utf8')
        .split('\n')
        .some((l) => l.startsWith(`${USER}:`))
    ) {
      appendFileSync(f, `${USER}:400000:65536\n`);
    }
  }
  uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the rootless suite sets up its user as root');
  await assertBuilt();
  await assertSkiffBuilt();
  ensureUser();
  sb = await makeSandbox('skiff-rootless-');
  reg = await startRegistry();
  img = await makeImage(sb.path('layout'), { name: 'r', extraLayers: 1 });
  await ok(
    ferry(sb, [
      'copy',
      '-q',
      '--dest-tls-verify=false',
      img.transportRef,
      `docker://${reg.host}/rootless/r:1`,
    ]),
  );
  home = await mkdtemp('/tmp/skiff-rl-home-');
  const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
  chownSync(home, uid, gid);
  mkdirSync(join(home, 'run'), { mode: 0o700 });
  chownSync(join(home, 'run'), uid, gid);
  chmodSync(home, 0o755);
});

afterAll(async () => {
  if (home) {
    await asUser(['rm', '-f', '--all']).catch(() => {});
    // The pause process this suite's skiff started for the user, by its PID.
    try {
      process.kill(Number(readFileSync(join(home, 'run', 'skiff', 'pause.pid'), 'utf8')), 'SIGKILL');
    } catch {}
  }
  await reg?.stop();
  await sb?.cleanup();
  if (home) await rm(home, { recursive: true, force: true });
});

/** runuser's arguments to run one of our CLIs (`bin`) as `user` with its own HOME and runtime dir. */
function runuserArgs(
  bin: string,
  args: string[],
  user = USER,
  userHome = home,
  runtimeDir = join(home, 'run'),
) {
  return [
    '-u',
    user,
    '--',
    'env',
    `HOME=${userHome}`,
    `XDG_RUNTIME_DIR=${runtimeDir}`,
    `PATH=${process.env.PATH}`,
    process.execPath,
    bin,
    ...args,
  ];
}

function asUser(args: string[]) {
  return run('runuser', runuserArgs(SKIFF_BIN, args), { timeoutMs: 120_000 });
}

it.each(['vfs', 'overlay'])('an unprivileged user pulls and lists images (%s)', async (driver) => {
  const root = join(home, `.local/share/skiff/storage-${driver}`);
  const flags = ['--root', root, '--storage-driver', driver];
  const info = await asUser(['info', '--format', '{{.Host.Security.Rootless}} {{.Store.RunRoot}}']);
  expect(info.code, info.stderr).toBe(0);
  expect(info.stdout).toBe(`true ${join(home, 'run', 'skiff')}\n`);
  const pull = await asUser([...flags, 'pull', '-q', OFF, `${reg.host}/rootless/r:1`]);
  expect(pull.code, pull.stderr).toBe(0);
  const id = pull.stdout.trim();
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  const listed = await asUser([...flags, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
  expect(listed.code, listed.stderr).toBe(0);
  expect(listed.stdout).toBe(`${reg.host}/rootless/r:1 ${id.slice(0, 12)}\n`);
  const check = await asUser([...flags, 'system', 'check']);
  expect(check.code, check.stdout + check.stderr).toBe(0);
});

it('the default rootless store is under $XDG_DATA_HOME', async () => {
  const pull = await asUser(['--storage-driver', 'vfs', 'pull', '-q', OFF, `${reg.host}/rootless/r:1`]);
  expect(pull.code, pull.stderr).toBe(0);
  const r = await asUser(['info', '--format', '{{.Store.GraphRoot}} {{.Store.ImageStore.Number}}']);
  expect(r.stdout).toBe(`${join(home, '.local/share/skiff/storage')} 1\n`);
});

describe('rootless containers', () => {
  const IMG = () => `${reg.host}/rootless/r:1`;

  beforeAll(async () => {
    const pull = await asUser(['pull', '-q', OFF, IMG()]);
    expect(pull.code, pull.stderr).toBe(0);
  });

  it('runs as root of a user namespace mapped onto the caller and its subordinate ids', async () => {
    const r = await asUser(['run', '--rm', IMG(), 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
    expect(r.code, r.stderr).toBe(0);
    const [id, ...map] = r.stdout.trim().split('\n');
    expect(id).toBe('0');
    const sub = readFileSync('/etc/subuid', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${USER}:`))
      ?.split(':');
    expect(map.map((l) => l.trim().split(/\s+/).join(' '))).toEqual([
      `0 ${uid} 1`,
      `1 ${sub?.[1]} ${sub?.[2]}`,
    ]);
    // Every command that changes the store or runs containers shares one pause process.
    const pause = readFileSync(join(home, 'run', 'skiff', 'pause.pid'), 'utf8').trim();
    expect(readFileSync(`/proc/${pause}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${uid}\\s`, 'm'));
  });

  it('exit codes, --network none, --userns keep-id and the container user', async () => {
    expect((await asUser(['run', '--rm', IMG(), 'sh', '-c', 'exit 7'])).code).toBe(7);
    expect((await asUser(['run', '--rm', IMG(), 'no-such-command'])).code).toBe(127);
    const net = await asUser(['run', '--rm', '--network', 'none', IMG(), 'ls', '/sys/class/net']);
    expect(net.code, net.stderr).toBe(0);
    expect(net.stdout.trim().split(/\s+/)).toEqual(['lo']);
    const keep = await asUser(['run', '--rm', '--userns', 'keep-id', IMG(), 'id', '-u']);
    expect(keep.code, keep.stderr).toBe(0);
    expect(keep.stdout).toBe(`${uid}\n`);
    const user = await asUser(['run', '--rm', '-u', '1234:5678', IMG(), 'id']);
    expect(user.stdout).toBe('uid=1234(1234) gid=5678(5678) groups=5678(5678)\n');
  });

  it('detached: logs, exec, stop, rm; it outlives a SIGKILLed skiff', async () => {
    const r = await asUser(['run', '-d', '--name', 'bg', IMG(), 'sh', '-c', 'echo up; sleep 300']);
    expect(r.code, r.stderr).toBe(0);
    const ex = await asUser(['exec', 'bg', 'sh', '-c', 'echo in-$((1+1))']);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toBe('in-2\n');
    expect((await asUser(['logs', 'bg'])).stdout).toBe('up\n');
    expect((await asUser(['ps', '--format', '{{.Names}} {{.State}}'])).stdout).toBe('bg running\n');
    expect((await asUser(['stop', '-t', '0', 'bg'])).code).toBe(0);
    expect((await asUser(['ps', '-a', '--format', '{{.Names}} {{.State}}'])).stdout).toBe('bg exited\n');
    expect((await asUser(['rm', 'bg'])).code).toBe(0);

    // The skiff that started a detached container is killed: the container keeps running.
    const child = spawn(
      'runuser',
      runuserArgs(SKIFF_BIN, ['run', '-d', '--name', 'orphan', IMG(), 'sleep', '300']),
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    await until(() => /^[0-9a-f]{64}\n$/.test(out));
    child.kill('SIGKILL');
    expect((await asUser(['ps', '--format', '{{.Names}} {{.State}}'])).stdout).toBe('orphan running\n');
    expect((await asUser(['rm', '-f', 'orphan'])).code).toBe(0);
    expect((await asUser(['ps', '-a', '-q'])).stdout).toBe('');
  });

  it('volumes persist across containers; binds write as the caller; the rootfs is the wall', async () => {
    expect((await asUser(['volume', 'create', 'data'])).code).toBe(0);
    const w = await asUser(['run', '--rm', '-v', 'data:/data', IMG(), 'sh', '-c', 'echo kept > /data/f']);
    expect(w.code, w.stderr).toBe(0);
    expect((await asUser(['run', '--rm', '-v', 'data:/data', IMG(), 'cat', '/data/f'])).stdout).toBe(
      'kept\n',
    );
    const bind = join(home, 'bind');
    mkdirSync(bind);
    chownSync(bind, uid, uid);
    const b = await asUser(['run', '--rm', '-v', `${bind}:/b`, IMG(), 'sh', '-c', 'echo hi > /b/g']);
    expect(b.code, b.stderr).toBe(0);
    expect(statSync(join(bind, 'g')).uid).toBe(uid);
    // Root in the container is nobody outside it: host files it does not own stay untouchable.
    const esc = await asUser([
      'run',
      '--rm',
      '-v',
      '/etc:/hostetc',
      IMG(),
      'sh',
      '-c',
      'echo x >> /hostetc/passwd',
    ]);
    expect(esc.code).not.toBe(0);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toMatch(/^x$/m);
  });

  it("ferry writes a user's containers-storage inside the same namespace; skiff runs the image", async () => {
    const owned = await makeImage(join(home, 'owned-layout'), {
      name: 'owned',
      entryLayers: [[{ name: 'nobodys', type: 'file', content: 'x\n', uid: 65534, gid: 65534 }]],
    });
    execFileSync('chown', ['-R', `${uid}:${uid}`, join(home, 'owned-layout')]);
    const copy = await run(
      'runuser',
      runuserArgs(FERRY_BIN, ['copy', '-q', owned.transportRef, 'containers-storage:localhost/viaferry:1']),
    );
    expect(copy.code, copy.stderr).toBe(0);
    // Layer files keep their owners (ferry chowns inside the namespace), and skiff runs the image.
    const r = await asUser(['run', '--rm', 'localhost/viaferry:1', 'ls', '-ln', '/nobodys']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split(/\s+/).slice(2, 4)).toEqual(['65534', '65534']);
  });

  it('a user without subordinate ids gets one clear error, exit 125', async () => {
    const other = 'skiffnosub';
    try {
      execFileSync('id', [other], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', [
        '-M',
        '-s',
        '/bin/sh',
        '-K',
        'SUB_UID_COUNT=0',
        '-K',
        'SUB_GID_COUNT=0',
        other,
      ]);
    }
    for (const f of ['/etc/subuid', '/etc/subgid']) {
      const kept = readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith(`${other}:`));
      writeFileSync(f, kept.join('\n'));
    }
    const ohome = await mkdtemp('/tmp/skiff-ns-home-');
    chmodSync(ohome, 0o777);
    try {
      const r = await run(
        'runuser',
        runuserArgs(SKIFF_BIN, ['run', '--rm', 'x', 'true'], other, ohome, ohome),
      );
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/^Error: no subordinate ids for skiffnosub in \/etc\/subuid/);
    } finally {
      await rm(ohome, { recursive: true, force: true });
    }
  });
});
