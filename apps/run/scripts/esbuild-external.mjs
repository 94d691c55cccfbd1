// esbuild's build() with native modules marked external (see bundle.mjs).
import * as esbuild from 'esbuild';

const NATIVE = ['better-sqlite3'];

export function build(options) {
  return esbuild.build({ ...options, external: [...(options.external ?? []), ...NATIVE] });
}
