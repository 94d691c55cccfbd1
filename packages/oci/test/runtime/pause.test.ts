import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupV2, freezerUnavailable } from '../../src/runtime/pause.js';

describe('pause prerequisites', () => {
  it('refuses rootless pausing on cgroup v1 with a reason, allows the rest', () => {
    expect(freezerUnavailable({ rootless: true, cgroupV2: false })).toMatch(
      /rootless containers with cgroup V1/,
    );
    expect(freezerUnavailable({ rootless: true, cgroupV2: true })).toBeUndefined();
    expect(freezerUnavailable({ rootless: false, cgroupV2: false })).toBeUndefined();
  });
  it('detects the unified hierarchy by cgroup.controllers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-'));
    try {
      expect(cgroupV2(dir)).toBe(false);
      writeFileSync(join(dir, 'cgroup.controllers'), 'cpu memory\n');
      expect(cgroupV2(dir)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
