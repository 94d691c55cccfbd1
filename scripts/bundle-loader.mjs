// Copied by scripts/bundle-cli.mjs to an app's dist/bundle/load.mjs: loads the app's fast path
// (dist/bundle/entry.cjs, one CommonJS file) through a V8 code cache, as v8-compile-cache did.
// Node 20 has no module.enableCompileCache, and compiling ~1 MB of bundled JavaScript at every
// start costs more than running most commands: with the cache V8 deserialises the bytecode of
// every function an earlier run of the same command compiled instead of parsing them again.
//
// One cache per command (the first word of argv that is not a flag or a global flag's value), written at exit by the
// first successful run of that command (or after V8 rejected the cache: another Node, other
// flags). The file name carries the bundle's content hash (first line of entry.cjs) and V8's
// version, so a cache never meets code it was not made from. Writes are temp file + rename;
// a directory we cannot write just means no cache. SKIFF_CODE_CACHE=0 turns it off.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

/**
 * Load `entry.cjs` from `dir` (a bundle directory) and return its exports; the ESM bundle
 * (`entry.js`) when there is no CommonJS one (bundle-cli.mjs could not make it).
 */
export async function loadBundle(dir, argv, valueFlags = []) {
  const file = join(dir, 'entry.cjs');
  let source;
  try {
    // ASCII only (bundle-cli.mjs sees to it): latin1 is the fast way to read it.
    source = readFileSync(file, 'latin1');
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    return import(pathToFileURL(join(dir, 'entry.js')).href);
  }
  const enabled = process.env.SKIFF_CODE_CACHE !== '0';
  const hash = /^\/\/ bundle:([0-9a-f]+)/.exec(source)?.[1];
  const key = cacheKey(argv, valueFlags);
  const cacheFile =
    enabled && hash ? join(dir, `entry.${hash}.${process.versions.v8}.${key}.cache`) : undefined;
  let cachedData;
  if (cacheFile) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // First run of this command: compile from source, write the cache at exit.
    }
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
  });
  if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
    process.once('exit', (code) => {
      if (code !== 0) return; // a failed run may have compiled only part of the command's code
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        rmSync(tmp, { force: true });
      }
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dir);
  return module.exports;
}

/**
 * The cache's name for a command line: its command word, skipping flags and the values of the
 * global flags that take one (`--root DIR`); `other` when that word is not a command-like word.
 */
export function cacheKey(argv, valueFlags = []) {
  let word = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (!a.startsWith('-')) {
      word = a;
      break;
    }
    if (valueFlags.includes(a)) i++;
  }
  return /^[a-z][a-z0-9-]{0,31}$/.test(word) ? word : 'other';
}
