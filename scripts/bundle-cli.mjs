#!/usr/bin/env node
// Bundles an app's fast path (dist/fast/entry.js and the commands it loads) into dist/bundle/
// with esbuild, '@oclif/core' replaced by @skiff/cli's shim (oclif-shim.ts). Run from the app's
// directory after tsc. Code splitting keeps each command's code in its own chunk.
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { build } from 'esbuild';

const app = process.cwd();
const shim = createRequire(resolve(app, 'package.json')).resolve('@skiff/cli/oclif-shim');
rmSync(resolve(app, 'dist/bundle'), { recursive: true, force: true });
const result = await build({
  entryPoints: [resolve(app, 'dist/fast/entry.js')],
  outdir: resolve(app, 'dist/bundle'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: process.env.BUNDLE_MINIFY !== '0',
  sourcemap: 'linked',
  logLevel: 'warning',
  metafile: Boolean(process.env.BUNDLE_META),
  // oclif's help and config code reach TypeScript only to run .ts commands; never at run time here.
  // better-sqlite3 finds its native addon relative to its own files: it stays in node_modules.
  external: ['typescript', 'better-sqlite3'],
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
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
        b.onLoad({ filter: /.*/, namespace: 'fast-stub' }, () => ({
          contents:
            "export async function loadHelpClass() { throw new Error('help is rendered by oclif, not the fast path'); }",
          loader: 'js',
        }));
      },
    },
  ],
});
if (process.env.BUNDLE_META) writeFileSync(process.env.BUNDLE_META, JSON.stringify(result.metafile));
