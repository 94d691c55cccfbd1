import { z } from 'zod';
import { SkiffError } from '../errors.js';
import type { Credentials } from '../transports/types.js';
import { loginHint, networkError, parseErrorBody } from './errors.js';
import { type Dispatcher, request } from './http.js';
import type { AuthChallenge } from './www-authenticate.js';

/**
 * Authorization for one registry endpoint, after the Docker token spec: the challenge comes
 * from /v2/ (or a later 401). Basic credentials are sent preemptively once Basic is known;
 * Bearer tokens are fetched from the realm per set of scopes and cached until they expire.
 * With an identity token (auth.json `identitytoken`), tokens come from the OAuth2 POST form.
 */

const tokenResponseSchema = z.looseObject({
  token: z.string().optional(),
  access_token: z.string().optional(),
  expires_in: z.number().optional(),
  issued_at: z.string().optional(),
});

/** The minimum lifetime the token spec promises when `expires_in` is absent or smaller. */
const MIN_TOKEN_LIFETIME_S = 60;

interface CachedToken {
  token: string;
  expiresAtMs: number;
}

export interface AuthenticatorOptions {
  endpoint: string;
  dispatcher: Dispatcher;
  userAgent: string;
  credentials: () => Promise<Credentials | undefined>;
}

/** The scope string for a repository: `repository:NAME:pull` or `…:pull,push`. */
export function repositoryScope(repo: string, actions: 'pull' | 'pull,push' | 'delete' | '*'): string {
  return `repository:${repo}:${actions}`;
}

export class Authenticator {
  private challenge: AuthChallenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  /** Number of token requests made, for diagnostics and tests. */
  tokenRequests = 0;

  constructor(private readonly options: AuthenticatorOptions) {}

  /** Record the challenge a registry sent (ping or 401). Only Bearer and Basic are understood. */
  setChallenges(challenges: AuthChallenge[]): void {
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    const chosen = bearer ?? basic;
    if (chosen === undefined) return;
    const prev = this.challenge;
    if (
      prev === undefined ||
      prev.scheme !== chosen.scheme ||
      prev.params.realm !== chosen.params.realm ||
      prev.params.service !== chosen.params.service
    ) {
      this.tokens.clear();
    }
    this.challenge = chosen;
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** Forget a cached token so that the next request fetches a new one. */
  invalidate(scopes: string[]): void {
    this.tokens.delete(this.cacheKey(scopes));
  }

  async hasCredentials(): Promise<boolean> {
    return (await this.options.credentials()) !== undefined;
  }

  /** The Authorization header for a request needing `scopes`, or undefined (anonymous). */
  async header(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      const creds = await this.options.credentials();
      if (creds === undefined) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    const token = await this.token(challenge, scopes, signal);
    return token === '' ? undefined : `Bearer ${token}`;
  }

  private cacheKey(scopes: string[]): string {
    return [...new Set(scopes)].sort().join(' ');
  }

  private async token(challenge: AuthChallenge, scopes: string[], signal?: AbortSignal): Promise<string> {
    const key = this.cacheKey(scopes);
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAtMs > Date.now()) return cached.token;
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(challenge, [...new Set(scopes)], signal).finally(() =>
        this.pending.delete(key),
      );
      this.pending.set(key, pending);
    }
    const fresh = await pending;
    this.tokens.set(key, fresh);
    return fresh.token;
  }

  private async fetchToken(
    challenge: AuthChallenge,
    scopes: string[],
    signal?: AbortSignal,
  ): Promise<CachedToken> {
    const { endpoint } = this.options;
    const realm = challenge.params.realm ?? '';
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch (err) {
      throw new SkiffError('REGISTRY', `${endpoint} sent an invalid token realm "${realm}"`, { cause: err });
    }
    if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') {
      throw new SkiffError('REGISTRY', `${endpoint} sent a token realm that is not http(s): "${realm}"`);
    }
    const service = challenge.params.service;
    const creds = await this.options.credentials();
    const what = `token for ${endpoint}`;
    this.tokenRequests++;
    let res: Dispatcher.ResponseData;
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent };
    try {
      if (creds?.identityToken) {
        const form = new URLSearchParams();
        form.set('grant_type', 'refresh_token');
        form.set('refresh_token', creds.identityToken);
        form.set('client_id', 'skiff');
        if (service !== undefined) form.set('service', service);
        if (scopes.length > 0) form.set('scope', scopes.join(' '));
        headers['content-type'] = 'application/x-www-form-urlencoded';
        res = await request(realmUrl, {
          method: 'POST',
          headers,
          body: form.toString(),
          dispatcher: this.options.dispatcher,
          signal,
        });
      } else {
        const url = new URL(realmUrl);
        if (service !== undefined) url.searchParams.set('service', service);
        for (const scope of scopes) url.searchParams.append('scope', scope);
        if (creds !== undefined && creds.username !== '') {
          headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
        }
        res = await request(url, { method: 'GET', headers, dispatcher: this.options.dispatcher, signal });
      }
    } catch (err) {
      throw networkError(err, realmUrl.host, what);
    }
    const text = await readLimited(res.body, 1024 * 1024);
    if (res.statusCode === 401 || res.statusCode === 403) {
      const body = parseErrorBody(text);
      throw new SkiffError(
        'UNAUTHORIZED',
        creds
          ? `authentication to ${endpoint} failed: invalid username or password${body?.message ? ` (${body.message})` : ''}`
          : `authentication to ${endpoint} is required`,
        { status: res.statusCode, hint: loginHint(endpoint) },
      );
    }
    if (res.statusCode !== 200) {
      throw new SkiffError(
        'REGISTRY',
        `${what}: token server ${realmUrl.host} answered HTTP ${res.statusCode}`,
        {
          status: res.statusCode,
        },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new SkiffError('REGISTRY', `${what}: token server ${realmUrl.host} sent invalid JSON`, {
        cause: err,
      });
    }
    const parsed = tokenResponseSchema.safeParse(json);
    const token = parsed.success ? (parsed.data.token ?? parsed.data.access_token) : undefined;
    if (token === undefined) {
      throw new SkiffError('REGISTRY', `${what}: token server ${realmUrl.host} sent no token`);
    }
    const lifetime = Math.max(parsed.data?.expires_in ?? MIN_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S);
    const issuedAt = parsed.data?.issued_at ? Date.parse(parsed.data.issued_at) : Number.NaN;
    const start = Number.isFinite(issuedAt) && issuedAt <= Date.now() ? issuedAt : Date.now();
    // Renew a little early so that a token does not expire in flight.
    return { token, expiresAtMs: start + lifetime * 1000 - 10_000 };
  }
}

/** Read a small body as text, destroying it past `limit` bytes. */
export async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      body.destroy();
      break;
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}
