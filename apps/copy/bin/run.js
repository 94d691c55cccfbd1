#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  // Answered before any module loads: scripts call --version to probe for the tool.
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`ferry version ${version}\n`);
  process.exit(0);
}

// The common commands run from a bundle without loading oclif's config (fast start-up), loaded
// through a V8 code cache (dist/bundle/load.mjs); help, unknown commands and everything else go
// through oclif (dist/main.js).
const { baselineWasm, loadBundle } = await import('../dist/bundle/load.mjs');
baselineWasm();
const { runFast } = await loadBundle(fileURLToPath(new URL('../dist/bundle/', import.meta.url)), argv);
if (!(await runFast(argv))) {
  const { main } = await import('../dist/main.js');
  await main(new URL('../', import.meta.url));
}
