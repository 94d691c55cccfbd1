import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureImage, makeImage } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { assertBuilt, ferry, makeSandbox, ok, type Sandbox } from './ferry-cli.js';
import { assertSkiffBuilt, makeStore, SKIFF_BIN, skiff, type TestStore } from './skiff-cli.js';

/**
 * The store under what real machines do: concurrent `skiff pull` processes of overlapping images,
 * and kill -9 of a pull at random moments; afterwards the next pull succeeds, `skiff images` is
 * right and `skiff system check` finds nothing wrong.
 */

let sb: Sandbox;
let reg: TestRegistry;
let images: FixtureImage[];
const OFF = '--tls-verify=false';

beforeAll(async () => {
  await assertBuilt();
  await assertSkiffBuilt();
  sb = await makeSandbox('skiff-stress-');
  reg = await startRegistry();
  const layout = sb.path('layout');
  images = [];
  for (let i = 1; i <= 4; i++) {
    // Overlapping: image i has the busybox base and i extra layers (the first ones shared).
    images.push(await makeImage(layout, { name: `i${i}`, extraLayers: i }));
  }
  // A bigger image for the kill -9 test, so kills land mid-download and mid-unpack.
  images.push(await makeImage(layout, { name: 'big', sizeMiB: 24, layers: 6 }));
  for (const img of images) {
    await ok(
      ferry(sb, [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        img.transportRef,
        `docker://${reg.host}/s/${img.ref}:1`,
      ]),
    );
  }
}, 300_000);

afterAll(async () => {
  await reg?.stop();
  await sb?.cleanup();
});

async function expectConsistent(store: TestStore): Promise<void> {
  const check = await skiff(sb, store, ['system', 'check']);
  expect(check.code, `system check: ${check.stdout}${check.stderr}`).toBe(0);
  expect(check.stdout.split('\n').filter((l) => l && !l.startsWith('leftover:'))).toEqual([]);
}

describe('concurrency and crashes', () => {
  it('8 concurrent pulls of overlapping images end with a consistent store', async () => {
    for (const driver of ['vfs', 'overlay'] as const) {
      const store = await makeStore(sb, `concurrent-${driver}`, driver);
      const names = Array.from({ length: 8 }, (_, i) => `${reg.host}/s/i${(i % 4) + 1}:1`);
      const results = await Promise.all(
        names.map((n) => skiff(sb, store, ['pull', '-q', OFF, n], { timeoutMs: 180_000 })),
      );
      for (const [i, r] of results.entries()) expect(r.code, `${driver} ${names[i]}: ${r.stderr}`).toBe(0);
      const listed = await ok(
        skiff(sb, store, ['images', '--format', '{{.Repository}}:{{.Tag}}', '--sort', 'repository']),
      );
      expect(listed, driver).toBe([1, 2, 3, 4].map((i) => `${reg.host}/s/i${i}:1\n`).join(''));
      await expectConsistent(store);
    }
  }, 600_000);

  it('kill -9 of a pull at random points (20 times): the next pull succeeds and images is right', async () => {
    const store = await makeStore(sb, 'kill');
    const name = `${reg.host}/s/big:1`;
    // Measure one pull to spread the kills over its whole duration.
    const t0 = Date.now();
    await ok(skiff(sb, store, ['pull', '-q', OFF, name], { timeoutMs: 180_000 }));
    const durationMs = Date.now() - t0;
    const id = (await ok(skiff(sb, store, ['images', '-q', '--no-trunc']))).trim();
    let killedMidway = 0;
    for (let round = 0; round < 20; round++) {
      await ok(skiff(sb, store, ['rmi', '-a', '-f']));
      const delay = Math.floor(Math.random() * durationMs);
      const child = spawn(process.execPath, [SKIFF_BIN, ...store.flags, 'pull', '-q', OFF, name], {
        env: sb.env,
        stdio: 'ignore',
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const early = await Promise.race([
        exited,
        new Promise<'timer'>((r) => setTimeout(() => r('timer'), delay)),
      ]);
      if (early === 'timer') {
        child.kill('SIGKILL');
        killedMidway++;
      }
      await exited;
      const listedAfterKill = await ok(skiff(sb, store, ['images', '--format', '{{.Repository}}:{{.Tag}}']));
      // Either the pull committed (the name is there) or nothing is visible.
      expect(['', `${name}\n`]).toContain(listedAfterKill);
      const again = await skiff(sb, store, ['pull', '-q', OFF, name], { timeoutMs: 180_000 });
      expect(again.code, `round ${round} (delay ${delay} ms): ${again.stderr}`).toBe(0);
      expect(again.stdout.trim()).toBe(id.replace('sha256:', ''));
      expect(await ok(skiff(sb, store, ['images', '--format', '{{.Repository}}:{{.Tag}}']))).toBe(
        `${name}\n`,
      );
    }
    expect(killedMidway).toBeGreaterThanOrEqual(10);
    await expectConsistent(store);
  }, 900_000);
});
