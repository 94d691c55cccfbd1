import { formatError as formatCliError, UsageError } from '@skiff/cli/errors';
import {
  EXIT_TOOL_ERROR,
  storeToolProfile,
  StoreToolCommand as ToolCommand,
  storeToolExitCode as toExitCode,
} from '@skiff/cli/store-command';

/** skiff's base command and edges: podman's conventions (see @skiff/cli/store-command). */

export const TOOL_NAME = 'skiff';
export const SKIFF = storeToolProfile(TOOL_NAME);

export { EXIT_TOOL_ERROR, ToolCommand, toExitCode, UsageError };

/** `Error: <message>` (+ the hint), as skiff prints every failure. */
export function formatError(err: unknown, debug: boolean): string {
  return formatCliError(err, debug, SKIFF.unknownCommand);
}
