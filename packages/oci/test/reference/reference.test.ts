import { describe, expect, it } from 'vitest';
import {
  isShortName,
  nameOnly,
  parseFullyQualified,
  parseReference,
  withDefaultTag,
  withDigest,
  withTag,
} from '../../src/reference/reference.js';

const D = `sha256:${'a'.repeat(64)}`;
const D512 = `sha512:${'b'.repeat(128)}`;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('parseReference: valid references', () => {
  const cases: Array<[string, string, string, string | undefined, string | undefined]> = [
    // input, domain, path, tag, digest
    ['busybox', 'docker.io', 'library/busybox', undefined, undefined],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined],
    ['library/busybox', 'docker.io', 'library/busybox', undefined, undefined],
    ['docker.io/busybox', 'docker.io', 'library/busybox', undefined, undefined],
    ['index.docker.io/busybox:latest', 'docker.io', 'library/busybox', 'latest', undefined],
    ['index.docker.io/foo/bar', 'docker.io', 'foo/bar', undefined, undefined],
    ['foo/bar', 'docker.io', 'foo/bar', undefined, undefined],
    ['foo/bar/baz', 'docker.io', 'foo/bar/baz', undefined, undefined],
    ['quay.io/podman/stable:v4', 'quay.io', 'podman/stable', 'v4', undefined],
    ['localhost/foo', 'localhost', 'foo', undefined, undefined],
    ['localhost:5000/foo/bar:t', 'localhost:5000', 'foo/bar', 't', undefined],
    ['127.0.0.1:5000/a/b', '127.0.0.1:5000', 'a/b', undefined, undefined],
    ['[::1]:5000/a:tag', '[::1]:5000', 'a', 'tag', undefined],
    ['[2001:db8::1]/repo', '[2001:db8::1]', 'repo', undefined, undefined],
    ['Example.COM/repo', 'Example.COM', 'repo', undefined, undefined],
    [
      'my-registry.example.com:443/a.b/c_d/e__f/g---h:T_1.x-y',
      'my-registry.example.com:443',
      'a.b/c_d/e__f/g---h',
      'T_1.x-y',
      undefined,
    ],
    [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D],
    [`busybox:1@${D}`, 'docker.io', 'library/busybox', '1', D],
    [`example.com:5000/x@${D512}`, 'example.com:5000', 'x', undefined, D512],
    ['a', 'docker.io', 'library/a', undefined, undefined],
    ['localhost:5000', 'docker.io', 'library/localhost', '5000', undefined],
    ['foo.com/bar:_tag', 'foo.com', 'bar', '_tag', undefined],
    [`x:${'t'.repeat(128)}`, 'docker.io', 'library/x', 't'.repeat(128), undefined],
  ];
  for (const [input, domain, path, tag, digest] of cases) {
    it(input.length > 60 ? `${input.slice(0, 60)}…` : input, () => {
      const ref = parseReference(input);
      expect(ref.domain).toBe(domain);
      expect(ref.path).toBe(path);
      expect(ref.tag).toBe(tag);
      expect(ref.digest).toBe(digest);
      expect(ref.name).toBe(`${domain}/${path}`);
    });
  }
});

describe('parseReference: invalid references', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Busybox', /must be lowercase/],
    ['docker.io/Library/busybox', /must be lowercase/],
    ['quay.io/Foo/Bar:1', /must be lowercase/],
    ['busybox:', /empty tag/],
    ['busybox:-x', /tag "-x"/],
    ['busybox:.x', /tag ".x"/],
    [`busybox:${'t'.repeat(129)}`, /at most 128/],
    ['busybox@sha256:abc', /malformed digest/],
    [`busybox@md5:${'a'.repeat(32)}`, /unsupported digest/],
    [`busybox@sha256:${'a'.repeat(63)}`, /unsupported digest/],
    [`@${D}`, /missing repository name/],
    ['foo//bar', /empty path component/],
    ['foo/bar/', /empty path component/],
    ['/foo', /.+/],
    ['foo_-bar', /path component/],
    ['foo/-bar', /path component/],
    ['foo/bar-', /path component/],
    ['foo/.bar', /path component/],
    ['foo/___bar', /path component/],
    ['a b', /whitespace/],
    ['https://quay.io/a', /URL scheme/],
    ['-host.com/a', /invalid registry/],
    ['host-.com/a', /invalid registry/],
    ['host.com:port/a', /invalid registry/],
    ['[::1]:5000', /missing repository/],
    ['a'.repeat(64), /image ID/],
    [`example.com/${'a'.repeat(250)}`, /longer than 255/],
    [`${'a'.repeat(246)}`, /longer than 255/], // 256 with docker.io/library/
  ];
  for (const [input, message] of cases) {
    it(JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input), () => {
      let caught: unknown;
      try {
        parseReference(input);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeDefined();
      const e = caught as { code: string; message: string };
      expect(e.code).toBe('INVALID_REFERENCE');
      expect(e.message).toMatch(message);
      if (input !== '') expect(e.message).toContain(input.slice(0, 20));
    });
  }

  it('accepts a name of exactly 255 characters', () => {
    const path = 'a'.repeat(255 - 'example.com/'.length);
    expect(parseReference(`example.com/${path}`).name.length).toBe(255);
  });
});

describe('strings', () => {
  it('toString gives name[:tag][@digest]', () => {
    expect(parseReference('busybox').toString()).toBe('docker.io/library/busybox');
    expect(parseReference(`busybox:1@${D}`).toString()).toBe(`docker.io/library/busybox:1@${D}`);
    expect(String(parseReference('localhost:5000/a:b'))).toBe('localhost:5000/a:b');
  });
  it('familiar strips docker.io and library/', () => {
    expect(parseReference('docker.io/library/busybox:latest').familiar()).toBe('busybox:latest');
    expect(parseReference('foo/bar').familiar()).toBe('foo/bar');
    expect(parseReference('docker.io/library/a/b').familiar()).toBe('library/a/b');
    expect(parseReference(`quay.io/a/b@${D}`).familiar()).toBe(`quay.io/a/b@${D}`);
  });
  it('round-trips through toString', () => {
    for (const input of ['quay.io/a/b:c', `x.io:1/y@${D}`, '[::1]:5000/z:1', 'docker.io/foo/bar:baz']) {
      const ref = parseReference(input);
      expect(parseReference(ref.toString()).toString()).toBe(ref.toString());
    }
  });
  it('values are immutable', () => {
    const ref = parseReference('busybox');
    expect(Object.isFrozen(ref)).toBe(true);
    expect(() => {
      (ref as { tag?: string }).tag = 'x';
    }).toThrow();
  });
});

describe('parseFullyQualified', () => {
  it('requires a registry', () => {
    expect(parseFullyQualified('quay.io/a').name).toBe('quay.io/a');
    expect(parseFullyQualified('localhost/a').name).toBe('localhost/a');
    expect(parseFullyQualified('docker.io/busybox').name).toBe('docker.io/library/busybox');
    for (const input of ['busybox', 'foo/bar', 'library/busybox:1']) {
      expect(() => parseFullyQualified(input)).toThrow(/fully qualified/);
      expect(codeOf(() => parseFullyQualified(input))).toBe('INVALID_REFERENCE');
    }
  });
});

describe('isShortName', () => {
  it('is true without a registry component', () => {
    for (const s of ['busybox', 'busybox:1', `busybox@${D}`, 'foo/bar', 'library/busybox:latest']) {
      expect(isShortName(s), s).toBe(true);
    }
    for (const s of ['docker.io/busybox', 'localhost/a', 'localhost:5000/a', 'quay.io/a/b:1', '[::1]/a']) {
      expect(isShortName(s), s).toBe(false);
    }
  });
});

describe('edits', () => {
  const ref = parseReference('quay.io/a/b:1');
  it('withTag / withDigest / nameOnly / withDefaultTag', () => {
    expect(withTag(ref, '2').toString()).toBe('quay.io/a/b:2');
    expect(withDigest(ref, D).toString()).toBe(`quay.io/a/b:1@${D}`);
    expect(nameOnly(withDigest(ref, D)).toString()).toBe('quay.io/a/b');
    expect(withDefaultTag(nameOnly(ref)).toString()).toBe('quay.io/a/b:latest');
    expect(withDefaultTag(ref).toString()).toBe('quay.io/a/b:1');
    const digested = withDigest(nameOnly(ref), D);
    expect(withDefaultTag(digested)).toBe(digested);
    expect(ref.toString()).toBe('quay.io/a/b:1');
  });
  it('rejects invalid tags and digests', () => {
    expect(codeOf(() => withTag(ref, 'bad tag'))).toBe('INVALID_REFERENCE');
    expect(codeOf(() => withDigest(ref, 'sha256:zz'))).toBe('INVALID_REFERENCE');
  });
});
