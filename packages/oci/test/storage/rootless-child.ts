/**
 * Child for the rootless test: inside `unshare --user --map-root-user --mount` as an unprivileged
 * user, open an overlay store at ROOT, put a family image (whiteout) plus one with an opaque
 * directory, mount it and print what the merged view shows, as JSON.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/storage/store.js';
import { familyImage, imageOf, layerOf, putTestImage } from './support.js';

const [root] = process.argv.slice(2);
if (!root) throw new Error('usage: rootless-child.ts ROOT');
const store = await openStore({ root, runroot: `${root}-run`, driver: 'overlay', configPath: '/dev/null' });
const out: Record<string, unknown> = {};
try {
  await putTestImage(store, await familyImage(1), ['localhost/rootless:1']);
  const lower = await layerOf([
    { name: 'opt/', type: 'directory' },
    { name: 'opt/old', content: 'old' },
  ]);
  const upper = await layerOf([
    { name: 'opt/', type: 'directory' },
    { name: 'opt/.wh..wh..opq', content: '' },
    { name: 'opt/new', content: 'new' },
  ]);
  await putTestImage(store, imageOf([lower, upper], 'opaque'), ['localhost/opaque:1']);
  for (const name of ['localhost/rootless:1', 'localhost/opaque:1']) {
    const m = await store.mountImage(name);
    try {
      out[name] = {
        top: fs.readdirSync(m.path).sort(),
        etc: fs.existsSync(join(m.path, 'etc')) ? fs.readdirSync(join(m.path, 'etc')).sort() : null,
        opt: fs.existsSync(join(m.path, 'opt')) ? fs.readdirSync(join(m.path, 'opt')).sort() : null,
      };
    } finally {
      await m.unmount();
    }
  }
  out.check = await store.check();
} finally {
  store.close();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
