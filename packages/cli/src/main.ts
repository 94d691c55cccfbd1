import { fileURLToPath } from 'node:url';
import { Config, Errors, flush, run } from '@oclif/core';
import { hoistGlobalFlags } from './argv.js';
import { formatError, UsageError } from './errors.js';
import type { ToolProfile } from './tool.js';

/**
 * The full oclif entry point (help, topics, every command): `--version` as the Go tools print
 * it, global flags before the command, and one error format and exit code for failures outside a
 * command (an unknown command or flag).
 */
export async function runOclif(tool: ToolProfile, dir: string | URL, argv: string[]): Promise<void> {
  try {
    const config = await Config.load(dir instanceof URL ? fileURLToPath(dir) : dir);
    const args = hoistGlobalFlags(argv, tool.globalFlags, (id) => config.findCommand(id) !== undefined);
    const first = args[0];
    if (first?.startsWith('-') && !['--help', '-h', '--version', '-v'].includes(first)) {
      throw new UsageError(`unknown flag: ${first}`);
    }
    if (first === '--version' || first === '-v') {
      process.stdout.write(`${tool.name} version ${config.version}\n`);
      return;
    }
    await run(args, config);
    await flush();
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit ?? 1;
      return;
    }
    process.stderr.write(formatError(err, tool.isDebug(argv), tool.unknownCommand));
    process.exitCode = tool.exitCode(err);
  }
}
