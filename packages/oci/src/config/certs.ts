/**
 * Per-registry TLS material, as containers/image finds it (containers-certs.d(5)):
 * --cert-dir when given, else the first existing HOST:PORT directory among
 * $HOME/.config/containers/certs.d, /etc/containers/certs.d and /etc/docker/certs.d (then, when
 * none has one, the same roots without the port). In the directory, *.crt files are extra CAs and
 * NAME.cert + NAME.key form a client certificate. A --cert-dir that does not exist adds nothing
 * (containers/image ignores it too).
 */

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SkiffError } from '../errors.js';
import { homeDir } from './paths.js';

export interface TlsMaterial {
  ca: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  /** The directories the material came from (empty when none exists). */
  dirs: string[];
}

export interface TlsLookupOptions {
  /** --cert-dir: the only directory used. */
  certDir?: string;
  env?: NodeJS.ProcessEnv;
  /** certs.d roots to search instead of the defaults (tests). */
  roots?: string[];
}

/** The certs.d roots, in containers/image's order. */
export function certsRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  return [
    join(homeDir(env), '.config', 'containers', 'certs.d'),
    '/etc/containers/certs.d',
    '/etc/docker/certs.d',
  ];
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') return false;
    throw new SkiffError('IO', `cannot access ${path}: ${(err as Error).message}`, { cause: err });
  }
}

async function findDir(hostPort: string, roots: string[]): Promise<string | undefined> {
  // A directory name cannot hold the brackets-less colon ambiguity of IPv6; keep the name as given.
  for (const root of roots) {
    const dir = join(root, hostPort);
    if (await isDirectory(dir)) return dir;
  }
  const host = hostPort.replace(/:\d+$/, '');
  if (host !== hostPort) {
    for (const root of roots) {
      const dir = join(root, host);
      if (await isDirectory(dir)) return dir;
    }
  }
  return undefined;
}

async function readMaterial(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new SkiffError('CONFIG_FILE', `${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
}

/** Load the CAs and client certificate for `hostPort` (e.g. "127.0.0.1:5000"). */
export async function loadTlsMaterial(
  hostPort: string,
  options: TlsLookupOptions = {},
): Promise<TlsMaterial> {
  const dir =
    options.certDir !== undefined && options.certDir !== ''
      ? options.certDir
      : await findDir(hostPort, options.roots ?? certsRoots(options.env ?? process.env));
  const material: TlsMaterial = { ca: [], dirs: [] };
  if (dir === undefined) return material;
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A missing directory (even --cert-dir) means no extra material, as containers/image.
    if (code === 'ENOENT' || code === 'ENOTDIR') return material;
    throw new SkiffError(
      'CONFIG_FILE',
      `cannot read certificate directory ${dir}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  material.dirs.push(dir);
  const present = new Set(names);
  for (const name of names) {
    const path = join(dir, name);
    if (name.endsWith('.crt')) {
      material.ca.push(await readMaterial(path));
    } else if (name.endsWith('.cert')) {
      const keyName = `${name.slice(0, -'.cert'.length)}.key`;
      if (!present.has(keyName)) {
        throw new SkiffError(
          'CONFIG_FILE',
          `${path}: missing key ${keyName} for this client certificate (CA certificates should use the extension .crt)`,
        );
      }
      if (material.cert === undefined) {
        material.cert = await readMaterial(path);
        material.key = await readMaterial(join(dir, keyName));
      }
    } else if (name.endsWith('.key')) {
      const certName = `${name.slice(0, -'.key'.length)}.cert`;
      if (!present.has(certName)) {
        throw new SkiffError('CONFIG_FILE', `${path}: missing client certificate ${certName} for this key`);
      }
    }
  }
  return material;
}
