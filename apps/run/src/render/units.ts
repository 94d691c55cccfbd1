/**
 * Sizes and durations as podman prints them (docker/go-units): `5.87 MB` (decimal units, three
 * significant digits), `2 weeks ago`.
 */

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** Go's `%.Ng`: N significant digits, trailing zeros dropped. */
function goG(value: number, precision: number): string {
  if (value === 0) return '0';
  const s = value.toPrecision(precision);
  if (s.includes('e')) return s;
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** go-units HumanSizeWithPrecision(size, 3). */
export function humanSize(sizeBytes: number, precision = 3): string {
  let size = sizeBytes;
  let unit = 0;
  while (size >= 1000 && unit < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    unit++;
  }
  return `${goG(size, precision)} ${DECIMAL_UNITS[unit]}`;
}

/** go-units HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** `2 weeks ago`, as podman's CREATED column. */
export function timeAgo(date: Date | undefined, now: number = Date.now()): string {
  if (!date) return 'Unknown';
  return `${humanDuration(Math.max(0, now - date.getTime()))} ago`;
}

/** Go's time.Time String(): `2006-01-02 15:04:05.999999999 +0000 UTC`. */
export function goTime(date: Date | undefined): string {
  if (!date) return '0001-01-01 00:00:00 +0000 UTC';
  const iso = date.toISOString();
  const [day, rest] = iso.split('T') as [string, string];
  let time = rest.replace('Z', '');
  time = time.replace(/\.?0+$/, '');
  return `${day} ${time} +0000 UTC`;
}

/** The short form of an image ID (12 hex), or `sha256:ID` with --no-trunc. */
export function shortId(id: string, noTrunc = false): string {
  const hex = id.startsWith('sha256:') ? id.slice(7) : id;
  return noTrunc ? `sha256:${hex}` : hex.slice(0, 12);
}
