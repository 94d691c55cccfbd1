import * as fs from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { indexTar } from '../transports/local-tar.js';

/**
 * The image names an OCI layout or oci-archive records (`org.opencontainers.image.ref.name`
 * annotations of index.json), as `podman load` uses them to name what it loads.
 */

const REF_NAME = 'org.opencontainers.image.ref.name';
const indexSchema = z.looseObject({
  manifests: z.array(z.looseObject({ annotations: z.record(z.string(), z.string()).optional() })),
});

function namesOf(raw: Buffer | string): string[] {
  const parsed = indexSchema.safeParse(JSON.parse(raw.toString()));
  if (!parsed.success) return [];
  return parsed.data.manifests.map((m) => m.annotations?.[REF_NAME] ?? '');
}

export async function layoutRefNames(dir: string): Promise<string[]> {
  return namesOf(await readFile(join(dir, 'index.json')));
}

/** ref names of an uncompressed oci-archive; [] when it cannot be read as one. */
export async function ociArchiveRefNames(file: string): Promise<string[]> {
  try {
    const entries = await indexTar(file, `oci-archive ${file}`);
    const e = entries.get('index.json');
    if (!e) return [];
    const fh = await fs.open(file, 'r');
    try {
      const buf = Buffer.alloc(e.sizeBytes);
      await fh.read(buf, 0, e.sizeBytes, e.offset);
      return namesOf(buf);
    } finally {
      await fh.close();
    }
  } catch {
    return [];
  }
}
