/**
 * Child for the concurrency test: register COUNT containers of IMAGE_ID in the store at ROOT
 * (random names), then try the name "contested"; prints one JSON line of what it got.
 * Usage: node --import tsx create-records.ts ROOT IMAGE_ID COUNT
 */
import { ContainerDb } from '../../src/runtime/containers.js';

const [root, imageId, count] = process.argv.slice(2);
if (!root || !imageId || !count) throw new Error('usage: create-records.ts ROOT IMAGE_ID COUNT');
const db = ContainerDb.open(root);
const names: string[] = [];
for (let i = 0; i < Number(count); i++) {
  names.push(db.create({ imageId, runtime: '/usr/bin/runc', bundle: '/nonexistent', config: { i } }).name);
}
let contested: string | undefined;
try {
  contested = db.create({
    name: 'contested',
    imageId,
    runtime: '/usr/bin/runc',
    bundle: '/nonexistent',
    config: null,
  }).id;
} catch (err) {
  contested = (err as { code?: string }).code;
}
db.close();
process.stdout.write(`${JSON.stringify({ names, contested })}\n`);
