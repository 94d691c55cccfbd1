/**
 * Command lines as the Go tools take them, turned into what oclif parses: `--flag=false` for
 * booleans, and global flags before the command (`skiff --root /x images`).
 */

type FlagMap = Record<string, { type: string; allowNo?: boolean }>;

/** `--name=true` → `--name`, `--name=false` → `--no-name` (or dropped when there is no `--no-` form). */
export function normalizeBooleanFlags(argv: string[], ...flagSets: FlagMap[]): string[] {
  const flags: FlagMap = Object.assign({}, ...flagSets);
  const out: string[] = [];
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--([\w.-]+)=(true|false)$/i.exec(arg);
    const flag = m ? flags[m[1]!] : undefined;
    if (!m || flag?.type !== 'boolean') {
      out.push(arg);
      continue;
    }
    if (m[2]!.toLowerCase() === 'true') out.push(`--${m[1]}`);
    else if (flag.allowNo) out.push(`--no-${m[1]}`);
  }
  return out;
}

/**
 * Move the global flags given before the command to just after the command id (not to the end:
 * `run` and `exec` pass everything after the image through to the container). `globalFlags` are
 * the base flags' definitions; `isCommand` says whether `a:b` is a command id.
 */
export function hoistGlobalFlags(
  argv: string[],
  globalFlags: Record<string, { type: string }>,
  isCommand: (id: string) => boolean,
): string[] {
  const names = new Set(Object.keys(globalFlags).map((n) => `--${n}`));
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    const name = arg.split('=')[0]!;
    if (!names.has(name)) break;
    leading.push(arg);
    const takesValue = globalFlags[name.slice(2)]?.type === 'option';
    if (!arg.includes('=') && takesValue && i + 1 < argv.length) leading.push(argv[++i]!);
    i++;
  }
  if (leading.length === 0) return argv;
  const rest = argv.slice(i);
  let idLength = 0;
  for (let n = 1; n <= rest.length && !rest[n - 1]!.startsWith('-'); n++) {
    if (isCommand(rest.slice(0, n).join(':'))) idLength = n;
  }
  if (idLength === 0) return [...rest, ...leading];
  return [...rest.slice(0, idLength), ...leading, ...rest.slice(idLength)];
}
