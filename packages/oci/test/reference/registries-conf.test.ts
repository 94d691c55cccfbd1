import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseReference } from '../../src/reference/reference.js';
import {
  findRegistry,
  loadRegistriesConf,
  parseRegistriesConf,
  pullSources,
  pushTarget,
  type RegistriesConf,
  resolveShortName,
} from '../../src/reference/registries-conf.js';

const D = `sha256:${'c'.repeat(64)}`;
const tmp = mkdtempSync(join(tmpdir(), 'skiff-regconf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
function dirs(): { home: string; system: string } {
  counter += 1;
  const root = join(tmp, String(counter));
  const home = join(root, 'home');
  const system = join(root, 'etc');
  mkdirSync(home, { recursive: true });
  mkdirSync(system, { recursive: true });
  return { home, system };
}

function put(path: string, text: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

function conf(text: string): RegistriesConf {
  const parsed = parseRegistriesConf(text, 'test.conf');
  return {
    unqualifiedSearchRegistries: parsed.unqualifiedSearchRegistries ?? [],
    shortNameMode: parsed.shortNameMode ?? 'permissive',
    aliases: parsed.aliases ?? {},
    registries: parsed.registries ?? [],
    files: ['test.conf'],
  };
}

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected an error');
}

describe('parseRegistriesConf', () => {
  it('reads every supported setting', () => {
    const parsed = parseRegistriesConf(
      `
unqualified-search-registries = ["registry.fedoraproject.org", "docker.io", "localhost:5000"]
short-name-mode = "enforcing"
[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
[[registry]]
prefix = "example.com/foo"
location = "internal.example.com:5000/bar/"
insecure = true
[[registry.mirror]]
location = "mirror.local/foo"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "mirror2.local"
insecure = true
[[registry]]
location = "blocked.io"
blocked = true
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.blocked.io"
[[registry]]
prefix = "*.wild.io"
`,
      'a.conf',
    );
    expect(parsed.unqualifiedSearchRegistries).toEqual([
      'registry.fedoraproject.org',
      'docker.io',
      'localhost:5000',
    ]);
    expect(parsed.shortNameMode).toBe('enforcing');
    expect(parsed.aliases).toEqual({ fedora: 'registry.fedoraproject.org/fedora' });
    expect(parsed.files).toEqual(['a.conf']);
    expect(parsed.registries).toEqual([
      {
        prefix: 'example.com/foo',
        location: 'internal.example.com:5000/bar',
        insecure: true,
        blocked: false,
        mirrorByDigestOnly: false,
        mirrors: [
          { location: 'mirror.local/foo', insecure: false, pullFromMirror: 'tag-only' },
          { location: 'mirror2.local', insecure: true, pullFromMirror: 'all' },
        ],
      },
      {
        prefix: 'blocked.io',
        location: 'blocked.io',
        insecure: false,
        blocked: true,
        mirrorByDigestOnly: true,
        mirrors: [{ location: 'm.blocked.io', insecure: false, pullFromMirror: 'digest-only' }],
      },
      {
        prefix: '*.wild.io',
        location: '',
        insecure: false,
        blocked: false,
        mirrorByDigestOnly: false,
        mirrors: [],
      },
    ]);
  });

  it('omits settings the file does not state', () => {
    expect(parseRegistriesConf('# nothing\n', 'x.conf')).toEqual({ files: ['x.conf'] });
  });

  it('reads the version 1 format', () => {
    const parsed = parseRegistriesConf(
      '[registries.search]\nregistries = ["quay.io"]\n[registries.insecure]\nregistries = ["a.io"]\n[registries.block]\nregistries = ["a.io", "b.io"]\n',
      'v1.conf',
    );
    expect(parsed.unqualifiedSearchRegistries).toEqual(['quay.io']);
    expect(parsed.registries?.map((r) => [r.prefix, r.insecure, r.blocked])).toEqual([
      ['a.io', true, true],
      ['b.io', false, true],
    ]);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['TOML syntax', 'unqualified-search-registries = [', /not valid TOML \(line 1/],
    ['wrong type', 'unqualified-search-registries = "docker.io"', /unqualified-search-registries/],
    ['bad mode', 'short-name-mode = "strict"', /short-name-mode/],
    ['insecure not bool', '[[registry]]\nlocation = "a.io"\ninsecure = "yes"', /registry\.\[0\]\.insecure/],
    ['no prefix or location', '[[registry]]\ninsecure = true', /both location and prefix are unset/],
    ['prefix without location', '[[registry]]\nprefix = "a.io/x"', /location is unset/],
    ['bad wildcard', '[[registry]]\nprefix = "*.a.io/x"', /\*\.example\.com/],
    ['scheme', '[[registry]]\nlocation = "https://a.io"', /URI schemes are not supported/],
    [
      'digest-only conflict',
      '[[registry]]\nlocation = "a.io"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "all"',
      /at the same time/,
    ],
    [
      'bad pull-from-mirror',
      '[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "x"',
      /pull-from-mirror/,
    ],
    [
      'conflicting insecure',
      '[[registry]]\nprefix = "a.io/x"\nlocation = "a.io"\ninsecure = true\n[[registry]]\nprefix = "a.io/y"\nlocation = "a.io"',
      /conflicting "insecure"/,
    ],
    ['alias key with registry', '[aliases]\n"quay.io/a" = "quay.io/a"', /must be a short name/],
    ['alias key with tag', '[aliases]\n"a:1" = "quay.io/a"', /must be a short name/],
    ['alias value short', '[aliases]\n"a" = "foo/a"', /must contain registry/],
    ['alias value tagged', '[aliases]\n"a" = "quay.io/a:1"', /must not contain a tag/],
    ['search registry with path', 'unqualified-search-registries = ["quay.io/ns"]', /expected host\[:port\]/],
    ['mixed v1 and v2', 'unqualified-search-registries = []\n[registries.search]\nregistries = []', /mixing/],
  ];
  for (const [name, text, message] of bad) {
    it(`rejects ${name} with CONFIG_FILE naming the file`, () => {
      const e = errorOf(() => parseRegistriesConf(text, '/some/where.conf'));
      expect(e.code).toBe('CONFIG_FILE');
      expect(e.message).toContain('/some/where.conf');
      expect(e.message).toMatch(message);
    });
  }
});

describe('loadRegistriesConf: files and precedence', () => {
  it('uses the system file and its drop-ins, then the user drop-ins, in lexical order', () => {
    const { home, system } = dirs();
    put(
      join(system, 'registries.conf'),
      'unqualified-search-registries = ["a.io"]\nshort-name-mode = "enforcing"\n[aliases]\n"x" = "a.io/x"\n"y" = "a.io/y"\n[[registry]]\nlocation = "r.io"\ninsecure = true\n[[registry]]\nlocation = "s.io"\n',
    );
    put(
      join(system, 'registries.conf.d', '10-b.conf'),
      'unqualified-search-registries = ["b.io"]\n[aliases]\n"x" = "b.io/x"\n',
    );
    put(join(system, 'registries.conf.d', '02-first.conf'), 'unqualified-search-registries = ["first.io"]\n');
    put(join(system, 'registries.conf.d', 'ignored.txt'), 'this is = not toml [');
    mkdirSync(join(system, 'registries.conf.d', 'sub.conf'));
    put(
      join(home, '.config', 'containers', 'registries.conf.d', '01-user.conf'),
      '[aliases]\n"y" = ""\n[[registry]]\nlocation = "r.io"\nblocked = true\n',
    );
    const c = loadRegistriesConf({ homeDir: home, systemDir: system, env: {} });
    expect(c.files).toEqual([
      join(system, 'registries.conf'),
      join(system, 'registries.conf.d', '02-first.conf'),
      join(system, 'registries.conf.d', '10-b.conf'),
      join(home, '.config', 'containers', 'registries.conf.d', '01-user.conf'),
    ]);
    expect(c.unqualifiedSearchRegistries).toEqual(['b.io']);
    expect(c.shortNameMode).toBe('enforcing');
    expect(c.aliases).toEqual({ x: 'b.io/x' });
    // The user drop-in replaces the r.io table wholesale (insecure is gone), s.io stays.
    expect(c.registries.map((r) => [r.prefix, r.insecure, r.blocked])).toEqual([
      ['r.io', false, true],
      ['s.io', false, false],
    ]);
  });

  it('a user registries.conf replaces the system one and its drop-ins', () => {
    const { home, system } = dirs();
    put(join(system, 'registries.conf'), 'unqualified-search-registries = ["sys.io"]\n');
    put(join(system, 'registries.conf.d', 'a.conf'), 'short-name-mode = "disabled"\n');
    const userFile = put(
      join(home, '.config', 'containers', 'registries.conf'),
      '[aliases]\n"u" = "user.io/u"\n',
    );
    const userDrop = put(
      join(home, '.config', 'containers', 'registries.conf.d', 'z.conf'),
      'unqualified-search-registries = ["drop.io"]\n',
    );
    const c = loadRegistriesConf({ homeDir: home, systemDir: system, env: {} });
    expect(c.files).toEqual([userFile, userDrop]);
    expect(c.unqualifiedSearchRegistries).toEqual(['drop.io']);
    expect(c.shortNameMode).toBe('permissive');
    expect(c.aliases).toEqual({ u: 'user.io/u' });
  });

  it('path is the only file read; CONTAINERS_REGISTRIES_CONF replaces the main file but keeps drop-ins', () => {
    const { home, system } = dirs();
    put(join(system, 'registries.conf'), 'unqualified-search-registries = ["sys.io"]\n');
    const sysDrop = put(join(system, 'registries.conf.d', 'a.conf'), '[aliases]\n"a" = "sys.io/a"\n');
    put(join(home, '.config', 'containers', 'registries.conf'), 'short-name-mode = "disabled"\n');
    const userDrop = put(
      join(home, '.config', 'containers', 'registries.conf.d', 'z.conf'),
      '[aliases]\n"z" = "user.io/z"\n',
    );
    const only = put(join(home, 'only.conf'), 'unqualified-search-registries = ["only.io"]\n');
    const viaPath = loadRegistriesConf({ path: only, homeDir: home, systemDir: system, env: {} });
    expect(viaPath.files).toEqual([only]);
    expect(viaPath.aliases).toEqual({});
    const viaEnv = loadRegistriesConf({
      homeDir: home,
      systemDir: system,
      env: { CONTAINERS_REGISTRIES_CONF: only },
    });
    expect(viaEnv.files).toEqual([only, sysDrop, userDrop]);
    expect(viaEnv.unqualifiedSearchRegistries).toEqual(['only.io']);
    expect(viaEnv.shortNameMode).toBe('permissive');
    expect(viaEnv.aliases).toEqual({ a: 'sys.io/a', z: 'user.io/z' });
  });

  it('missing files give the defaults; HOME comes from env', () => {
    const { home, system } = dirs();
    const c = loadRegistriesConf({ systemDir: system, env: { HOME: home } });
    expect(c).toEqual({
      unqualifiedSearchRegistries: [],
      shortNameMode: 'permissive',
      aliases: {},
      registries: [],
      files: [],
    });
  });

  it('a malformed drop-in names the drop-in', () => {
    const { home, system } = dirs();
    const bad = put(join(system, 'registries.conf.d', 'bad.conf'), '[[registry]]\nprefix = 3\n');
    const e = errorOf(() => loadRegistriesConf({ homeDir: home, systemDir: system, env: {} }));
    expect(e.code).toBe('CONFIG_FILE');
    expect(e.message).toContain(bad);
  });

  it('parses the registries.conf installed on this machine', () => {
    const c = loadRegistriesConf({ env: { HOME: join(tmp, 'nohome') } });
    expect(c.files[0]).toBe('/etc/containers/registries.conf');
    expect(c.aliases.alpine).toBe('docker.io/library/alpine');
  });
});

describe('findRegistry', () => {
  const c = conf(`
[[registry]]
location = "example.com"
[[registry]]
prefix = "example.com/foo"
location = "a.io"
[[registry]]
prefix = "example.com/foo/bar"
location = "b.io"
[[registry]]
prefix = "*.wild.io"
[[registry]]
prefix = "*.sub.wild.io"
insecure = true
[[registry]]
prefix = "docker.io/library/busybox:1"
location = "pinned.io/busybox"
`);
  const find = (s: string) => findRegistry(c, parseReference(s))?.prefix;
  it('picks the longest matching prefix on component boundaries', () => {
    expect(find('example.com/x')).toBe('example.com');
    expect(find('example.com/foo')).toBe('example.com/foo');
    expect(find('example.com/foo/baz:1')).toBe('example.com/foo');
    expect(find('example.com/foobar')).toBe('example.com');
    expect(find(`example.com/foo/bar@${D}`)).toBe('example.com/foo/bar');
    expect(find('example.community/x')).toBeUndefined();
    expect(find('a.wild.io/x')).toBe('*.wild.io');
    expect(find('a.b.wild.io/x')).toBe('*.wild.io');
    expect(find('x.sub.wild.io/y')).toBe('*.sub.wild.io');
    expect(find('wild.io/x')).toBeUndefined();
    expect(find('other.io/a.wild.io/x')).toBeUndefined();
    expect(find('busybox:1')).toBe('docker.io/library/busybox:1');
    expect(find('busybox:12')).toBeUndefined();
  });
});

describe('pullSources and pushTarget', () => {
  const c = conf(`
[[registry]]
prefix = "example.com/foo"
location = "internal.example.com:5000/bar"
[[registry.mirror]]
location = "mirror.local/m"
[[registry.mirror]]
location = "digests.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.local:8443/t"
pull-from-mirror = "tag-only"
insecure = true
[[registry]]
location = "docker.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "hub-mirror.local"
[[registry]]
location = "internal.example.com:5000"
insecure = true
[[registry]]
location = "blocked.io"
blocked = true
[[registry]]
prefix = "*.wild.io"
[[registry.mirror]]
location = "wmirror.local"
`);
  const summary = (s: string) =>
    pullSources(c, parseReference(s)).map(
      (p) => `${p.ref.toString()} ${p.endpoint}${p.insecure ? ' insecure' : ''}${p.mirror ? ' mirror' : ''}`,
    );

  it('tries mirrors that apply, then the rewritten primary location', () => {
    expect(summary('example.com/foo/app:1')).toEqual([
      'mirror.local/m/app:1 mirror.local mirror',
      'tags.local:8443/t/app:1 tags.local:8443 insecure mirror',
      'internal.example.com:5000/bar/app:1 internal.example.com:5000 insecure',
    ]);
    expect(summary(`example.com/foo/app@${D}`)).toEqual([
      `mirror.local/m/app@${D} mirror.local mirror`,
      `digests.local/app@${D} digests.local mirror`,
      `internal.example.com:5000/bar/app@${D} internal.example.com:5000 insecure`,
    ]);
  });

  it('mirror-by-digest-only; docker.io is contacted at registry-1.docker.io', () => {
    expect(summary('busybox')).toEqual(['docker.io/library/busybox registry-1.docker.io']);
    expect(summary(`busybox@${D}`)).toEqual([
      `hub-mirror.local/library/busybox@${D} hub-mirror.local mirror`,
      `docker.io/library/busybox@${D} registry-1.docker.io`,
    ]);
  });

  it('wildcard prefixes keep the host and rewrite for mirrors', () => {
    expect(summary('a.wild.io/x/y:2')).toEqual([
      'wmirror.local/x/y:2 wmirror.local mirror',
      'a.wild.io/x/y:2 a.wild.io',
    ]);
  });

  it('references without a table pass through', () => {
    expect(summary('quay.io/a/b')).toEqual(['quay.io/a/b quay.io']);
  });

  it('blocked registries throw BLOCKED_REGISTRY for pull and push', () => {
    for (const fn of [
      () => pullSources(c, parseReference('blocked.io/a')),
      () => pushTarget(c, parseReference('blocked.io/a')),
    ]) {
      const e = errorOf(fn);
      expect(e.code).toBe('BLOCKED_REGISTRY');
      expect(e.message).toContain('blocked.io/a');
      expect(e.message).toContain('test.conf');
    }
  });

  it('push uses the location rewrite and never a mirror', () => {
    const t = pushTarget(c, parseReference('example.com/foo/app:1'));
    expect(t.ref.toString()).toBe('internal.example.com:5000/bar/app:1');
    expect(t.endpoint).toBe('internal.example.com:5000');
    expect(t.insecure).toBe(true);
    expect(t.mirror).toBe(false);
    expect(pushTarget(c, parseReference('busybox')).endpoint).toBe('registry-1.docker.io');
  });
});

describe('resolveShortName', () => {
  const c = conf(`
unqualified-search-registries = ["registry.fedoraproject.org", "quay.io", "docker.io"]
[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"nested/name" = "example.com/deep/nested"
`);
  const names = (s: string, cc = c) => resolveShortName(s, cc).candidates.map(String);

  it('an alias wins and keeps the tag or digest', () => {
    expect(resolveShortName('fedora', c)).toMatchObject({ alias: 'registry.fedoraproject.org/fedora' });
    expect(names('fedora')).toEqual(['registry.fedoraproject.org/fedora:latest']);
    expect(names('fedora:39')).toEqual(['registry.fedoraproject.org/fedora:39']);
    expect(names(`fedora@${D}`)).toEqual([`registry.fedoraproject.org/fedora@${D}`]);
    expect(names('nested/name:1')).toEqual(['example.com/deep/nested:1']);
  });

  it('otherwise one candidate per search registry, normalised for docker.io', () => {
    const r = resolveShortName('busybox:1', c);
    expect(r.alias).toBeUndefined();
    expect(r.candidates.map(String)).toEqual([
      'registry.fedoraproject.org/busybox:1',
      'quay.io/busybox:1',
      'docker.io/library/busybox:1',
    ]);
    expect(names(`foo/bar@${D}`)).toEqual([
      `registry.fedoraproject.org/foo/bar@${D}`,
      `quay.io/foo/bar@${D}`,
      `docker.io/foo/bar@${D}`,
    ]);
  });

  it('a qualified name resolves to itself', () => {
    expect(names('localhost:5000/a')).toEqual(['localhost:5000/a:latest']);
    expect(names('docker.io/busybox')).toEqual(['docker.io/library/busybox:latest']);
  });

  it('no alias and no search registries is a SHORT_NAME error naming the files', () => {
    const e = errorOf(() => resolveShortName('busybox', { ...c, unqualifiedSearchRegistries: [] }));
    expect(e.code).toBe('SHORT_NAME');
    expect(e.message).toContain('"busybox"');
    expect(e.message).toContain('test.conf');
  });

  it('invalid input is INVALID_REFERENCE', () => {
    expect(errorOf(() => resolveShortName('Busybox', c)).code).toBe('INVALID_REFERENCE');
  });
});
