import { formatError as formatCliError, UsageError } from '@skiff/cli/errors';
import {
  EXIT_TOOL_ERROR,
  StoreToolCommand,
  storeToolProfile,
  storeToolExitCode as toExitCode,
} from '@skiff/cli/store-command';

/** skiff's base command and edges: podman's conventions (see @skiff/cli/store-command). */

export const TOOL_NAME = 'skiff';
export const SKIFF = storeToolProfile(TOOL_NAME);

export { EXIT_TOOL_ERROR, toExitCode, UsageError };

/**
 * Run as a non-root user, a skiff command re-runs itself inside the user's rootless user and
 * mount namespaces (see @skiff/oci/runtime/userns), as podman does: there it is root over the
 * subordinate ids, mounts overlay, sets layer ownership and runs containers. Commands that only
 * read the store set `rootlessNamespace = false` and stay where they are (no second start-up).
 */
export abstract class ToolCommand extends StoreToolCommand {
  static rootlessNamespace = true;

  public override async init(): Promise<void> {
    const ctor = this.constructor as typeof ToolCommand;
    if (ctor.rootlessNamespace && typeof process.geteuid === 'function' && process.geteuid() !== 0) {
      const { runInRootlessNamespace } = await import('@skiff/oci/runtime/userns');
      const code = await runInRootlessNamespace(process.execPath, [
        ...process.execArgv,
        ...process.argv.slice(1),
      ]);
      this.exit(code);
    }
    await super.init();
  }
}

/** `Error: <message>` (+ the hint), as skiff prints every failure. */
export function formatError(err: unknown, debug: boolean): string {
  return formatCliError(err, debug, SKIFF.unknownCommand);
}
