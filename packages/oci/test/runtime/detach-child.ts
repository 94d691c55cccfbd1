/**
 * Child process for the detach test: start container ID of the store at ROOT detached under
 * conmon, print "started PID", then stay alive until killed (the test SIGKILLs it).
 * Usage: node --import tsx detach-child.ts ROOT RUNROOT ID
 */
import { ContainerDb } from '../../src/runtime/containers.js';
import { findRuntime } from '../../src/runtime/discovery.js';
import { startDetached } from '../../src/runtime/run.js';
import { openStore } from '../../src/storage/store.js';

const [root, runroot, id] = process.argv.slice(2);
if (!root || !runroot || !id) throw new Error('usage: detach-child.ts ROOT RUNROOT ID');
const store = await openStore({ root, runroot, driver: 'overlay', configPath: '/dev/null' });
const db = ContainerDb.open(root);
const runtime = await findRuntime({ runroot });
const rec = await startDetached(store, db, runtime, id);
process.stdout.write(`started ${rec.pid}\n`);
setInterval(() => {}, 1000);
