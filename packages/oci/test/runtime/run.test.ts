import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage } from '../../../../test/support/images.js';
import { copyImage } from '../../src/copy/copy.js';
import { ContainerDb, refreshRecord } from '../../src/runtime/containers.js';
import { findRuntime, type OciRuntime } from '../../src/runtime/discovery.js';
import {
  cleanupContainer,
  containerPaths,
  createContainer,
  killContainer,
  refreshContainer,
  removeContainer,
  runContainer,
  startAttached,
  startDetached,
  waitContainer,
} from '../../src/runtime/run.js';
import { openStore, type Store } from '../../src/storage/store.js';
import { containersStorageTransport } from '../../src/transports/containers-storage.js';
import { ociTransport } from '../../src/transports/oci-layout.js';

const IMAGE = 'localhost/test/busybox:run';
let dir: string;
let root: string;
let runroot: string;
let store: Store;
let db: ContainerDb;
let runtime: OciRuntime;

beforeAll(async () => {
  if (process.geteuid?.() !== 0) throw new Error('the runtime integration tests need root');
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-run-'));
  root = join(dir, 'root');
  runroot = join(dir, 'runroot');
  const fixture = await makeImage(join(dir, 'layout'), {
    config: {
      Env: ['PATH=/bin', 'FOO=from-image'],
      Cmd: ['echo', 'default', 'cmd'],
      WorkingDir: '/tmp',
      User: 'nobody',
    },
  });
  await copyImage(
    ociTransport.parseReference(`${fixture.layoutDir}:${fixture.ref}`),
    containersStorageTransport.parseReference(`[overlay@${root}+${runroot}]${IMAGE}`),
  );
  store = await openStore({ root, runroot, driver: 'overlay', configPath: '/dev/null' });
  db = ContainerDb.open(root);
  runtime = await findRuntime({ runroot });
});

afterAll(async () => {
  if (db && store) {
    for (const c of db.list())
      await removeContainer(store, db, runtime, c.id, { force: true }).catch(() => {});
    db.close();
    store.close();
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Run attached with stdout+stderr to a file; returns exit code and output. */
async function runCapture(
  command: string[] | undefined,
  spec: Record<string, unknown> = {},
  extra: { remove?: boolean; name?: string; signal?: AbortSignal } = {},
) {
  const out = join(dir, `out-${Math.random().toString(16).slice(2)}`);
  const fd = fs.openSync(out, 'w');
  try {
    const r = await runContainer({
      store,
      db,
      runtime,
      image: IMAGE,
      spec: { ...(command ? { command } : {}), ...spec },
      attached: { stdio: ['ignore', fd, fd], ...(extra.signal ? { signal: extra.signal } : {}) },
      ...(extra.remove ? { remove: true } : {}),
      ...(extra.name ? { name: extra.name } : {}),
    });
    return { code: r.exitCode, output: fs.readFileSync(out, 'utf8'), id: r.container.id };
  } finally {
    fs.closeSync(fd);
  }
}

function mountedUnder(path: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(path);
}

describe('running containers with runc (root)', () => {
  it('echo hello: output and exit code 0; the rootfs is unmounted afterwards', async () => {
    const r = await runCapture(['echo', 'hello']);
    expect(r).toMatchObject({ code: 0, output: 'hello\n' });
    expect(db.get(r.id)).toMatchObject({ status: 'exited', exitCode: 0 });
    expect(mountedUnder(containerPaths(store.location, r.id).bundle)).toBe(false);
  });

  it('the image CMD, Env, User and WorkingDir apply', async () => {
    expect((await runCapture(undefined)).output).toBe('default cmd\n');
    const r = await runCapture([
      'sh',
      '-c',
      'id -u; id -g; pwd; echo $FOO $HOME $HOSTNAME; cat /etc/hostname',
    ]);
    expect(r.output).toBe(
      '65534\n65534\n/tmp\nfrom-image /nonexistent h1\nh1\n'.replace(/h1/g, r.id.slice(0, 12)),
    );
    const o = await runCapture(['sh', '-c', 'id -u; pwd; echo $FOO'], {
      user: '0',
      workdir: '/',
      env: ['FOO=flag'],
    });
    expect(o.output).toBe('0\n/\nflag\n');
  });

  it('exit codes: 3, and 137 when SIGKILLed (abort kills through the runtime)', async () => {
    expect((await runCapture(['sh', '-c', 'exit 3'])).code).toBe(3);
    const ac = new AbortController();
    const running = runCapture(['sleep', '30'], {}, { signal: ac.signal });
    // An attached container's PID is the runtime's pid file's (refreshRecord reads it).
    const live = () => db.list().map((c) => refreshRecord(store.location, db, c));
    for (let i = 0; i < 200 && !live().some((c) => c.status === 'running' && c.pid); i++)
      await new Promise((r) => setTimeout(r, 25));
    const c = live().find((x) => x.status === 'running');
    expect(c?.pid && fs.readFileSync(`/proc/${c.pid}/cmdline`, 'utf8')).toBe('sleep\u000030\u0000');
    const t0 = Date.now();
    ac.abort();
    expect((await running).code).toBe(137);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('--rm removes the container and its files; --init runs catatonit as PID 1', async () => {
    const r = await runCapture(
      ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "'],
      { user: '0' },
      { remove: true },
    );
    expect(r.code).toBe(0);
    expect(db.get(r.id)).toBeUndefined();
    expect(fs.existsSync(containerPaths(store.location, r.id).dataDir)).toBe(false);
    expect(fs.existsSync(containerPaths(store.location, r.id).bundle)).toBe(false);
    const out = join(dir, 'init-out');
    const fd = fs.openSync(out, 'w');
    const i = await runContainer({
      store,
      db,
      runtime,
      image: IMAGE,
      init: true,
      remove: true,
      spec: { command: ['cat', '/proc/1/cmdline'] },
      attached: { stdio: ['ignore', fd, fd] },
    });
    fs.closeSync(fd);
    expect(i.exitCode).toBe(0);
    expect(fs.readFileSync(out, 'utf8').split('\0')[0]).toBe('/run/podman-init');
  });

  it('bad input leaves nothing behind: a missing command (127), a name in use, an unknown user', async () => {
    const before = fs.readdirSync(join(root, 'containers')).length;
    await expect(runCapture(['no-such-command'])).rejects.toMatchObject({ code: 'COMMAND_NOT_FOUND' });
    await expect(runCapture(['/etc/passwd'])).rejects.toMatchObject({ code: 'COMMAND_NOT_EXECUTABLE' });
    await expect(runCapture(['true'], { user: 'ghost' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('unable to find user ghost'),
    });
    const named = await runCapture(['true'], {}, { name: 'taken' });
    await expect(runCapture(['true'], {}, { name: 'taken' })).rejects.toMatchObject({
      code: 'IN_USE',
      message: expect.stringContaining('"taken" is already in use'),
    });
    await expect(createContainer({ store, db, runtime, image: 'localhost/nope:1' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await removeContainer(store, db, runtime, named.id);
    expect(fs.readdirSync(join(root, 'containers')).length).toBe(before);
    expect(db.list().filter((c) => c.status !== 'exited')).toEqual([]);
    expect(mountedUnder(join(runroot, 'containers'))).toBe(false);
  });

  it('writes land in the container layer, not the image, and persist across starts', async () => {
    const c = await createContainer({
      store,
      db,
      runtime,
      image: IMAGE,
      spec: { user: '0', command: ['sh', '-c', 'echo x >> /root/f; wc -l < /root/f'] },
    });
    const out = join(dir, 'persist');
    const fd = fs.openSync(out, 'w');
    expect(await startAttached(store, db, runtime, c.id, { stdio: ['ignore', fd, fd] })).toBe(0);
    expect(await startAttached(store, db, runtime, c.id, { stdio: ['ignore', fd, fd] })).toBe(0);
    fs.closeSync(fd);
    expect(fs.readFileSync(out, 'utf8')).toBe('1\n2\n');
    expect(fs.readFileSync(join(containerPaths(store.location, c.id).upperDir, 'root/f'), 'utf8')).toBe(
      'x\nx\n',
    );
    const again = await runCapture(['sh', '-c', 'ls /root | wc -l'], { user: '0' }, { remove: true });
    expect(again.output).toBe('0\n');
  });

  it('a detached container outlives its parent (SIGKILLed) and its exit code and log are kept', async () => {
    const c = await createContainer({
      store,
      db,
      runtime,
      image: IMAGE,
      spec: { command: ['sh', '-c', 'echo up; sleep 2; echo down; exit 5'] },
    });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'detach-child.ts'), root, runroot, c.id],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => resolve(d.toString()));
      child.on('exit', () => reject(new Error(`child exited: ${stderr}`)));
    });
    expect(line).toMatch(/^started \d+/);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const rec = refreshContainer(store, db, c.id);
    expect(rec?.status).toBe('running');
    expect(rec?.pid && fs.existsSync(`/proc/${rec.pid}`)).toBe(true);
    expect(await waitContainer(store, db, c.id)).toBe(5);
    const log = fs.readFileSync(containerPaths(store.location, c.id).logFile, 'utf8');
    expect(log).toMatch(/stdout F up\n.*stdout F down\n$/s);
    expect(db.get(c.id)).toMatchObject({ status: 'exited', exitCode: 5 });
    await cleanupContainer(store, db, runtime, c.id, { remove: true });
    expect(db.get(c.id)).toBeUndefined();
  });

  it('a detached container killed by SIGKILL records 137; rm refuses a running one without force', async () => {
    const c = await createContainer({ store, db, runtime, image: IMAGE, spec: { command: ['sleep', '60'] } });
    const rec = await startDetached(store, db, runtime, c.id);
    expect(rec.status).toBe('running');
    await expect(removeContainer(store, db, runtime, c.id)).rejects.toMatchObject({ code: 'IN_USE' });
    await killContainer(store, db, runtime, c.id, 'SIGKILL');
    expect(await waitContainer(store, db, c.id)).toBe(137);
    await removeContainer(store, db, runtime, c.id);
    expect(db.get(c.id)).toBeUndefined();
  });

  it('a --rm container is mounted volatile (as podman does), others are not; a volatile rootfs mounts again', async () => {
    const mountOptions = (id: string) =>
      fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .find((l) => l.includes(containerPaths(store.location, id).rootfsMount))
        ?.split(' - ')[1];
    const kept = await createContainer({ store, db, runtime, image: IMAGE, spec: { command: ['true'] } });
    expect(mountOptions(kept.id)).toMatch(/^overlay /);
    expect(mountOptions(kept.id)).not.toMatch(/volatile/);
    await removeContainer(store, db, runtime, kept.id);
    const c = await createContainer({
      store,
      db,
      runtime,
      image: IMAGE,
      spec: { autoRemove: true, user: '0', command: ['sh', '-c', 'echo x >> /root/f; wc -l < /root/f'] },
      config: { autoRemove: true },
    });
    expect(mountOptions(c.id)).toMatch(/volatile/);
    const out = join(dir, 'volatile');
    const fd = fs.openSync(out, 'w');
    // Unmounted after each run: the second mount finds the first one's incompat/volatile marker.
    expect(await startAttached(store, db, runtime, c.id, { stdio: ['ignore', fd, fd] })).toBe(0);
    expect(mountOptions(c.id)).toBeUndefined();
    expect(await startAttached(store, db, runtime, c.id, { stdio: ['ignore', fd, fd], remove: true })).toBe(
      0,
    );
    fs.closeSync(fd);
    expect(fs.readFileSync(out, 'utf8')).toBe('1\n2\n');
    expect(db.get(c.id)).toBeUndefined();
  });

  it('kill signals a detached container (the process conmon monitors): its trap runs', async () => {
    const c = await createContainer({
      store,
      db,
      runtime,
      image: IMAGE,
      spec: { command: ['sh', '-c', 'trap "exit 7" TERM; echo up; while :; do sleep 0.1; done'] },
    });
    const rec = await startDetached(store, db, runtime, c.id);
    const log = containerPaths(store.location, c.id).logFile;
    for (let i = 0; i < 100 && !(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('up')); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(fs.readFileSync(`/proc/${rec.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]).toBe(
      String(rec.monitorPid),
    );
    await killContainer(store, db, runtime, c.id, 'TERM');
    expect(await waitContainer(store, db, c.id)).toBe(7);
    await removeContainer(store, db, runtime, c.id);
  });

  it('binds (ro, rw), --read-only with its tmpfs, --tmpfs and a missing bind source', async () => {
    const data = join(dir, 'data');
    fs.mkdirSync(data, { recursive: true });
    fs.writeFileSync(join(data, 'in'), 'from host\n');
    const r = await runCapture(
      [
        'sh',
        '-c',
        'cat /d/in; echo out > /d/out; (echo x > /ro/x) 2>/dev/null || echo ro-refused; (echo y > /y) 2>/dev/null || echo root-refused; echo t > /tmp/t && echo tmp-ok; echo s > /scratch/s && echo scratch-ok',
      ],
      {
        user: '0',
        readOnly: true,
        mounts: [
          { type: 'bind', source: data, target: '/d' },
          { type: 'bind', source: data, target: '/ro', readOnly: true },
          { type: 'tmpfs', target: '/scratch', sizeBytes: 1 << 20 },
        ],
      },
      { remove: true },
    );
    expect(r.output).toBe('from host\nro-refused\nroot-refused\ntmp-ok\nscratch-ok\n');
    expect(fs.readFileSync(join(data, 'out'), 'utf8')).toBe('out\n');
    expect(fs.existsSync(join(data, 'x'))).toBe(false);
    const before = db.list().length;
    await expect(
      runCapture(['true'], { mounts: [{ type: 'bind', source: join(dir, 'no-such-dir'), target: '/m' }] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('no-such-dir') });
    expect(db.list().length).toBe(before);
  });

  it('detached: the exit command runs after the exit, and log driver none keeps no log', async () => {
    const marker = join(dir, 'exit-command-ran');
    const c = await createContainer({
      store,
      db,
      runtime,
      image: IMAGE,
      spec: { command: ['sh', '-c', 'echo quiet; exit 2'] },
    });
    await startDetached(store, db, runtime, c.id, {
      logDriver: 'none',
      exitCommand: ['/bin/sh', '-c', `echo "$1" > ${marker}`, 'sh', c.id],
    });
    expect(await waitContainer(store, db, c.id)).toBe(2);
    for (let i = 0; i < 100 && !fs.existsSync(marker); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fs.readFileSync(marker, 'utf8')).toBe(`${c.id}\n`);
    expect(fs.existsSync(containerPaths(store.location, c.id).logFile)).toBe(false);
    await removeContainer(store, db, runtime, c.id);
  });

  it('runs on a vfs store too', async () => {
    const vroot = join(dir, 'vfs');
    const fixture = await makeImage(join(dir, 'layout-vfs'), { config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
    await copyImage(
      ociTransport.parseReference(`${fixture.layoutDir}:${fixture.ref}`),
      containersStorageTransport.parseReference(`[vfs@${vroot}+${vroot}-run]localhost/vfs:1`),
    );
    const vstore = await openStore({
      root: vroot,
      runroot: `${vroot}-run`,
      driver: 'vfs',
      configPath: '/dev/null',
    });
    const vdb = ContainerDb.open(vroot);
    try {
      const out = join(dir, 'vfs-out');
      const fd = fs.openSync(out, 'w');
      const r = await runContainer({
        store: vstore,
        db: vdb,
        runtime,
        image: 'localhost/vfs:1',
        remove: true,
        spec: { command: ['sh', '-c', 'echo vfs > /etc/x; cat /etc/x'] },
        attached: { stdio: ['ignore', fd, fd] },
      });
      fs.closeSync(fd);
      expect(r.exitCode).toBe(0);
      expect(fs.readFileSync(out, 'utf8')).toBe('vfs\n');
      const top = vstore.getLayer(vstore.getImage('localhost/vfs:1')?.layers.at(-1) as never);
      expect(fs.existsSync(join(top?.path ?? '/nonexistent', 'etc/x'))).toBe(false);
      expect(vdb.list()).toEqual([]);
    } finally {
      vdb.close();
      vstore.close();
    }
  });
});
