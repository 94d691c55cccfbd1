import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveInRoot } from '../../src/layer/resolve.js';

let sandbox: string;
let root: string;

beforeEach(() => {
  sandbox = fs.mkdtempSync(join(tmpdir(), 'skiff-resolve-'));
  root = join(sandbox, 'root');
  fs.mkdirSync(join(root, 'etc'), { recursive: true });
  fs.mkdirSync(join(sandbox, 'host'));
  fs.symlinkSync('/etc', join(root, 'abs'));
  fs.symlinkSync('../../../host', join(root, 'up'));
  fs.symlinkSync('etc/', join(root, 'slash'));
  fs.symlinkSync('loop', join(root, 'loop'));
  fs.symlinkSync('/nowhere/deep', join(root, 'dangling'));
});
afterEach(() => {
  fs.rmSync(sandbox, { recursive: true, force: true });
});

const loopError = () => new Error('loop!');
const resolve = (path: string, followLast = true) =>
  resolveInRoot(root, path.split('/'), followLast, loopError);

describe('resolveInRoot', () => {
  it('resolves symlinks inside the root: absolute targets re-rooted, .. stopping at the root', () => {
    expect(resolve('/abs/passwd')).toBe(join(root, 'etc/passwd'));
    expect(resolve('/up/x')).toBe(join(root, 'host/x'));
    expect(resolve('../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(resolve('/dangling/x')).toBe(join(root, 'nowhere/deep/x'));
    expect(resolve('/missing/../etc')).toBe(join(root, 'etc'));
  });

  it('does not follow the last real component when asked not to, whatever empty or . components follow it', () => {
    for (const path of ['abs', '/abs/', 'abs/.', 'abs//./', 'slash/']) {
      const link = path.split('/').find((c) => c !== '' && c !== '.')!;
      expect(resolve(path, false), path).toBe(join(root, link));
    }
    expect(resolve('slash/', true)).toBe(join(root, 'etc'));
    expect(resolve('slash/passwd', false)).toBe(join(root, 'etc/passwd'));
  });

  it('throws what the caller makes after 40 symlinks', () => {
    expect(() => resolve('/loop/x')).toThrow('loop!');
    expect(resolve('/loop', false)).toBe(join(root, 'loop'));
  });
});
