/**
 * Rootless test, inner child: inside the user namespace (caller = 0, subordinate ids from 1),
 * put a busybox image into an overlay store under DIR and run containers with runc. Prints
 * one JSON line of results.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { makeImage } from '../../../../test/support/images.js';
import { copyImage } from '../../src/copy/copy.js';
import { ContainerDb } from '../../src/runtime/containers.js';
import { describeRuntimeChoice, findRuntime } from '../../src/runtime/discovery.js';
import { runContainer } from '../../src/runtime/run.js';
import { openStore } from '../../src/storage/store.js';
import { containersStorageTransport } from '../../src/transports/containers-storage.js';
import { ociTransport } from '../../src/transports/oci-layout.js';

const [dir] = process.argv.slice(2);
if (!dir) throw new Error('usage: rootless-inner.ts DIR');
const root = join(dir, 'store');
const runroot = join(dir, 'run');
const fixture = await makeImage(join(dir, 'layout'), { config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
await copyImage(
  ociTransport.parseReference(`${fixture.layoutDir}:${fixture.ref}`),
  containersStorageTransport.parseReference(`[overlay@${root}+${runroot}]localhost/rootless:1`),
);
const store = await openStore({ root, runroot, driver: 'overlay', configPath: '/dev/null' });
const db = ContainerDb.open(root);
const runtime = await findRuntime({ runroot });
const shared = join(dir, 'shared');
fs.mkdirSync(shared, { recursive: true });
const out = join(dir, 'out.txt');
const fd = fs.openSync(out, 'w');
const r = await runContainer({
  store,
  db,
  runtime,
  image: 'localhost/rootless:1',
  remove: true,
  spec: {
    command: [
      'sh',
      '-c',
      'echo hello; id -u; touch /shared/by-root /shared/by-1000; chown 1000:1000 /shared/by-1000; exit 4',
    ],
    mounts: [{ type: 'bind', source: shared, target: '/shared' }],
  },
  attached: { stdio: ['ignore', fd, fd] },
});
fs.closeSync(fd);
process.stdout.write(
  `${JSON.stringify({
    exitCode: r.exitCode,
    output: fs.readFileSync(out, 'utf8'),
    runtime: describeRuntimeChoice(runtime),
    left: db.list().length,
  })}\n`,
);
db.close();
store.close();
