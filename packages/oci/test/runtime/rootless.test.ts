import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  idMapHelpers,
  namespaceSize,
  parseSubIdFile,
  parseUserns,
  subordinateIds,
  unshareArgs,
  usernsMappings,
} from '../../src/runtime/rootless.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-subid-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('subordinate ids', () => {
  it('matches entries by name or uid and skips junk', () => {
    const text =
      '# c\nalice:100000:65536\n1001:200000:1000\nbob:300000:65536\nbroken\nalice:x:1\nalice:500000:0\n';
    expect(parseSubIdFile(text, { name: 'alice', uid: 1001 })).toEqual([
      { start: 100000, count: 65536 },
      { start: 200000, count: 1000 },
    ]);
    expect(parseSubIdFile(text, { uid: 4242 })).toEqual([]);
  });

  it('reads both files and names the one without a range', () => {
    const su = join(dir, 'subuid');
    const sg = join(dir, 'subgid');
    fs.writeFileSync(su, 'alice:100000:65536\n');
    fs.writeFileSync(sg, 'bob:100000:65536\n');
    expect(() =>
      subordinateIds({ user: { name: 'alice', uid: 1000 }, subuidFile: su, subgidFile: sg }),
    ).toThrow(
      expect.objectContaining({
        code: 'ROOTLESS',
        message: `no subordinate ids for alice in ${sg}`,
        hint: expect.stringContaining('usermod'),
      }),
    );
    fs.writeFileSync(sg, 'alice:300000:65536\n');
    const r = subordinateIds({ user: { name: 'alice', uid: 1000 }, subuidFile: su, subgidFile: sg });
    expect(unshareArgs(r)).toEqual([
      '--user',
      '--map-user=0',
      '--map-group=0',
      '--map-users=100000,1,65536',
      '--map-groups=300000,1,65536',
      '--mount',
      '--fork',
    ]);
    expect(namespaceSize(r)).toEqual({ uids: 65537, gids: 65537 });
    expect(() =>
      subordinateIds({ user: { uid: 5 }, subuidFile: join(dir, 'missing'), subgidFile: sg }),
    ).toThrow(expect.objectContaining({ code: 'ROOTLESS' }));
  });

  it('finds newuidmap/newgidmap, or says to install uidmap', () => {
    expect(idMapHelpers().newuidmap).toMatch(/newuidmap$/);
    expect(() => idMapHelpers({ PATH: '/nonexistent' })).not.toThrow(); // /usr/bin is always searched
  });
});

describe('--userns', () => {
  it('parses modes and rejects others', () => {
    expect(parseUserns('host')).toEqual({ mode: 'host' });
    expect(parseUserns('nomap')).toEqual({ mode: 'nomap' });
    expect(parseUserns('keep-id:uid=200,gid=300')).toEqual({ mode: 'keep-id', uid: 200, gid: 300 });
    expect(() => parseUserns('auto')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'invalid --userns "auto"' }),
    );
    expect(() => parseUserns('keep-id:size=3')).toThrow(/unknown option "size=3"/);
  });

  it('computes nested mappings like podman', () => {
    const size = { uids: 65537, gids: 65537 };
    expect(usernsMappings({ mode: 'host' }, { uid: 1000, gid: 1000 }, size, true)).toBeUndefined();
    expect(usernsMappings({ mode: 'keep-id' }, { uid: 1000, gid: 100 }, size, true)).toEqual({
      uidMappings: [
        { containerID: 0, hostID: 1, size: 1000 },
        { containerID: 1000, hostID: 0, size: 1 },
        { containerID: 1001, hostID: 1001, size: 64536 },
      ],
      gidMappings: [
        { containerID: 0, hostID: 1, size: 100 },
        { containerID: 100, hostID: 0, size: 1 },
        { containerID: 101, hostID: 101, size: 65436 },
      ],
    });
    expect(usernsMappings({ mode: 'nomap' }, { uid: 1000, gid: 1000 }, size, true)?.uidMappings).toEqual([
      { containerID: 0, hostID: 1, size: 65536 },
    ]);
    expect(() => usernsMappings({ mode: 'keep-id' }, { uid: 1000, gid: 1000 }, size, false)).toThrow(
      /only supported rootless/,
    );
    expect(() => usernsMappings({ mode: 'keep-id', uid: 70000 }, { uid: 1, gid: 1 }, size, true)).toThrow(
      /outside/,
    );
  });
});
