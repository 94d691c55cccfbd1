import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { closeServer, listenLocal } from './net.js';

/**
 * A node:http proxy in front of a registry that answers `429 Too Many Requests` with
 * `Retry-After` to the first `limit` requests (optionally only those `match` selects), then
 * forwards everything to the registry. It records every request with its time and answer.
 */

export interface ProxiedRequest {
  atMs: number;
  method: string;
  path: string;
  status: number;
}

export interface RateLimitProxy {
  /** `127.0.0.1:PORT` to use instead of the registry's host. */
  host: string;
  log: ProxiedRequest[];
  /** Answer 429 to the next `n` requests again. */
  limitNext(n: number): void;
  stop(): Promise<void>;
}

export async function startRateLimitProxy(options: {
  target: string;
  limit: number;
  retryAfterSeconds: number;
  match?: (method: string, path: string) => boolean;
}): Promise<RateLimitProxy> {
  let remaining = options.limit;
  const log: ProxiedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const atMs = Date.now();
    if (remaining > 0 && (options.match?.(method, path) ?? true)) {
      remaining--;
      log.push({ atMs, method, path, status: 429 });
      req.resume();
      res.writeHead(429, {
        'retry-after': String(options.retryAfterSeconds),
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
      return;
    }
    const headers = { ...req.headers, host: options.target };
    const upstream = request(`http://${options.target}${path}`, { method, headers }, (up) => {
      log.push({ atMs, method, path, status: up.statusCode ?? 0 });
      const outHeaders = { ...up.headers };
      // Redirects and upload locations point at the registry: rewrite them to the proxy.
      if (typeof outHeaders.location === 'string') {
        outHeaders.location = outHeaders.location.replace(`//${options.target}`, `//${host}`);
      }
      res.writeHead(up.statusCode ?? 502, outHeaders);
      up.pipe(res);
    });
    upstream.on('error', (err) => {
      log.push({ atMs, method, path, status: 502 });
      res.destroy(err);
    });
    req.pipe(upstream);
  });
  const host = await listenLocal(server);
  return {
    host,
    log,
    limitNext(n: number) {
      remaining = n;
    },
    stop: () => closeServer(server),
  };
}
