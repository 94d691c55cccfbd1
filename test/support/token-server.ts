import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenLocal } from './net.js';

/**
 * A small Docker token server (the "realm" of `auth: token`) for tests: it checks Basic
 * credentials (GET) or an OAuth2 form (POST, grant_type=password or refresh_token) and
 * issues RS256 JWTs with the `access` claim for the requested scopes. The JWT header carries
 * the signing certificate as `x5c`; distribution 2.8 verifies that chain against its
 * `rootcertbundle`, which is the same self-signed certificate.
 */

export interface TokenRequestRecord {
  method: string;
  /** Requested scopes, e.g. `repository:a/b:pull,push`. */
  scopes: string[];
  service: string | undefined;
  /** The authenticated user, undefined for anonymous requests. */
  account: string | undefined;
  grantType: string | undefined;
}

export interface TokenServer {
  /** The realm URL, `http://127.0.0.1:PORT/token`. */
  realm: string;
  host: string;
  /** Every token request served (including refused ones), in order. */
  requests: TokenRequestRecord[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  users: Record<string, string>;
  /** PEM private key (RSA) that signs tokens. */
  keyPem: string | Buffer;
  /** PEM certificate of that key; also the registry's rootcertbundle. */
  certPem: string | Buffer;
  issuer: string;
  service: string;
  /** Token lifetime; default 300 s. */
  expiresInSeconds?: number;
  /** Identity (refresh) tokens accepted on the OAuth2 POST form: token → user. */
  identityTokens?: Record<string, string>;
  /** Give anonymous callers pull access (default: anonymous gets a token with no access). */
  anonymousPull?: boolean;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  // type:name:actions, where name may itself contain ':' (host:port/repo is not used here, but be lenient).
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const key = createPrivateKey(options.keyPem);
  const certDer = new X509Certificate(options.certPem).raw;
  const expiresIn = options.expiresInSeconds ?? 300;
  const requests: TokenRequestRecord[] = [];

  const issue = (account: string | undefined, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes
      .map(parseScope)
      .filter((s) => s !== undefined)
      .map((s) => ({
        type: s.type,
        name: s.name,
        actions:
          account !== undefined
            ? s.actions
            : options.anonymousPull
              ? s.actions.filter((a) => a === 'pull')
              : [],
      }));
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: options.issuer,
      sub: account ?? '',
      aud: options.service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), key);
    return `${signingInput}.${b64url(signature)}`;
  };

  const reply = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/token') {
        reply(res, 404, { error: 'not found' });
        return;
      }
      if (req.method === 'GET') {
        const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter((x) => x !== ''));
        const service = url.searchParams.get('service') ?? undefined;
        let account: string | undefined;
        const authz = req.headers.authorization;
        if (authz?.startsWith('Basic ')) {
          const decoded = Buffer.from(authz.slice(6), 'base64').toString('utf8');
          const colon = decoded.indexOf(':');
          const user = decoded.slice(0, colon);
          const pass = decoded.slice(colon + 1);
          if (colon < 0 || options.users[user] === undefined || options.users[user] !== pass) {
            requests.push({ method: 'GET', scopes, service, account: undefined, grantType: undefined });
            reply(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
            return;
          }
          account = user;
        }
        requests.push({ method: 'GET', scopes, service, account, grantType: undefined });
        const token = issue(account, scopes);
        reply(res, 200, {
          token,
          access_token: token,
          expires_in: expiresIn,
          issued_at: new Date().toISOString(),
        });
        return;
      }
      if (req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        const grantType = form.get('grant_type') ?? undefined;
        const scopes = form
          .getAll('scope')
          .flatMap((s) => s.split(' '))
          .filter((x) => x !== '');
        const service = form.get('service') ?? undefined;
        let account: string | undefined;
        if (grantType === 'password') {
          const user = form.get('username') ?? '';
          if (options.users[user] === undefined || options.users[user] !== form.get('password'))
            account = undefined;
          else account = user;
        } else if (grantType === 'refresh_token') {
          account = options.identityTokens?.[form.get('refresh_token') ?? ''];
        }
        requests.push({ method: 'POST', scopes, service, account, grantType });
        if (account === undefined) {
          reply(res, 401, { error: 'invalid_grant' });
          return;
        }
        const token = issue(account, scopes);
        reply(res, 200, { access_token: token, expires_in: expiresIn, scope: scopes.join(' ') });
        return;
      }
      reply(res, 405, { error: 'method not allowed' });
    })().catch((err: unknown) => {
      if (!res.headersSent) reply(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
  const host = await listenLocal(server);
  return {
    realm: `http://${host}/token`,
    host,
    requests,
    stop: () => closeServer(server),
  };
}
