import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Rootless overlay: an unprivileged user (nobody) in its own user namespace
 * (`unshare --user --map-root-user --mount`) unpacks layers (whiteouts as 0/0 devices, opaque
 * directories as user.overlay.opaque) and mounts them with overlay's userxattr option.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '../../../..');
const isRoot = process.geteuid?.() === 0;
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-rootless-'));
  fs.chmodSync(dir, 0o755);
  if (isRoot) fs.chownSync(dir, 65534, 65534);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('rootless overlay store', () => {
  it.runIf(isRoot)('unpacks and mounts inside a user namespace as nobody', () => {
    const cmd = `cd ${REPO} && HOME=${dir} unshare --user --map-root-user --mount ${process.execPath} --import tsx ${join(HERE, 'rootless-child.ts')} ${join(dir, 'store')}`;
    const r = spawnSync('su', ['nobody', '-s', '/bin/sh', '-c', cmd], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
    expect(out['localhost/rootless:1']).toEqual({ top: ['app', 'bin', 'etc', 'usr'], etc: [], opt: null });
    expect(out['localhost/opaque:1']).toEqual({ top: ['opt'], etc: null, opt: ['new'] });
    expect(out.check).toEqual({ ok: true, problems: [], leftovers: [] });
    // Files belong to the unprivileged user outside the namespace.
    expect(fs.statSync(join(dir, 'store', 'layers')).uid).toBe(65534);
  });
});
