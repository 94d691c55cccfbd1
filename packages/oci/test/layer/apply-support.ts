import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';

/** Hand-built tar entries, including the malicious kinds a normal archiver would not write. */
export interface RawEntry {
  name: string;
  type?: tar.Headers['type'];
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

export const MTIME = new Date('2001-02-03T04:05:06Z');

export function rawTar(entries: RawEntry[]): Readable {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header: tar.Headers = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? MTIME,
    };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    if (e.devmajor !== undefined) header.devmajor = e.devmajor;
    if (e.devminor !== undefined) header.devminor = e.devminor;
    // tar-stream writes PAX records from `pax`, which its type declarations do not list.
    if (e.pax) (header as typeof header & { pax?: Record<string, string> }).pax = e.pax;
    pack.entry(header, type === 'file' ? (e.content ?? '') : undefined);
  }
  pack.finalize();
  return pack;
}

export function rawTarBuffer(entries: RawEntry[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = rawTar(entries);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

export interface Snapshot {
  [path: string]: string;
}

/** Everything about a tree that an escape could change: names, types, modes, owners, times, content, links. */
export function snapshot(dir: string): Snapshot {
  const out: Snapshot = {};
  const walk = (p: string, rel: string) => {
    const st = fs.lstatSync(p);
    let desc = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} nlink=${st.nlink} ino=${st.ino}`;
    if (st.isSymbolicLink()) desc += ` -> ${fs.readlinkSync(p)}`;
    else if (st.isFile()) desc += ` ${fs.readFileSync(p).toString('hex')}`;
    out[rel] = desc;
    if (st.isDirectory()) for (const c of fs.readdirSync(p).sort()) walk(join(p, c), `${rel}/${c}`);
  };
  walk(dir, '.');
  return out;
}

export function getXattr(path: string, name: string): string | null {
  const r = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      'import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())\nexcept OSError: sys.exit(3)',
      path,
      name,
    ],
    { encoding: 'utf8' },
  );
  return r.status === 0 ? r.stdout : null;
}
