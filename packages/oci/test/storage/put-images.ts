/**
 * Child process for the concurrency and crash tests: open the store at ROOT and put the family
 * images whose indices follow, naming each localhost/family:I. Prints "done" at the end.
 * Usage: tsx put-images.ts ROOT DRIVER OWN_BYTES I [I...]
 */
import { openStore } from '../../src/storage/store.js';
import { familyImage, putTestImage } from './support.js';

const [root, driver, ownBytes, ...indices] = process.argv.slice(2);
if (!root || (driver !== 'vfs' && driver !== 'overlay'))
  throw new Error('usage: put-images.ts ROOT DRIVER OWN_BYTES I...');
const store = await openStore({ root, runroot: `${root}-run`, driver, configPath: '/dev/null' });
try {
  for (const i of indices.map(Number)) {
    await putTestImage(store, await familyImage(i, Number(ownBytes)), [`localhost/family:${i}`]);
    process.stdout.write(`put ${i}\n`);
  }
} finally {
  store.close();
}
process.stdout.write('done\n');
