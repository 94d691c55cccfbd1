import { readFileSync } from 'node:fs';
import { type CommandLoader, type CommandTable, runFast as run } from '@skiff/cli/fast';
import { config as zodConfig } from 'zod';
import { FERRY } from '../base-command.js';

// zod 4 compiles a fast parser for each object schema with new Function() at its first parse:
// worth it for a server parsing millions of objects, not for a command parsing a few manifests
// once (~10 ms of every inspect). Results and errors are the same either way.
zodConfig({ jitless: true });

/** ferry's commands on the fast path (see @skiff/cli/fast); the rest goes through oclif. */
const load = (p: Promise<unknown>) => p as ReturnType<CommandLoader>;
const COMMANDS: CommandTable = {
  copy: ['copy', () => load(import('../commands/copy.js'))],
  delete: ['delete', () => load(import('../commands/delete.js'))],
  inspect: ['inspect', () => load(import('../commands/inspect.js'))],
  'list-tags': ['list-tags', () => load(import('../commands/list-tags.js'))],
  login: ['login', () => load(import('../commands/login.js'))],
  logout: ['logout', () => load(import('../commands/logout.js'))],
  'manifest-digest': ['manifest-digest', () => load(import('../commands/manifest-digest.js'))],
  sync: ['sync', () => load(import('../commands/sync.js'))],
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function runFast(argv: string[]): Promise<boolean> {
  return run(FERRY, COMMANDS, argv, version);
}
