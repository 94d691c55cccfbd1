#!/usr/bin/env node
// What apps/copy/bin/run.js should contain: ferry's own entry point (version line, global flags
// before the command, exit codes). Used by the tests until the bin calls it.
import { main } from '../../dist/base-command.js';

await main(new URL('../../', import.meta.url));
