import { runOclif } from '@skiff/cli/main';
import { WRIGHT } from './base-command.js';

/** wright's entry point (oclif: help, topics, every command). */
export function main(dir: string | URL, argv: string[] = process.argv.slice(2)): Promise<void> {
  return runOclif(WRIGHT, dir, argv);
}
