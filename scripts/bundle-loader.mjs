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
//
// Also the one place that sets a V8 flag (see baselineWasm): a flag set at run time changes V8's
// flag hash, and V8 rejects every code cache made under another hash, Node's own included.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
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
        // Made under the flags the next run starts with, or V8 would reject it then.
        restoreWasmFlags();
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

// --liftoff-only and the flags it turns off (their defaults in Node 20's V8): setting these back
// returns V8's flag hash to its start-up value.
const LIFTOFF_ONLY = '--liftoff-only';
const LIFTOFF_UNDO = ['--no-liftoff-only', '--wasm-tier-up', '--wasm-dynamic-tiering'];
let liftoffOnly = false;

/**
 * Keep WebAssembly on V8's baseline compiler, from the first module compiled on. undici's HTTP
 * parser is WebAssembly: left alone, V8 recompiles its hot functions with TurboFan in the
 * background, ~100 ms of CPU that the process also waits for at exit; the baseline tier is
 * plenty for a CLI. But setting a V8 flag changes V8's flag hash, and V8 then rejects code
 * caches made under the old one: Node's own built-in modules would be compiled from source
 * again (~15-25 ms a command) had the flag been set at start. So it is set when the first
 * WebAssembly module compiles, after most built-ins are loaded, and a command that speaks no
 * HTTP never sets it. Call once, first thing in a bin.
 */
export function baselineWasm() {
  if (WebAssembly.Module.skiffBaseline) return;
  const liftoff = () => {
    if (liftoffOnly) return;
    liftoffOnly = true;
    setFlagsFromString(LIFTOFF_ONLY);
  };
  const Native = WebAssembly.Module;
  class Module extends Native {
    static skiffBaseline = true;
    constructor(bytes) {
      liftoff();
      super(bytes);
    }
  }
  const { compile, instantiate } = WebAssembly;
  WebAssembly.Module = Module;
  WebAssembly.compile = (...args) => {
    liftoff();
    return compile(...args);
  };
  WebAssembly.instantiate = (source, ...rest) => {
    if (!(source instanceof Native)) liftoff();
    return instantiate(source, ...rest);
  };
}

/** Put the flags baselineWasm set back to their start-up values (for a code cache made now). */
function restoreWasmFlags() {
  if (!liftoffOnly) return;
  for (const flag of LIFTOFF_UNDO) setFlagsFromString(flag);
  liftoffOnly = false;
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
