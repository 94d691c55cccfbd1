import { readFileSync } from 'node:fs';
import { Errors } from '@oclif/core';
import { EXIT_FAILURE, formatError, hoistGlobalFlags, toExitCode } from '../base-command.js';

/**
 * ferry's fast path: run a command with oclif's parser and the command's own class, without
 * loading oclif's config, plugins and help (bundled with '@oclif/core' aliased to
 * ./oclif-shim.ts). Returns false for anything it does not handle — help, unknown commands,
 * no command — so bin/run.js falls back to the full oclif entry point (../main.ts).
 */

interface CommandModule {
  default: {
    id: string;
    new (argv: string[], config: { bin: string; version: string }): { _run(): Promise<unknown> };
  };
}

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  copy: () => import('../commands/copy.js') as unknown as Promise<CommandModule>,
  delete: () => import('../commands/delete.js') as unknown as Promise<CommandModule>,
  inspect: () => import('../commands/inspect.js') as unknown as Promise<CommandModule>,
  'list-tags': () => import('../commands/list-tags.js') as unknown as Promise<CommandModule>,
  login: () => import('../commands/login.js') as unknown as Promise<CommandModule>,
  logout: () => import('../commands/logout.js') as unknown as Promise<CommandModule>,
  'manifest-digest': () => import('../commands/manifest-digest.js') as unknown as Promise<CommandModule>,
  sync: () => import('../commands/sync.js') as unknown as Promise<CommandModule>,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export async function runFast(argv: string[]): Promise<boolean> {
  if (argv.some((a) => a === '--help' || a === '-h' || a === '--')) return false;
  const args = hoistGlobalFlags(argv, (id) => id in COMMANDS);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
    process.stdout.write(`ferry version ${version()}\n`);
    return true;
  }
  const id = args[0];
  const load = id === undefined ? undefined : COMMANDS[id];
  if (!load) return false;
  const Cmd = (await load()).default;
  Cmd.id = id!;
  try {
    await new Cmd(args.slice(1), { bin: 'ferry', version: version() })._run();
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit ?? EXIT_FAILURE;
    } else {
      process.stderr.write(formatError(err, argv.includes('--debug')));
      process.exitCode = toExitCode(err);
    }
  }
  return true;
}
