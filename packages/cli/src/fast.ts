import { Errors } from '@oclif/core';
import { hoistGlobalFlags } from './argv.js';
import { formatError } from './errors.js';
import type { ToolProfile } from './tool.js';

/**
 * The fast path: run a command with oclif's parser and the command's own class, without loading
 * oclif's config, plugins and help (the app's bundle aliases '@oclif/core' to ./oclif-shim.ts).
 * Returns false for what it does not handle — help, unknown commands, no command — so the bin
 * falls back to the full oclif entry point (./main.ts).
 */

export interface CommandClass {
  id: string;
  new (argv: string[], config: { bin: string; version: string }): { _run(): Promise<unknown> };
}

/** A command's module, loaded on demand (so each command's code is its own bundle chunk). */
export type CommandLoader = () => Promise<{ default: CommandClass }>;

/** Command ids and aliases (`image:ls`, `images`) → the canonical id and the command's module. */
export type CommandTable = Record<string, readonly [string, CommandLoader]>;

export async function runFast(
  tool: ToolProfile,
  commands: CommandTable,
  argv: string[],
  version: () => string,
): Promise<boolean> {
  if (argv.some((a) => a === '--help' || a === '-h')) return false;
  const args = hoistGlobalFlags(argv, tool.globalFlags, (id) => id in commands);
  let idLength = 0;
  for (let n = 1; n <= args.length && !args[n - 1]!.startsWith('-'); n++) {
    if (args.slice(0, n).join(':') in commands) idLength = n;
  }
  const entry = idLength > 0 ? commands[args.slice(0, idLength).join(':')] : undefined;
  if (!entry) return false;
  const [id, load] = entry;
  const Cmd = (await load()).default;
  Cmd.id = id;
  try {
    await new Cmd(args.slice(idLength), { bin: tool.name, version: version() })._run();
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit ?? 1;
    } else {
      process.stderr.write(formatError(err, tool.isDebug(argv), tool.unknownCommand));
      process.exitCode = tool.exitCode(err);
    }
  }
  return true;
}
