import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  idMapHelpers,
  namespaceSize,
  parseSubIdFile,
  parseUserns,
  rootlessNamespaceInfo,
  subordinateIds,
  unshareArgs,
  usernsMappings,
} from '../../src/runtime/rootless.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-subid-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('subordinate ids', () => {
  it('matches entries by name or uid and skips junk', () => {
    const text =
      '# c\nalice:100000:65536\n1001:200000:1000\nbob:300000:65536\nbroken\nalice:x:1\nalice:500000:0\n';
    expect(parseSubIdFile(text, { name: 'alice', uid: 1001 })).toEqual([
      { start: 100000, count: 65536 },
      { start: 200000, count: 1000 },
    ]);
    expect(parseSubIdFile(text, { uid: 4242 })).toEqual([]);
  });

  it('reads both files and names the one without a range', () => {
    const su = join(dir, 'subuid');
    const sg = join(dir, 'subgid');
    fs.writeFileSync(su, 'alice:100000:65536\n');
    fs.writeFileSync(sg, 'bob:100000:65536\n');
    expect(() =>
      subordinateIds({ user: { name: 'alice', uid: 1000 }, subuidFile: su, subgidFile: sg }),
    ).toThrow(
      expect.objectContaining({
        code: 'ROOTLESS',
        message: `no subordinate ids for alice in ${sg}`,
        hint: expect.stringContaining('usermod'),
      }),
    );
    fs.writeFileSync(sg, 'alice:300000:65536\n');
    const r = subordinateIds({ user: { name: 'alice', uid: 1000 }, subuidFile: su, subgidFile: sg });
    expect(unshareArgs(r)).toEqual([
      '--user',
      '--map-user=0',
      '--map-group=0',
      '--map-users=100000,1,65536',
      '--map-groups=300000,1,65536',
      '--mount',
      '--fork',
    ]);
    expect(namespaceSize(r)).toEqual({ uids: 65537, gids: 65537 });
    expect(() =>
      subordinateIds({ user: { uid: 5 }, subuidFile: join(dir, 'missing'), subgidFile: sg }),
    ).toThrow(expect.objectContaining({ code: 'ROOTLESS' }));
  });

  it('finds newuidmap/newgidmap, or says to install uidmap', () => {
    expect(idMapHelpers().newuidmap).toMatch(/newuidmap$/);
    expect(() => idMapHelpers({ PATH: '/nonexistent' })).not.toThrow(); // /usr/bin is always searched
  });
});

describe('--userns', () => {
  it('parses modes and rejects others', () => {
    expect(parseUserns('host')).toEqual({ mode: 'host' });
    expect(parseUserns('nomap')).toEqual({ mode: 'nomap' });
    expect(parseUserns('keep-id:uid=200,gid=300')).toEqual({ mode: 'keep-id', uid: 200, gid: 300 });
    expect(() => parseUserns('auto')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'invalid --userns "auto"' }),
    );
    expect(() => parseUserns('keep-id:size=3')).toThrow(/unknown option "size=3"/);
  });

  it('computes nested mappings like podman', () => {
    const size = { uids: 65537, gids: 65537 };
    expect(usernsMappings({ mode: 'host' }, { uid: 1000, gid: 1000 }, size, true)).toBeUndefined();
    expect(usernsMappings({ mode: 'keep-id' }, { uid: 1000, gid: 100 }, size, true)).toEqual({
      uidMappings: [
        { containerID: 0, hostID: 1, size: 1000 },
        { containerID: 1000, hostID: 0, size: 1 },
        { containerID: 1001, hostID: 1001, size: 64536 },
      ],
      gidMappings: [
        { containerID: 0, hostID: 1, size: 100 },
        { containerID: 100, hostID: 0, size: 1 },
        { containerID: 101, hostID: 101, size: 65436 },
      ],
    });
    expect(usernsMappings({ mode: 'nomap' }, { uid: 1000, gid: 1000 }, size, true)?.uidMappings).toEqual([
      { containerID: 0, hostID: 1, size: 65536 },
    ]);
    expect(() => usernsMappings({ mode: 'keep-id' }, { uid: 1000, gid: 1000 }, size, false)).toThrow(
      /only supported rootless/,
    );
    expect(() => usernsMappings({ mode: 'keep-id', uid: 70000 }, { uid: 1, gid: 1 }, size, true)).toThrow(
      /outside/,
    );
  });
});

describe('rootless run (an unprivileged user with /etc/subuid ranges)', () => {
  const USER = 'skiffrt';
  // useradd may already give the user a range (SUB_UID_MIN in login.defs): use whatever is there.
  let START = 300000;
  const COUNT = 65536;
  const REPO = join(import.meta.dirname, '../../../..');
  let home: string;
  let added = false;

  beforeAll(() => {
    if (process.geteuid?.() !== 0) throw new Error('the rootless run test needs root to create its user');
    if (spawnSync('id', [USER]).status !== 0) {
      const r = spawnSync('useradd', ['--no-create-home', '--shell', '/bin/sh', USER], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`useradd: ${r.stderr}`);
      added = true;
    }
    for (const f of ['/etc/subuid', '/etc/subgid']) {
      const text = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
      if (!text.split('\n').some((l) => l.startsWith(`${USER}:`)))
        fs.appendFileSync(f, `${USER}:${START}:${COUNT}\n`);
    }
    const mine = (f: string) =>
      fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${USER}:`))
        ?.split(':') ?? [];
    const [, su, sc] = mine('/etc/subuid');
    const [, sg, gc] = mine('/etc/subgid');
    if (su !== sg || sc !== String(COUNT) || gc !== String(COUNT))
      throw new Error(`${USER} has different subuid and subgid ranges; fix /etc/subuid and /etc/subgid`);
    START = Number(su);
    home = fs.mkdtempSync(join(tmpdir(), 'skiff-rootless-run-'));
    fs.chmodSync(home, 0o755);
    const uid = Number(spawnSync('id', ['-u', USER], { encoding: 'utf8' }).stdout.trim());
    fs.chownSync(home, uid, uid);
  });

  afterAll(() => {
    if (home) fs.rmSync(home, { recursive: true, force: true });
    for (const f of ['/etc/subuid', '/etc/subgid']) {
      const text = fs.readFileSync(f, 'utf8');
      fs.writeFileSync(
        f,
        text
          .split('\n')
          .filter((l) => !l.startsWith(`${USER}:`))
          .join('\n'),
      );
    }
    if (added) spawnSync('userdel', [USER]);
  });

  it('runs a container in the user namespace with podman mapping: caller → root, uid 1000 → START+999', () => {
    const cmd = `cd ${REPO} && HOME=${home} ${process.execPath} --import tsx ${join(import.meta.dirname, 'rootless-outer.ts')} ${home}`;
    const r = spawnSync('su', [USER, '-s', '/bin/sh', '-c', cmd], { encoding: 'utf8', timeout: 120_000 });
    const lines = r.stdout.trim().split('\n');
    expect(r.status, `${r.stderr}\n${r.stdout}`).toBe(0);
    const outer = JSON.parse(lines[0] ?? '{}');
    expect(outer.outer.ranges.uids).toEqual([{ start: START, count: COUNT }]);
    const inner = JSON.parse(lines.at(-1) ?? '{}');
    expect(inner).toMatchObject({ exitCode: 4, output: 'hello\n0\n', left: 0 });
    expect(inner.runtime).toMatch(/using runc/);
    const uid = outer.outer.uid as number;
    expect(fs.statSync(join(home, 'shared', 'by-root')).uid).toBe(uid);
    expect(fs.statSync(join(home, 'shared', 'by-1000')).uid).toBe(START + 999);
    expect(fs.statSync(join(home, 'shared', 'by-1000')).gid).toBe(START + 999);
  });
});

describe('rootlessNamespaceInfo', () => {
  it('reads the caller and the size of the namespace from uid_map and gid_map', () => {
    const proc = fs.mkdtempSync(join(dir, 'proc-'));
    fs.writeFileSync(
      join(proc, 'uid_map'),
      '         0       1001          1\n         1     100000      65536\n',
    );
    fs.writeFileSync(
      join(proc, 'gid_map'),
      '         0       1002          1\n         1     200000      65536\n',
    );
    expect(rootlessNamespaceInfo(proc)).toEqual({
      caller: { uid: 1001, gid: 1002 },
      size: { uids: 65537, gids: 65537 },
    });
    fs.writeFileSync(join(proc, 'uid_map'), '         0          0 4294967295\n');
    expect(rootlessNamespaceInfo(proc)).toBeUndefined();
  });
});
