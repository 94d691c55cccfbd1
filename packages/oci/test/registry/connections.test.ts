import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hostOf } from '../../../../test/support/net.js';
import { startRegistry, type TestRegistry } from '../../../../test/support/registry.js';
import { RegistryClient } from '../../src/registry/client.js';
import { RegistryClientPool } from '../../src/registry/pool.js';
import { MediaType } from '../../src/spec/media-types.js';
import { blob, blobOf, CONFIG_JSON, ociManifest, streamOf } from './helpers.js';

/**
 * How many TCP connections and pings the client spends: a TCP relay in front of a real registry
 * counts the connections (the registry's log counts the requests).
 */

let reg: TestRegistry;
let relay: Server;
let relayHost: string;
let connections = 0;

beforeAll(async () => {
  reg = await startRegistry();
  const [host, port] = reg.host.split(':');
  relay = createServer((down) => {
    connections++;
    const up = connect(Number(port), host!);
    down.pipe(up).pipe(down);
    const close = () => {
      down.destroy();
      up.destroy();
    };
    down.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  relayHost = hostOf(relay);
  // Two repositories with an image each, pushed straight to the registry.
  const client = new RegistryClient({ endpoint: reg.host, insecure: true });
  const config = blobOf(CONFIG_JSON);
  const layer = blob(1000);
  for (const repo of ['conn/a', 'conn/b']) {
    for (const b of [config, layer]) {
      await client.uploadBlob(repo, streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
    }
    await client.putManifest(repo, 'v1', ociManifest(config, [layer]), MediaType.ociManifest);
  }
  await client.close();
});

afterAll(async () => {
  await new Promise<void>((resolve) => relay?.close(() => resolve()));
  await reg?.stop();
});

describe('connections and pings', () => {
  test('HEAD requests keep their connection alive (undici closes it by default)', async () => {
    const client = new RegistryClient({ endpoint: relayHost, tlsVerify: false });
    try {
      await client.ping(); // learns the scheme: the https attempt costs a connection of its own
      const before = connections;
      for (let i = 0; i < 5; i++) {
        expect(await client.headManifest('conn/a', 'v1')).toMatchObject({ mediaType: MediaType.ociManifest });
        expect(await client.headManifest('conn/a', 'missing')).toBeUndefined();
      }
      // Ten HEADs one after the other: undici's default would open ten connections.
      expect(connections - before).toBeLessThanOrEqual(2);
    } finally {
      await client.close();
    }
  });

  test("a pool's clients of one endpoint share one ping and one connection pool", async () => {
    const pool = new RegistryClientPool();
    const requestsBefore = (await reg.requests()).length;
    const connectionsBefore = connections;
    try {
      // Different keys (as for different repositories' credentials): different clients.
      const a = pool.client('a', { endpoint: relayHost, tlsVerify: false });
      const b = pool.client('b', { endpoint: relayHost, tlsVerify: false });
      expect(a).not.toBe(b);
      for (let i = 0; i < 3; i++) {
        expect((await a.headManifest('conn/a', 'v1'))?.digest).toMatch(/^sha256:/);
        expect((await b.headManifest('conn/b', 'v1'))?.digest).toMatch(/^sha256:/);
        expect(await b.listTags('conn/b')).toEqual(['v1']);
      }
    } finally {
      await pool.close();
    }
    const requests = (await reg.requests()).slice(requestsBefore);
    expect(requests.filter((r) => r.path === '/v2/')).toHaveLength(1);
    expect(requests.filter((r) => r.method === 'HEAD')).toHaveLength(6);
    // The one ping's https attempt and request, then kept-alive connections: a few (undici may
    // open a second while the first is finishing a response), not one per client or per HEAD.
    expect(connections - connectionsBefore).toBeLessThanOrEqual(4);
  });
});
