/**
 * Go's fmt rules for the values our templates print: `%v` of maps (`map[a:b]`, keys sorted),
 * slices (`[a b]`), nil (`<nil>`), floats (shortest, exponent form outside 1e-4 … 1e6), times; and a
 * `Sprintf` covering the verbs scripts use (%v %s %d %q %x %X %o %b %f %e %g %t %c %%).
 */

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Map)
  );
}

function sortKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Go's `%e` exponent: sign and at least two digits (`e+06`). */
function goExponent(s: string): string {
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

export function formatGoFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const exp = Number(v.toExponential().split('e')[1]);
  if (exp < -4 || exp >= 21 || (exp >= 6 && !Number.isInteger(v))) return goExponent(v.toExponential());
  return String(v);
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** Go prints a time.Time in UTC as `2006-01-02 15:04:05.999999999 +0000 UTC`. */
function formatGoTime(d: Date): string {
  const base = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  const ms = d.getUTCMilliseconds();
  const frac = ms ? `.${String(ms).padStart(3, '0').replace(/0+$/, '')}` : '';
  return `${base}${frac} +0000 UTC`;
}

/** Format a value as Go's `%v` does. */
export function formatGoValue(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) < 1e21 ? String(v) : formatGoFloat(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatGoValue).join(' ')}]`;
  if (v instanceof Date) return formatGoTime(v);
  if (v instanceof Map) {
    const entries = [...v.entries()].sort((a, b) => sortKey(String(a[0]), String(b[0])));
    return `map[${entries.map(([k, val]) => `${formatGoValue(k)}:${formatGoValue(val)}`).join(' ')}]`;
  }
  if (isPlainObject(v)) {
    const keys = Object.keys(v).sort(sortKey);
    return `map[${keys.map((k) => `${k}:${formatGoValue(v[k])}`).join(' ')}]`;
  }
  return String(v);
}

/** Go's strconv.Quote, close enough: JSON escaping plus Go's \x escapes for control bytes. */
export function goQuote(s: string): string {
  return JSON.stringify(s)
    .replace(/\\u00([0-7][0-9a-f])/g, (_m, h: string) => `\\x${h}`)
    .replace(/\\u007f/g, '\\x7f');
}

function goTypeOf(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (v instanceof Map || isPlainObject(v)) return 'map[string]interface {}';
  return 'interface {}';
}

/** toFixed with Go's rounding: an exact tie rounds to even (Go: 2.25 → "2.2", JS toFixed: "2.3"). */
function toFixedHalfEven(abs: number, precision: number): string {
  const s = abs.toFixed(precision);
  if (precision + 20 > 100) return s;
  const exact = abs.toFixed(Math.min(100, precision + 60));
  const cut = exact.indexOf('.') + precision + (precision === 0 ? 0 : 1);
  const rest = exact.slice(precision === 0 ? exact.indexOf('.') + 1 : cut);
  if (!/^50*$/.test(rest)) return s;
  const kept = precision === 0 ? exact.slice(0, exact.indexOf('.')) : exact.slice(0, cut);
  const lastDigit = Number(kept[kept.length - 1]);
  return lastDigit % 2 === 0 ? kept : s;
}

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  zero: boolean;
  space: boolean;
  width: number | undefined;
  precision: number | undefined;
}

function applyWidth(s: string, spec: Spec, numeric: boolean): string {
  const w = spec.width;
  if (w === undefined || [...s].length >= w) return s;
  const fill = w - [...s].length;
  if (spec.minus) return s + ' '.repeat(fill);
  if (spec.zero && numeric) {
    const sign = /^[+\- ]/.test(s) ? s[0]! : '';
    return sign + '0'.repeat(fill) + s.slice(sign.length);
  }
  return ' '.repeat(fill) + s;
}

function signed(s: string, negative: boolean, spec: Spec): string {
  if (negative) return `-${s}`;
  if (spec.plus) return `+${s}`;
  if (spec.space) return ` ${s}`;
  return s;
}

function bad(verb: string, v: unknown): string {
  return `%!${verb}(${goTypeOf(v)}=${formatGoValue(v)})`;
}

function formatInteger(v: number | bigint, base: number, upper: boolean, spec: Spec, verb: string): string {
  const negative = v < 0;
  let digits = (negative ? -v : v).toString(base);
  if (upper) digits = digits.toUpperCase();
  if (spec.precision !== undefined) digits = digits.padStart(spec.precision, '0');
  if (spec.sharp) {
    if (verb === 'x') digits = `0x${digits}`;
    else if (verb === 'X') digits = `0X${digits}`;
    else if (verb === 'o') digits = `0${digits}`;
    else if (verb === 'b') digits = `0b${digits}`;
  }
  return signed(digits, negative, spec);
}

function formatOne(verb: string, v: unknown, spec: Spec): string {
  switch (verb) {
    case 'v':
      if (typeof v === 'number')
        return applyWidth(signed(formatGoValue(Math.abs(v)), v < 0, spec), spec, true);
      if (spec.sharp && typeof v === 'string') return applyWidth(goQuote(v), spec, false);
      return applyWidth(formatGoValue(v), spec, false);
    case 's': {
      if (typeof v === 'number' || typeof v === 'boolean') return bad(verb, v);
      let s = formatGoValue(v);
      if (spec.precision !== undefined) s = [...s].slice(0, spec.precision).join('');
      return applyWidth(s, spec, false);
    }
    case 'q':
      if (typeof v === 'string') return applyWidth(goQuote(v), spec, false);
      if (typeof v === 'number' && Number.isInteger(v))
        return applyWidth(`'${String.fromCodePoint(v)}'`, spec, false);
      if (Array.isArray(v))
        return `[${v.map((e) => formatOne('q', e, { ...spec, width: undefined })).join(' ')}]`;
      return bad(verb, v);
    case 'd':
    case 'o':
    case 'b':
    case 'x':
    case 'X': {
      const base = verb === 'd' ? 10 : verb === 'o' ? 8 : verb === 'b' ? 2 : 16;
      if ((typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint')
        return applyWidth(formatInteger(v, base, verb === 'X', spec, verb), spec, true);
      if (typeof v === 'string' && (verb === 'x' || verb === 'X')) {
        const hex = Buffer.from(v, 'utf8').toString('hex');
        return applyWidth(verb === 'X' ? hex.toUpperCase() : hex, spec, false);
      }
      if (Array.isArray(v))
        return `[${v.map((e) => formatOne(verb, e, { ...spec, width: undefined })).join(' ')}]`;
      return bad(verb, v);
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G': {
      if (typeof v !== 'number') return bad(verb, v);
      const abs = Math.abs(v);
      let s: string;
      if (verb === 'f' || verb === 'F') s = toFixedHalfEven(abs, spec.precision ?? 6);
      else if (verb === 'e' || verb === 'E') s = goExponent(abs.toExponential(spec.precision ?? 6));
      else if (spec.precision === undefined) s = formatGoFloat(abs);
      else {
        const p = Math.max(spec.precision, 1);
        const exp = Number(abs.toExponential(p - 1).split('e')[1]);
        s =
          exp < -4 || exp >= p
            ? goExponent(abs.toExponential(p - 1).replace(/\.?0+e/, 'e'))
            : String(Number(abs.toPrecision(p)));
      }
      if (verb === 'E' || verb === 'G') s = s.toUpperCase();
      return applyWidth(signed(s, v < 0 || Object.is(v, -0), spec), spec, true);
    }
    case 't':
      return typeof v === 'boolean' ? applyWidth(String(v), spec, false) : bad(verb, v);
    case 'c':
      return typeof v === 'number' && Number.isInteger(v)
        ? applyWidth(String.fromCodePoint(v), spec, false)
        : bad(verb, v);
    case 'T':
      return applyWidth(goTypeOf(v), spec, false);
    default:
      return `%!${verb}(${goTypeOf(v)}=${formatGoValue(v)})`;
  }
}

/** Go's fmt.Sprintf for the common verbs, flags (`-+# 0`), width and precision. */
export function goSprintf(format: string, args: unknown[]): string {
  let out = '';
  let argIndex = 0;
  let i = 0;
  while (i < format.length) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      i++;
      continue;
    }
    i++;
    const spec: Spec = {
      minus: false,
      plus: false,
      sharp: false,
      zero: false,
      space: false,
      width: undefined,
      precision: undefined,
    };
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === '-') spec.minus = true;
      else if (f === '+') spec.plus = true;
      else if (f === '#') spec.sharp = true;
      else if (f === '0') spec.zero = true;
      else if (f === ' ') spec.space = true;
      else break;
    }
    const readNum = (): number | undefined => {
      if (format[i] === '*') {
        i++;
        const a = args[argIndex++];
        return typeof a === 'number' ? a : undefined;
      }
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      i += m[0].length;
      return Number(m[0]);
    };
    spec.width = readNum();
    if (format[i] === '.') {
      i++;
      spec.precision = readNum() ?? 0;
    }
    const verb = format[i];
    i++;
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argIndex >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatOne(verb, args[argIndex++], spec);
  }
  if (argIndex < args.length) {
    out += `%!(EXTRA ${args
      .slice(argIndex)
      .map((a) => `${goTypeOf(a)}=${formatGoValue(a)}`)
      .join(', ')})`;
  }
  return out;
}
