#!/usr/bin/env node
import { fileURLToPath } from 'node:url';

// The image commands run from a bundle without loading oclif's config (fast start-up), loaded
// through a V8 code cache (dist/bundle/load.mjs); help, unknown commands and everything else go
// through oclif (dist/main.js).
const argv = process.argv.slice(2);
const { baselineWasm, loadBundle } = await import('../dist/bundle/load.mjs');
baselineWasm();
// skiff's global flags that take a value, so `skiff --root DIR run …` caches as `run`.
const GLOBAL_VALUE_FLAGS = ['--root', '--runroot', '--storage-driver', '--log-level'];
const { runFast } = await loadBundle(
  fileURLToPath(new URL('../dist/bundle/', import.meta.url)),
  argv,
  GLOBAL_VALUE_FLAGS,
);
if (!(await runFast(argv))) {
  const { main } = await import('../dist/main.js');
  await main(new URL('../', import.meta.url));
}
