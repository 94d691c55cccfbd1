import { Command, Errors, Flags } from '@oclif/core';
import { normalizeBooleanFlags } from './argv.js';
import { formatError } from './errors.js';
import type { ToolProfile } from './tool.js';

/**
 * The base command of the tools that work on the local store, skiff and wright, with podman's
 * and buildah's conventions: global flags may come before the command (`skiff --root /x
 * images`), the tool's own failures (including usage errors) exit 125, a command may exit with
 * another code through `this.exit(n)` (a container's exit code, 126, 127). A failure prints
 * `Error: <message>` (and the hint) on stderr; the stack only with `--log-level debug`.
 */

export const EXIT_TOOL_ERROR = 125;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic'] as const;

export abstract class StoreToolCommand extends Command {
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
    return isDebugLogLevel(this.argv);
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<never> {
    if (err instanceof Errors.ExitError) throw err;
    process.stderr.write(formatError(err, this.debugEnabled, (id) => `unrecognized command \`${id}\``));
    throw new Errors.ExitError(storeToolExitCode(err));
  }
}

/** `--log-level debug` (or trace) anywhere before `--`. */
export function isDebugLogLevel(argv: string[]): boolean {
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') break;
    if (arg === '--log-level=debug' || arg === '--log-level=trace') return true;
    if (arg === '--log-level' && (argv[i + 1] === 'debug' || argv[i + 1] === 'trace')) return true;
  }
  return false;
}

/** The one place skiff and wright map a failure to an exit code. */
export function storeToolExitCode(err: unknown): number {
  if (err instanceof Errors.ExitError) return err.oclif.exit ?? EXIT_TOOL_ERROR;
  return EXIT_TOOL_ERROR;
}

/** skiff's or wright's profile at the edges (see ToolProfile). */
export function storeToolProfile(name: string): ToolProfile {
  return {
    name,
    globalFlags: StoreToolCommand.baseFlags,
    isDebug: isDebugLogLevel,
    unknownCommand: (id) => `unrecognized command \`${name} ${id}\``,
    exitCode: storeToolExitCode,
  };
}
