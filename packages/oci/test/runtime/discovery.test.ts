import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeRuntimeChoice,
  findRuntime,
  locateRuntime,
  probeRuntime,
} from '../../src/runtime/discovery.js';

let runroot: string;
beforeAll(() => {
  runroot = fs.mkdtempSync(join(tmpdir(), 'skiff-rt-'));
});
afterAll(() => {
  fs.rmSync(runroot, { recursive: true, force: true });
});

describe('runtime discovery (real runtimes)', () => {
  it('finds crun and runc where podman looks', () => {
    expect(locateRuntime('runc')).toMatch(/\/runc$/);
    expect(locateRuntime('crun')).toMatch(/\/crun$/);
    expect(locateRuntime('no-such-runtime')).toBeUndefined();
  });

  it('probes crun (refused on this cgroup-hybrid host) and falls back to runc, caching the reasons', async () => {
    const rt = await findRuntime({ runroot, runtimeFlags: ['log-level=debug'] });
    expect(rt.name).toBe('runc');
    expect(rt.flags).toEqual(['--log-level=debug']);
    const crun = rt.probes.find((p) => p.name === 'crun');
    expect(crun?.usable).toBe(false);
    expect(crun?.reason).toMatch(/hybrid/);
    expect(rt.probes.at(-1)).toMatchObject({ name: 'runc', usable: true });
    expect(rt.version).toMatch(/runc version/);
    expect(describeRuntimeChoice(rt)).toMatch(/^crun: unusable \(.*hybrid.*\), using runc \(runc version/);
    // The cache has both results, and the next lookup does not run a container.
    const cache = JSON.parse(fs.readFileSync(join(runroot, 'runtimes.json'), 'utf8'));
    expect(Object.keys(cache)).toHaveLength(2);
    const again = await findRuntime({ runroot });
    expect(again.probes.every((p) => p.cached)).toBe(true);
    expect(again.path).toBe(rt.path);
    expect(fs.readdirSync(join(runroot, 'tmp'))).toEqual([]);
  });

  it('--runtime NAME|PATH: usable, unusable, missing', async () => {
    const runc = locateRuntime('runc') as string;
    expect((await findRuntime({ runroot, runtime: runc })).path).toBe(runc);
    await expect(findRuntime({ runroot, runtime: 'crun' })).rejects.toMatchObject({
      code: 'RUNTIME',
      message: expect.stringMatching(/OCI runtime crun is unusable: .*hybrid/),
    });
    await expect(findRuntime({ runroot, runtime: '/nonexistent/runc' })).rejects.toMatchObject({
      code: 'RUNTIME',
      message: expect.stringContaining('/nonexistent/runc is not an executable file'),
    });
    await expect(findRuntime({ runroot, runtime: 'youki' })).rejects.toMatchObject({
      code: 'RUNTIME',
      message: 'OCI runtime youki is unusable: not found',
    });
  });

  it('a binary that is not a runtime is unusable, with its own words as the reason', async () => {
    const fake = join(runroot, 'fake-runtime');
    fs.writeFileSync(
      fake,
      '#!/bin/sh\n[ "$1" = --version ] && { echo "fake 1.0"; exit 0; }\necho "fake: cannot run anything" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const p = await probeRuntime(fake, { runroot });
    expect(p).toMatchObject({
      name: 'fake-runtime',
      usable: false,
      reason: 'fake: cannot run anything',
      version: 'fake 1.0',
    });
    // A changed binary (new mtime/size) is probed again.
    fs.writeFileSync(fake, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const q = await probeRuntime(fake, { runroot });
    expect(q.cached).toBeUndefined();
    expect(q.usable).toBe(true);
  });
});
