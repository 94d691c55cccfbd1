/**
 * Typed errors with a stable string `code`. Callers check `err.code`, never `instanceof`
 * across package boundaries. The CLIs map codes to exit codes and print `message` (plus
 * `hint` when present); the library never prints.
 */

export type ErrorCode =
  /** Bad user input: a flag value, a reference, a transport name, a template. */
  | 'INVALID_ARGUMENT'
  | 'INVALID_REFERENCE'
  | 'UNKNOWN_TRANSPORT'
  /** Bytes from outside (registry, file, archive) that do not parse or validate. */
  | 'INVALID_MANIFEST'
  | 'INVALID_CONFIG'
  | 'INVALID_ARCHIVE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'NOT_FOUND'
  | 'MANIFEST_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'TOO_MANY_REQUESTS'
  | 'TLS'
  | 'NETWORK'
  | 'REGISTRY'
  | 'BLOCKED_REGISTRY'
  | 'SHORT_NAME'
  | 'NO_MATCHING_PLATFORM'
  | 'DIGEST_WOULD_CHANGE'
  | 'UNSUPPORTED'
  | 'CONFIG_FILE'
  | 'CREDENTIAL_HELPER'
  | 'IO'
  /** The local store refuses: an image used by a container, a store opened with another driver. */
  | 'IN_USE'
  | 'STORAGE'
  /** The OCI runtime (runc, crun) or the monitor (conmon) is missing, unusable or failed. */
  | 'RUNTIME'
  /** The container's command does not exist in its rootfs (runner exit 127). */
  | 'COMMAND_NOT_FOUND'
  /** The container's command exists but cannot be executed (runner exit 126). */
  | 'COMMAND_NOT_EXECUTABLE'
  /** Rootless setup is missing: no /etc/subuid range, no newuidmap, no user namespaces. */
  | 'ROOTLESS'
  | 'ABORTED'
  | 'INTERNAL';

export interface SkiffErrorOptions {
  cause?: unknown;
  /** One sentence the user can act on, e.g. "run `ferry login 127.0.0.1:5000`". */
  hint?: string;
  /** HTTP status for registry errors. */
  status?: number;
  /** The distribution-spec error code (MANIFEST_UNKNOWN, DENIED, ...) when a registry sent one. */
  registryCode?: string;
  /** For TOO_MANY_REQUESTS: how long the registry asked us to wait (Retry-After). */
  retryAfterMs?: number;
}

export class SkiffError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly status?: number;
  readonly registryCode?: string;
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, options: SkiffErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SkiffError';
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.status !== undefined) this.status = options.status;
    if (options.registryCode !== undefined) this.registryCode = options.registryCode;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

export function isSkiffError(err: unknown): err is SkiffError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'SkiffError' &&
    typeof (err as { code?: unknown }).code === 'string'
  );
}

/** True when the error is the result of an AbortSignal firing. */
export function isAbortError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === 'AbortError' || e.code === 'ABORT_ERR' || e.code === 'ABORTED';
}

/** Wrap an unknown thrown value as a SkiffError, keeping SkiffErrors as they are. */
export function asSkiffError(err: unknown, context?: string): SkiffError {
  if (isSkiffError(err)) return err;
  if (isAbortError(err))
    return new SkiffError('ABORTED', context ? `${context}: aborted` : 'aborted', { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  const sys = (err as { code?: unknown } | null)?.code;
  const code: ErrorCode = typeof sys === 'string' && /^E[A-Z]+$/.test(sys) ? 'IO' : 'INTERNAL';
  return new SkiffError(code, context ? `${context}: ${message}` : message, { cause: err });
}
