import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  changesJson,
  changesText,
  containerChangesOnly,
  overlayChanges,
  treeChanges,
} from '../../src/runtime/diff.js';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-diff-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function tree(name: string, files: Record<string, string | null>): string {
  const base = join(dir, name);
  fs.mkdirSync(base, { recursive: true });
  for (const [p, content] of Object.entries(files)) {
    const full = join(base, p);
    if (content === null) fs.mkdirSync(full, { recursive: true });
    else {
      fs.mkdirSync(join(full, '..'), { recursive: true });
      fs.writeFileSync(full, content);
    }
  }
  return base;
}

describe('treeChanges (vfs)', () => {
  it('finds added, changed and deleted paths, sorted, with parents of changes as C', () => {
    const old = tree('old', {
      'etc/group': 'g',
      'bin/true': 'x',
      'bin/sh': 's',
      gone: null,
      'gone/inner': 'i',
    });
    const cur = tree('new', { 'etc/group': 'g2', 'bin/sh': 's', 'newdir/file': 'n' });
    // Same content and metadata for bin/sh: copy times so only real changes show.
    const t = fs.statSync(join(old, 'bin/sh')).mtime;
    fs.utimesSync(join(cur, 'bin/sh'), t, t);
    const { changes } = treeChanges(old, cur);
    expect(changesText(changes)).toBe(
      ['C /bin', 'D /bin/true', 'C /etc', 'C /etc/group', 'D /gone', 'A /newdir', 'A /newdir/file', ''].join(
        '\n',
      ),
    );
    expect(changesJson(changes)).toEqual({
      changed: ['/bin', '/etc', '/etc/group'],
      added: ['/newdir', '/newdir/file'],
      deleted: ['/bin/true', '/gone'],
    });
  });

  it('without a parent everything is added; JSON leaves out empty kinds', () => {
    const cur = tree('only', { 'a/b': 'x' });
    const { changes } = treeChanges(undefined, cur);
    expect(changesJson(changes)).toEqual({ added: ['/a', '/a/b'] });
  });
});

describe('overlayChanges', () => {
  it('reads whiteouts as deletions and lower paths as changes', () => {
    const lower = tree('lower', { 'etc/group': 'g', 'etc/hosts-old': 'h', 'bin/true': 'x' });
    const upper = tree('upper', { 'etc/group': 'g2', 'etc/hosts': '', proc: null, 'newdir/file': 'n' });
    fs.chmodSync(join(upper, 'etc'), fs.statSync(join(lower, 'etc')).mode & 0o7777);
    fs.mkdirSync(join(upper, 'bin'));
    fs.chmodSync(join(upper, 'bin'), fs.statSync(join(lower, 'bin')).mode & 0o7777);
    execFileSync('mknod', [join(upper, 'bin/true'), 'c', '0', '0']);
    // A whiteout of something no lower layer has is not a change.
    execFileSync('mknod', [join(upper, 'never-was'), 'c', '0', '0']);
    const result = overlayChanges(upper, [lower]);
    expect(changesText(result.changes)).toBe(
      [
        'C /bin',
        'D /bin/true',
        'C /etc',
        'C /etc/group',
        'A /etc/hosts',
        'A /newdir',
        'A /newdir/file',
        'A /proc',
        '',
      ].join('\n'),
    );
    // The runtime's mount points and /etc files are not the container's changes.
    expect(changesText(containerChangesOnly(result))).toBe(
      ['C /bin', 'D /bin/true', 'C /etc', 'C /etc/group', 'A /newdir', 'A /newdir/file', ''].join('\n'),
    );
  });

  it('a directory changed only by runtime files is dropped with them', () => {
    const lower = tree('lower2', { 'etc/passwd': 'p' });
    const upper = tree('upper2', { 'etc/hosts': '', 'etc/resolv.conf': '' });
    fs.chmodSync(join(upper, 'etc'), fs.statSync(join(lower, 'etc')).mode & 0o7777);
    expect(containerChangesOnly(overlayChanges(upper, [lower]))).toEqual([]);
  });

  it('an opaque directory deletes what the lower layers had below it', () => {
    const lower = tree('lower3', { 'opt/a': 'a', 'opt/b': 'b' });
    const upper = tree('upper3', { 'opt/c': 'c' });
    fs.chmodSync(join(upper, 'opt'), fs.statSync(join(lower, 'opt')).mode & 0o7777);
    const { changes } = overlayChanges(upper, [lower], new Set([join(upper, '/opt')]));
    expect(changesText(changes)).toBe(['C /opt', 'D /opt/a', 'D /opt/b', 'A /opt/c', ''].join('\n'));
  });
});
