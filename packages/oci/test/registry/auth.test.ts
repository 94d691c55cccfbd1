import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startRegistry, type TestRegistry } from '../../../../test/support/registry.js';
import { RegistryClient } from '../../src/registry/client.js';
import { blob, readAll, streamOf } from './helpers.js';

describe('htpasswd (Basic) registry', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  test('right credentials push and pull; Basic is sent preemptively after the challenge', async () => {
    const client = new RegistryClient({
      endpoint: reg.host,
      insecure: true,
      credentials: { username: reg.username!, password: reg.password! },
    });
    try {
      const b = blob(5000);
      await client.uploadBlob('basic/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
      expect((await readAll((await client.getBlob('basic/a', b.digest)).stream)).equals(b.data)).toBe(true);
      const reqs = await reg.requests();
      // Only pings of /v2/ answered 401: every API request carried credentials at once.
      expect(reqs.filter((r) => r.status === 401 && r.path !== '/v2/')).toEqual([]);
      expect(reqs.filter((r) => r.path.startsWith('/v2/basic/a/')).length).toBe(3);
    } finally {
      await client.close();
    }
  });

  test('a wrong password is UNAUTHORIZED with a login hint naming the registry', async () => {
    const client = new RegistryClient({
      endpoint: reg.host,
      insecure: true,
      credentials: { username: reg.username!, password: 'wrong' },
    });
    try {
      await expect(client.listTags('basic/a')).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
        status: 401,
        message: expect.stringContaining(reg.host),
        hint: expect.stringContaining(`ferry login ${reg.host}`),
      });
    } finally {
      await client.close();
    }
  });

  test('no credentials at all is UNAUTHORIZED', async () => {
    const client = new RegistryClient({ endpoint: reg.host, insecure: true });
    try {
      await expect(client.listTags('basic/a')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    } finally {
      await client.close();
    }
  });
});

describe('TLS registry with a self-signed CA', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  test('verifies with the CA from --cert-dir', async () => {
    const client = new RegistryClient({ endpoint: reg.host, certDir: reg.certDir! });
    try {
      const b = blob(1000);
      await client.uploadBlob('tls/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
      expect(await client.headBlob('tls/a', b.digest)).toBe(b.size);
    } finally {
      await client.close();
    }
  });

  test('without the CA it is a TLS error with a hint', async () => {
    const client = new RegistryClient({
      endpoint: reg.host,
      retryTimes: 0,
      certDir: '/nonexistent-skiff-certs',
    });
    try {
      await expect(client.ping()).rejects.toMatchObject({
        code: 'TLS',
        hint: expect.stringMatching(/--tls-verify=false|--cert-dir/),
      });
    } finally {
      await client.close();
    }
  });

  test('tlsVerify false skips verification over https', async () => {
    const client = new RegistryClient({ endpoint: reg.host, tlsVerify: false });
    try {
      expect(await client.listTags('tls/a')).toEqual([]);
    } catch (err) {
      // No tags pushed: NAME_UNKNOWN is a successful TLS exchange too.
      expect(err).toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await client.close();
    }
    const reqs = await reg.requests();
    expect(reqs.some((r) => r.path === '/v2/tls/a/tags/list')).toBe(true);
  });
});

describe('token (Bearer) registry', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  test('fetches a token per scope and caches it', async () => {
    const client = new RegistryClient({
      endpoint: reg.host,
      insecure: true,
      credentials: { username: reg.username!, password: reg.password! },
    });
    const ts = reg.tokenServer!;
    const before = ts.requests.length;
    try {
      const blobs = [blob(1000), blob(2000), blob(3000)];
      for (const b of blobs) {
        await client.uploadBlob('tok/a', streamOf(b.data), { digest: b.digest, sizeBytes: b.size });
      }
      for (const b of blobs) expect(await client.headBlob('tok/a', b.digest)).toBe(b.size);
      const pushReqs = ts.requests.slice(before);
      // One token for pull,push and one for pull: not one per request.
      expect(pushReqs.map((r) => r.scopes.join(' ')).sort()).toEqual([
        'repository:tok/a:pull',
        'repository:tok/a:pull,push',
      ]);
      expect(pushReqs.every((r) => r.account === reg.username && r.service === 'skiff-test-registry')).toBe(
        true,
      );
      expect(client.tokenRequestCount).toBe(2);
      // Mount asks for both repositories in one token.
      expect(await client.mountBlob('tok/b', blobs[0]!.digest, 'tok/a')).toBe(true);
      expect(ts.requests.at(-1)!.scopes.sort()).toEqual([
        'repository:tok/a:pull',
        'repository:tok/b:pull,push',
      ]);
    } finally {
      await client.close();
    }
  });

  test('a wrong password is refused by the token server: UNAUTHORIZED with hint', async () => {
    const client = new RegistryClient({
      endpoint: reg.host,
      insecure: true,
      credentials: { username: reg.username!, password: 'nope' },
    });
    try {
      await expect(client.listTags('tok/a')).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
        hint: expect.stringContaining(`ferry login ${reg.host}`),
      });
    } finally {
      await client.close();
    }
  });

  test('anonymous gets a token without access: UNAUTHORIZED from the registry', async () => {
    const client = new RegistryClient({ endpoint: reg.host, insecure: true });
    try {
      await expect(client.listTags('tok/a')).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    } finally {
      await client.close();
    }
  });

  test('an identity token uses the OAuth2 POST form', async () => {
    const client = new RegistryClient({
      endpoint: reg.host,
      insecure: true,
      credentials: { username: '', password: '', identityToken: 'identity-token-for-testuser' },
    });
    try {
      expect(await client.listTags('tok/a')).toEqual([]);
    } catch (err) {
      expect(err).toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await client.close();
    }
    const last = reg.tokenServer!.requests.at(-1)!;
    expect(last).toMatchObject({ method: 'POST', grantType: 'refresh_token', account: reg.username });
  });
});

describe('ping checks credentials (login)', () => {
  let basic: TestRegistry;
  let token: TestRegistry;
  beforeAll(async () => {
    [basic, token] = await Promise.all([
      startRegistry({ auth: 'htpasswd' }),
      startRegistry({ auth: 'token' }),
    ]);
  });
  afterAll(async () => {
    await basic?.stop();
    await token?.stop();
  });

  test.each(['htpasswd', 'token'])('%s: right password passes, wrong one is UNAUTHORIZED', async (kind) => {
    const reg = kind === 'htpasswd' ? basic : token;
    const ok = new RegistryClient({
      endpoint: reg.host,
      insecure: true,
      credentials: { username: reg.username!, password: reg.password! },
    });
    const bad = new RegistryClient({
      endpoint: reg.host,
      insecure: true,
      credentials: { username: reg.username!, password: 'bad' },
    });
    try {
      await ok.ping();
      await expect(bad.ping()).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
        hint: expect.stringContaining(`ferry login ${reg.host}`),
      });
    } finally {
      await ok.close();
      await bad.close();
    }
  });
});
