import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/storage/store.js';
import { familyImage, putTestImage } from './support.js';

/**
 * Real processes against one store: 8 concurrent writers of overlapping images, and kill -9 at
 * random points of a put followed by a put that must succeed on a store that checks clean.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '../../../..');
const CHILD = join(HERE, 'put-images.ts');
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-store-proc-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function startChild(root: string, driver: string, ownBytes: number, indices: number[]): ChildProcess {
  // node --import tsx: one process, so SIGKILL hits the process doing the work (the tsx CLI
  // would run it in a grandchild that survives).
  return spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, root, driver, String(ownBytes), ...indices.map(String)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: REPO,
    },
  );
}

function finished(
  child: ChildProcess,
): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
}

describe('store under concurrent processes', () => {
  const drivers = process.geteuid?.() === 0 ? (['vfs', 'overlay'] as const) : (['vfs'] as const);
  it.each(drivers)(
    '8 processes putting overlapping images end with a consistent store (%s)',
    async (driver) => {
      const root = join(dir, `concurrent-${driver}`);
      const runs = Array.from({ length: 8 }, (_, k) =>
        startChild(root, driver, 256 * 1024, [k % 5, (k + 1) % 5, (k + 2) % 5]),
      );
      const results = await Promise.all(runs.map(finished));
      for (const r of results) expect(r.code, r.err).toBe(0);
      const store = await openStore({ root, runroot: `${root}-run`, driver, configPath: '/dev/null' });
      try {
        const images = store.listImages();
        expect(images.map((i) => i.names[0]).sort()).toEqual(
          [0, 1, 2, 3, 4].map((i) => `localhost/family:${i}`),
        );
        for (const i of [0, 1, 2, 3, 4]) {
          expect(store.getImage(`localhost/family:${i}`)?.id).toBe((await familyImage(i, 256 * 1024)).id);
        }
        // base + 2 mids + 5 own layers, each stored once.
        expect(fs.readdirSync(join(root, 'layers'))).toHaveLength(1 + 2 + 5);
        expect(fs.readdirSync(join(root, 'blobs', 'sha256'))).toHaveLength(1 + 2 + 5 + 5);
        expect(fs.readdirSync(join(root, 'tmp'))).toEqual([]);
        expect(await store.check()).toEqual({ ok: true, problems: [], leftovers: [] });
      } finally {
        store.close();
      }
    },
  );

  it('kill -9 at random points of a put (20 times): the next put succeeds and the store checks clean', async () => {
    const root = join(dir, 'killed');
    const kills: string[] = [];
    let interrupted = 0;
    // How long an uninterrupted run takes, so kills land all along it.
    const t0 = performance.now();
    const probe = await finished(startChild(join(dir, 'probe'), 'vfs', 3 << 20, [99, 98]));
    expect(probe.code, probe.err).toBe(0);
    const fullMs = performance.now() - t0;
    for (let rep = 0; rep < 20; rep++) {
      // A fresh image each time (own layer differs) so every run has real work to interrupt.
      const child = startChild(root, 'vfs', 3 << 20, [100 + rep, 200 + rep]);
      const done = finished(child);
      const delayMs = Math.floor(fullMs * (0.3 + 0.7 * Math.random()));
      const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      const r = await done;
      clearTimeout(timer);
      // What the killed process left (before the next open cleans up): temp entries, blobs, layers.
      const count = (sub: string) =>
        fs.existsSync(join(root, sub)) ? fs.readdirSync(join(root, sub)).length : 0;
      const left = { tmp: count('tmp'), blobs: count('blobs/sha256'), layers: count('layers') };
      if (r.signal && (left.tmp > 0 || left.blobs > 0)) interrupted += 1;
      kills.push(
        `${delayMs}ms:${r.signal ?? 'exit'}:tmp=${left.tmp},blobs=${left.blobs},layers=${left.layers}`,
      );
      if (r.signal === null) expect(r.code, r.err).toBe(0);

      const store = await openStore({ root, runroot: `${root}-run`, driver: 'vfs', configPath: '/dev/null' });
      try {
        // After the open cleanup: nothing half-registered, no leftovers.
        const report = await store.check();
        expect(report, kills.join(' ')).toEqual({ ok: true, problems: [], leftovers: [] });
        for (const img of store.listImages()) {
          for (const c of img.layers) expect(store.getLayer(c)).toBeDefined();
        }
        // The interrupted pull is finished by the next one.
        await putTestImage(store, await familyImage(100 + rep, 3 << 20), [`localhost/family:${100 + rep}`]);
        await putTestImage(store, await familyImage(200 + rep, 3 << 20), [`localhost/family:${200 + rep}`]);
        expect(store.getImage(`localhost/family:${200 + rep}`)).toBeDefined();
        expect(await store.check()).toEqual({ ok: true, problems: [], leftovers: [] });
        // Keep the store small: remove this round's images.
        store.removeImage(`localhost/family:${100 + rep}`);
        store.removeImage(`localhost/family:${200 + rep}`);
      } finally {
        store.close();
      }
    }
    console.info(`kill points (delay:signal:left behind): ${kills.join(' ')}`);
    expect(kills.filter((k) => k.includes('SIGKILL')).length).toBeGreaterThanOrEqual(10);
    // Kills really landed in the middle of writing, not only before the store was opened.
    expect(interrupted).toBeGreaterThanOrEqual(5);
  }, 300_000);
});
