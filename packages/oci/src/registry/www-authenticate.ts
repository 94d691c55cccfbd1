/**
 * WWW-Authenticate parsing (RFC 7235): one header may carry several challenges, each a scheme
 * followed by comma-separated `key=value` or `key="quoted, value"` parameters. Registries send
 * `Bearer realm="…",service="…",scope="repository:a/b:pull,push"` or `Basic realm="…"`.
 */

export interface AuthChallenge {
  /** Lower-cased scheme: `bearer`, `basic`, … */
  scheme: string;
  /** Parameters with lower-cased keys. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

export function parseWwwAuthenticate(headers: string | string[] | undefined): AuthChallenge[] {
  if (headers === undefined) return [];
  const list = Array.isArray(headers) ? headers : [headers];
  return list.flatMap(parseOne);
}

function parseOne(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < n) {
    skipWs();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const token = readToken();
    if (token === '') {
      // Unparseable character: skip it rather than loop forever.
      i++;
      continue;
    }
    skipWs();
    if (header[i] === '=' && current !== undefined) {
      i++;
      skipWs();
      let value: string;
      if (header[i] === '"') {
        i++;
        let v = '';
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          v += header[i];
          i++;
        }
        i++; // closing quote
        value = v;
      } else {
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(start, i);
      }
      current.params[token.toLowerCase()] = value;
      continue;
    }
    // A new challenge: the token is a scheme. (token68 forms are not used by registries.)
    current = { scheme: token.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}
