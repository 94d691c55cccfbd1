import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, REPO_ROOT, type RunOptions, type RunResult, run, type Sandbox } from './ferry-cli.js';

/**
 * End-to-end helpers for `skiff` (node apps/run/bin/run.js): every test gets its own store
 * (`--root`/`--runroot` under its sandbox, vfs driver unless asked otherwise).
 */

export const SKIFF_BIN = join(REPO_ROOT, 'apps/run/bin/run.js');

export interface TestStore {
  root: string;
  runroot: string;
  driver: 'vfs' | 'overlay';
  /** The global flags that select this store. */
  flags: string[];
  /** `containers-storage:[driver@root+runroot]` for ferry/skopeo. */
  spec: string;
}

export async function makeStore(
  sb: Sandbox,
  name = 'store',
  driver: 'vfs' | 'overlay' = 'vfs',
): Promise<TestStore> {
  const root = join(sb.dir, `${name}-root`);
  const runroot = join(sb.dir, `${name}-run`);
  await mkdir(root, { recursive: true });
  await mkdir(runroot, { recursive: true });
  return {
    root,
    runroot,
    driver,
    flags: ['--root', root, '--runroot', runroot, '--storage-driver', driver],
    spec: `containers-storage:[${driver}@${root}+${runroot}]`,
  };
}

export function skiff(
  sb: Sandbox,
  store: TestStore | undefined,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return run(process.execPath, [SKIFF_BIN, ...(store?.flags ?? []), ...args], { env: sb.env, ...options });
}

export async function assertSkiffBuilt(): Promise<void> {
  try {
    await access(join(REPO_ROOT, 'apps/run/dist/bundle/entry.js'));
  } catch {
    throw new Error('skiff is not built: run `npx turbo run build` in the repository root first');
  }
}

/** Blob GETs in a registry access log (what a pull downloaded). */
export function blobGets(requests: Array<{ method: string; path: string; status: number }>): string[] {
  return requests.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path)).map((r) => r.path);
}

/** A fresh store (overlay unless asked) holding `transportRef` as `name`, copied in by ferry. */
export async function storeWithImage(
  sb: Sandbox,
  storeName: string,
  transportRef: string,
  name: string,
  driver: 'vfs' | 'overlay' = 'overlay',
): Promise<TestStore> {
  const store = await makeStore(sb, storeName, driver);
  const r = await ferry(sb, ['copy', '-q', transportRef, `${store.spec}${name}`]);
  if (r.code !== 0)
    throw new Error(`ferry copy ${transportRef} into ${store.root} exited ${r.code}: ${r.stderr}`);
  return store;
}

/** Poll `cond` every 100 ms until it holds; fails after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in time');
}
