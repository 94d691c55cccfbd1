/**
 * Rootless test, outer child: runs as an unprivileged user, finds its subordinate ids and
 * re-runs rootless-inner.ts inside a user namespace with podman's mapping.
 * Usage: node --import tsx rootless-outer.ts DIR
 */
import { join } from 'node:path';
import { runInUserNamespace, subordinateIds, userNameOf } from '../../src/runtime/rootless.js';

const [dir] = process.argv.slice(2);
if (!dir) throw new Error('usage: rootless-outer.ts DIR');
const uid = process.getuid?.() ?? 0;
const name = userNameOf(uid);
const ranges = subordinateIds({ user: { uid, ...(name ? { name } : {}) } });
process.stdout.write(`${JSON.stringify({ outer: { uid, ranges } })}\n`);
const code = await runInUserNamespace(
  process.execPath,
  ['--import', 'tsx', join(import.meta.dirname, 'rootless-inner.ts'), dir],
  {
    ranges,
    stdio: 'inherit',
  },
);
process.exitCode = code;
