/**
 * Resolve a path inside a root directory as a chroot would: the one path walk behind both layer
 * unpacking (applyLayer) and `skiff cp`, and a security boundary for both.
 */

import * as fs from 'node:fs';
import { join } from 'node:path';

const MAX_SYMLINKS = 40;

/**
 * The host path that `components` (a path split at `/`) name inside `root`, looked up one
 * component at a time with lstat: a symlink met on the way is resolved inside the root (an
 * absolute target restarts at the root, `..` stops at it), never on the host. With `followLast`
 * false the last component is not followed; the last is the last real one (empty and `.`
 * components after it do not count, so `link/` with followLast false is the link itself).
 * Components that do not exist are kept as written, after every symlink before them was resolved
 * (a dangling link to /x names ROOT/x, never the link). More than 40 symlinks throw what
 * `tooManyLinks` makes; lstat errors other than ENOENT and ENOTDIR are thrown as they are.
 */
export function resolveInRoot(
  root: string,
  components: readonly string[],
  followLast: boolean,
  tooManyLinks: () => Error,
): string {
  const pending = [...components];
  const resolved: string[] = [];
  let links = 0;
  let missing = false;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      resolved.pop();
      missing = false;
      continue;
    }
    if (missing || (!followLast && isLast(pending))) {
      resolved.push(c);
      continue;
    }
    const host = join(root, ...resolved, c);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      missing = true;
      resolved.push(c);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw tooManyLinks();
      const target = fs.readlinkSync(host);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/'));
      continue;
    }
    resolved.push(c);
  }
  return join(root, ...resolved);
}

/** Whether nothing but empty and `.` components is left. */
function isLast(pending: readonly string[]): boolean {
  for (const p of pending) if (p !== '' && p !== '.') return false;
  return true;
}
