import { readFileSync } from 'node:fs';
import { Errors } from '@oclif/core';
import { EXIT_TOOL_ERROR, formatError, hoistGlobalFlags, TOOL_NAME, toExitCode } from '../base-command.js';

/**
 * skiff's fast path: run a command with oclif's parser and the command's own class, without
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

type Loader = () => Promise<CommandModule>;
const load = (p: Promise<unknown>) => p as Promise<CommandModule>;

const pull: Loader = () => load(import('../commands/image/pull.js'));
const push: Loader = () => load(import('../commands/image/push.js'));
const list: Loader = () => load(import('../commands/image/list.js'));
const inspect: Loader = () => load(import('../commands/image/inspect.js'));
const tag: Loader = () => load(import('../commands/image/tag.js'));
const untag: Loader = () => load(import('../commands/image/untag.js'));
const rm: Loader = () => load(import('../commands/image/rm.js'));
const save: Loader = () => load(import('../commands/image/save.js'));
const loadCmd: Loader = () => load(import('../commands/image/load.js'));
const importCmd: Loader = () => load(import('../commands/image/import.js'));
const history: Loader = () => load(import('../commands/image/history.js'));

/** Command ids (and their aliases) → the module defining the command and its canonical id. */
const COMMANDS: Record<string, [string, Loader]> = {
  'image:pull': ['image:pull', pull],
  pull: ['image:pull', pull],
  'image:push': ['image:push', push],
  push: ['image:push', push],
  'image:list': ['image:list', list],
  'image:ls': ['image:list', list],
  images: ['image:list', list],
  'image:inspect': ['image:inspect', inspect],
  inspect: ['image:inspect', inspect],
  'image:tag': ['image:tag', tag],
  tag: ['image:tag', tag],
  'image:untag': ['image:untag', untag],
  untag: ['image:untag', untag],
  'image:rm': ['image:rm', rm],
  rmi: ['image:rm', rm],
  'image:prune': ['image:prune', () => load(import('../commands/image/prune.js'))],
  'image:save': ['image:save', save],
  save: ['image:save', save],
  'image:load': ['image:load', loadCmd],
  load: ['image:load', loadCmd],
  'image:import': ['image:import', importCmd],
  import: ['image:import', importCmd],
  'image:history': ['image:history', history],
  history: ['image:history', history],
  'system:df': ['system:df', () => load(import('../commands/system/df.js'))],
  'system:check': ['system:check', () => load(import('../commands/system/check.js'))],
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export async function runFast(argv: string[]): Promise<boolean> {
  if (argv.some((a) => a === '--help' || a === '-h' || a === 'help')) return false;
  const args = hoistGlobalFlags(argv, (id) => id in COMMANDS);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
    process.stdout.write(`${TOOL_NAME} version ${version()}\n`);
    return true;
  }
  let idLength = 0;
  for (let n = 1; n <= Math.min(args.length, 2) && !args[n - 1]!.startsWith('-'); n++) {
    if (args.slice(0, n).join(':') in COMMANDS) idLength = n;
  }
  if (idLength === 0) return false;
  const [id, loader] = COMMANDS[args.slice(0, idLength).join(':')]!;
  const Cmd = (await loader()).default;
  Cmd.id = id;
  try {
    await new Cmd(args.slice(idLength), { bin: TOOL_NAME, version: version() })._run();
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit ?? EXIT_TOOL_ERROR;
    } else {
      process.stderr.write(formatError(err, argv.includes('--log-level=debug')));
      process.exitCode = toExitCode(err);
    }
  }
  return true;
}
