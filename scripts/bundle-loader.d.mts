/** Types of bundle-loader.mjs (plain JavaScript: it is copied into each app's dist/bundle as load.mjs). */
export function loadBundle(
  dir: string,
  argv: string[],
  valueFlags?: string[],
): Promise<Record<string, unknown>>;
export function cacheKey(argv: readonly string[], valueFlags?: readonly string[]): string;
/** Keep WebAssembly on V8's baseline compiler from the first module compiled on (see the source). */
export function baselineWasm(): void;
