/** How the containers tools' progress bars (mpb) print sizes: `295.0b`, `1007.3KiB`, `3.2MiB`. */
export function formatBinary(n: number): string {
  const units = ['b', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)}${units[unit]}`;
}

/** A blob's digest as progress lines shorten it: 12 hex digits for a layer, 10 for a config. */
export function shortDigest(digest: string, kind: 'layer' | 'config'): string {
  const hex = digest.slice(digest.indexOf(':') + 1);
  return hex.slice(0, kind === 'config' ? 10 : 12);
}
