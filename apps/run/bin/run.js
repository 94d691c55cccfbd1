#!/usr/bin/env node
// undici's HTTP parser is WebAssembly: without this, V8 tiers it up in the background and the
// process then waits ~80 ms at exit for that compile to finish. The baseline tier is plenty.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');

// The image commands run from a bundle without loading oclif's config (fast start-up); help,
// unknown commands and everything else go through oclif (dist/main.js).
const { runFast } = await import('../dist/bundle/entry.js');
if (!(await runFast(process.argv.slice(2)))) {
  const { main } = await import('../dist/main.js');
  await main(new URL('../', import.meta.url));
}
