import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../scripts/bundle-loader.mjs';

describe('bundle-loader cacheKey', () => {
  const SKIFF = ['--root', '--runroot', '--storage-driver', '--log-level'];

  it('is the command word, after flags and the values of global flags that take one', () => {
    expect(cacheKey(['run', '--rm', 'busybox'])).toBe('run');
    expect(cacheKey(['--root', '/var/x', '--runroot', '/run/x', 'run', 'img'], SKIFF)).toBe('run');
    expect(cacheKey(['--storage-driver=vfs', 'images'], SKIFF)).toBe('images');
    expect(cacheKey(['--debug', 'inspect', 'docker://x'])).toBe('inspect');
  });

  it('is `other` when no command-like word comes first', () => {
    expect(cacheKey(['--root', '/var/x', 'images'])).toBe('other');
    expect(cacheKey([])).toBe('other');
    expect(cacheKey(['--', 'run'])).toBe('other');
    expect(cacheKey(['docker://registry/x:1'])).toBe('other');
  });
});
