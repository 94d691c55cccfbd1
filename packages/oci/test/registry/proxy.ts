import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenLocal } from '../../../../test/support/net.js';

/**
 * A tiny fault-injecting HTTP proxy in front of a test registry. `intercept` sees each request
 * first and may answer it itself (return true); everything else is forwarded unchanged (Host
 * kept, so the registry's Location headers point back at the proxy).
 */
export interface FaultProxy {
  host: string;
  /** Every request seen: method, url, headers. */
  seen: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }>;
  stop(): Promise<void>;
}

export type Interceptor = (
  req: IncomingMessage,
  res: ServerResponse,
  forward: Forward,
) => boolean | Promise<boolean>;

/** Forward to the upstream and hand back its response (for interceptors that rewrite it). */
export type Forward = (req: IncomingMessage, overrides?: { path?: string }) => Promise<IncomingMessage>;

export async function startFaultProxy(
  upstream: string,
  intercept: Interceptor = () => false,
): Promise<FaultProxy> {
  const [upHost, upPort] = upstream.split(':');
  const seen: FaultProxy['seen'] = [];
  const forward: Forward = (req, overrides) =>
    new Promise((resolve, reject) => {
      const up = request(
        {
          host: upHost,
          port: Number(upPort),
          method: req.method,
          path: overrides?.path ?? req.url,
          headers: req.headers,
        },
        resolve,
      );
      up.on('error', reject);
      req.pipe(up);
    });
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    void (async () => {
      if (await intercept(req, res, forward)) return;
      const upRes = await forward(req);
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
  const host = await listenLocal(server);
  return { host, seen, stop: () => closeServer(server) };
}
