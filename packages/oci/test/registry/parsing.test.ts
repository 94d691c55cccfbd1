import { describe, expect, test } from 'vitest';
import { parseNextLink, parseRetryAfter } from '../../src/registry/client.js';
import { parseErrorBody, responseError } from '../../src/registry/errors.js';
import { parseWwwAuthenticate } from '../../src/registry/www-authenticate.js';

describe('WWW-Authenticate', () => {
  test('Bearer with quoted parameters holding commas', () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example/token',
          service: 'registry.example',
          scope: 'repository:a/b:pull,push',
        },
      },
    ]);
  });

  test('Basic, several challenges, escapes and several headers', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry \\"x\\""')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry "x"' } },
    ]);
    expect(
      parseWwwAuthenticate(['Basic realm=a', 'Bearer realm="r", service=s']).map((c) => c.scheme),
    ).toEqual(['basic', 'bearer']);
    expect(parseWwwAuthenticate('Basic realm="a", Bearer realm="b"')).toEqual([
      { scheme: 'basic', params: { realm: 'a' } },
      { scheme: 'bearer', params: { realm: 'b' } },
    ]);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
  });
});

describe('Retry-After and Link', () => {
  test('seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Mon, 01 Jan 2023 00:00:05 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  test('next link', () => {
    expect(parseNextLink('</v2/a/tags/list?n=2&last=b>; rel="next"')).toBe('/v2/a/tags/list?n=2&last=b');
    expect(parseNextLink('<https://x/prev>; rel="prev", <https://x/next>; rel=next')).toBe('https://x/next');
    expect(parseNextLink('<https://x/prev>; rel="prev"')).toBeUndefined();
  });
});

describe('registry error bodies', () => {
  test('distribution error codes map to stable codes', () => {
    expect(parseErrorBody('{"errors":[{"code":"DENIED","message":"no"}]}')).toEqual({
      code: 'DENIED',
      message: 'no',
    });
    expect(parseErrorBody('<html>')).toBeUndefined();
    const base = {
      what: 'manifest r/a:b',
      kind: 'manifest' as const,
      endpoint: 'r',
      method: 'GET',
      hadCredentials: false,
    };
    expect(responseError({ ...base, status: 403, bodyText: '' })).toMatchObject({
      code: 'DENIED',
      status: 403,
    });
    expect(responseError({ ...base, status: 404, bodyText: '' })).toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    expect(responseError({ ...base, kind: 'blob', status: 404, bodyText: '' })).toMatchObject({
      code: 'BLOB_UNKNOWN',
    });
    expect(
      responseError({ ...base, status: 404, bodyText: '{"errors":[{"code":"NAME_UNKNOWN","message":"x"}]}' }),
    ).toMatchObject({ code: 'NOT_FOUND', registryCode: 'NAME_UNKNOWN' });
    expect(responseError({ ...base, status: 401, bodyText: '' })).toMatchObject({
      code: 'UNAUTHORIZED',
      hint: expect.stringContaining('ferry login r'),
    });
    expect(responseError({ ...base, status: 429, bodyText: '' })).toMatchObject({
      code: 'TOO_MANY_REQUESTS',
    });
    expect(responseError({ ...base, status: 500, bodyText: '' })).toMatchObject({
      code: 'REGISTRY',
      status: 500,
    });
  });
});
