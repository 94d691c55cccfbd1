import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** A free TCP port on 127.0.0.1 (bound then released; a tiny race is acceptable in tests). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not get a free port');
  return address.port;
}

/** The `127.0.0.1:PORT` a listening server is bound to. */
export function hostOf(server: Server | { address(): ReturnType<Server['address']> }): string {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server is not listening on TCP');
  return `${address.address}:${address.port}`;
}

/**
 * Wait until `url` answers any HTTP status (the server is up). For https URLs certificate
 * checks are off: this only asks whether something listens and speaks HTTP(S).
 */
export async function waitForHttp(
  url: string,
  options: { timeoutMs?: number; isAlive?: () => boolean } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? await import('node:https') : { request };
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (options.isAlive && !options.isAlive())
      throw new Error(`process serving ${url} exited before it answered`);
    try {
      await new Promise<void>((resolve, reject) => {
        const req = mod.request(u, { method: 'GET', rejectUnauthorized: false, timeout: 2000 }, (res) => {
          res.resume();
          res.on('end', () => resolve());
          res.on('error', reject);
        });
        req.on('error', reject);
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.end();
      });
      return;
    } catch (err) {
      lastError = err;
      await delay(50);
    }
  }
  throw new Error(`${url} did not answer within the timeout: ${String(lastError)}`);
}

/** Listen on 127.0.0.1 with a random port and return `127.0.0.1:PORT`. */
export async function listenLocal(server: Server | import('node:http').Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return hostOf(server);
}

/** Close a server, dropping keep-alive connections. */
export async function closeServer(server: import('node:http').Server): Promise<void> {
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
