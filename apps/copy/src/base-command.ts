import { Command, Errors, Flags } from '@oclif/core';
import { normalizeBooleanFlags } from '@skiff/cli/argv';
import { formatError, isCommandNotFound, isUsageError, UsageError } from '@skiff/cli/errors';
import type { ToolProfile } from '@skiff/cli/tool';

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
export { UsageError };

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
    // As skopeo: a non-root user's containers-storage: is written and read inside the user's
    // rootless namespace (the one skiff keeps), where layer files keep their owners.
    if (
      typeof process.geteuid === 'function' &&
      process.geteuid() !== 0 &&
      this.argv.some((a) => a.startsWith('containers-storage:'))
    ) {
      const { runInRootlessNamespace } = await import('@skiff/oci/runtime/userns');
      this.exit(
        await runInRootlessNamespace(process.execPath, [...process.execArgv, ...process.argv.slice(1)]),
      );
    }
    await super.init();
  }

  /** True when --debug was given (works even when parsing failed). */
  protected get debugEnabled(): boolean {
    return this.argv.includes('--debug');
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<never> {
    if (err instanceof Errors.ExitError) throw err;
    const usage = !this.parsed || isUsageError(err);
    process.stderr.write(formatError(err, this.debugEnabled, FERRY.unknownCommand));
    throw new Errors.ExitError(usage ? EXIT_USAGE : FERRY.exitCode(err));
  }
}

/** ferry at the edges: skopeo's exit codes (1 failure, 2 usage) and messages. */
export const FERRY: ToolProfile = {
  name: 'ferry',
  globalFlags: FerryCommand.baseFlags,
  isDebug: (argv) => argv.includes('--debug'),
  unknownCommand: (id) => `unknown command "${id}" for "ferry"`,
  exitCode: (err) => (isUsageError(err) || isCommandNotFound(err) ? EXIT_USAGE : EXIT_FAILURE),
};
