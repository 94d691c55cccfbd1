import { fileURLToPath } from 'node:url';
import { Config, Errors, flush, run } from '@oclif/core';
import {
  EXIT_FAILURE,
  EXIT_USAGE,
  formatError,
  hoistGlobalFlags,
  toExitCode,
  UsageError,
} from './base-command.js';

/**
 * The entry point bin/run.js calls: `--version` as skopeo prints it, global flags before the
 * command, and one error format and exit code for failures outside a command (unknown command).
 */
export async function main(dir: string | URL, argv: string[] = process.argv.slice(2)): Promise<void> {
  try {
    const config = await Config.load(dir instanceof URL ? fileURLToPath(dir) : dir);
    const args = hoistGlobalFlags(argv, (id) => config.findCommand(id) !== undefined);
    const first = args[0];
    if (first?.startsWith('-') && !['--help', '-h', '--version', '-v'].includes(first)) {
      throw new UsageError(`unknown flag: ${first}`);
    }
    if (args[0] === '--version' || args[0] === '-v') {
      process.stdout.write(`ferry version ${config.version}\n`);
      return;
    }
    await run(args, config);
    await flush();
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit ?? EXIT_FAILURE;
      return;
    }
    process.stderr.write(formatError(err, argv.includes('--debug')));
    const notFound =
      err instanceof UsageError || (err instanceof Error && /^command \S+ not found$/.test(err.message));
    process.exitCode = notFound ? EXIT_USAGE : toExitCode(err);
  }
}
