import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer } from '../../src/layer/apply.js';
import { type RawEntry, rawTar, snapshot } from './apply-support.js';

/**
 * The traversal corpus: each case is a hand-built tar that tries to create, change or read
 * something outside the target. After applying (or refusing) it, the sandbox around the target
 * must be byte-for-byte, inode-for-inode what it was.
 */

let sandbox: string;
let target: string;
let outside: string;
let before: ReturnType<typeof snapshot>;

beforeEach(() => {
  sandbox = fs.mkdtempSync(join(tmpdir(), 'skiff-apply-attack-'));
  target = join(sandbox, 'target');
  outside = join(sandbox, 'outside');
  fs.mkdirSync(target);
  fs.mkdirSync(outside);
  fs.writeFileSync(join(outside, 'sentinel'), 'do not touch');
  fs.chmodSync(join(outside, 'sentinel'), 0o600);
  fs.mkdirSync(join(outside, 'dir'));
  fs.writeFileSync(join(outside, 'dir', 'keep'), 'keep me');
  before = outsideState();
});

afterEach(() => {
  fs.rmSync(sandbox, { recursive: true, force: true });
});

/** The sandbox minus the target: the "host" these tests protect. */
function outsideState() {
  const snap = snapshot(sandbox);
  return Object.fromEntries(
    Object.entries(snap).filter(([k]) => !k.startsWith('./target/') && k !== './target'),
  );
}

async function attempt(entries: RawEntry[], options = {}) {
  try {
    return {
      stats: await applyLayer(target, rawTar(entries), { sync: false, ...options }),
      error: undefined,
    };
  } catch (error) {
    return { stats: undefined, error: error as { code?: string; message: string } };
  }
}

function expectHostUntouched() {
  expect(outsideState()).toEqual(before);
  expect(fs.existsSync(join(sandbox, 'escape'))).toBe(false);
}

describe('applyLayer containment corpus', () => {
  it('1: rejects ../ entries', async () => {
    const r = await attempt([{ name: '../escape', content: 'x' }]);
    expect(r.error?.code).toBe('INVALID_ARCHIVE');
    expect(r.error?.message).toContain('../escape');
    expectHostUntouched();
  });

  it('2: rejects a/../../ entries that climb out after a real component', async () => {
    const r = await attempt([
      { name: 'a/', type: 'directory' },
      { name: 'a/../../outside/sentinel', content: 'pwned' },
    ]);
    expect(r.error?.code).toBe('INVALID_ARCHIVE');
    expectHostUntouched();
  });

  it('3: absolute paths land inside the target', async () => {
    const r = await attempt([
      { name: `${outside}/sentinel`, content: 'pwned' },
      { name: '/escape', content: 'x' },
    ]);
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(join(target, outside, 'sentinel'), 'utf8')).toBe('pwned');
    expect(fs.existsSync(join(target, 'escape'))).toBe(true);
    expectHostUntouched();
  });

  it('4: symlink to a relative outside path, then write through it', async () => {
    const r = await attempt([
      { name: 'link', type: 'symlink', linkname: '../outside' },
      { name: 'link/pwned', content: 'x' },
      { name: 'link/sentinel', content: 'pwned' },
    ]);
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(join(target, 'outside', 'pwned'), 'utf8')).toBe('x');
    expect(fs.readlinkSync(join(target, 'link'))).toBe('../outside');
    expectHostUntouched();
  });

  it('5: symlink to an absolute host path, then write through it', async () => {
    const r = await attempt([
      { name: 'link', type: 'symlink', linkname: outside },
      { name: 'link/sentinel', content: 'pwned' },
      { name: 'link/dir/keep', content: 'pwned' },
    ]);
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(join(target, outside, 'sentinel'), 'utf8')).toBe('pwned');
    expectHostUntouched();
  });

  it('6: a file entry replaces a symlink to outside instead of writing through it', async () => {
    const r = await attempt([
      { name: 'f', type: 'symlink', linkname: join(outside, 'sentinel') },
      { name: 'f', content: 'pwned', mode: 0o777 },
    ]);
    expect(r.error).toBeUndefined();
    expect(fs.lstatSync(join(target, 'f')).isFile()).toBe(true);
    expect(fs.readFileSync(join(target, 'f'), 'utf8')).toBe('pwned');
    expectHostUntouched();
  });

  it('7: rejects a hard link to ../outside', async () => {
    const r = await attempt([{ name: 'hl', type: 'link', linkname: '../outside/sentinel' }]);
    expect(r.error?.code).toBe('INVALID_ARCHIVE');
    expect(r.error?.message).toContain('outside the layer');
    expectHostUntouched();
  });

  it('8: a hard link to an absolute host path resolves inside the target (and fails there)', async () => {
    const r = await attempt([{ name: 'hl', type: 'link', linkname: join(outside, 'sentinel') }]);
    expect(r.error?.code).toBe('INVALID_ARCHIVE');
    expect(fs.lstatSync(join(outside, 'sentinel')).nlink).toBe(1);
    expectHostUntouched();
  });

  it('9: a hard link through a symlinked parent does not reach the host', async () => {
    const r = await attempt([
      { name: 's', type: 'symlink', linkname: outside },
      { name: 'hl', type: 'link', linkname: 's/sentinel' },
    ]);
    expect(r.error?.code).toBe('INVALID_ARCHIVE');
    expect(fs.lstatSync(join(outside, 'sentinel')).nlink).toBe(1);
    expectHostUntouched();
  });

  it('10: a symlink replaced by a directory, then written into', async () => {
    const r = await attempt([
      { name: 'd', type: 'symlink', linkname: '../outside/dir' },
      { name: 'd/', type: 'directory', mode: 0o777 },
      { name: 'd/keep', content: 'pwned' },
    ]);
    expect(r.error).toBeUndefined();
    expect(fs.lstatSync(join(target, 'd')).isDirectory()).toBe(true);
    expect(fs.readFileSync(join(target, 'd', 'keep'), 'utf8')).toBe('pwned');
    expectHostUntouched();
  });

  it('11: metadata entries (chmod, chown, mtime) never follow a symlink to the host', async () => {
    const r = await attempt([
      { name: 's', type: 'symlink', linkname: join(outside, 'sentinel') },
      { name: 'h', type: 'link', linkname: 's' },
      { name: 'h', content: 'pwned', mode: 0o4777, uid: 1234, gid: 1234 },
      { name: 'dirlink', type: 'symlink', linkname: join(outside, 'dir') },
      { name: 'dirlink/', type: 'directory', mode: 0o777, uid: 99, gid: 99 },
    ]);
    expect(r.error).toBeUndefined();
    expectHostUntouched();
  });

  it('12: device nodes are skipped with a warning when not permitted', async () => {
    const r = await attempt(
      [
        { name: 'disk', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o666 },
        { name: 'mem', type: 'character-device', devmajor: 1, devminor: 1, mode: 0o666 },
      ],
      { devices: false },
    );
    expect(r.error).toBeUndefined();
    expect(fs.existsSync(join(target, 'disk'))).toBe(false);
    expect(fs.existsSync(join(target, 'mem'))).toBe(false);
    expect(r.stats?.warnings.join('\n')).toMatch(/skipped device disk \(8:0\).*root/);
    expectHostUntouched();
  });

  it('13: whiteouts cannot delete outside: .wh... and .wh.NAME through a symlinked parent', async () => {
    const bad = await attempt([{ name: '.wh...', content: '' }]);
    expect(bad.error?.code).toBe('INVALID_ARCHIVE');
    const r = await attempt([
      { name: 's', type: 'symlink', linkname: outside },
      { name: 's/.wh.sentinel', content: '' },
      { name: 's/.wh.dir', content: '' },
      { name: 'up', type: 'symlink', linkname: '../..' },
      { name: 'up/outside/.wh.sentinel', content: '' },
    ]);
    expect(r.error).toBeUndefined();
    expectHostUntouched();
  });

  it('14: an opaque marker through a symlinked parent empties only the target', async () => {
    const r = await attempt([
      { name: 's', type: 'symlink', linkname: join(outside, 'dir') },
      { name: 's/.wh..wh..opq', content: '' },
      { name: 'r', type: 'symlink', linkname: '../outside/dir' },
      { name: 'r/.wh..wh..opq', content: '' },
    ]);
    expect(r.error).toBeUndefined();
    expectHostUntouched();
  });

  it('15: a symlink left by a lower layer is resolved inside the target', async () => {
    fs.symlinkSync(outside, join(target, 'lib'));
    fs.symlinkSync('../../outside/sentinel', join(target, 'rel'));
    const r = await attempt([
      { name: 'lib/evil', content: 'x' },
      { name: 'lib/sentinel', content: 'pwned' },
      { name: 'rel', content: 'pwned' },
    ]);
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(join(target, outside, 'evil'), 'utf8')).toBe('x');
    expectHostUntouched();
  });

  it('16: symlink loops fail cleanly', async () => {
    const r = await attempt([
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: 'a' },
      { name: 'a/x', content: 'x' },
    ]);
    expect(r.error?.code).toBe('INVALID_ARCHIVE');
    expect(r.error?.message).toContain('too many levels of symbolic links');
    expectHostUntouched();
  });

  it('17: a chain of .. inside a symlink stops at the target root', async () => {
    const r = await attempt([
      { name: 'a/b/', type: 'directory' },
      { name: 'a/b/up', type: 'symlink', linkname: '../../../../../../..' },
      { name: 'a/b/up/outside/sentinel', content: 'pwned' },
      { name: 'a/b/up/escape', content: 'x' },
    ]);
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(join(target, 'outside', 'sentinel'), 'utf8')).toBe('pwned');
    expect(fs.existsSync(join(target, 'escape'))).toBe(true);
    expectHostUntouched();
  });

  it('18: a hard link cannot read a host file through a symlink chain (no copy of its content)', async () => {
    const r = await attempt([
      { name: 'a', type: 'symlink', linkname: '/' },
      { name: 'b', type: 'symlink', linkname: `a${outside}` },
      { name: 'leak', type: 'link', linkname: 'b/sentinel' },
    ]);
    expect(r.error?.code).toBe('INVALID_ARCHIVE');
    expect(fs.existsSync(join(target, 'leak'))).toBe(false);
    expectHostUntouched();
  });

  it('19: entries cannot replace the target root itself', async () => {
    const r = await attempt([{ name: './', type: 'symlink', linkname: outside }]);
    expect(r.error?.code).toBe('INVALID_ARCHIVE');
    expect(fs.lstatSync(target).isDirectory()).toBe(true);
    expectHostUntouched();
  });

  it('20: a FIFO or device named through a symlink is made inside the target', async () => {
    const r = await attempt([
      { name: 's', type: 'symlink', linkname: outside },
      { name: 's/fifo', type: 'fifo' },
      { name: 's/sentinel', type: 'character-device', devmajor: 1, devminor: 3 },
    ]);
    expect(r.error).toBeUndefined();
    expect(fs.lstatSync(join(target, outside, 'fifo')).isFIFO()).toBe(true);
    expectHostUntouched();
  });
});
