#!/usr/bin/env node
// Runs the shared bundler (scripts/bundle-cli.mjs) with better-sqlite3 kept out of the bundle:
// bundled, its `bindings` loader cannot find the native addon ("__filename is not defined"), so
// every command that opens the store fails. The fix belongs in bundle-cli.mjs (add
// 'better-sqlite3' to `external`); until then this loader hook adds it for skiff's bundle.
import { register } from 'node:module';

register('./esbuild-external-hook.mjs', import.meta.url);
await import('../../../scripts/bundle-cli.mjs');
