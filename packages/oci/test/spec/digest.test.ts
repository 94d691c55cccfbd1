import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DigestVerifier, digestOf, isDigest, parseDigest, verifyDigest } from '../../src/spec/digest.js';

const HELLO_SHA256 = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

describe('digests', () => {
  it('computes sha256 and sha512', () => {
    expect(digestOf('hello')).toBe(HELLO_SHA256);
    expect(digestOf('hello', 'sha512')).toMatch(/^sha512:[a-f0-9]{128}$/);
  });

  it.each([
    ['sha256:abc', 'needs 64 hex digits'],
    ['md5:d41d8cd98f00b204e9800998ecf8427e', 'expected sha256'],
    [`sha256:${'A'.repeat(64)}`, 'expected sha256'],
    ['', 'expected sha256'],
    [`sha512:${'a'.repeat(64)}`, 'needs 128 hex digits'],
  ])('rejects %j', (value, message) => {
    expect(() => parseDigest(value)).toThrow(message);
    expect(isDigest(value)).toBe(false);
  });

  it('accepts valid digests', () => {
    expect(parseDigest(HELLO_SHA256)).toEqual({ algorithm: 'sha256', hex: HELLO_SHA256.slice(7) });
    expect(isDigest(`sha512:${'0'.repeat(128)}`)).toBe(true);
  });

  it('verifyDigest names the blob on mismatch', () => {
    expect(() => verifyDigest(Buffer.from('hello'), HELLO_SHA256)).not.toThrow();
    expect(() => verifyDigest(Buffer.from('hellO'), HELLO_SHA256, 'layer x')).toThrow(
      /layer x sha256:2cf2.*content has digest/,
    );
  });
});

describe('DigestVerifier', () => {
  const run = (data: string[], options: ConstructorParameters<typeof DigestVerifier>[0]) => {
    const v = new DigestVerifier(options);
    const out: Buffer[] = [];
    v.on('data', (c: Buffer) => out.push(c));
    return pipeline(Readable.from(data.map((d) => Buffer.from(d))), v).then(() => ({
      v,
      out: Buffer.concat(out),
    }));
  };

  it('passes bytes through and reports digest and size', async () => {
    const { v, out } = await run(['he', 'llo'], { digest: HELLO_SHA256, sizeBytes: 5 });
    expect(out.toString()).toBe('hello');
    expect(v.digest).toBe(HELLO_SHA256);
    expect(v.bytes).toBe(5);
  });

  it('fails with DIGEST_MISMATCH on wrong content', async () => {
    await expect(run(['hellO'], { digest: HELLO_SHA256, sizeBytes: 5 })).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
  });

  it('fails with SIZE_MISMATCH on a short stream', async () => {
    await expect(run(['hell'], { digest: HELLO_SHA256, sizeBytes: 5 })).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
    });
  });

  it('fails as soon as a stream runs past its size', async () => {
    await expect(run(['hello', 'more'], { sizeBytes: 5 })).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
      message: expect.stringContaining('more than the expected 5 bytes'),
    });
  });
});
