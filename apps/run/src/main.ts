/**
 * The full oclif entry point (help, topics, every command), which bin/run.js uses when the fast
 * path (fast/entry.ts) does not handle the command line. base-command.ts holds its logic.
 */
export { main } from './base-command.js';
