import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certsRoots, loadTlsMaterial } from '../../src/config/certs.js';
import { homeDir, isRootless, xdgConfigHome, xdgDataHome, xdgRuntimeDir } from '../../src/config/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'skiff-certs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
function roots(): [string, string, string] {
  counter += 1;
  const base = join(tmp, `case-${counter}`);
  const r: [string, string, string] = [
    join(base, 'home-certs.d'),
    join(base, 'etc-containers'),
    join(base, 'etc-docker'),
  ];
  for (const d of r) mkdirSync(d, { recursive: true });
  return r;
}

function put(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

describe('loadTlsMaterial', () => {
  it('reads CAs and the client pair from the first root with HOST:PORT', async () => {
    const [home, etc, docker] = roots();
    put(join(etc, 'reg.local:5000', 'b-ca.crt'), 'CA-B');
    put(join(etc, 'reg.local:5000', 'a-ca.crt'), 'CA-A');
    put(join(etc, 'reg.local:5000', 'client.cert'), 'CERT');
    put(join(etc, 'reg.local:5000', 'client.key'), 'KEY');
    put(join(etc, 'reg.local:5000', 'README'), 'ignored');
    put(join(docker, 'reg.local:5000', 'docker-ca.crt'), 'CA-DOCKER');
    const m = await loadTlsMaterial('reg.local:5000', { roots: [home, etc, docker] });
    expect(m.dirs).toEqual([join(etc, 'reg.local:5000')]);
    expect(m.ca.map(String)).toEqual(['CA-A', 'CA-B']);
    expect(String(m.cert)).toBe('CERT');
    expect(String(m.key)).toBe('KEY');
  });

  it('the home root comes first; docker is the last resort; then the host without port', async () => {
    const [home, etc, docker] = roots();
    put(join(home, 'r.io:443', 'home.crt'), 'HOME');
    put(join(etc, 'r.io:443', 'etc.crt'), 'ETC');
    put(join(docker, 'd.io:5000', 'docker.crt'), 'DOCKER');
    put(join(etc, 'noport.io', 'np.crt'), 'NOPORT');
    const all = [home, etc, docker];
    expect((await loadTlsMaterial('r.io:443', { roots: all })).ca.map(String)).toEqual(['HOME']);
    expect((await loadTlsMaterial('d.io:5000', { roots: all })).ca.map(String)).toEqual(['DOCKER']);
    expect((await loadTlsMaterial('noport.io:8443', { roots: all })).ca.map(String)).toEqual(['NOPORT']);
    expect(await loadTlsMaterial('absent.io', { roots: all })).toEqual({ ca: [], dirs: [] });
  });

  it('--cert-dir is the only directory', async () => {
    const [home, etc] = roots();
    put(join(etc, 'r.io', 'etc.crt'), 'ETC');
    const dir = join(home, 'mine');
    put(join(dir, 'mine.crt'), 'MINE');
    const m = await loadTlsMaterial('r.io', { certDir: dir, roots: [etc] });
    expect(m.dirs).toEqual([dir]);
    expect(m.ca.map(String)).toEqual(['MINE']);
    // containers/image ignores a --cert-dir that does not exist.
    expect(await loadTlsMaterial('r.io', { certDir: join(home, 'nope'), roots: [etc] })).toEqual({
      ca: [],
      dirs: [],
    });
  });

  it('a .cert without its .key (or the reverse) is CONFIG_FILE naming the file', async () => {
    const [home] = roots();
    put(join(home, 'c.io', 'client.cert'), 'CERT');
    const e = await loadTlsMaterial('c.io', { roots: [home] }).catch((err) => err);
    expect(e.code).toBe('CONFIG_FILE');
    expect(e.message).toContain(join(home, 'c.io', 'client.cert'));
    expect(e.message).toContain('client.key');
    put(join(home, 'k.io', 'client.key'), 'KEY');
    const k = await loadTlsMaterial('k.io', { roots: [home] }).catch((err) => err);
    expect(k.code).toBe('CONFIG_FILE');
    expect(k.message).toContain(join(home, 'k.io', 'client.key'));
  });

  it('default roots follow containers/image', () => {
    expect(certsRoots({ HOME: '/h' })).toEqual([
      '/h/.config/containers/certs.d',
      '/etc/containers/certs.d',
      '/etc/docker/certs.d',
    ]);
  });
});

describe('paths', () => {
  it('derives XDG directories from the environment', () => {
    expect(homeDir({ HOME: '/h' })).toBe('/h');
    expect(xdgConfigHome({ HOME: '/h' })).toBe('/h/.config');
    expect(xdgConfigHome({ HOME: '/h', XDG_CONFIG_HOME: '/c' })).toBe('/c');
    expect(xdgDataHome({ HOME: '/h' })).toBe('/h/.local/share');
    expect(xdgDataHome({ HOME: '/h', XDG_DATA_HOME: '/d' })).toBe('/d');
    expect(xdgRuntimeDir({ XDG_RUNTIME_DIR: '/r' })).toBe('/r');
  });

  it('rootless follows the effective uid', () => {
    expect(isRootless()).toBe((process.geteuid?.() ?? 0) !== 0);
    if (!isRootless()) expect(xdgRuntimeDir({ HOME: '/h' })).toBeUndefined();
  });
});
