import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';

/** Test helpers to build and read tar files with tar-stream, streaming to and from disk. */

export const FIXED_MTIME = new Date('2000-01-01T00:00:00Z');

export type TarEntrySpec =
  | { name: string; type: 'file'; content: Buffer | string; mode?: number; uid?: number; gid?: number }
  | { name: string; type: 'file-from'; path: string; mode?: number }
  | { name: string; type: 'stream'; size: number; stream: () => Readable; mode?: number }
  | { name: string; type: 'directory'; mode?: number }
  | { name: string; type: 'symlink' | 'link'; linkname: string };

/** A tar stream of the given entries, all owned by 0:0 with a fixed mtime. */
export function tarStream(entries: TarEntrySpec[]): Readable {
  const pack = tar.pack();
  const base = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: FIXED_MTIME };
  (async () => {
    for (const e of entries) {
      await new Promise<void>((resolve, reject) => {
        const cb = (err?: Error | null) => (err ? reject(err) : resolve());
        switch (e.type) {
          case 'file': {
            const buf = Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content);
            pack.entry(
              {
                ...base,
                name: e.name,
                type: 'file',
                mode: e.mode ?? 0o644,
                uid: e.uid ?? 0,
                gid: e.gid ?? 0,
              },
              buf,
              cb,
            );
            return;
          }
          case 'file-from':
            fs.stat(e.path).then((st) => {
              const w = pack.entry(
                { ...base, name: e.name, type: 'file', size: st.size, mode: e.mode ?? 0o755 },
                cb,
              );
              pipeline(createReadStream(e.path), w).catch(reject);
            }, reject);
            return;
          case 'stream': {
            const w = pack.entry(
              { ...base, name: e.name, type: 'file', size: e.size, mode: e.mode ?? 0o644 },
              cb,
            );
            pipeline(e.stream(), w).catch(reject);
            return;
          }
          case 'directory':
            pack.entry(
              {
                ...base,
                name: e.name.endsWith('/') ? e.name : `${e.name}/`,
                type: 'directory',
                mode: e.mode ?? 0o755,
              },
              cb,
            );
            return;
          default:
            pack.entry({ ...base, name: e.name, type: e.type, linkname: e.linkname, mode: 0o777 }, cb);
        }
      });
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack;
}

export async function writeTar(file: string, entries: TarEntrySpec[]): Promise<void> {
  await pipeline(tarStream(entries), createWriteStream(file));
}

export interface ReadEntry {
  name: string;
  type: string;
  size: number;
  linkname?: string;
  /** Content, for files up to 1 MiB. */
  content?: Buffer;
}

/** List a tar's entries (content kept for small files). */
export async function readTar(input: Readable | string): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => {
      if ((header.size ?? 0) <= 1 << 20) chunks.push(c);
    });
    stream.on('end', () => {
      const e: ReadEntry = { name: header.name, type: header.type ?? 'file', size: header.size ?? 0 };
      if (header.linkname) e.linkname = header.linkname;
      if ((header.size ?? 0) <= 1 << 20) e.content = Buffer.concat(chunks);
      out.push(e);
      next();
    });
  });
  await pipeline(typeof input === 'string' ? createReadStream(input) : input, extract);
  return out;
}
