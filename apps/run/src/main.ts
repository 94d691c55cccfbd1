import { runOclif } from '@skiff/cli/main';
import { SKIFF } from './base-command.js';

/**
 * The full oclif entry point (help, topics, every command), which bin/run.js uses when the fast
 * path (fast/entry.ts) does not handle the command line.
 */
export function main(dir: string | URL, argv: string[] = process.argv.slice(2)): Promise<void> {
  return runOclif(SKIFF, dir, argv);
}
