// Module resolution hook (see bundle.mjs): bundle-cli.mjs's `esbuild` becomes esbuild-external.mjs.
export async function resolve(specifier, context, next) {
  if (specifier === 'esbuild' && context.parentURL?.endsWith('/scripts/bundle-cli.mjs')) {
    return { url: new URL('./esbuild-external.mjs', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
