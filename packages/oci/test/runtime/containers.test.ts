import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage } from '../../../../test/support/images.js';
import { copyImage } from '../../src/copy/copy.js';
import { ContainerDb } from '../../src/runtime/containers.js';
import { openStore } from '../../src/storage/store.js';
import { containersStorageTransport } from '../../src/transports/containers-storage.js';
import { ociTransport } from '../../src/transports/oci-layout.js';

let dir: string;
let root: string;
let imageId: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-ctrdb-'));
  root = join(dir, 'root');
  const fixture = await makeImage(join(dir, 'layout'));
  await copyImage(
    ociTransport.parseReference(`${fixture.layoutDir}:${fixture.ref}`),
    containersStorageTransport.parseReference(`[vfs@${root}+${root}-run]localhost/ctr:1`),
  );
  const store = await openStore({ root, runroot: `${root}-run`, driver: 'vfs', configPath: '/dev/null' });
  imageId = store.getImage('localhost/ctr:1')?.id as string;
  store.close();
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('container records', () => {
  it('create, look up by id, name and prefix, update with compare-and-set, remove', () => {
    const db = ContainerDb.open(root);
    try {
      const a = db.create({
        name: 'alpha',
        imageId,
        imageName: 'localhost/ctr:1',
        runtime: '/usr/bin/runc',
        bundle: '/b',
        config: { x: 1 },
      });
      expect(a).toMatchObject({
        name: 'alpha',
        status: 'created',
        imageName: 'localhost/ctr:1',
        config: { x: 1 },
        restarts: 0,
      });
      expect(a.id).toMatch(/^[a-f0-9]{64}$/);
      expect(db.get('alpha')?.id).toBe(a.id);
      expect(db.get(a.id.slice(0, 12))?.name).toBe('alpha');
      expect(db.update(a.id, { status: 'running', pid: 42, started: new Date(1000) })).toMatchObject({
        status: 'running',
        pid: 42,
      });
      // compare-and-set: only from created
      expect(db.update(a.id, { status: 'exited' }, ['created'])?.status).toBe('running');
      expect(db.update(a.id, { status: 'exited', exitCode: 3, clearPid: true }, ['running'])).toMatchObject({
        status: 'exited',
        exitCode: 3,
      });
      expect(db.get(a.id)?.pid).toBeUndefined();
      expect(() => db.create({ name: 'bad name', imageId, runtime: 'r', bundle: 'b', config: null })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
      expect(() => db.create({ imageId: 'f'.repeat(64), runtime: 'r', bundle: 'b', config: null })).toThrow(
        expect.objectContaining({ code: 'NOT_FOUND' }),
      );
      expect(db.remove(a.id)).toBe(true);
      expect(db.get('alpha')).toBeUndefined();
      expect(db.remove(a.id)).toBe(false);
    } finally {
      db.close();
    }
  });

  it('the store refuses to remove an image a container uses', async () => {
    const db = ContainerDb.open(root);
    const c = db.create({ name: 'user-of-image', imageId, runtime: 'r', bundle: 'b', config: null });
    const store = await openStore({ root, runroot: `${root}-run`, driver: 'vfs', configPath: '/dev/null' });
    try {
      expect(() => store.removeImage('localhost/ctr:1')).toThrow(expect.objectContaining({ code: 'IN_USE' }));
    } finally {
      store.close();
      db.remove(c.id);
      db.close();
    }
  });

  it('separate processes creating containers at once get unique names; one wins a contested name', async () => {
    const procs = 8;
    const each = 5;
    const results = await Promise.all(
      Array.from(
        { length: procs },
        () =>
          new Promise<{ names: string[]; contested: string }>((resolve, reject) => {
            const child = spawn(
              process.execPath,
              [
                '--import',
                'tsx',
                join(import.meta.dirname, 'create-records.ts'),
                root,
                imageId,
                String(each),
              ],
              {
                stdio: ['ignore', 'pipe', 'pipe'],
              },
            );
            let out = '';
            let err = '';
            child.stdout.on('data', (d) => {
              out += d;
            });
            child.stderr.on('data', (d) => {
              err += d;
            });
            child.on('close', (code) =>
              code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(err)),
            );
          }),
      ),
    );
    const names = results.flatMap((r) => r.names);
    expect(new Set(names).size).toBe(procs * each);
    const winners = results.filter((r) => /^[a-f0-9]{64}$/.test(r.contested));
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.contested === 'IN_USE')).toHaveLength(procs - 1);
    const db = ContainerDb.open(root);
    try {
      expect(db.list()).toHaveLength(procs * each + 1);
    } finally {
      db.close();
    }
  });
});
