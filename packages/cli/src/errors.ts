import { isSkiffError } from '@skiff/oci/errors';

/** A usage error a command finds after parsing (a bad --format, flags that exclude each other). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** True for oclif's parse errors (unknown flag, missing argument, bad value) and UsageError. */
export function isUsageError(err: unknown): boolean {
  if (err instanceof UsageError) return true;
  const e = err as { parse?: unknown } | null;
  return e !== null && typeof e === 'object' && e.parse !== undefined;
}

export function isCommandNotFound(err: unknown): boolean {
  return err instanceof Error && /^command \S+ not found$/.test(err.message);
}

/**
 * `Error: <message>` (+ `\n<hint>`), with oclif's parse messages reworded as cobra prints them;
 * the stack (and its causes) only when debugging. `unknownCommand` words an unknown command id.
 */
export function formatError(err: unknown, debug: boolean, unknownCommand: (id: string) => string): string {
  let message = err instanceof Error ? err.message : String(err);
  message = message
    .replace(/\n?See more help with --help$/, '')
    .replace(/^Nonexistent flags?: /, 'unknown flag: ')
    .replace(/^command (\S+) not found$/, (_m, id: string) => unknownCommand(id.replaceAll(':', ' ')));
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
