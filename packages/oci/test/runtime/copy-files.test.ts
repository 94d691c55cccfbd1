import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  copyFromStream,
  copyPath,
  extractTar,
  packPath,
  parseCopyLocation,
  resolveCopySource,
  resolveCopyTarget,
  resolveInRootfs,
} from '../../src/runtime/copy-files.js';

let dir: string;
let root: string;
let host: string;

beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-cp-'));
  root = join(dir, 'rootfs');
  host = join(dir, 'host');
  fs.mkdirSync(join(root, 'etc'), { recursive: true });
  fs.mkdirSync(host);
  fs.writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  fs.symlinkSync('/etc', join(root, 'abs'));
  fs.symlinkSync('../../../../../../../../..', join(root, 'up'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function tarOf(
  entries: Array<{
    name: string;
    type?: tar.Headers['type'];
    body?: string;
    linkname?: string;
    mode?: number;
  }>,
): Readable {
  const pack = tar.pack();
  for (const e of entries) {
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      mode: e.mode ?? 0o644,
      ...(e.linkname ? { linkname: e.linkname } : {}),
    };
    pack.entry(header, e.body ?? '');
  }
  pack.finalize();
  return Readable.from(pack);
}

describe('parseCopyLocation', () => {
  it('splits CONTAINER:PATH, keeps host paths (with colons after a slash or a dot) whole', () => {
    expect(parseCopyLocation('web:/etc/hosts')).toEqual({ container: 'web', path: '/etc/hosts' });
    expect(parseCopyLocation('web:etc')).toEqual({ container: 'web', path: 'etc' });
    expect(parseCopyLocation('/tmp/a:b')).toEqual({ path: '/tmp/a:b' });
    expect(parseCopyLocation('./a:b')).toEqual({ path: './a:b' });
    expect(parseCopyLocation('-')).toEqual({ path: '-' });
    expect(parseCopyLocation('plain')).toEqual({ path: 'plain' });
  });
});

describe('resolveInRootfs', () => {
  it('re-roots absolute links and stops .. at the root', () => {
    expect(resolveInRootfs(root, '/abs/passwd')).toBe(join(root, 'etc/passwd'));
    expect(resolveInRootfs(root, '/up/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(resolveInRootfs(root, '/../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(resolveInRootfs(root, '/abs', false)).toBe(join(root, 'abs'));
    expect(resolveInRootfs(root, '/missing/x')).toBe(join(root, 'missing/x'));
  });
  it('gives up on symlink loops; a dangling absolute link resolves inside the root', () => {
    fs.symlinkSync('loop', join(root, 'loop'));
    expect(() => resolveInRootfs(root, '/loop/x')).toThrow(/too many levels of symbolic links/);
    fs.symlinkSync('/nowhere/deep', join(root, 'dangling'));
    expect(resolveInRootfs(root, '/dangling/x')).toBe(join(root, 'nowhere/deep/x'));
  });
});

describe('extractTar', () => {
  it('keeps every entry inside the root, through symlinks too', async () => {
    await expect(extractTar(tarOf([{ name: '../evil', body: 'x' }]), { root })).rejects.toThrow(/outside/);
    // A link the tar itself creates, then a file through it: lands inside the root.
    await extractTar(
      tarOf([
        { name: 'hop', type: 'symlink', linkname: host },
        { name: 'hop/f', body: 'inside' },
      ]),
      { root },
    );
    expect(fs.readdirSync(host)).toEqual([]);
    expect(fs.readFileSync(join(root, host, 'f'), 'utf8')).toBe('inside');
  });

  it('replaces a file by rename (an open reader keeps the old content) and leaves no temporaries', async () => {
    const target = join(root, 'etc/passwd');
    const before = fs.openSync(target, 'r');
    await extractTar(tarOf([{ name: 'etc/passwd', body: 'new\n', mode: 0o600 }]), { root });
    expect(fs.readFileSync(target, 'utf8')).toBe('new\n');
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(before, 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    fs.closeSync(before);
    expect(fs.readdirSync(join(root, 'etc'))).toEqual(['passwd']);
  });

  it('refuses to replace a directory by a file unless overwrite; a failed entry leaves no temporary', async () => {
    await expect(extractTar(tarOf([{ name: 'etc', body: 'x' }]), { root })).rejects.toThrow(
      /cannot overwrite directory "etc" with a non-directory/,
    );
    expect(fs.statSync(join(root, 'etc')).isDirectory()).toBe(true);
    expect(fs.readdirSync(root).filter((n) => n.startsWith('.skiff-cp'))).toEqual([]);
    await extractTar(tarOf([{ name: 'etc', body: 'x' }]), { root, overwrite: true });
    expect(fs.readFileSync(join(root, 'etc'), 'utf8')).toBe('x');
  });

  it('sets the owner asked for (podman --archive into a container)', async () => {
    await extractTar(tarOf([{ name: 'owned', body: 'x' }]), {
      root,
      owner: { uid: 1234, gid: 5678 },
      chown: true,
    });
    const st = fs.statSync(join(root, 'owned'));
    expect([st.uid, st.gid]).toEqual([1234, 5678]);
  });
});

describe('copy rules (podman cp)', () => {
  beforeEach(() => {
    fs.mkdirSync(join(root, 'data/sub'), { recursive: true });
    fs.writeFileSync(join(root, 'data/sub/f'), 'one');
    fs.symlinkSync('sub/f', join(root, 'data/link'));
    fs.writeFileSync(join(root, 'data/a'), 'A');
    fs.linkSync(join(root, 'data/a'), join(root, 'data/a-hard'));
  });
  const ctr = (path: string) => ({ root, path, what: 'container c' });
  const onHost = (path: string) => ({ path, what: 'the host' });

  it('a directory to a missing path is created with its contents; to an existing directory goes inside it', async () => {
    await copyPath(ctr('/data'), onHost(join(host, 'new')));
    expect(fs.readFileSync(join(host, 'new/sub/f'), 'utf8')).toBe('one');
    expect(fs.readlinkSync(join(host, 'new/link'))).toBe('sub/f');
    expect(fs.statSync(join(host, 'new/a')).ino).toBe(fs.statSync(join(host, 'new/a-hard')).ino);
    await copyPath(ctr('/data'), onHost(host));
    expect(fs.existsSync(join(host, 'data/sub/f'))).toBe(true);
  });

  it('SRC/. copies the contents into an existing directory', async () => {
    await copyPath(ctr('/data/.'), onHost(host));
    expect(fs.readdirSync(host).sort()).toEqual(['a', 'a-hard', 'link', 'sub']);
  });

  it('a file to a file replaces it, to a missing name creates it; a missing parent or DEST/ is an error', async () => {
    fs.writeFileSync(join(host, 'x'), 'old');
    await copyPath(ctr('/data/a'), onHost(join(host, 'x')));
    expect(fs.readFileSync(join(host, 'x'), 'utf8')).toBe('A');
    await copyPath(onHost(join(host, 'x')), ctr('/data/copied'));
    expect(fs.readFileSync(join(root, 'data/copied'), 'utf8')).toBe('A');
    expect(() => resolveCopyTarget(ctr('/nope/x'), { isDir: false, name: 'x' })).toThrow(
      /could not be found/,
    );
    expect(() => resolveCopyTarget(ctr('/newdir/'), { isDir: false, name: 'x' })).toThrow(
      /no such directory/,
    );
    expect(() => resolveCopyTarget(ctr('/etc/passwd'), { isDir: true, name: 'd' })).toThrow(
      /not a directory/,
    );
  });

  it('a source symlink is copied as a link; with a trailing slash it is followed', () => {
    expect(resolveCopySource(ctr('/abs'))).toMatchObject({ isDir: false, name: 'abs' });
    expect(resolveCopySource(ctr('/abs/'))).toMatchObject({ isDir: true, hostPath: join(root, 'etc') });
    expect(() => resolveCopySource(ctr('/missing'))).toThrow(/could not be found on container c/);
  });

  it('a tar stream goes into a directory only', async () => {
    await copyFromStream(tarOf([{ name: 'in/t', body: 'T' }]), ctr('/data'));
    expect(fs.readFileSync(join(root, 'data/in/t'), 'utf8')).toBe('T');
    await expect(copyFromStream(tarOf([]), ctr('/data/a'))).rejects.toThrow(/must be a directory/);
  });

  it('packPath names entries under the given top name and keeps modes', async () => {
    fs.chmodSync(join(root, 'data/a'), 0o751);
    const names: string[] = [];
    const modes = new Map<string, number>();
    const extract = tar.extract();
    const done = (async () => {
      for await (const e of extract) {
        names.push(e.header.name);
        modes.set(e.header.name, e.header.mode ?? 0);
        e.resume();
      }
    })();
    packPath(join(root, 'data'), { name: 'renamed' }).pipe(extract);
    await done;
    expect(names).toEqual([
      'renamed',
      'renamed/a',
      'renamed/a-hard',
      'renamed/link',
      'renamed/sub',
      'renamed/sub/f',
    ]);
    expect(modes.get('renamed/a')).toBe(0o751);
  });
});
