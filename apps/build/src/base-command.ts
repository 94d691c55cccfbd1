import { fileURLToPath } from 'node:url';
import { Command, Config, Errors, Flags, flush, run } from '@oclif/core';
import { isSkiffError } from '@skiff/oci/errors';

/**
 * wright's base command and entry point, with buildah's conventions: global flags may come before
 * the command (`wright --root /x images`), the tool's own failures (including usage errors) exit
 * 125, a command may exit with another code through `this.exit(n)` (a container's exit code, 126,
 * 127). A failure prints `Error: <message>` (and the hint) on stderr; the stack only with
 * `--log-level debug`.
 */

export const TOOL_NAME = 'wright';
export const EXIT_TOOL_ERROR = 125;

/** A usage error found by a command after parsing (e.g. a bad --format). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic'] as const;

export abstract class ToolCommand extends Command {
  static override baseFlags = {
    'log-level': Flags.string({
      description: 'log messages at and above specified level',
      options: [...LOG_LEVELS],
      default: 'warn',
      helpGroup: 'GLOBAL',
    }),
    root: Flags.string({
      description: 'path to the graph root directory where images are stored',
      helpGroup: 'GLOBAL',
    }),
    runroot: Flags.string({
      description: 'path to the "run directory" where all state information is stored',
      helpGroup: 'GLOBAL',
    }),
    'storage-driver': Flags.string({
      description: 'select which storage driver is used to manage storage of images and containers',
      helpGroup: 'GLOBAL',
    }),
  };

  /** Go's flag package takes `--rm=false`; oclif booleans take `--no-rm`: rewrite before parsing. */
  public override async init(): Promise<void> {
    this.argv = normalizeBooleanFlags(this.argv, this.ctor.flags ?? {}, this.ctor.baseFlags ?? {});
    await super.init();
  }

  protected get debugEnabled(): boolean {
    return isDebug(this.argv);
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<never> {
    if (err instanceof Errors.ExitError) throw err;
    process.stderr.write(formatError(err, this.debugEnabled));
    throw new Errors.ExitError(toExitCode(err));
  }
}

function isDebug(argv: string[]): boolean {
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') break;
    if (arg === '--log-level=debug' || arg === '--log-level=trace') return true;
    if (arg === '--log-level' && (argv[i + 1] === 'debug' || argv[i + 1] === 'trace')) return true;
  }
  return false;
}

type FlagMap = Record<string, { type: string; allowNo?: boolean }>;

/** `--name=true` → `--name`, `--name=false` → `--no-name` (or dropped when there is no `--no-` form). */
export function normalizeBooleanFlags(argv: string[], ...flagSets: FlagMap[]): string[] {
  const flags: FlagMap = Object.assign({}, ...flagSets);
  const out: string[] = [];
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--([\w.-]+)=(true|false)$/i.exec(arg);
    const flag = m ? flags[m[1]!] : undefined;
    if (!m || flag?.type !== 'boolean') {
      out.push(arg);
      continue;
    }
    if (m[2]!.toLowerCase() === 'true') out.push(`--${m[1]}`);
    else if (flag.allowNo) out.push(`--no-${m[1]}`);
  }
  return out;
}

/** The one place wright maps a failure to an exit code. */
export function toExitCode(err: unknown): number {
  if (err instanceof Errors.ExitError) return err.oclif.exit ?? EXIT_TOOL_ERROR;
  return EXIT_TOOL_ERROR;
}

/** `Error: <message>` (+ `\n<hint>`), oclif's parse messages reworded as cobra prints them. */
export function formatError(err: unknown, debug: boolean): string {
  let message = err instanceof Error ? err.message : String(err);
  message = message
    .replace(/\n?See more help with --help$/, '')
    .replace(/^Nonexistent flags?: /, 'unknown flag: ')
    .replace(
      /^command (\S+) not found$/,
      (_m, id: string) => `unrecognized command \`${TOOL_NAME} ${id.replaceAll(':', ' ')}\``,
    );
  let out = `Error: ${message}\n`;
  if (isSkiffError(err) && err.hint) out += `${err.hint}\n`;
  if (debug && err instanceof Error && err.stack) {
    out += `${err.stack}\n`;
    let cause = (err as { cause?: unknown }).cause;
    while (cause instanceof Error) {
      out += `Caused by: ${cause.stack ?? cause.message}\n`;
      cause = (cause as { cause?: unknown }).cause;
    }
  }
  return out;
}

const VALUE_FLAGS = new Set(
  Object.entries(ToolCommand.baseFlags)
    .filter(([, f]) => f.type === 'option')
    .map(([name]) => `--${name}`),
);
const GLOBAL_FLAGS = new Set(Object.keys(ToolCommand.baseFlags).map((n) => `--${n}`));

/**
 * Move global flags given before the command to just after the command id (not to the end: `run`
 * and `exec` pass everything after the image through to the container).
 */
export function hoistGlobalFlags(argv: string[], isCommand: (id: string) => boolean): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    const name = arg.split('=')[0]!;
    if (!GLOBAL_FLAGS.has(name)) break;
    leading.push(arg);
    if (!arg.includes('=') && VALUE_FLAGS.has(name) && i + 1 < argv.length) leading.push(argv[++i]!);
    i++;
  }
  if (leading.length === 0) return argv;
  const rest = argv.slice(i);
  let idLength = 0;
  for (let n = 1; n <= rest.length && !rest[n - 1]!.startsWith('-'); n++) {
    if (isCommand(rest.slice(0, n).join(':'))) idLength = n;
  }
  if (idLength === 0) return [...rest, ...leading];
  return [...rest.slice(0, idLength), ...leading, ...rest.slice(idLength)];
}

/** The entry point bin/run.js calls: `--version` as buildah prints it, global flags first, errors. */
export async function main(dir: string | URL, argv: string[] = process.argv.slice(2)): Promise<void> {
  try {
    const config = await Config.load(dir instanceof URL ? fileURLToPath(dir) : dir);
    const args = hoistGlobalFlags(argv, (id) => config.findCommand(id) !== undefined);
    const first = args[0];
    if (first?.startsWith('-') && !['--help', '-h', '--version', '-v'].includes(first)) {
      throw new UsageError(`unknown flag: ${first}`);
    }
    if (args[0] === '--version' || args[0] === '-v') {
      process.stdout.write(`${TOOL_NAME} version ${config.version}\n`);
      return;
    }
    await run(args, config);
    await flush();
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit ?? EXIT_TOOL_ERROR;
      return;
    }
    process.stderr.write(formatError(err, isDebug(argv)));
    process.exitCode = toExitCode(err);
  }
}
