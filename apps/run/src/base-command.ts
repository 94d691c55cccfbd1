import { Command, Errors, Flags } from '@oclif/core';
import { normalizeBooleanFlags } from '@skiff/cli/argv';
import { formatError as formatCliError, UsageError } from '@skiff/cli/errors';
import type { ToolProfile } from '@skiff/cli/tool';

/**
 * skiff's base command and entry point, with podman's conventions: global flags may come before
 * the command (`skiff --root /x images`), the tool's own failures (including usage errors) exit
 * 125, a command may exit with another code through `this.exit(n)` (a container's exit code, 126,
 * 127). A failure prints `Error: <message>` (and the hint) on stderr; the stack only with
 * `--log-level debug`.
 */

export const TOOL_NAME = 'skiff';
export const EXIT_TOOL_ERROR = 125;

/** A usage error found by a command after parsing (e.g. a bad --format). */
export { UsageError };

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

/** The one place skiff maps a failure to an exit code. */
export function toExitCode(err: unknown): number {
  if (err instanceof Errors.ExitError) return err.oclif.exit ?? EXIT_TOOL_ERROR;
  return EXIT_TOOL_ERROR;
}

/** `Error: <message>` (+ the hint), as skiff prints every failure. */
export function formatError(err: unknown, debug: boolean): string {
  return formatCliError(err, debug, SKIFF.unknownCommand);
}

/** skiff at the edges: podman's conventions, 125 for the tool's own failures. */
export const SKIFF: ToolProfile = {
  name: TOOL_NAME,
  globalFlags: ToolCommand.baseFlags,
  isDebug,
  unknownCommand: (id) => `unrecognized command \`${TOOL_NAME} ${id}\``,
  exitCode: toExitCode,
};
