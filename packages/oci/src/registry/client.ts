import { pipeline, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { loadTlsMaterial } from '../config/certs.js';
import { isAbortError, isSkiffError, SkiffError } from '../errors.js';
import { type Digest, DigestVerifier, digestOf, isDigest, parseDigest } from '../spec/digest.js';
import { MediaType, manifestMediaTypes } from '../spec/media-types.js';
import { type Descriptor, descriptorSchema } from '../spec/schemas.js';
import type { Credentials } from '../transports/types.js';
import { Authenticator, readLimited, repositoryScope } from './auth.js';
import {
  codesOf,
  isRetryableNetworkError,
  isTlsError,
  networkError,
  type RequestKind,
  responseError,
} from './errors.js';
import type { RegistryGate } from './gate.js';
import { Agent, type Dispatcher, request } from './http.js';
import { type AuthChallenge, parseWwwAuthenticate } from './www-authenticate.js';

/**
 * The OCI distribution client for one registry endpoint, on undici: one keep-alive Agent per
 * client, reused for every call. It pings /v2/ once (HTTPS first; plain HTTP only for insecure
 * registries), answers auth challenges (Bearer token with a per-scope cache, Basic), retries
 * 5xx/429/connection resets with exponential backoff honouring Retry-After, follows blob
 * redirects to other hosts without the Authorization header, resumes interrupted blob downloads
 * with Range, and verifies every digest it is given while bytes stream.
 */

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  method: string;
  url: string;
  reason: string;
}

export interface RegistryClientOptions {
  /** host[:port]; docker.io → registry-1.docker.io. */
  endpoint: string;
  /** registries.conf insecure or --tls-verify=false: skip TLS verification and allow falling back to http. */
  insecure?: boolean;
  /** --tls-verify; false implies insecure, true overrides a registries.conf `insecure`. */
  tlsVerify?: boolean;
  certDir?: string;
  credentials?: Credentials | (() => Promise<Credentials | undefined>);
  /** Retries after the first attempt; default 3. */
  retryTimes?: number;
  /** First backoff delay; doubles each retry. Default 1000 ms. */
  retryDelayMs?: number;
  userAgent?: string;
  onRetry?: (info: RetryInfo) => void;
  /** Blob download resumes after a dropped connection; default 5. */
  maxResumes?: number;
  /** Registry-wide backoff shared with other clients: a 429 makes every request to this endpoint wait. */
  gate?: RegistryGate;
  /** Owned by a RegistryClientPool: close() leaves it open for the next user; the pool disposes it. */
  pooled?: boolean;
  /**
   * Connections and the /v2/ ping shared with the other clients of the same endpoint and TLS
   * settings (a pool's clients differ only in credentials and repository): one ping and one
   * keep-alive connection pool per registry, not per repository. Tokens stay per client.
   */
  shared?: SharedEndpoint;
}

/** What clients of one endpoint (same TLS settings) share; see RegistryClientOptions.shared. */
export class SharedEndpoint {
  dispatcher: Promise<Agent> | undefined;
  agent: Agent | undefined;
  /** The base URL the ping found, and the auth challenges /v2/ answered with. */
  ready: Promise<{ base: URL; challenges: AuthChallenge[] }> | undefined;
  /** The registry answered 404 to the referrers API (see RegistryClient.referrers). */
  referrersApiMissing = false;
  /** The first referrers request in flight: the others wait for what it learns. */
  referrersProbe: Promise<void> | undefined;

  /** Release the connections. */
  async dispose(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    this.dispatcher = undefined;
    if (agent) await agent.destroy();
  }
}

/** The largest manifest we accept (as containers/image). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 10;
const MAX_RETRY_AFTER_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;
const DEFAULT_USER_AGENT = 'skiff/0.1.0';
const MAX_TAG_PAGES = 10_000;

interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** A path under the base URL (`/v2/...`) or an absolute URL (upload locations). */
  path: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  /** Buffers are replayable (retries); streams are sent once. */
  body?: Buffer | Readable;
  scopes: string[];
  what: string;
  kind: RequestKind;
  /** Statuses returned to the caller; anything else becomes an error. */
  expect: number[];
  signal?: AbortSignal | undefined;
}

interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  url: URL;
}

const tagListSchema = z.looseObject({
  name: z.string().optional(),
  tags: z.array(z.string()).nullable().optional(),
});
const catalogSchema = z.looseObject({ repositories: z.array(z.string()).nullable().optional() });
const referrersIndexSchema = z.looseObject({ manifests: z.array(descriptorSchema).nullable().optional() });

function header(headers: RegistryResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function baseMediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  return base === '' ? undefined : base;
}

/** Parse Retry-After (seconds or an HTTP date) into a delay in ms. */
export function parseRetryAfter(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** The `next` target of a Link header (`<url>; rel="next"`), if any. */
export function parseNextLink(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  for (const part of value.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /rel="?next"?/i.test(m[2]!)) return m[1];
  }
  return undefined;
}

async function drain(body: Dispatcher.ResponseData['body']): Promise<void> {
  try {
    // Small bodies are read so that the connection can be reused; anything big is cut.
    await readLimited(body, 64 * 1024);
  } catch {
    body.destroy();
  }
}

export class RegistryClient {
  readonly endpoint: string;
  private readonly options: RegistryClientOptions;
  private readonly skipVerify: boolean;
  private readonly allowHttp: boolean;
  private readonly retryTimes: number;
  private readonly userAgent: string;
  private dispatcherPromise: Promise<Agent> | undefined;
  private agent: Agent | undefined;
  private readyPromise: Promise<URL> | undefined;
  private authenticator: Authenticator | undefined;
  /** Set when the registry answered 404 to the referrers API: later calls go to the tag schema. */
  private referrersApiMissing = false;
  private credentialsPromise: Promise<Credentials | undefined> | undefined;

  constructor(options: RegistryClientOptions) {
    this.options = options;
    this.endpoint = options.endpoint === 'docker.io' ? 'registry-1.docker.io' : options.endpoint;
    this.skipVerify =
      options.tlsVerify === false || (options.tlsVerify === undefined && options.insecure === true);
    this.allowHttp = this.skipVerify;
    this.retryTimes = Math.max(0, options.retryTimes ?? 3);
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
  }

  /** Token requests made so far (tests check that tokens are cached). */
  get tokenRequestCount(): number {
    return this.authenticator?.tokenRequests ?? 0;
  }

  private credentials(): Promise<Credentials | undefined> {
    const c = this.options.credentials;
    this.credentialsPromise ??= typeof c === 'function' ? c() : Promise.resolve(c);
    return this.credentialsPromise;
  }

  private dispatcher(): Promise<Agent> {
    const shared = this.options.shared;
    if (shared) {
      shared.dispatcher ??= this.newDispatcher().then((agent) => {
        shared.agent = agent;
        return agent;
      });
      return shared.dispatcher;
    }
    this.dispatcherPromise ??= this.newDispatcher().then((agent) => {
      this.agent = agent;
      return agent;
    });
    return this.dispatcherPromise;
  }

  private newDispatcher(): Promise<Agent> {
    return (async () => {
      const material = await loadTlsMaterial(
        this.endpoint,
        this.options.certDir ? { certDir: this.options.certDir } : {},
      );
      const connect: Record<string, unknown> = { rejectUnauthorized: !this.skipVerify };
      // Not verifying: an empty CA list spares loading the system roots (~20-30 ms per process).
      if (this.skipVerify) connect.ca = [];
      else if (material.ca.length > 0) {
        // node:tls is loaded here, not at import: ~25 ms a process that never speaks TLS saves.
        const { rootCertificates } = await import('node:tls');
        connect.ca = [...rootCertificates, ...material.ca.map((b) => b.toString('utf8'))];
      }
      if (material.cert && material.key) {
        connect.cert = material.cert;
        connect.key = material.key;
      }
      return new Agent({ keepAliveTimeout: 30_000, connections: 16, connect });
    })();
  }

  private auth(dispatcher: Agent): Authenticator {
    this.authenticator ??= new Authenticator({
      endpoint: this.endpoint,
      dispatcher,
      userAgent: this.userAgent,
      credentials: () => this.credentials(),
    });
    return this.authenticator;
  }

  /** Close the connection pool. The client cannot be used afterwards. */
  /** Done with the client: releases its connections, unless a pool owns it (see dispose). */
  async close(): Promise<void> {
    if (!this.options.pooled) await this.dispose();
  }

  /** Release the connections whatever owns the client. */
  async dispose(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    // Destroy, not close: by now every request is done, and a graceful close waits on the
    // server's side of each keep-alive socket (tens of ms at the end of every command).
    if (agent) await agent.destroy();
  }

  /**
   * Check that the endpoint speaks the distribution API (GET /v2/), learning its auth challenge.
   * With credentials, also check that the registry accepts them (as `login` needs): an
   * authorized GET /v2/ must answer 200, else UNAUTHORIZED.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.base(signal);
    if (this.authenticator?.scheme === undefined || (await this.credentials()) === undefined) return;
    const res = await this.send({
      method: 'GET',
      path: '/v2/',
      scopes: [],
      what: `logging in to ${this.endpoint}`,
      kind: 'ping',
      expect: [200],
      signal,
    });
    await drain(res.body);
  }

  private base(signal?: AbortSignal): Promise<URL> {
    this.readyPromise ??= this.detected(signal).then(
      async ({ base, challenges }) => {
        if (challenges.length > 0) this.auth(await this.dispatcher()).setChallenges(challenges);
        return base;
      },
      (err: unknown) => {
        this.readyPromise = undefined;
        throw err;
      },
    );
    return this.readyPromise;
  }

  /** The ping's answer: this client's own, or the one its shared endpoint already has. */
  private detected(signal?: AbortSignal): Promise<{ base: URL; challenges: AuthChallenge[] }> {
    const shared = this.options.shared;
    if (!shared) return this.detect(signal);
    shared.ready ??= this.detect(signal).catch((err: unknown) => {
      shared.ready = undefined;
      throw err;
    });
    return shared.ready;
  }

  private async detect(signal?: AbortSignal): Promise<{ base: URL; challenges: AuthChallenge[] }> {
    const dispatcher = await this.dispatcher();
    const tryScheme = async (
      scheme: 'https' | 'http',
      retry = true,
    ): Promise<{ base: URL; challenges: AuthChallenge[] }> => {
      const base = new URL(`${scheme}://${this.endpoint}`);
      const url = new URL('/v2/', base);
      const res = await this.withRetries(
        'GET',
        url,
        signal,
        () => request(url, { method: 'GET', headers: { 'user-agent': this.userAgent }, dispatcher, signal }),
        retry,
        true,
      );
      const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
      await drain(res.body);
      if (res.statusCode === 200 || res.statusCode === 401) {
        return { base, challenges: res.statusCode === 401 ? challenges : [] };
      }
      throw new SkiffError(
        'REGISTRY',
        `${this.endpoint} is not a container registry: GET ${url.href} answered HTTP ${res.statusCode}`,
        { status: res.statusCode },
      );
    };
    // Where plain HTTP is allowed, it is asked at the same time as HTTPS (a GET /v2/ without
    // credentials), so a registry without TLS costs no second round trip; HTTPS still wins
    // whenever it answers, as skopeo's sequential probe would have it. That early probe is not
    // retried (it may be talking to a TLS port): a network hiccup there means one more, retried, try.
    const http = this.allowHttp ? tryScheme('http', false) : undefined;
    http?.catch(() => {});
    try {
      return await tryScheme('https');
    } catch (err) {
      if (isAbortError(err) || !http) throw networkError(err, this.endpoint, `pinging ${this.endpoint}`);
      try {
        return await http.catch((probeErr: unknown) =>
          isRetryableNetworkError(probeErr) && !isAbortError(probeErr)
            ? tryScheme('http')
            : Promise.reject(probeErr),
        );
      } catch (httpErr) {
        // Report the HTTPS failure when HTTP does not work either: it is the primary protocol.
        throw networkError(isSkiffError(httpErr) ? httpErr : err, this.endpoint, `pinging ${this.endpoint}`);
      }
    }
  }

  /** Run `attempt` with the retry policy for network failures, 5xx and 429. */
  private async withRetries(
    method: string,
    url: URL,
    signal: AbortSignal | undefined,
    attemptFn: () => Promise<Dispatcher.ResponseData>,
    replayable = true,
    firstContact = false,
  ): Promise<Dispatcher.ResponseData> {
    const gate = this.options.gate;
    for (let attempt = 0; ; attempt++) {
      let res: Dispatcher.ResponseData;
      if (gate) await gate.wait([this.endpoint], signal);
      try {
        res = await attemptFn();
      } catch (err) {
        // Nothing listening at first contact is an answer, not a hiccup: fail at once, as skopeo does.
        const refusedAtFirstContact = firstContact && codesOf(err).includes('ECONNREFUSED');
        if (
          replayable &&
          !refusedAtFirstContact &&
          attempt < this.retryTimes &&
          isRetryableNetworkError(err) &&
          !isTlsError(err)
        ) {
          await this.backoff(attempt, undefined, method, url, String((err as Error).message ?? err), signal);
          continue;
        }
        throw err;
      }
      const status = res.statusCode;
      if (
        replayable &&
        attempt < this.retryTimes &&
        (status === 429 || (status >= 500 && status !== 501 && status !== 505))
      ) {
        const retryAfter = parseRetryAfter(header(res.headers, 'retry-after'));
        await drain(res.body);
        if (status === 429 && gate) {
          // Close the registry for every client sharing the gate; the wait happens at the loop's top.
          const delayMs = gate.block(this.endpoint, retryAfter);
          this.options.onRetry?.({
            attempt: attempt + 1,
            delayMs,
            method,
            url: url.href,
            reason: 'HTTP 429',
          });
        } else {
          await this.backoff(attempt, retryAfter, method, url, `HTTP ${status}`, signal);
        }
        continue;
      }
      if (gate && status !== 429) gate.clear(this.endpoint);
      return res;
    }
  }

  private async backoff(
    attempt: number,
    retryAfterMs: number | undefined,
    method: string,
    url: URL,
    reason: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const base = this.options.retryDelayMs ?? 1000;
    const delayMs =
      retryAfterMs !== undefined
        ? Math.min(retryAfterMs, MAX_RETRY_AFTER_MS)
        : Math.min(base * 2 ** attempt, MAX_BACKOFF_MS);
    this.options.onRetry?.({ attempt: attempt + 1, delayMs, method, url: url.href, reason });
    await sleep(delayMs, undefined, signal ? { signal } : undefined);
  }

  /** Send one registry request: ping first, authorize, retry, map unexpected answers to errors. */
  private async send(req: RegistryRequest): Promise<RegistryResponse> {
    const base = await this.base(req.signal);
    const dispatcher = await this.dispatcher();
    const auth = this.auth(dispatcher);
    const url = new URL(req.path, base);
    for (const [k, v] of Object.entries(req.query ?? {})) {
      for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, item);
    }
    const replayable = req.body === undefined || Buffer.isBuffer(req.body);
    let scopes = req.scopes;
    const sameOrigin = url.origin === base.origin;
    for (let authAttempt = 0; ; authAttempt++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
      if (sameOrigin) {
        const authorization = await auth.header(scopes, req.signal);
        if (authorization !== undefined) headers.authorization = authorization;
      }
      let res: Dispatcher.ResponseData;
      try {
        res = await this.withRetries(
          req.method,
          url,
          req.signal,
          () =>
            request(url, {
              method: req.method,
              headers,
              body: req.body ?? null,
              dispatcher,
              signal: req.signal,
              // undici closes the connection after every HEAD by default (for servers that send
              // a body anyway); registries answer HEAD as HTTP says, and a sync of an unchanged
              // mirror is mostly HEADs: keep the connection, as Go's client (skopeo) does.
              ...(req.method === 'HEAD' ? { reset: false } : {}),
            }),
          replayable,
        );
      } catch (err) {
        throw networkError(err, this.endpoint, req.what);
      }
      if (res.statusCode === 401 && authAttempt === 0 && replayable && sameOrigin) {
        const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
        if (challenges.length > 0) {
          await drain(res.body);
          const prevScheme = auth.scheme;
          auth.setChallenges(challenges);
          const extra = challenges.find((c) => c.scheme === 'bearer')?.params.scope;
          const widened = extra ? [...new Set([...scopes, ...extra.split(' ')])] : scopes;
          const hadCreds = await auth.hasCredentials();
          // Retry once when something changed: new scheme, new scopes, or a token to refresh.
          if (
            prevScheme !== auth.scheme ||
            widened.length !== scopes.length ||
            auth.scheme === 'bearer' ||
            hadCreds
          ) {
            auth.invalidate(scopes);
            scopes = widened;
            continue;
          }
          throw await this.errorFrom(req, { status: 401, headers: res.headers, body: res.body, url }, '');
        }
      }
      const response: RegistryResponse = {
        status: res.statusCode,
        headers: res.headers,
        body: res.body,
        url,
      };
      if (req.expect.includes(res.statusCode)) return response;
      throw await this.errorFrom(req, response);
    }
  }

  private async errorFrom(
    req: RegistryRequest,
    res: RegistryResponse,
    bodyText?: string,
  ): Promise<SkiffError> {
    let text = bodyText;
    if (text === undefined) {
      try {
        text = req.method === 'HEAD' ? '' : await readLimited(res.body, 64 * 1024);
      } catch {
        text = '';
      }
    }
    // A body read only in part is destroyed; an error from it then has nowhere to go but here.
    res.body.on('error', () => {});
    res.body.destroy();
    const retryAfterMs = res.status === 429 ? parseRetryAfter(header(res.headers, 'retry-after')) : undefined;
    return responseError({
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      status: res.status,
      bodyText: text,
      what: req.what,
      kind: req.kind,
      endpoint: this.endpoint,
      method: req.method,
      hadCredentials: (await this.credentials()) !== undefined,
    });
  }

  private refName(repo: string, reference: string): string {
    return isDigest(reference)
      ? `${this.endpoint}/${repo}@${reference}`
      : `${this.endpoint}/${repo}:${reference}`;
  }

  async getManifest(
    repo: string,
    reference: string,
    signal?: AbortSignal,
  ): Promise<{ raw: Buffer; mediaType: string; digest: Digest }> {
    const what = `manifest ${this.refName(repo, reference)}`;
    const res = await this.send({
      method: 'GET',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { accept: manifestMediaTypes.join(', ') },
      scopes: [repositoryScope(repo, 'pull')],
      what,
      kind: 'manifest',
      expect: [200],
      signal,
    });
    const declared = Number(header(res.headers, 'content-length'));
    if (Number.isFinite(declared) && declared > MAX_MANIFEST_BYTES) {
      res.body.destroy();
      throw new SkiffError(
        'INVALID_MANIFEST',
        `${what} is ${declared} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`,
      );
    }
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res.body) {
        total += (chunk as Buffer).length;
        if (total > MAX_MANIFEST_BYTES) {
          res.body.destroy();
          throw new SkiffError(
            'INVALID_MANIFEST',
            `${what} is larger than the ${MAX_MANIFEST_BYTES} bytes allowed`,
          );
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      throw networkError(err, this.endpoint, what);
    }
    const raw = Buffer.concat(chunks);
    let digest: Digest;
    if (isDigest(reference)) {
      digest = digestOf(raw, parseDigest(reference).algorithm);
      if (digest !== reference) {
        throw new SkiffError('DIGEST_MISMATCH', `${what}: content has digest ${digest}`);
      }
    } else {
      digest = digestOf(raw);
    }
    return { raw, mediaType: manifestMediaTypeOf(raw, header(res.headers, 'content-type')), digest };
  }

  async headManifest(
    repo: string,
    reference: string,
    signal?: AbortSignal,
  ): Promise<{ digest: Digest; mediaType: string; sizeBytes: number } | undefined> {
    const what = `manifest ${this.refName(repo, reference)}`;
    const res = await this.send({
      method: 'HEAD',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { accept: manifestMediaTypes.join(', ') },
      scopes: [repositoryScope(repo, 'pull')],
      what,
      kind: 'manifest',
      expect: [200, 404],
      signal,
    });
    await drain(res.body);
    if (res.status === 404) return undefined;
    const digestHeader = header(res.headers, 'docker-content-digest');
    const mediaType = baseMediaType(header(res.headers, 'content-type'));
    const size = Number(header(res.headers, 'content-length'));
    if (
      digestHeader === undefined ||
      !isDigest(digestHeader) ||
      mediaType === undefined ||
      !Number.isFinite(size)
    ) {
      // Not enough in the headers: fetch the manifest and compute it ourselves.
      const m = await this.getManifest(repo, reference, signal);
      return { digest: m.digest, mediaType: m.mediaType, sizeBytes: m.raw.length };
    }
    if (isDigest(reference) && digestHeader !== reference) {
      throw new SkiffError('DIGEST_MISMATCH', `${what}: registry reports digest ${digestHeader}`);
    }
    return { digest: digestHeader, mediaType, sizeBytes: size };
  }

  async putManifest(
    repo: string,
    reference: string,
    raw: Buffer,
    mediaType: string,
    signal?: AbortSignal,
  ): Promise<Digest> {
    const what = `manifest ${this.refName(repo, reference)}`;
    const digest = isDigest(reference) ? digestOf(raw, parseDigest(reference).algorithm) : digestOf(raw);
    if (isDigest(reference) && digest !== reference) {
      throw new SkiffError('DIGEST_MISMATCH', `${what}: content has digest ${digest}`);
    }
    const res = await this.send({
      method: 'PUT',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { 'content-type': mediaType },
      body: raw,
      scopes: [repositoryScope(repo, 'pull,push')],
      what,
      kind: 'manifest',
      expect: [200, 201, 202],
      signal,
    });
    await drain(res.body);
    const reported = header(res.headers, 'docker-content-digest');
    if (
      reported !== undefined &&
      isDigest(reported) &&
      parseDigest(reported).algorithm === parseDigest(digest).algorithm
    ) {
      if (reported !== digest) {
        throw new SkiffError(
          'DIGEST_MISMATCH',
          `${what}: registry stored it as ${reported}, expected ${digest}`,
        );
      }
    }
    return digest;
  }

  async deleteManifest(repo: string, digest: Digest, signal?: AbortSignal): Promise<void> {
    const res = await this.send({
      method: 'DELETE',
      path: `/v2/${repo}/manifests/${digest}`,
      scopes: [repositoryScope(repo, '*')],
      what: `manifest ${this.refName(repo, digest)}`,
      kind: 'manifest',
      expect: [200, 202, 204],
      signal,
    });
    await drain(res.body);
  }

  async headBlob(repo: string, digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
    const res = await this.send({
      method: 'HEAD',
      path: `/v2/${repo}/blobs/${digest}`,
      scopes: [repositoryScope(repo, 'pull')],
      what: `blob ${digest} in ${this.endpoint}/${repo}`,
      kind: 'blob',
      expect: [200, 404, 307, 302, 303, 301, 308],
      signal,
    });
    await drain(res.body);
    if (res.status === 404) return undefined;
    const size = Number(header(res.headers, 'content-length'));
    return Number.isFinite(size) && res.status === 200 ? size : -1;
  }

  /** Open one GET of a blob from `offset`, following redirects (without Authorization off-origin). */
  private async openBlob(
    repo: string,
    digest: Digest,
    offset: number,
    signal: AbortSignal | undefined,
  ): Promise<{
    status: number;
    headers: RegistryResponse['headers'];
    body: Dispatcher.ResponseData['body'];
  }> {
    const what = `blob ${digest} of ${this.endpoint}/${repo}`;
    const range: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.send({
      method: 'GET',
      path: `/v2/${repo}/blobs/${digest}`,
      headers: range,
      scopes: [repositoryScope(repo, 'pull')],
      what,
      kind: 'blob',
      expect: [200, 206, 301, 302, 303, 307, 308],
      signal,
    });
    let current = { status: res.status, headers: res.headers, body: res.body, url: res.url };
    const base = await this.base(signal);
    const dispatcher = await this.dispatcher();
    for (let hops = 0; current.status >= 300 && current.status < 400; hops++) {
      const location = header(current.headers, 'location');
      await drain(current.body);
      if (location === undefined) {
        throw new SkiffError('REGISTRY', `${what}: redirect without a Location header`, {
          status: current.status,
        });
      }
      if (hops >= MAX_REDIRECTS) throw new SkiffError('REGISTRY', `${what}: too many redirects`);
      const target = new URL(location, current.url);
      if (target.protocol !== 'https:' && target.protocol !== 'http:') {
        throw new SkiffError('REGISTRY', `${what}: redirect to an unsupported URL ${target.protocol}`);
      }
      if (target.origin === base.origin) {
        // Same registry: keep authorization (send() adds it).
        const again = await this.send({
          method: 'GET',
          path: target.href,
          headers: range,
          scopes: [repositoryScope(repo, 'pull')],
          what,
          kind: 'blob',
          expect: [200, 206, 301, 302, 303, 307, 308],
          signal,
        });
        current = { status: again.status, headers: again.headers, body: again.body, url: again.url };
        continue;
      }
      // Another host (blob storage): never send the registry's credentials there.
      let r: Dispatcher.ResponseData;
      try {
        r = await this.withRetries('GET', target, signal, () =>
          request(target, {
            method: 'GET',
            headers: { 'user-agent': this.userAgent, ...range },
            dispatcher,
            signal,
          }),
        );
      } catch (err) {
        throw networkError(err, target.host, what);
      }
      current = { status: r.statusCode, headers: r.headers, body: r.body, url: target };
      if (
        current.status !== 200 &&
        current.status !== 206 &&
        !(current.status >= 300 && current.status < 400)
      ) {
        const text = await readLimited(current.body, 64 * 1024).catch(() => '');
        throw responseError({
          status: current.status,
          bodyText: text,
          what,
          kind: 'blob',
          endpoint: target.host,
          method: 'GET',
          hadCredentials: false,
        });
      }
    }
    return current;
  }

  /**
   * Read a blob as a stream, verified against `digest` (and `sizeBytes` when given) while it
   * flows. A connection dropped mid-body is resumed with a Range request from the last byte
   * received, a bounded number of times.
   */
  async getBlob(
    repo: string,
    digest: Digest,
    options: { sizeBytes?: number; signal?: AbortSignal; verify?: boolean } = {},
  ): Promise<{ stream: Readable; sizeBytes: number }> {
    const signal = options.signal;
    const what = `blob ${digest} of ${this.endpoint}/${repo}`;
    const first = await this.openBlob(repo, digest, 0, signal);
    const contentLength = Number(header(first.headers, 'content-length'));
    const known = options.sizeBytes !== undefined && options.sizeBytes >= 0 ? options.sizeBytes : undefined;
    const sizeBytes = known ?? (first.status === 200 && Number.isFinite(contentLength) ? contentLength : -1);
    const maxResumes = this.options.maxResumes ?? 5;
    const self = this;

    async function* chunks(): AsyncGenerator<Buffer> {
      let received = 0;
      let resumes = 0;
      let current: typeof first | undefined = first;
      let skip = 0;
      while (current !== undefined) {
        const body: Dispatcher.ResponseData['body'] = current.body;
        try {
          for await (const chunk of body) {
            let buf = chunk as Buffer;
            if (skip > 0) {
              const drop = Math.min(skip, buf.length);
              skip -= drop;
              buf = buf.subarray(drop);
              if (buf.length === 0) continue;
            }
            received += buf.length;
            yield buf;
          }
          return;
        } catch (err) {
          body.destroy();
          if (isAbortError(err) || signal?.aborted) throw networkError(err, self.endpoint, what);
          const complete = sizeBytes >= 0 && received >= sizeBytes;
          if (complete || resumes >= maxResumes || !isRetryableNetworkError(err)) {
            throw networkError(err, self.endpoint, `${what} (after ${received} bytes)`);
          }
          resumes++;
          current = undefined;
          const next = await self.openBlob(repo, digest, received, signal);
          if (next.status === 206) {
            const m = /bytes (\d+)-/.exec(header(next.headers, 'content-range') ?? '');
            if (!m || Number(m[1]) !== received) {
              next.body.destroy();
              throw new SkiffError('REGISTRY', `${what}: resumed download starts at the wrong offset`);
            }
          } else {
            // The server ignored the Range: read from the start and drop what we already have.
            skip = received;
          }
          current = next;
        }
      }
    }

    const source = Readable.from(chunks(), { objectMode: false });
    if (options.verify === false) return { stream: source, sizeBytes };
    const verifier = new DigestVerifier({
      digest,
      sizeBytes,
      what: `blob ${digest} of ${this.endpoint}/${repo}`,
    });
    pipeline(source, verifier, () => {
      // Errors surface on `verifier`, which the caller consumes.
    });
    return { stream: verifier, sizeBytes };
  }

  /** Try to mount `digest` from `fromRepo` into `repo`; true when the registry did it. */
  async mountBlob(repo: string, digest: Digest, fromRepo: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.send({
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/`,
      query: { mount: digest, from: fromRepo },
      headers: { 'content-length': '0' },
      scopes: [repositoryScope(repo, 'pull,push'), repositoryScope(fromRepo, 'pull')],
      what: `mounting blob ${digest} from ${this.endpoint}/${fromRepo} into ${this.endpoint}/${repo}`,
      kind: 'upload',
      expect: [201, 202],
      signal,
    });
    await drain(res.body);
    if (res.status === 201) return true;
    // 202: the registry started an ordinary upload instead; cancel it.
    const location = header(res.headers, 'location');
    if (location !== undefined) await this.cancelUpload(repo, location, res.url);
    return false;
  }

  private async cancelUpload(repo: string, location: string, relativeTo: URL): Promise<void> {
    try {
      const res = await this.send({
        method: 'DELETE',
        path: new URL(location, relativeTo).href,
        scopes: [repositoryScope(repo, 'pull,push')],
        what: `cancelling an upload to ${this.endpoint}/${repo}`,
        kind: 'upload',
        expect: [200, 202, 204, 404],
      });
      await drain(res.body);
    } catch {
      // Best effort: the registry purges abandoned uploads itself.
    }
  }

  /**
   * Upload a blob: POST a session, then one streaming PUT when the digest is known (and no chunk
   * size is asked), else PATCHes (chunks of `chunkSizeBytes`, or one streaming PATCH) and a
   * closing PUT with the computed digest. Digest and size are verified while the bytes flow.
   */
  async uploadBlob(
    repo: string,
    stream: Readable,
    info: { digest?: Digest; sizeBytes: number },
    options: { chunkSizeBytes?: number; signal?: AbortSignal; verified?: boolean } = {},
  ): Promise<{ digest: Digest; sizeBytes: number }> {
    const { signal } = options;
    const name = `${this.endpoint}/${repo}`;
    const what = `uploading blob${info.digest ? ` ${info.digest}` : ''} to ${name}`;
    const scopes = [repositoryScope(repo, 'pull,push')];
    const verifier = new DigestVerifier({
      ...(info.digest ? { digest: info.digest } : {}),
      sizeBytes: info.sizeBytes,
      what: `blob uploaded to ${name}`,
      // Checked upstream, and the registry checks the digest it is given before it keeps the blob.
      ...(options.verified && info.digest ? { hash: false } : {}),
    });
    let streamError: unknown;
    pipeline(stream, verifier, (err) => {
      if (err) streamError = err;
    });
    let start: RegistryResponse;
    try {
      start = await this.send({
        method: 'POST',
        path: `/v2/${repo}/blobs/uploads/`,
        headers: { 'content-length': '0' },
        scopes,
        what,
        kind: 'upload',
        expect: [202],
        signal,
      });
    } catch (err) {
      verifier.destroy();
      throw err;
    }
    await drain(start.body);
    let location = header(start.headers, 'location');
    let locationBase = start.url;
    if (location === undefined) {
      verifier.destroy();
      throw new SkiffError('REGISTRY', `${what}: the registry gave no upload location`);
    }
    const fail = async (err: unknown): Promise<never> => {
      verifier.destroy();
      if (location !== undefined) await this.cancelUpload(repo, location, locationBase);
      // Prefer the stream's own error (digest/size mismatch, source failure) over the HTTP one.
      throw streamError ?? err;
    };
    const withDigest = (loc: string, digest: string): string => {
      const u = new URL(loc, locationBase);
      u.searchParams.set('digest', digest);
      return u.href;
    };
    try {
      if (info.digest && options.chunkSizeBytes === undefined) {
        const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
        if (info.sizeBytes >= 0) headers['content-length'] = String(info.sizeBytes);
        const res = await this.send({
          method: 'PUT',
          path: withDigest(location, info.digest),
          headers,
          body: verifier,
          scopes,
          what,
          kind: 'upload',
          expect: [201, 204],
          signal,
        });
        await drain(res.body);
        if (streamError) throw streamError;
        return { digest: verifier.digest, sizeBytes: verifier.bytes };
      }
      if (options.chunkSizeBytes === undefined) {
        const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
        if (info.sizeBytes >= 0) headers['content-length'] = String(info.sizeBytes);
        const res = await this.send({
          method: 'PATCH',
          path: new URL(location, locationBase).href,
          headers,
          body: verifier,
          scopes,
          what,
          kind: 'upload',
          expect: [202, 204],
          signal,
        });
        await drain(res.body);
        if (streamError) throw streamError;
        location = header(res.headers, 'location') ?? location;
        locationBase = res.url;
      } else {
        const chunkSize = Math.max(1, options.chunkSizeBytes);
        let offset = 0;
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        const flush = async (buf: Buffer): Promise<void> => {
          const res = await this.send({
            method: 'PATCH',
            path: new URL(location!, locationBase).href,
            headers: {
              'content-type': 'application/octet-stream',
              'content-range': `${offset}-${offset + buf.length - 1}`,
              'content-length': String(buf.length),
            },
            body: buf,
            scopes,
            what,
            kind: 'upload',
            expect: [202, 204],
            signal,
          });
          await drain(res.body);
          offset += buf.length;
          location = header(res.headers, 'location') ?? location;
          locationBase = res.url;
        };
        for await (const chunk of verifier) {
          pending.push(chunk as Buffer);
          pendingBytes += (chunk as Buffer).length;
          while (pendingBytes >= chunkSize) {
            const all = Buffer.concat(pending);
            await flush(all.subarray(0, chunkSize));
            const rest = all.subarray(chunkSize);
            pending = rest.length > 0 ? [rest] : [];
            pendingBytes = rest.length;
          }
        }
        if (pendingBytes > 0) await flush(Buffer.concat(pending));
      }
      const digest = verifier.digest;
      const res = await this.send({
        method: 'PUT',
        path: withDigest(location, digest),
        headers: { 'content-length': '0' },
        scopes,
        what,
        kind: 'upload',
        expect: [201, 204],
        signal,
      });
      await drain(res.body);
      return { digest, sizeBytes: verifier.bytes };
    } catch (err) {
      return fail(err);
    }
  }

  /** Every tag of `repo`, following Link pagination (`pageSize` asks for `n` per page). */
  async listTags(repo: string, signal?: AbortSignal, pageSize?: number): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repo}/tags/list`;
    let query: Record<string, string> | undefined =
      pageSize !== undefined ? { n: String(pageSize) } : undefined;
    for (let page = 0; path !== undefined && page < MAX_TAG_PAGES; page++) {
      const res = await this.send({
        method: 'GET',
        path,
        ...(query ? { query } : {}),
        scopes: [repositoryScope(repo, 'pull')],
        what: `tags of ${this.endpoint}/${repo}`,
        kind: 'tags',
        expect: [200],
        signal,
      });
      const text = await readLimited(res.body, 16 * 1024 * 1024);
      const parsed = tagListSchema.safeParse(safeJson(text));
      if (!parsed.success) {
        throw new SkiffError(
          'REGISTRY',
          `tags of ${this.endpoint}/${repo}: the registry sent an invalid tag list`,
        );
      }
      tags.push(...(parsed.data.tags ?? []));
      const next = parseNextLink(header(res.headers, 'link'));
      path = next === undefined ? undefined : new URL(next, res.url).href;
      query = undefined;
    }
    return tags;
  }

  /** Repositories in the registry (`/v2/_catalog`), following pagination. */
  async catalog(signal?: AbortSignal, pageSize?: number): Promise<string[]> {
    const repos: string[] = [];
    let path: string | undefined = '/v2/_catalog';
    let query: Record<string, string> | undefined =
      pageSize !== undefined ? { n: String(pageSize) } : undefined;
    for (let page = 0; path !== undefined && page < MAX_TAG_PAGES; page++) {
      const res = await this.send({
        method: 'GET',
        path,
        ...(query ? { query } : {}),
        scopes: ['registry:catalog:*'],
        what: `catalog of ${this.endpoint}`,
        kind: 'catalog',
        expect: [200],
        signal,
      });
      const text = await readLimited(res.body, 16 * 1024 * 1024);
      const parsed = catalogSchema.safeParse(safeJson(text));
      if (!parsed.success) throw new SkiffError('REGISTRY', `catalog of ${this.endpoint}: invalid answer`);
      repos.push(...(parsed.data.repositories ?? []));
      const next = parseNextLink(header(res.headers, 'link'));
      path = next === undefined ? undefined : new URL(next, res.url).href;
      query = undefined;
    }
    return repos;
  }

  /**
   * Manifests that refer to `digest` (their `subject`): the OCI 1.1 referrers API, or the
   * `sha256-<hex>` tag schema when the API answers 404.
   */
  async referrers(
    repo: string,
    digest: Digest,
    options: {
      artifactType?: string;
      signal?: AbortSignal;
      /** The repository's tags when the caller has them: spares a request for an absent fallback tag. */
      tags?: readonly string[];
    } = {},
  ): Promise<Descriptor[]> {
    const what = `referrers of ${this.endpoint}/${repo}@${digest}`;
    const { algorithm, hex } = parseDigest(digest);
    const fallbackTag = `${algorithm}-${hex}`;
    let manifests: Descriptor[];
    let filtered = false;
    const shared = this.options.shared;
    if (shared?.referrersProbe) await shared.referrersProbe;
    // Once the registry said it has no referrers API, go straight to the tag schema.
    const missing = this.referrersApiMissing || shared?.referrersApiMissing === true;
    let probed: (() => void) | undefined;
    if (shared && !missing && !shared.referrersProbe) {
      shared.referrersProbe = new Promise<void>((resolve) => {
        probed = resolve;
      });
    }
    let res: RegistryResponse | undefined;
    try {
      res = missing
        ? undefined
        : await this.send({
            method: 'GET',
            path: `/v2/${repo}/referrers/${digest}`,
            ...(options.artifactType ? { query: { artifactType: options.artifactType } } : {}),
            headers: { accept: MediaType.ociIndex },
            scopes: [repositoryScope(repo, 'pull')],
            what,
            kind: 'referrers',
            expect: [200, 404],
            signal: options.signal,
          });
      // No referrers API here (a registry that has it answers 200 with an empty index).
      if (res?.status === 404) {
        this.referrersApiMissing = true;
        if (shared) shared.referrersApiMissing = true;
      }
    } finally {
      probed?.(); // after the flag is set: the requests waiting on the probe see it
    }
    if (res?.status === 200) {
      const text = await readLimited(res.body, MAX_MANIFEST_BYTES);
      const parsed = referrersIndexSchema.safeParse(safeJson(text));
      if (!parsed.success)
        throw new SkiffError('INVALID_MANIFEST', `${what}: the registry sent an invalid index`);
      manifests = parsed.data.manifests ?? [];
      filtered = (header(res.headers, 'oci-filters-applied') ?? '').split(',').includes('artifactType');
    } else {
      if (res) await drain(res.body);
      if (options.tags && !options.tags.includes(fallbackTag)) return [];
      let index: { raw: Buffer } | undefined;
      try {
        index = await this.getManifest(repo, fallbackTag, options.signal);
      } catch (err) {
        if (isSkiffError(err) && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NOT_FOUND')) return [];
        throw err;
      }
      const parsed = referrersIndexSchema.safeParse(safeJson(index.raw.toString('utf8')));
      if (!parsed.success)
        throw new SkiffError('INVALID_MANIFEST', `${what}: the referrers tag holds an invalid index`);
      manifests = parsed.data.manifests ?? [];
    }
    if (options.artifactType && !filtered)
      manifests = manifests.filter((m) => m.artifactType === options.artifactType);
    return manifests;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The manifest's media type: the Content-Type when it is a manifest type, else its `mediaType` field. */
function manifestMediaTypeOf(raw: Buffer, contentType: string | undefined): string {
  const fromHeader = baseMediaType(contentType);
  if (fromHeader !== undefined && manifestMediaTypes.includes(fromHeader)) return fromHeader;
  const json = safeJson(raw.toString('utf8'));
  if (typeof json === 'object' && json !== null) {
    const mt = (json as { mediaType?: unknown }).mediaType;
    if (typeof mt === 'string' && mt !== '') return mt;
    const j = json as { manifests?: unknown; config?: unknown; schemaVersion?: unknown };
    if (Array.isArray(j.manifests)) return MediaType.ociIndex;
    if (j.config !== undefined) return MediaType.ociManifest;
    if (j.schemaVersion === 1) return MediaType.dockerManifestV1Signed;
  }
  return fromHeader ?? MediaType.ociManifest;
}
