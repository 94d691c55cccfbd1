import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/storage/db.js';
import { listImageRecords, parseLabels } from '../../src/storage/image-records.js';
import { openStore } from '../../src/storage/store.js';
import { familyImage, imageOf, layerOf, putTestImage } from './support.js';

let dir: string;
const location = () => ({
  root: join(dir, 'root'),
  runroot: join(dir, 'run'),
  driver: 'vfs' as const,
  configPath: '/dev/null',
});

beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'skiff-records-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function fill(): Promise<{ a: string; b: string }> {
  const store = await openStore(location());
  try {
    const a = await familyImage(1);
    await putTestImage(store, a, ['localhost/a:1', 'localhost/a:2']);
    const b = imageOf([await layerOf([{ name: 'x.txt', content: 'x' }])], 'bee');
    await putTestImage(store, b, []);
    return { a: a.id, b: b.id };
  } finally {
    store.close();
  }
}

describe('image records (the listing read)', () => {
  it('lists names in order, labels, created, size and digest newest first, as Store.listImages', async () => {
    const ids = await fill();
    const records = await listImageRecords(location());
    expect(records.map((r) => r.id)).toEqual([ids.b, ids.a]);
    const [b, a] = records;
    expect(a!.names).toEqual(['localhost/a:1', 'localhost/a:2']);
    expect(b!.names).toEqual([]);
    expect(b!.labels).toEqual({ label: 'bee' });
    expect(a!.created).toBe('2020-01-01T00:00:00Z');
    const store = await openStore({ ...location(), readOnly: true });
    try {
      const full = store.listImages();
      expect(records).toEqual(
        full.map((i) => ({
          id: i.id,
          names: i.names,
          manifestDigest: i.manifestDigest,
          created: i.created,
          sizeBytes: i.sizeBytes,
          added: i.added,
          labels: i.labels,
        })),
      );
      expect(full[1]!.sizeBytes).toBeGreaterThan(0);
    } finally {
      store.close();
    }
  });

  it('creates a missing store (as podman images does) and lists nothing', async () => {
    expect(await listImageRecords(location())).toEqual([]);
    expect(fs.existsSync(join(dir, 'root', 'skiff.db'))).toBe(true);
  });

  it('migrates a schema-1 store: labels filled from the stored configs, once', async () => {
    const ids = await fill();
    // Make it what version 1 wrote: no labels column, schema 1.
    const db = new Database(join(dir, 'root', 'skiff.db'));
    db.exec("ALTER TABLE images DROP COLUMN labels; UPDATE meta SET value = '1' WHERE key = 'schema'");
    db.close();
    const records = await listImageRecords(location());
    expect(records.find((r) => r.id === ids.b)?.labels).toEqual({ label: 'bee' });
    expect(records.find((r) => r.id === ids.a)?.labels).toEqual({ label: 'family-1' });
    const after = new Database(join(dir, 'root', 'skiff.db'), { readonly: true });
    expect(after.prepare("SELECT value FROM meta WHERE key = 'schema'").get()).toEqual({
      value: String(SCHEMA_VERSION),
    });
    after.close();
    // The migrated store keeps working for writers and checks clean.
    const store = await openStore(location());
    try {
      store.tag(ids.b, 'localhost/b:1');
      expect((await store.check()).problems).toEqual([]);
    } finally {
      store.close();
    }
    expect((await listImageRecords(location())).find((r) => r.id === ids.b)?.names).toEqual([
      'localhost/b:1',
    ]);
  });

  it('reads the labels column defensively', () => {
    expect(parseLabels(null)).toEqual({});
    expect(parseLabels('not json')).toEqual({});
    expect(parseLabels('[1]')).toEqual({});
    expect(parseLabels('{"a":"1","b":2}')).toEqual({ a: '1' });
  });
});
