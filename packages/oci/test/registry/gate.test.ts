import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { closeServer, hostOf, listenLocal } from '../../../../test/support/net.js';
import { RegistryClient } from '../../src/registry/client.js';
import { RegistryGate } from '../../src/registry/gate.js';

describe('RegistryGate', () => {
  it('closes a registry after a 429 until Retry-After, doubling without one', () => {
    let now = 1000;
    const gate = new RegistryGate(500, 60_000, () => now);
    expect(gate.block('a.io', 2000)).toBe(2000);
    expect(gate.waitMs(['a.io', 'b.io'])).toBe(2000);
    expect(gate.waitMs(['b.io'])).toBe(0);
    now += 2000;
    expect(gate.waitMs(['a.io'])).toBe(0);
    expect(gate.block('b.io')).toBe(500);
    expect(gate.block('b.io')).toBe(1000);
    gate.clear('b.io');
    expect(gate.block('b.io')).toBe(500);
  });
});

describe('RegistryClient with a shared gate', () => {
  it('a 429 seen by one client holds the other clients of that registry until Retry-After', async () => {
    const seen: Array<{ path: string; at: number }> = [];
    let limited = false;
    const server = createServer((req, res) => {
      seen.push({ path: req.url ?? '', at: Date.now() });
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      if (req.url?.startsWith('/v2/a/') && !limited) {
        limited = true;
        return res.writeHead(429, { 'retry-after': '1' }).end();
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    });
    await listenLocal(server);
    const endpoint = hostOf(server);
    const gate = new RegistryGate();
    const a = new RegistryClient({ endpoint, insecure: true, tlsVerify: false, gate, retryTimes: 2 });
    const b = new RegistryClient({ endpoint, insecure: true, tlsVerify: false, gate, retryTimes: 2 });
    try {
      await b.ping();
      const first = a.headManifest('a/img', 'latest');
      await new Promise((r) => setTimeout(r, 100));
      await expect(b.headManifest('b/img', 'latest')).resolves.toBeUndefined();
      await expect(first).resolves.toBeUndefined();
      const blocked = seen.find((s) => s.path.startsWith('/v2/a/'))!;
      const other = seen.find((s) => s.path.startsWith('/v2/b/'))!;
      expect(other.at - blocked.at).toBeGreaterThanOrEqual(900);
    } finally {
      await a.close();
      await b.close();
      await closeServer(server);
    }
  });
});
