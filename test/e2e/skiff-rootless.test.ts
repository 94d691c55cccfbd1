import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { assertBuilt, ferry, makeSandbox, ok, run, type Sandbox } from './ferry-cli.js';
import { assertSkiffBuilt, SKIFF_BIN } from './skiff-cli.js';

/**
 * Rootless: an unprivileged user (created here, with /etc/subuid and /etc/subgid ranges) pulls
 * and lists images in its default store ($XDG_DATA_HOME/skiff/storage).
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
  await reg?.stop();
  await sb?.cleanup();
  if (home) await rm(home, { recursive: true, force: true });
});

function asUser(args: string[]) {
  return run(
    'runuser',
    [
      '-u',
      USER,
      '--',
      'env',
      `HOME=${home}`,
      `XDG_RUNTIME_DIR=${join(home, 'run')}`,
      `PATH=${process.env.PATH}`,
      process.execPath,
      SKIFF_BIN,
      ...args,
    ],
    { timeoutMs: 120_000 },
  );
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
