import { createServer, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { closeServer, listenLocal } from '../../../../test/support/net.js';
import { startRegistry, type TestRegistry } from '../../../../test/support/registry.js';
import { RegistryClient, type RetryInfo } from '../../src/registry/client.js';
import { MediaType } from '../../src/spec/media-types.js';
import { blob, blobOf, CONFIG_JSON, ociManifest, readAll, streamOf } from './helpers.js';
import { type FaultProxy, startFaultProxy } from './proxy.js';

let reg: TestRegistry;
const creds = () => ({ username: reg.username!, password: reg.password! });

beforeAll(async () => {
  reg = await startRegistry({ auth: 'htpasswd' });
});
afterAll(async () => {
  await reg?.stop();
});

async function withClient<T>(
  host: string,
  fn: (c: RegistryClient, retries: RetryInfo[]) => Promise<T>,
  extra: { retryTimes?: number } = {},
): Promise<T> {
  const retries: RetryInfo[] = [];
  const c = new RegistryClient({
    endpoint: host,
    insecure: true,
    credentials: creds(),
    retryDelayMs: 20,
    onRetry: (i) => retries.push(i),
    ...extra,
  });
  try {
    return await fn(c, retries);
  } finally {
    await c.close();
  }
}

describe('retries', () => {
  test('429 with Retry-After once, then success; 503 on a manifest PUT retried', async () => {
    let tooMany = 0;
    let unavailable = 0;
    const proxy = await startFaultProxy(reg.host, (req, res) => {
      if (req.method === 'GET' && req.url?.includes('/manifests/') && tooMany === 0) {
        tooMany++;
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
        return true;
      }
      if (req.method === 'PUT' && req.url?.includes('/manifests/') && unavailable === 0) {
        unavailable++;
        req.resume();
        res.writeHead(503).end();
        return true;
      }
      return false;
    });
    try {
      await withClient(proxy.host, async (c, retries) => {
        const config = blobOf(CONFIG_JSON);
        await c.uploadBlob('retry/a', streamOf(config.data), {
          digest: config.digest,
          sizeBytes: config.size,
        });
        const raw = ociManifest(config, []);
        await c.putManifest('retry/a', 'v1', raw, MediaType.ociManifest);
        const started = Date.now();
        const got = await c.getManifest('retry/a', 'v1');
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
        expect(got.raw.equals(raw)).toBe(true);
        expect(retries.map((r) => [r.method, r.reason, r.delayMs])).toEqual([
          ['PUT', 'HTTP 503', 20],
          ['GET', 'HTTP 429', 1000],
        ]);
      });
    } finally {
      await proxy.stop();
    }
  });

  test('429 that never stops ends as TOO_MANY_REQUESTS after retryTimes', async () => {
    const proxy = await startFaultProxy(reg.host, (req, res) => {
      if (req.url?.includes('/tags/list')) {
        res.writeHead(429).end();
        return true;
      }
      return false;
    });
    try {
      await withClient(
        proxy.host,
        async (c, retries) => {
          await expect(c.listTags('retry/a')).rejects.toMatchObject({
            code: 'TOO_MANY_REQUESTS',
            status: 429,
          });
          expect(retries).toHaveLength(2);
          expect(proxy.seen.filter((s) => s.url.includes('/tags/list'))).toHaveLength(3);
        },
        { retryTimes: 2 },
      );
    } finally {
      await proxy.stop();
    }
  });
});

describe('blob downloads', () => {
  test('a body cut mid-way is resumed with Range from the last byte', async () => {
    const b = blob(2 * 1024 * 1024);
    let cut = 0;
    const proxy = await startFaultProxy(reg.host, async (req, res, forward) => {
      if (req.method === 'GET' && req.url?.includes(`/blobs/${b.digest}`) && cut === 0) {
        cut++;
        const up = await forward(req);
        res.writeHead(up.statusCode ?? 500, up.headers);
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          if (sent >= 700_000) return;
          const part = chunk.subarray(0, Math.min(chunk.length, 700_000 - sent));
          sent += part.length;
          res.write(part);
          if (sent >= 700_000) {
            up.destroy();
            setTimeout(() => res.socket?.destroy(), 50);
          }
        });
        return true;
      }
      return false;
    });
    try {
      await withClient(proxy.host, async (c) => {
        await c.uploadBlob('resume/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
        const { stream, sizeBytes } = await c.getBlob('resume/a', b.digest);
        expect(sizeBytes).toBe(b.size);
        expect((await readAll(stream)).equals(b.data)).toBe(true);
        const gets = proxy.seen.filter((s) => s.method === 'GET' && s.url.includes(`/blobs/${b.digest}`));
        expect(gets.map((g) => g.headers.range)).toEqual([undefined, 'bytes=700000-']);
      });
    } finally {
      await proxy.stop();
    }
  });

  test('a redirect to another host is followed without the Authorization header', async () => {
    const b = blob(100_000);
    const storageSeen: Array<{ url: string; authorization: string | undefined }> = [];
    // "Blob storage": serves the bytes by fetching them from the registry itself.
    const storage = createServer((req, res) => {
      storageSeen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      const digest = (req.url ?? '').split('/').pop()!;
      const auth = `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`;
      httpRequest(
        `http://${reg.host}/v2/redirect/a/blobs/${digest}`,
        { headers: { authorization: auth } },
        (up) => {
          res.writeHead(up.statusCode ?? 500, { 'content-length': up.headers['content-length'] ?? '' });
          up.pipe(res);
        },
      ).end();
    });
    const storageHost = await listenLocal(storage);
    let proxy: FaultProxy | undefined;
    try {
      proxy = await startFaultProxy(reg.host, (req, res) => {
        if (req.method === 'GET' && req.url?.includes('/blobs/sha256:')) {
          res.writeHead(307, { location: `http://${storageHost}/storage/${req.url.split('/').pop()}` }).end();
          return true;
        }
        return false;
      });
      await withClient(proxy.host, async (c) => {
        await c.uploadBlob('redirect/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
        const { stream } = await c.getBlob('redirect/a', b.digest);
        expect((await readAll(stream)).equals(b.data)).toBe(true);
      });
      const blobGet = proxy.seen.find((s) => s.method === 'GET' && s.url.includes('/blobs/sha256:'));
      expect(blobGet?.headers.authorization).toMatch(/^Basic /);
      expect(storageSeen).toEqual([{ url: `/storage/${b.digest}`, authorization: undefined }]);
    } finally {
      await proxy?.stop();
      await closeServer(storage);
    }
  });

  test('bytes that do not match the digest fail with DIGEST_MISMATCH', async () => {
    const b = blob(30_000);
    const proxy = await startFaultProxy(reg.host, async (req, res, forward) => {
      if (req.method === 'GET' && req.url?.includes(`/blobs/${b.digest}`)) {
        const up = await forward(req);
        res.writeHead(up.statusCode ?? 500, up.headers);
        let first = true;
        up.on('data', (chunk: Buffer) => {
          const copy = Buffer.from(chunk);
          if (first) copy[0] = copy[0]! ^ 0xff;
          first = false;
          res.write(copy);
        });
        up.on('end', () => res.end());
        return true;
      }
      return false;
    });
    try {
      await withClient(proxy.host, async (c) => {
        await c.uploadBlob('corrupt/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
        const { stream } = await c.getBlob('corrupt/a', b.digest);
        await expect(readAll(stream)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
      });
    } finally {
      await proxy.stop();
    }
  });

  test('a manifest fetched by digest is verified', async () => {
    const config = blobOf(CONFIG_JSON);
    let raw: Buffer = Buffer.alloc(0);
    const proxy = await startFaultProxy(reg.host, async (req, res, forward) => {
      if (req.method === 'GET' && req.url?.includes('/manifests/sha256:')) {
        const up = await forward(req);
        up.resume();
        const body = Buffer.from(raw.toString('utf8').replace('"layers":[]', '"layers":[ ]'));
        res.writeHead(200, { 'content-type': MediaType.ociManifest, 'content-length': body.length });
        res.end(body);
        return true;
      }
      return false;
    });
    try {
      await withClient(proxy.host, async (c) => {
        await c.uploadBlob('mdigest/a', streamOf(config.data), {
          digest: config.digest,
          sizeBytes: config.size,
        });
        raw = ociManifest(config, []);
        const digest = await c.putManifest('mdigest/a', 'v1', raw, MediaType.ociManifest);
        await expect(c.getManifest('mdigest/a', digest)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
      });
    } finally {
      await proxy.stop();
    }
  });
});

describe('tag pagination', () => {
  test('follows Link headers until the last page', async () => {
    // distribution 2.8 ignores n= for tags; the proxy paginates as newer registries do.
    const proxy = await startFaultProxy(reg.host, async (req, res, forward) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method !== 'GET' || !url.pathname.endsWith('/tags/list')) return false;
      const up = await forward(req, { path: url.pathname });
      const chunks: Buffer[] = [];
      for await (const chunk of up) chunks.push(chunk as Buffer);
      const all = (JSON.parse(Buffer.concat(chunks).toString()) as { tags: string[] }).tags.sort();
      const n = Number(url.searchParams.get('n') ?? all.length);
      const last = url.searchParams.get('last');
      const rest = last ? all.filter((t) => t > last) : all;
      const page = rest.slice(0, n);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (rest.length > n) headers.link = `<${url.pathname}?n=${n}&last=${page.at(-1)}>; rel="next"`;
      res.writeHead(200, headers).end(JSON.stringify({ name: 'page/a', tags: page }));
      return true;
    });
    try {
      await withClient(proxy.host, async (c) => {
        const config = blobOf(CONFIG_JSON);
        await c.uploadBlob('page/a', streamOf(config.data), {
          digest: config.digest,
          sizeBytes: config.size,
        });
        const raw = ociManifest(config, []);
        const tags = Array.from({ length: 11 }, (_, i) => `t${String(i).padStart(2, '0')}`);
        for (const t of tags) await c.putManifest('page/a', t, raw, MediaType.ociManifest);
        expect(await c.listTags('page/a', undefined, 3)).toEqual(tags);
        const pages = proxy.seen.filter((s) => s.url.includes('/tags/list'));
        expect(pages.map((p) => p.url)).toEqual([
          '/v2/page/a/tags/list?n=3',
          '/v2/page/a/tags/list?n=3&last=t02',
          '/v2/page/a/tags/list?n=3&last=t05',
          '/v2/page/a/tags/list?n=3&last=t08',
        ]);
      });
    } finally {
      await proxy.stop();
    }
  });
});
