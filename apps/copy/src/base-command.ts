import { Command, Errors, Flags } from '@oclif/core';
import { isSkiffError } from '@skiff/oci/errors';

/**
 * ferry's base command and entry point. skopeo's conventions: global flags may come before the
 * command (`ferry --debug copy …`), exit 0 on success, 1 on failure, 2 on a usage error (unknown
 * flag or command, missing or extra argument, bad flag value). Every failure prints one line
 * `Error: <message>` (and the hint on the next line) to stderr; the stack only with --debug.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A usage error found by a command after parsing (e.g. a bad --format): exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export abstract class FerryCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'enable debug output', helpGroup: 'GLOBAL' }),
    'insecure-policy': Flags.boolean({
      description: 'run the tool without any policy check',
      helpGroup: 'GLOBAL',
    }),
    policy: Flags.string({ description: 'Path to a trust policy file', helpGroup: 'GLOBAL' }),
    'registries-conf': Flags.string({
      description: 'path to the registries.conf file',
      helpGroup: 'GLOBAL',
      hidden: true,
    }),
    'registries.d': Flags.string({
      description: 'use registry configuration files in DIR (e.g. for container signature storage)',
      helpGroup: 'GLOBAL',
    }),
    tmpdir: Flags.string({ description: 'directory used to store temporary files', helpGroup: 'GLOBAL' }),
    'override-arch': Flags.string({
      description: 'use ARCH instead of the architecture of the machine for choosing images',
      helpGroup: 'GLOBAL',
    }),
    'override-os': Flags.string({
      description: 'use OS instead of the running OS for choosing images',
      helpGroup: 'GLOBAL',
    }),
    'override-variant': Flags.string({
      description: 'use VARIANT instead of the running architecture variant for choosing images',
      helpGroup: 'GLOBAL',
    }),
    'command-timeout': Flags.string({
      description: 'timeout for the command execution',
      helpGroup: 'GLOBAL',
    }),
  };

  /**
   * Go's flag package takes `--tls-verify=false`; oclif booleans take `--no-tls-verify`. Rewrite the
   * first form for every boolean flag of the command before oclif parses.
   */
  public override async init(): Promise<void> {
    this.argv = normalizeBooleanFlags(this.argv, this.ctor.flags ?? {}, this.ctor.baseFlags ?? {});
    await super.init();
  }

  /** True when --debug was given (works even when parsing failed). */
  protected get debugEnabled(): boolean {
    return this.argv.includes('--debug');
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<never> {
    if (err instanceof Errors.ExitError) throw err;
    const usage = !this.parsed || isUsageError(err);
    process.stderr.write(formatError(err, this.debugEnabled));
    throw new Errors.ExitError(usage ? EXIT_USAGE : toExitCode(err));
  }
}

type FlagMap = Record<string, { type: string; allowNo?: boolean; char?: string }>;

/** `--name=true` → `--name`, `--name=false` → `--no-name` (or dropped when the flag has no `--no-` form). */
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

function isUsageError(err: unknown): boolean {
  if (err instanceof UsageError) return true;
  const e = err as { parse?: unknown; name?: unknown };
  return e !== null && typeof e === 'object' && e.parse !== undefined;
}

/** The one place ferry maps a failure to an exit code. */
export function toExitCode(err: unknown): number {
  if (err instanceof Errors.ExitError) return err.oclif.exit ?? EXIT_FAILURE;
  if (isUsageError(err)) return EXIT_USAGE;
  return EXIT_FAILURE;
}

/** `Error: <message>` (+ `\n<hint>`), oclif's parse messages reworded as cobra prints them. */
export function formatError(err: unknown, debug: boolean): string {
  let message = err instanceof Error ? err.message : String(err);
  message = message
    .replace(/\n?See more help with --help$/, '')
    .replace(/^Nonexistent flags?: /, 'unknown flag: ')
    .replace(
      /^command (\S+) not found$/,
      (_m, id: string) => `unknown command "${id.replaceAll(':', ' ')}" for "ferry"`,
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
  Object.entries(FerryCommand.baseFlags)
    .filter(([, f]) => f.type === 'option')
    .map(([name]) => `--${name}`),
);
const GLOBAL_FLAGS = new Set(Object.keys(FerryCommand.baseFlags).map((n) => `--${n}`));

/**
 * skopeo takes global flags before the command (`ferry --debug copy a b`); oclif only after the
 * command id. Move leading global flags to just after the id (not to the end: a command may pass
 * its trailing arguments through).
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
