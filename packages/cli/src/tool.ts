/** What differs between skiff, wright and ferry at the edges: names, global flags, exit codes. */
export interface ToolProfile {
  /** The binary's name: `ferry`, `skiff`, `wright`. */
  name: string;
  /** The base flags' definitions (global flags, accepted before the command). */
  globalFlags: Record<string, { type: string }>;
  /** Whether the command line asks for stacks (--debug, --log-level debug). */
  isDebug(argv: string[]): boolean;
  /** The message for an unknown command id (words separated by spaces). */
  unknownCommand(id: string): string;
  /** The exit code for a failure that is not already an oclif ExitError. */
  exitCode(err: unknown): number;
}
