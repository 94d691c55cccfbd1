#!/usr/bin/env node
// Bundles an app's fast path (dist/fast/entry.js and the commands it loads) into dist/bundle/
// with esbuild, '@oclif/core' replaced by @skiff/cli's shim (oclif-shim.ts). Run from the app's
// directory after tsc. Code splitting keeps each command's code in its own chunk.
//
// Also dist/bundle/entry.cjs: the same fast path as one CommonJS file, which the bins load
// through a V8 code cache with dist/bundle/load.mjs (a copy of ./bundle-loader.mjs). Its first
// line carries a hash of its content, which names the cache files made from it.
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { build } from 'esbuild';

const app = process.cwd();
const shim = createRequire(resolve(app, 'package.json')).resolve('@skiff/cli/oclif-shim');
rmSync(resolve(app, 'dist/bundle'), { recursive: true, force: true });
const common = {
  entryPoints: [resolve(app, 'dist/fast/entry.js')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: process.env.BUNDLE_MINIFY !== '0',
  sourcemap: 'linked',
  logLevel: 'warning',
  metafile: Boolean(process.env.BUNDLE_META),
  // oclif's help and config code reach TypeScript only to run .ts commands; never at run time here.
  // better-sqlite3's JavaScript is bundled (storage/db.ts names its compiled addon by path); the
  // `bindings` search it falls back on looks for files beside its caller, so it stays outside.
  external: ['typescript', 'bindings'],
  plugins: [
    {
      name: 'oclif-shim',
      setup(b) {
        b.onResolve({ filter: /^@oclif\/core$/ }, (args) =>
          args.importer === shim ? undefined : { path: shim },
        );
        // oclif's flags and error handler load the help renderer (ejs, the config loader...) for
        // Flags.help() and handle() alone. The fast path uses neither: help goes through oclif.
        b.onResolve({ filter: /^\.\.?\/help(\/index)?$/ }, (args) =>
          /@oclif[\\/]core[\\/]lib[\\/](flags|errors[\\/]handle)\.js$/.test(args.importer)
            ? { path: 'oclif-help', namespace: 'fast-stub' }
            : undefined,
        );
        // Evaluated on first use, not at start-up (~10 ms and ~3 ms of every command): undici's
        // HTTP/2 client (loads node:http2; used only when a server negotiates h2, which our
        // Agents never offer) and `debug` under oclif's logger (prints only when DEBUG is set).
        b.onResolve({ filter: /^\.\/client-h2\.js$/ }, (args) =>
          /undici[\\/]lib[\\/]dispatcher[\\/]client\.js$/.test(args.importer)
            ? { path: resolve(args.resolveDir, args.path), namespace: 'lazy-h2' }
            : undefined,
        );
        b.onLoad({ filter: /.*/, namespace: 'lazy-h2' }, (args) => ({
          contents: `module.exports = function connectH2(client, socket) { return require(${JSON.stringify(args.path)})(client, socket); };`,
          resolveDir: dirname(args.path),
          loader: 'js',
        }));
        b.onResolve({ filter: /^debug$/ }, (args) =>
          /@oclif[\\/]core[\\/]lib[\\/]logger\.js$/.test(args.importer)
            ? { path: `${args.importer}?lazy-debug`, namespace: 'lazy-debug' }
            : undefined,
        );
        b.onLoad({ filter: /.*/, namespace: 'lazy-debug' }, (args) => ({
          contents: `const noop = Object.assign(() => {}, { enabled: false });
module.exports = function debug(namespace) { return process.env.DEBUG ? require('debug')(namespace) : noop; };`,
          resolveDir: dirname(args.path),
          loader: 'js',
        }));
        b.onLoad({ filter: /.*/, namespace: 'fast-stub' }, () => ({
          contents:
            "export async function loadHelpClass() { throw new Error('help is rendered by oclif, not the fast path'); }",
          loader: 'js',
        }));
      },
    },
  ],
};
const result = await build({
  ...common,
  outdir: resolve(app, 'dist/bundle'),
  splitting: true,
  format: 'esm',
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
});
if (process.env.BUNDLE_META) writeFileSync(process.env.BUNDLE_META, JSON.stringify(result.metafile));

// The CommonJS twin: import.meta.url becomes the file's own URL (the same directory as the
// ESM chunks, so relative paths resolve alike); dynamic imports of bundled modules become
// lazy initialisers, so a command still evaluates only its own modules.
const cjs = resolve(app, 'dist/bundle/entry.cjs');
try {
  await buildCommonJs(cjs);
} catch (err) {
  // The bins then load the ESM bundle (slower to start, same behaviour): say so, do not fail.
  rmSync(cjs, { force: true });
  console.warn(`bundle-cli: no CommonJS bundle for ${app} (${err.message}); the ESM one is used`);
}
copyFileSync(new URL('./bundle-loader.mjs', import.meta.url), resolve(app, 'dist/bundle/load.mjs'));

async function buildCommonJs(cjs) {
  await build({
    ...common,
    plugins: [
      ...common.plugins,
      {
        // import('node:tls') of a built-in becomes a lazy require: V8 runs code from a code cache
        // without the dynamic-import callback, so the bundle must not import() anything itself.
        name: 'builtin-dynamic-import',
        setup(b) {
          b.onResolve({ filter: /^node:/ }, (args) =>
            args.kind === 'dynamic-import' ? { path: args.path, namespace: 'builtin-require' } : undefined,
          );
          b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({
            contents: `module.exports = require(${JSON.stringify(args.path)});`,
            loader: 'js',
          }));
        },
      },
    ],
    outfile: cjs,
    format: 'cjs',
    sourcemap: false,
    // ASCII only (comments too): the loader reads it as latin1, ~10x faster than decoding UTF-8.
    charset: 'ascii',
    legalComments: 'none',
    define: { 'import.meta.url': '__importMetaUrl' },
    banner: { js: "const __importMetaUrl=require('node:url').pathToFileURL(__filename).href;" },
  });
  // esbuild leaves a few characters beyond ASCII (in regular expression literals): escaped here,
  // which means the same in a string, a regular expression or a comment.
  const code = readFileSync(cjs, 'utf8').replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  // (Comments survive only in unminified builds, and may mention import().)
  if (common.minify && /\bimport\(/.test(code))
    throw new Error(`${cjs}: a dynamic import() is left in the bundle`);
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  writeFileSync(cjs, `// bundle:${hash}\n${code}`);
}
