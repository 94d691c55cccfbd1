import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authFileLookupPaths,
  defaultAuthFileForWrite,
  getCredentials,
  listCredentialKeys,
  normalizeAuthKey,
  removeAllCredentials,
  removeCredentials,
  setCredentials,
} from '../../src/config/auth.js';

const tmp = mkdtempSync(join(tmpdir(), 'skiff-auth-'));
const bin = join(tmp, 'bin');
const uid = process.geteuid?.() ?? 0;

// A real credential helper: stores each payload in $HELPER_STORE/<server with / and : replaced>,
// logs "<action> <stdin>" lines to $HELPER_STORE/log, fails loudly for servers named fail.*.
const HELPER = `#!/bin/sh
store="$HELPER_STORE"
mkdir -p "$store"
input=$(cat)
printf '%s %s\\n' "$1" "$input" >> "$store/log"
case "$1" in
  get|erase) server="$input" ;;
  store) server=$(printf '%s' "$input" | sed 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/') ;;
  *) echo "unknown action $1" >&2; exit 3 ;;
esac
case "$server" in fail.*) echo "keychain locked for $server" >&2; exit 2 ;; esac
file="$store/$(printf '%s' "$server" | tr '/:' '__')"
case "$1" in
  get) if [ -f "$file" ]; then cat "$file"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) printf '%s' "$input" > "$file" ;;
  erase) if [ -f "$file" ]; then rm "$file"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
`;

beforeAll(() => {
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'docker-credential-testhelper'), HELPER);
  chmodSync(join(bin, 'docker-credential-testhelper'), 0o755);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
interface Env {
  env: NodeJS.ProcessEnv;
  home: string;
  run: string;
  store: string;
}
function freshEnv(extra: NodeJS.ProcessEnv = {}): Env {
  counter += 1;
  const root = join(tmp, `case-${counter}`);
  const home = join(root, 'home');
  const run = join(root, 'run');
  const store = join(root, 'helper-store');
  mkdirSync(home, { recursive: true });
  mkdirSync(run, { recursive: true });
  return {
    env: {
      HOME: home,
      XDG_RUNTIME_DIR: run,
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HELPER_STORE: store,
      ...extra,
    },
    home,
    run,
    store,
  };
}

function put(path: string, value: unknown): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const entry = (user: string, pass: string) => ({ auth: b64(`${user}:${pass}`) });

async function errorOf(fn: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected an error');
}

describe('normalizeAuthKey', () => {
  it.each([
    ['quay.io', 'quay.io'],
    ['https://quay.io', 'quay.io'],
    ['http://localhost:5000/', 'localhost:5000'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['docker.io/v1', 'docker.io'],
    ['docker.io/v1/', 'docker.io'],
    ['https://myreg.example.com/v2/', 'myreg.example.com'],
    ['quay.io/ns/repo/', 'quay.io/ns/repo'],
    ['index.docker.io/ns/repo', 'docker.io/ns/repo'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeAuthKey(input)).toBe(expected);
  });
});

describe('auth file paths', () => {
  it('follows containers/image order', () => {
    const { env, home, run } = freshEnv();
    expect(authFileLookupPaths({ env })).toEqual([
      join(run, 'containers', 'auth.json'),
      join(home, '.config', 'containers', 'auth.json'),
      join(home, '.docker', 'config.json'),
      join(home, '.dockercfg'),
    ]);
    expect(defaultAuthFileForWrite({ env })).toBe(join(run, 'containers', 'auth.json'));
  });

  it('honours XDG_CONFIG_HOME and DOCKER_CONFIG', () => {
    const { env, home } = freshEnv({ XDG_CONFIG_HOME: '/x/cfg', DOCKER_CONFIG: '/x/docker' });
    expect(authFileLookupPaths({ env }).slice(1)).toEqual([
      '/x/cfg/containers/auth.json',
      '/x/docker/config.json',
      join(home, '.dockercfg'),
    ]);
  });

  it('--authfile, then REGISTRY_AUTH_FILE, is the only file', () => {
    const { env } = freshEnv({ REGISTRY_AUTH_FILE: '/from/env.json' });
    expect(authFileLookupPaths({ env })).toEqual(['/from/env.json']);
    expect(defaultAuthFileForWrite({ env })).toBe('/from/env.json');
    expect(authFileLookupPaths({ env, authFile: '/flag.json' })).toEqual(['/flag.json']);
    expect(defaultAuthFileForWrite({ env, authFile: '/flag.json' })).toBe('/flag.json');
  });

  it.runIf(uid === 0)('root without XDG_RUNTIME_DIR uses /run/containers/0/auth.json', () => {
    expect(defaultAuthFileForWrite({ env: { HOME: '/nonexistent' } })).toBe('/run/containers/0/auth.json');
  });
});

describe('getCredentials', () => {
  it('the first file with an entry wins', async () => {
    const { env, home, run } = freshEnv();
    put(join(run, 'containers', 'auth.json'), { auths: { 'a.io': entry('runtime', 'p1') } });
    put(join(home, '.config', 'containers', 'auth.json'), {
      auths: { 'a.io': entry('xdg', 'p2'), 'b.io': entry('xdg', 'p3') },
    });
    put(join(home, '.docker', 'config.json'), {
      auths: { 'c.io': entry('docker', 'p4'), 'b.io': entry('docker', 'x') },
    });
    put(join(home, '.dockercfg'), { 'https://d.io/v1/': { auth: b64('legacy:p5'), email: 'x@y' } });
    expect(await getCredentials('a.io', undefined, { env })).toEqual({ username: 'runtime', password: 'p1' });
    expect(await getCredentials('b.io', 'x/y', { env })).toEqual({ username: 'xdg', password: 'p3' });
    expect(await getCredentials('c.io', undefined, { env })).toEqual({ username: 'docker', password: 'p4' });
    expect(await getCredentials('d.io', undefined, { env })).toEqual({ username: 'legacy', password: 'p5' });
    expect(await getCredentials('e.io', undefined, { env })).toBeUndefined();
  });

  it('an explicit auth file hides the others', async () => {
    const { env, run } = freshEnv();
    put(join(run, 'containers', 'auth.json'), { auths: { 'a.io': entry('runtime', 'p1') } });
    const only = put(join(run, 'only.json'), { auths: { 'b.io': entry('only', 'p') } });
    expect(await getCredentials('a.io', undefined, { env, authFile: only })).toBeUndefined();
    expect(await getCredentials('b.io', undefined, { env, authFile: only })).toEqual({
      username: 'only',
      password: 'p',
    });
    expect(await getCredentials('b.io', undefined, { env: { ...env, REGISTRY_AUTH_FILE: only } })).toEqual({
      username: 'only',
      password: 'p',
    });
  });

  it('the most specific namespace key wins', async () => {
    const { env, run } = freshEnv();
    put(join(run, 'containers', 'auth.json'), {
      auths: {
        'quay.io': entry('host', '1'),
        'quay.io/a': entry('ns', '2'),
        'quay.io/a/b': entry('repo', '3'),
      },
    });
    const user = async (repo?: string) => (await getCredentials('quay.io', repo, { env }))?.username;
    expect(await user('a/b')).toBe('repo');
    expect(await user('a/b/c')).toBe('repo');
    expect(await user('a/bc')).toBe('ns');
    expect(await user('a')).toBe('ns');
    expect(await user('z/y')).toBe('host');
    expect(await user()).toBe('host');
  });

  it('matches Docker Hub and URL-style keys', async () => {
    const { env, home } = freshEnv();
    put(join(home, '.docker', 'config.json'), {
      auths: {
        'https://index.docker.io/v1/': entry('hub', 'h'),
        'http://localhost:5000/v2/': entry('loc', 'l'),
      },
    });
    expect((await getCredentials('docker.io', 'library/busybox', { env }))?.username).toBe('hub');
    expect((await getCredentials('registry-1.docker.io', undefined, { env }))?.username).toBe('hub');
    expect((await getCredentials('index.docker.io', undefined, { env }))?.username).toBe('hub');
    expect((await getCredentials('localhost:5000', undefined, { env }))?.username).toBe('loc');
  });

  it('reads identity tokens, passwords with colons, and skips empty markers', async () => {
    const { env, run, home } = freshEnv();
    put(join(run, 'containers', 'auth.json'), {
      auths: {
        'tok.io': { auth: b64('u:'), identitytoken: 'refresh-token' },
        'colon.io': entry('u', 'a:b:c'),
        'marker.io': {},
      },
    });
    put(join(home, '.docker', 'config.json'), { auths: { 'marker.io': entry('fallback', 'f') } });
    expect(await getCredentials('tok.io', undefined, { env })).toEqual({
      username: 'u',
      password: '',
      identityToken: 'refresh-token',
    });
    expect((await getCredentials('colon.io', undefined, { env }))?.password).toBe('a:b:c');
    expect((await getCredentials('marker.io', undefined, { env }))?.username).toBe('fallback');
  });

  it.each([
    ['not JSON', '{ "auths": ', /not valid JSON/],
    ['auths not an object', '{"auths": []}', /auths/],
    ['auth not a string', '{"auths": {"a.io": {"auth": 5}}}', /auths\.a\.io\.auth/],
    ['credHelpers wrong type', '{"credHelpers": {"a.io": true}}', /credHelpers/],
    ['bad base64', '{"auths": {"a.io": {"auth": "!!!"}}}', /not valid base64/],
  ])('a malformed file (%s) is CONFIG_FILE naming the file', async (_name, text, message) => {
    const { env, run } = freshEnv();
    const file = put(join(run, 'containers', 'auth.json'), text);
    const e = await errorOf(() => getCredentials('a.io', undefined, { env }));
    expect(e.code).toBe('CONFIG_FILE');
    expect(e.message).toContain(file);
    expect(e.message).toMatch(message);
  });
});

describe('credential helpers', () => {
  it('credHelpers: get sends the registry on stdin and reads Username/Secret', async () => {
    const h = freshEnv();
    await setCredentials(
      'a.io',
      { username: 'seed', password: 'x' },
      { env: h.env, authFile: join(h.run, 'seed.json') },
    );
    // Seed the helper store directly through its own protocol.
    put(join(h.run, 'containers', 'auth.json'), { credHelpers: { 'h.io': 'testhelper' } });
    put(join(h.store, 'h.io'), { ServerURL: 'h.io', Username: 'helper-user', Secret: 'helper-secret' });
    expect(await getCredentials('h.io', 'ns/repo', { env: h.env })).toEqual({
      username: 'helper-user',
      password: 'helper-secret',
    });
    expect(readFileSync(join(h.store, 'log'), 'utf8')).toBe('get h.io\n');
  });

  it('a helper without credentials falls through to later files', async () => {
    const h = freshEnv();
    put(join(h.run, 'containers', 'auth.json'), { credHelpers: { 'h.io': 'testhelper' } });
    put(join(h.home, '.docker', 'config.json'), { auths: { 'h.io': entry('file', 'f') } });
    expect((await getCredentials('h.io', undefined, { env: h.env }))?.username).toBe('file');
  });

  it('credsStore covers every registry; Docker Hub uses its v1 URL; <token> is an identity token', async () => {
    const h = freshEnv();
    put(join(h.home, '.docker', 'config.json'), {
      credsStore: 'testhelper',
      auths: { 'https://index.docker.io/v1/': {} },
    });
    put(join(h.store, 'https___index.docker.io_v1_'), { Username: '<token>', Secret: 'tok' });
    put(join(h.store, 's.io_5000'), { Username: 'su', Secret: 'ss' });
    expect(await getCredentials('docker.io', undefined, { env: h.env })).toEqual({
      username: '',
      password: '',
      identityToken: 'tok',
    });
    expect(await getCredentials('s.io:5000', undefined, { env: h.env })).toEqual({
      username: 'su',
      password: 'ss',
    });
    expect(await getCredentials('none.io', undefined, { env: h.env })).toBeUndefined();
  });

  it('a failing helper is CREDENTIAL_HELPER naming the helper', async () => {
    const h = freshEnv();
    put(join(h.run, 'containers', 'auth.json'), {
      credHelpers: { 'fail.io': 'testhelper', 'm.io': 'missing' },
    });
    const e = await errorOf(() => getCredentials('fail.io', undefined, { env: h.env }));
    expect(e.code).toBe('CREDENTIAL_HELPER');
    expect(e.message).toContain('docker-credential-testhelper');
    expect(e.message).toContain('keychain locked for fail.io');
    const m = await errorOf(() => getCredentials('m.io', undefined, { env: h.env }));
    expect(m.code).toBe('CREDENTIAL_HELPER');
    expect(m.message).toContain('docker-credential-missing not found');
  });

  it('login and logout go through the configured helper', async () => {
    const h = freshEnv();
    const file = put(join(h.run, 'containers', 'auth.json'), { credHelpers: { 'h.io': 'testhelper' } });
    const written = await setCredentials('https://h.io/', { username: 'me', password: 'pw' }, { env: h.env });
    expect(written).toBe('docker-credential-testhelper');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ credHelpers: { 'h.io': 'testhelper' } });
    expect(await getCredentials('h.io', undefined, { env: h.env })).toEqual({
      username: 'me',
      password: 'pw',
    });
    const ns = await errorOf(() =>
      setCredentials('h.io/ns', { username: 'a', password: 'b' }, { env: h.env }),
    );
    expect(ns.code).toBe('CREDENTIAL_HELPER');
    expect(await removeCredentials('h.io', { env: h.env })).toBe(true);
    expect(await removeCredentials('h.io', { env: h.env })).toBe(false);
    expect(await getCredentials('h.io', undefined, { env: h.env })).toBeUndefined();
  });
});

describe('writes', () => {
  it('login creates the runtime auth.json 0600 in 0700 parents, atomically, keeping unknown fields', async () => {
    const h = freshEnv();
    const path = join(h.run, 'containers', 'auth.json');
    expect(await setCredentials('localhost:5000', { username: 'u', password: 'p' }, { env: h.env })).toBe(
      path,
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(h.run, 'containers')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      auths: { 'localhost:5000': { auth: b64('u:p') } },
    });

    // Unknown fields (top level and other entries) survive; the file is replaced by rename.
    writeFileSync(
      path,
      JSON.stringify({
        auths: { 'other.io': { auth: b64('o:o'), email: 'o@o' } },
        psFormat: 'table',
        credHelpers: {},
      }),
    );
    chmodSync(path, 0o644);
    const before = statSync(path).ino;
    await setCredentials('quay.io/ns', { username: 'n', password: 's', identityToken: 't' }, { env: h.env });
    const after = statSync(path);
    expect(after.ino).not.toBe(before);
    expect(after.mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      auths: {
        'other.io': { auth: b64('o:o'), email: 'o@o' },
        'quay.io/ns': { auth: b64('n:s'), identitytoken: 't' },
      },
      psFormat: 'table',
      credHelpers: {},
    });
    expect(readdirSync(join(h.run, 'containers'))).toEqual(['auth.json']);
    expect(await getCredentials('quay.io', 'ns/repo', { env: h.env })).toEqual({
      username: 'n',
      password: 's',
      identityToken: 't',
    });
  });

  it('writes to --authfile and normalises keys', async () => {
    const h = freshEnv();
    const file = join(h.home, 'deep', 'dir', 'my-auth.json');
    await setCredentials(
      'https://index.docker.io/v1/',
      { username: 'd', password: 'h' },
      { env: h.env, authFile: file },
    );
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).auths)).toEqual(['docker.io']);
    expect(await listCredentialKeys({ env: h.env, authFile: file })).toEqual(['docker.io']);
  });

  it('logout removes exact and equivalent keys; false when nothing was there', async () => {
    const h = freshEnv();
    const path = put(join(h.run, 'containers', 'auth.json'), {
      auths: { 'https://a.io/v1/': entry('x', 'y'), 'a.io/ns': entry('n', 'n'), 'b.io': entry('b', 'b') },
      keep: 1,
    });
    expect(await removeCredentials('a.io', { env: h.env })).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      auths: { 'a.io/ns': entry('n', 'n'), 'b.io': entry('b', 'b') },
      keep: 1,
    });
    expect(await removeCredentials('a.io', { env: h.env })).toBe(false);
    expect(await removeCredentials('a.io/ns', { env: h.env })).toBe(true);
    expect(await removeCredentials('zzz.io', { env: freshEnv().env })).toBe(false);
  });

  it('logout --all empties the write file and erases helper entries', async () => {
    const h = freshEnv();
    const path = put(join(h.run, 'containers', 'auth.json'), {
      auths: { 'a.io': entry('x', 'y'), 'b.io': entry('b', 'b') },
      credHelpers: { 'h.io': 'testhelper' },
      other: true,
    });
    put(join(h.store, 'h.io'), { Username: 'u', Secret: 's' });
    put(join(h.home, '.docker', 'config.json'), { auths: { 'docker-only.io': entry('d', 'd') } });
    expect(await listCredentialKeys({ env: h.env })).toEqual(['a.io', 'b.io', 'h.io', 'docker-only.io']);
    await removeAllCredentials({ env: h.env });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      auths: {},
      credHelpers: { 'h.io': 'testhelper' },
      other: true,
    });
    expect(readFileSync(join(h.store, 'log'), 'utf8')).toContain('erase h.io');
    expect(await getCredentials('h.io', undefined, { env: h.env })).toBeUndefined();
    expect(await getCredentials('a.io', undefined, { env: h.env })).toBeUndefined();
    // Other tools' files are left alone.
    expect((await getCredentials('docker-only.io', undefined, { env: h.env }))?.username).toBe('d');
  });
});

describe('interoperability with skopeo (containers/image)', () => {
  const skopeo = (args: string[], env: NodeJS.ProcessEnv) =>
    execFileSync('skopeo', args, { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' }).trim();

  it('skopeo reads what we wrote to the default path, and we read what skopeo logout left', async () => {
    const h = freshEnv();
    await setCredentials('localhost:5000', { username: 'ours', password: 'p' }, { env: h.env });
    await setCredentials('quay.io/ns', { username: 'nsuser', password: 'p' }, { env: h.env });
    const env = { HOME: h.home, XDG_RUNTIME_DIR: h.run };
    expect(skopeo(['login', '--get-login', 'localhost:5000'], env)).toBe('ours');
    expect(skopeo(['login', '--get-login', 'quay.io/ns'], env)).toBe('nsuser');
    skopeo(['logout', 'localhost:5000'], env);
    expect(await getCredentials('localhost:5000', undefined, { env: h.env })).toBeUndefined();
    expect((await getCredentials('quay.io', 'ns/app', { env: h.env }))?.username).toBe('nsuser');
  });
});
