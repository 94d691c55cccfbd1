import { z } from 'zod';
import { type ErrorCode, isAbortError, SkiffError } from '../errors.js';

/**
 * Mapping of registry answers and transport failures to SkiffErrors: the distribution error
 * body `{errors:[{code,message}]}` is kept as `registryCode`, HTTP status as `status`.
 */

const errorBodySchema = z.looseObject({
  errors: z.array(z.looseObject({ code: z.string().optional(), message: z.string().optional() })).optional(),
});

export interface RegistryErrorBody {
  code?: string;
  message?: string;
}

/** Parse a distribution error body; undefined when it is not one. */
export function parseErrorBody(text: string): RegistryErrorBody | undefined {
  if (text.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = errorBodySchema.safeParse(json);
  if (!parsed.success) return undefined;
  const first = parsed.data.errors?.[0];
  if (first === undefined) return undefined;
  const out: RegistryErrorBody = {};
  if (first.code !== undefined) out.code = first.code;
  if (first.message !== undefined) out.message = first.message;
  return out;
}

/** What a request was about, to choose between MANIFEST_UNKNOWN / BLOB_UNKNOWN / NOT_FOUND. */
export type RequestKind =
  | 'manifest'
  | 'blob'
  | 'upload'
  | 'tags'
  | 'referrers'
  | 'catalog'
  | 'ping'
  | 'other';

export function loginHint(endpoint: string): string {
  return `run \`ferry login ${endpoint}\` (or pass --creds)`;
}

export interface ResponseErrorContext {
  status: number;
  bodyText: string;
  /** Names the thing asked for, e.g. "manifest 127.0.0.1:5000/a/b:latest". */
  what: string;
  kind: RequestKind;
  endpoint: string;
  method: string;
  hadCredentials: boolean;
  /** The Retry-After the registry sent, in ms. */
  retryAfterMs?: number;
}

/** Build the SkiffError for an unexpected registry answer. */
export function responseError(ctx: ResponseErrorContext): SkiffError {
  const body = parseErrorBody(ctx.bodyText);
  const detail = body?.message ?? (body?.code ? body.code.toLowerCase() : undefined);
  const opts = (hint?: string) => {
    const o: { status: number; registryCode?: string; hint?: string } = { status: ctx.status };
    if (body?.code !== undefined) o.registryCode = body.code;
    if (hint !== undefined) o.hint = hint;
    return o;
  };
  const suffix = detail ? `: ${detail}` : '';
  switch (ctx.status) {
    case 401:
      return new SkiffError(
        'UNAUTHORIZED',
        ctx.hadCredentials
          ? `${ctx.what}: ${ctx.endpoint} rejected the credentials (unauthorized${suffix})`
          : `${ctx.what}: ${ctx.endpoint} requires authentication (unauthorized${suffix})`,
        opts(loginHint(ctx.endpoint)),
      );
    case 403:
      return new SkiffError('DENIED', `${ctx.what}: access denied by ${ctx.endpoint}${suffix}`, opts());
    case 404: {
      let code: ErrorCode = 'NOT_FOUND';
      if (body?.code === 'MANIFEST_UNKNOWN' || (body?.code === undefined && ctx.kind === 'manifest')) {
        code = 'MANIFEST_UNKNOWN';
      } else if (body?.code === 'BLOB_UNKNOWN' || (body?.code === undefined && ctx.kind === 'blob')) {
        code = 'BLOB_UNKNOWN';
      } else if (body?.code === 'NAME_UNKNOWN') {
        return new SkiffError(
          'NOT_FOUND',
          `${ctx.what}: repository not found on ${ctx.endpoint}${suffix}`,
          opts(),
        );
      }
      return new SkiffError(code, `${ctx.what}: not found${suffix}`, opts());
    }
    case 405:
      return new SkiffError(
        'UNSUPPORTED',
        `${ctx.what}: ${ctx.endpoint} does not allow ${ctx.method}${suffix}`,
        opts(
          ctx.method === 'DELETE' ? 'the registry must enable deletes (storage.delete.enabled)' : undefined,
        ),
      );
    case 429:
      return new SkiffError(
        'TOO_MANY_REQUESTS',
        `${ctx.what}: ${ctx.endpoint} answered 429 too many requests${suffix}`,
        {
          ...opts('wait and retry, or raise --retry-times'),
          ...(ctx.retryAfterMs !== undefined ? { retryAfterMs: ctx.retryAfterMs } : {}),
        },
      );
    default:
      if (body?.code === 'DIGEST_INVALID') {
        return new SkiffError(
          'DIGEST_MISMATCH',
          `${ctx.what}: ${ctx.endpoint} rejected the digest${suffix}`,
          opts(),
        );
      }
      if (body?.code === 'MANIFEST_INVALID' || body?.code === 'MANIFEST_BLOB_UNKNOWN') {
        return new SkiffError(
          'INVALID_MANIFEST',
          `${ctx.what}: ${ctx.endpoint} rejected the manifest${suffix}`,
          opts(),
        );
      }
      return new SkiffError(
        'REGISTRY',
        `${ctx.what}: ${ctx.endpoint} answered ${ctx.method} with HTTP ${ctx.status}${suffix}`,
        opts(),
      );
  }
}

export function codesOf(err: unknown): string[] {
  const out: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') out.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

function messageOf(err: unknown): string {
  let e: unknown = err;
  const parts: string[] = [];
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(': ') || String(err);
}

const TLS_CODE_RE = /CERT|SSL|TLS|SELF_SIGNED|EPROTO|UNABLE_TO_(GET|VERIFY)/;

export function isTlsError(err: unknown): boolean {
  return codesOf(err).some((c) => TLS_CODE_RE.test(c));
}

const RETRYABLE_NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** A connection-level failure worth retrying (not TLS, not an abort). */
export function isRetryableNetworkError(err: unknown): boolean {
  if (isAbortError(err)) return false;
  return codesOf(err).some((c) => RETRYABLE_NETWORK.has(c));
}

/** Map a thrown transport error (undici, net, tls) to a SkiffError naming the endpoint. */
export function networkError(err: unknown, endpoint: string, what: string): SkiffError {
  if (err instanceof SkiffError) return err;
  if (isAbortError(err)) return new SkiffError('ABORTED', `${what}: aborted`, { cause: err });
  const codes = codesOf(err);
  const message = messageOf(err);
  if (isTlsError(err)) {
    const wrongVersion =
      codes.some((c) => c.includes('WRONG_VERSION_NUMBER')) || /wrong version number/i.test(message);
    return new SkiffError(
      'TLS',
      wrongVersion
        ? `${what}: TLS handshake with ${endpoint} failed (the server may speak plain HTTP): ${message}`
        : `${what}: cannot verify the TLS certificate of ${endpoint}: ${message}`,
      {
        cause: err,
        hint: `add its CA to --cert-dir (or /etc/containers/certs.d/${endpoint}/ca.crt), or use --tls-verify=false if you trust this registry`,
      },
    );
  }
  if (codes.includes('ECONNREFUSED')) {
    return new SkiffError('NETWORK', `${what}: cannot connect to ${endpoint}: connection refused`, {
      cause: err,
      hint: `is a registry listening on ${endpoint}?`,
    });
  }
  return new SkiffError('NETWORK', `${what}: connection to ${endpoint} failed: ${message}`, { cause: err });
}
