import { formatError as formatCliError, UsageError } from '@skiff/cli/errors';
import {
  EXIT_TOOL_ERROR,
  storeToolProfile,
  StoreToolCommand as ToolCommand,
  storeToolExitCode as toExitCode,
} from '@skiff/cli/store-command';

/** wright's base command and edges: buildah's conventions (see @skiff/cli/store-command). */

export const TOOL_NAME = 'wright';
export const WRIGHT = storeToolProfile(TOOL_NAME);

export { EXIT_TOOL_ERROR, ToolCommand, toExitCode, UsageError };

/** `Error: <message>` (+ the hint), as wright prints every failure. */
export function formatError(err: unknown, debug: boolean): string {
  return formatCliError(err, debug, WRIGHT.unknownCommand);
}
