import { runOclif } from '@skiff/cli/main';
import { FERRY } from './base-command.js';

/** The full oclif entry point: help, and whatever the fast path does not take. */
export function main(dir: string | URL, argv: string[] = process.argv.slice(2)): Promise<void> {
  return runOclif(FERRY, dir, argv);
}
