import { SkiffError } from '../errors.js';
import { formatGoValue, goSprintf } from './go-format.js';

/**
 * A subset of Go's text/template, enough for the `--format` flags of podman, buildah and skopeo:
 * fields (`{{.A.B}}`), variables (`$`, `$x := …`), pipelines (`{{.X | upper}}`), `if`/`else if`/
 * `else`, `range` (with `$i, $e :=`, `else`, `break`, `continue`), `with`, comments, trim markers
 * (`{{-` / `-}}`), the Go builtins (and, or, not, eq, ne, lt, le, gt, ge, len, index, slice, print,
 * printf, println) and the containers/common report functions (json, lower, upper, title, join,
 * split, truncate, pad). Values print as Go's `%v` prints them: `map[a:b]`, `[a b]`, `<no value>`.
 *
 * As podman does, the two-character sequences `\t` and `\n` in the template text become a tab and
 * a newline. Any parse or execution error is a SkiffError INVALID_ARGUMENT naming the template.
 */

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | { kind: 'if' | 'with'; pipe: Pipeline; list: Node[]; elseList: Node[] | undefined }
  | { kind: 'range'; pipe: Pipeline; list: Node[]; elseList: Node[] | undefined }
  | { kind: 'break' | 'continue' };

interface Pipeline {
  decl: string[];
  assign: boolean;
  cmds: Arg[][];
}

type Arg =
  | { kind: 'field'; chain: string[] }
  | { kind: 'var'; name: string; chain: string[] }
  | { kind: 'dot' }
  | { kind: 'ident'; name: string }
  | { kind: 'literal'; value: unknown }
  | { kind: 'pipe'; pipe: Pipeline; chain: string[] };

export interface CompiledTemplate {
  /** The template text as given. */
  readonly source: string;
  /** Field chains referenced directly by actions, e.g. [['Host', 'Arch']]; used for table headers. */
  readonly fields: string[][];
  execute(data: unknown): string;
}

class TemplateError extends Error {}

class LoopControl {
  constructor(readonly kind: 'break' | 'continue') {}
}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'break', 'continue']);

// ---------------------------------------------------------------------------------------------
// Lexing actions

type Token =
  | { t: 'field'; chain: string[] }
  | { t: 'var'; name: string; chain: string[] }
  | { t: 'dot' }
  | { t: 'ident'; name: string }
  | { t: 'string'; value: string }
  | { t: 'number'; value: number }
  | { t: 'bool'; value: boolean }
  | { t: 'nil' }
  | { t: '(' }
  | { t: ')'; chain: string[] }
  | { t: '|' }
  | { t: ':=' }
  | { t: '=' }
  | { t: ',' };

function readChain(src: string, i: number): { chain: string[]; end: number } {
  const chain: string[] = [];
  while (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '')) {
    let j = i + 1;
    while (j < src.length && /\w/.test(src[j]!)) j++;
    chain.push(src.slice(i + 1, j));
    i = j;
  }
  return { chain, end: i };
}

function unquoteGo(lit: string): string {
  let out = '';
  for (let i = 1; i < lit.length - 1; i++) {
    const c = lit[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = lit[++i];
    const simple: Record<string, string> = {
      n: '\n',
      t: '\t',
      r: '\r',
      '\\': '\\',
      '"': '"',
      "'": "'",
      a: '\x07',
      b: '\b',
      f: '\f',
      v: '\v',
      '0': '\0',
    };
    if (n !== undefined && n in simple && n !== '0') out += simple[n];
    else if (n === 'x') {
      out += String.fromCharCode(Number.parseInt(lit.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (n === 'u') {
      out += String.fromCodePoint(Number.parseInt(lit.slice(i + 1, i + 5), 16));
      i += 4;
    } else throw new TemplateError(`invalid escape sequence \\${n ?? ''} in ${lit}`);
  }
  return out;
}

function lexAction(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\') j++;
        if (src[j] === '\n') throw new TemplateError('unterminated quoted string');
        j++;
      }
      if (j >= src.length) throw new TemplateError('unterminated quoted string');
      tokens.push({ t: 'string', value: unquoteGo(src.slice(i, j + 1)) });
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError('unterminated raw quoted string');
      tokens.push({ t: 'string', value: src.slice(i + 1, j) });
      i = j + 1;
    } else if (c === "'") {
      const m = /^'(\\.|[^'\\])'/.exec(src.slice(i));
      if (!m) throw new TemplateError('bad character constant');
      const s = m[1]!.startsWith('\\') ? unquoteGo(`"${m[1]}"`) : m[1]!;
      tokens.push({ t: 'number', value: s.codePointAt(0)! });
      i += m[0].length;
    } else if (c === '.') {
      const { chain, end } = readChain(src, i);
      if (chain.length === 0) {
        tokens.push({ t: 'dot' });
        i++;
      } else {
        tokens.push({ t: 'field', chain });
        i = end;
      }
    } else if (c === '$') {
      let j = i + 1;
      while (j < src.length && /\w/.test(src[j]!)) j++;
      const name = src.slice(i, j);
      const { chain, end } = readChain(src, j);
      tokens.push({ t: 'var', name, chain });
      i = end;
    } else if (c === '(') {
      tokens.push({ t: '(' });
      i++;
    } else if (c === ')') {
      const { chain, end } = readChain(src, i + 1);
      tokens.push({ t: ')', chain });
      i = end;
    } else if (c === '|') {
      tokens.push({ t: '|' });
      i++;
    } else if (c === ',') {
      tokens.push({ t: ',' });
      i++;
    } else if (c === ':' && src[i + 1] === '=') {
      tokens.push({ t: ':=' });
      i += 2;
    } else if (c === '=') {
      tokens.push({ t: '=' });
      i++;
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(\d[\d_]*)?\.?\d*([eE][-+]?\d+)?)/.exec(
        src.slice(i),
      );
      const text = m?.[0] ?? '';
      if (text === '' || text === '-' || text === '+') throw new TemplateError(`bad number syntax: ${c}`);
      const clean = text.replaceAll('_', '');
      const value = /^[-+]?0[oO]/.test(clean)
        ? Number.parseInt(clean.replace(/0[oO]/, ''), 8)
        : /^[-+]?0[bB]/.test(clean)
          ? Number.parseInt(clean.replace(/0[bB]/, ''), 2)
          : Number(clean);
      if (Number.isNaN(value)) throw new TemplateError(`bad number syntax: ${text}`);
      tokens.push({ t: 'number', value });
      i += text.length;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < src.length && /\w/.test(src[j]!)) j++;
      const word = src.slice(i, j);
      if (word === 'true' || word === 'false') tokens.push({ t: 'bool', value: word === 'true' });
      else if (word === 'nil') tokens.push({ t: 'nil' });
      else tokens.push({ t: 'ident', name: word });
      i = j;
    } else {
      throw new TemplateError(`unexpected ${JSON.stringify(c)} in command`);
    }
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parsing

class PipelineParser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(allowDecl: 'none' | 'one' | 'two'): Pipeline {
    const decl: string[] = [];
    let assign = false;
    if (allowDecl !== 'none') {
      // Look ahead for `$x :=`, `$x =`, or (range) `$i, $e :=`.
      const t0 = this.tokens[0];
      const t1 = this.tokens[1];
      if (t0?.t === 'var' && t0.chain.length === 0) {
        if (t1?.t === ':=' || t1?.t === '=') {
          decl.push(t0.name);
          assign = t1.t === '=';
          this.pos = 2;
        } else if (t1?.t === ',' && allowDecl === 'two') {
          const t2 = this.tokens[2];
          const t3 = this.tokens[3];
          if (t2?.t === 'var' && t2.chain.length === 0 && (t3?.t === ':=' || t3?.t === '=')) {
            decl.push(t0.name, t2.name);
            assign = t3.t === '=';
            this.pos = 4;
          } else throw new TemplateError('too many declarations in command');
        }
      }
    }
    const pipe = this.pipeline();
    pipe.decl = decl;
    pipe.assign = assign;
    if (this.pos < this.tokens.length)
      throw new TemplateError(`unexpected ${describe(this.tokens[this.pos]!)}`);
    if (pipe.cmds.length === 0) throw new TemplateError('missing value for command');
    return pipe;
  }

  private pipeline(): Pipeline {
    const cmds: Arg[][] = [];
    for (;;) {
      const cmd: Arg[] = [];
      for (;;) {
        const tok = this.tokens[this.pos];
        if (tok === undefined || tok.t === '|' || tok.t === ')') break;
        cmd.push(this.operand());
      }
      if (cmd.length === 0) {
        if (cmds.length > 0 || this.tokens[this.pos]?.t === '|')
          throw new TemplateError('missing command in pipeline');
        return { decl: [], assign: false, cmds };
      }
      cmds.push(cmd);
      if (this.tokens[this.pos]?.t === '|') {
        this.pos++;
        continue;
      }
      return { decl: [], assign: false, cmds };
    }
  }

  private operand(): Arg {
    const tok = this.tokens[this.pos++]!;
    switch (tok.t) {
      case 'field':
        return { kind: 'field', chain: tok.chain };
      case 'var':
        return { kind: 'var', name: tok.name, chain: tok.chain };
      case 'dot':
        return { kind: 'dot' };
      case 'ident':
        if (KEYWORDS.has(tok.name)) throw new TemplateError(`unexpected keyword ${tok.name} in command`);
        if (!(tok.name in FUNCS)) throw new TemplateError(`function "${tok.name}" not defined`);
        return { kind: 'ident', name: tok.name };
      case 'string':
      case 'number':
      case 'bool':
        return { kind: 'literal', value: tok.value };
      case 'nil':
        return { kind: 'literal', value: null };
      case '(': {
        const inner = this.pipeline();
        const close = this.tokens[this.pos++];
        if (close?.t !== ')') throw new TemplateError('unclosed left paren');
        if (inner.cmds.length === 0) throw new TemplateError('missing value for parenthesized pipeline');
        return { kind: 'pipe', pipe: inner, chain: close.chain };
      }
      default:
        throw new TemplateError(`unexpected ${describe(tok)} in operand`);
    }
  }
}

function describe(tok: Token): string {
  switch (tok.t) {
    case 'field':
      return `<.${tok.chain.join('.')}>`;
    case 'var':
      return `<${tok.name}>`;
    case 'ident':
      return `<${tok.name}>`;
    case 'string':
      return JSON.stringify(tok.value);
    case 'number':
    case 'bool':
      return String(tok.value);
    case 'nil':
      return 'nil';
    case 'dot':
      return '<.>';
    default:
      return `"${tok.t}"`;
  }
}

interface RawAction {
  body: string;
}

/** Split a template into text and action pieces, applying trim markers. */
function splitTemplate(src: string): Array<string | RawAction> {
  const pieces: Array<string | RawAction> = [];
  let i = 0;
  let trimNextText = false;
  while (i <= src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNextText) text = text.replace(/^\s+/, '');
    if (open < 0) {
      if (text) pieces.push(text);
      break;
    }
    let start = open + 2;
    if (src[start] === '-' && /\s/.test(src[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    if (text) pieces.push(text);
    // Find the closing delimiter, skipping quoted strings.
    let j = start;
    let close = -1;
    while (j < src.length) {
      const c = src[j];
      if (c === '"') {
        j++;
        while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
        j++;
      } else if (c === '`') {
        const e = src.indexOf('`', j + 1);
        j = e < 0 ? src.length : e + 1;
      } else if (c === '}' && src[j + 1] === '}') {
        close = j;
        break;
      } else j++;
    }
    if (close < 0) throw new TemplateError('unclosed action');
    let end = close;
    trimNextText = false;
    if (src[close - 1] === '-' && /\s/.test(src[close - 2] ?? '') && close - 2 >= start) {
      end = close - 1;
      trimNextText = true;
    }
    const body = src.slice(start, end);
    const trimmedBody = body.trim();
    if (trimmedBody.startsWith('/*')) {
      if (!trimmedBody.endsWith('*/')) throw new TemplateError('unclosed comment');
    } else pieces.push({ body });
    i = close + 2;
  }
  return pieces;
}

type Terminator = 'eof' | 'end' | 'else';

function parseList(
  pieces: Array<string | RawAction>,
  state: { pos: number; loopDepth: number },
  fields: string[][],
): { list: Node[]; term: Terminator; elseTokens: Token[] } {
  const list: Node[] = [];
  while (state.pos < pieces.length) {
    const piece = pieces[state.pos++]!;
    if (typeof piece === 'string') {
      list.push({ kind: 'text', text: normalizeEscapes(piece) });
      continue;
    }
    const tokens = lexAction(piece.body);
    const first = tokens[0];
    if (first === undefined) throw new TemplateError('missing value for command');
    if (first.t === 'ident' && KEYWORDS.has(first.name)) {
      const rest = tokens.slice(1);
      switch (first.name) {
        case 'end':
          if (rest.length) throw new TemplateError('unexpected tokens after end');
          return { list, term: 'end', elseTokens: [] };
        case 'else':
          return { list, term: 'else', elseTokens: rest };
        case 'break':
        case 'continue':
          if (state.loopDepth === 0) throw new TemplateError(`{{${first.name}}} outside {{range}}`);
          list.push({ kind: first.name });
          continue;
        default: {
          const kind = first.name as 'if' | 'with' | 'range';
          list.push(parseControl(kind, rest, pieces, state, fields));
          continue;
        }
      }
    }
    const pipe = new PipelineParser(tokens).parse('one');
    collectFields(pipe, fields);
    list.push({ kind: 'action', pipe });
  }
  return { list, term: 'eof', elseTokens: [] };
}

function parseControl(
  kind: 'if' | 'with' | 'range',
  tokens: Token[],
  pieces: Array<string | RawAction>,
  state: { pos: number; loopDepth: number },
  fields: string[][],
): Node {
  if (tokens.length === 0) throw new TemplateError(`missing value for ${kind}`);
  const pipe = new PipelineParser(tokens).parse(kind === 'range' ? 'two' : 'one');
  collectFields(pipe, fields);
  if (kind === 'range') state.loopDepth++;
  const body = parseList(pieces, state, fields);
  if (kind === 'range') state.loopDepth--;
  let elseList: Node[] | undefined;
  if (body.term === 'eof') throw new TemplateError(`unexpected EOF: missing {{end}} for {{${kind}}}`);
  if (body.term === 'else') {
    const et = body.elseTokens;
    const chained = et[0];
    if (
      chained?.t === 'ident' &&
      (chained.name === 'if' || chained.name === 'with') &&
      kind === chained.name
    ) {
      // `{{else if …}}` is `{{else}}{{if …}}…{{end}}{{end}}` sharing one {{end}}.
      elseList = [parseControl(chained.name, et.slice(1), pieces, state, fields)];
    } else {
      if (et.length) throw new TemplateError(`unexpected tokens after else`);
      const alt = parseList(pieces, state, fields);
      if (alt.term !== 'end') throw new TemplateError(`expected {{end}} after {{else}} of {{${kind}}}`);
      elseList = alt.list;
    }
  }
  return { kind, pipe, list: body.list, elseList };
}

function collectFields(pipe: Pipeline, fields: string[][]): void {
  for (const cmd of pipe.cmds) {
    for (const arg of cmd) {
      if (arg.kind === 'field') fields.push(arg.chain);
      else if (arg.kind === 'pipe') collectFields(arg.pipe, fields);
    }
  }
}

/** podman's NormalizeFormat: the two-character sequences `\t` and `\n` become tab and newline. */
function normalizeEscapes(text: string): string {
  return text.replaceAll('\\t', '\t').replaceAll('\\n', '\n');
}

// ---------------------------------------------------------------------------------------------
// Execution

const NO_VALUE = Symbol('no value');

interface Scope {
  vars: Array<{ name: string; value: unknown }>;
}

function isMapLike(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Map)
  );
}

const GO_STRUCT = Symbol('go struct');

/**
 * Mark an object as a Go struct for templates: its fields are looked up exactly, and an unknown
 * field is an error ("can't evaluate field X"), as Go's text/template does for structs. Plain
 * objects are maps: a missing key prints `<no value>`. The mark is not enumerable (JSON ignores it).
 */
export function goStruct<T extends object>(value: T, typeName = 'struct'): T {
  Object.defineProperty(value, GO_STRUCT, { value: typeName, enumerable: false });
  return value;
}

function lookupField(value: unknown, name: string, chainText: string): unknown {
  if (value === NO_VALUE || value === undefined) {
    throw new TemplateError(`nil pointer evaluating <${chainText}>`);
  }
  if (value instanceof Map) return value.has(name) ? value.get(name) : NO_VALUE;
  if (isMapLike(value) && GO_STRUCT in value) {
    if (Object.hasOwn(value, name)) return value[name];
    throw new TemplateError(
      `can't evaluate field ${name} in type ${String(value[GO_STRUCT as unknown as string])}`,
    );
  }
  if (isMapLike(value)) {
    if (Object.hasOwn(value, name)) return value[name];
    // Go field names are capitalised; our data often keeps JSON names (podman info's JSON is lower camel).
    const lower = name.toLowerCase();
    for (const key of Object.keys(value)) if (key.toLowerCase() === lower) return value[key];
    return NO_VALUE;
  }
  if (value === null) return NO_VALUE;
  throw new TemplateError(`can't evaluate field ${name} in type ${goTypeName(value)}`);
}

function goTypeName(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  return 'interface {}';
}

function truthy(v: unknown): boolean {
  if (v === NO_VALUE || v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (typeof v === 'bigint') return v !== 0n;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (isMapLike(v)) return Object.keys(v).length > 0;
  return true;
}

function plain(v: unknown): unknown {
  return v === NO_VALUE ? undefined : v;
}

class Executor {
  private out = '';
  constructor(private readonly root: unknown) {}

  run(list: Node[], dot: unknown): string {
    this.walkList(list, dot, { vars: [{ name: '$', value: this.root }] });
    return this.out;
  }

  private walkList(list: Node[], dot: unknown, scope: Scope): void {
    const mark = scope.vars.length;
    try {
      for (const node of list) this.walk(node, dot, scope);
    } finally {
      scope.vars.length = mark;
    }
  }

  private walk(node: Node, dot: unknown, scope: Scope): void {
    switch (node.kind) {
      case 'text':
        this.out += node.text;
        return;
      case 'action': {
        const v = this.evalPipeline(node.pipe, dot, scope);
        if (node.pipe.decl.length === 0) this.out += printValue(v);
        return;
      }
      case 'break':
      case 'continue':
        throw new LoopControl(node.kind);
      case 'if':
      case 'with': {
        const mark = scope.vars.length;
        const v = this.evalPipeline(node.pipe, dot, scope);
        try {
          if (truthy(v)) this.walkList(node.list, node.kind === 'with' ? plain(v) : dot, scope);
          else if (node.elseList) this.walkList(node.elseList, dot, scope);
        } finally {
          scope.vars.length = mark;
        }
        return;
      }
      case 'range':
        this.walkRange(node, dot, scope);
        return;
    }
  }

  private walkRange(node: Extract<Node, { kind: 'range' }>, dot: unknown, scope: Scope): void {
    const mark = scope.vars.length;
    const decl = node.pipe.decl;
    const v = plain(this.evalPipeline({ ...node.pipe, decl: [] }, dot, scope));
    let entries: Array<[unknown, unknown]>;
    if (Array.isArray(v)) entries = v.map((e, i) => [i, e]);
    else if (v instanceof Map) entries = [...v.entries()].sort((a, b) => compareKeys(a[0], b[0]));
    else if (isMapLike(v))
      entries = Object.keys(v)
        .sort()
        .map((k) => [k, v[k]]);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0)
      entries = Array.from({ length: v }, (_, i) => [i, i]);
    else if (v === undefined || v === null) entries = [];
    else throw new TemplateError(`range can't iterate over ${formatGoValue(v)}`);
    try {
      if (entries.length === 0) {
        if (node.elseList) this.walkList(node.elseList, dot, scope);
        return;
      }
      for (const [key, elem] of entries) {
        if (decl.length === 1) this.setVar(scope, decl[0]!, elem, node.pipe.assign, mark);
        if (decl.length === 2) {
          this.setVar(scope, decl[0]!, key, node.pipe.assign, mark);
          this.setVar(scope, decl[1]!, elem, node.pipe.assign, mark);
        }
        try {
          this.walkList(node.list, elem, scope);
        } catch (err) {
          if (err instanceof LoopControl) {
            if (err.kind === 'break') break;
            continue;
          }
          throw err;
        }
      }
    } finally {
      scope.vars.length = mark;
    }
  }

  private setVar(
    scope: Scope,
    name: string,
    value: unknown,
    assign: boolean,
    mark = scope.vars.length,
  ): void {
    if (assign) {
      for (let i = scope.vars.length - 1; i >= 0; i--) {
        if (scope.vars[i]!.name === name) {
          scope.vars[i]!.value = value;
          return;
        }
      }
      throw new TemplateError(`undefined variable: ${name}`);
    }
    // A range redeclares its variables on each iteration: replace the ones above the mark.
    for (let i = scope.vars.length - 1; i >= mark; i--) {
      if (scope.vars[i]!.name === name) {
        scope.vars[i]!.value = value;
        return;
      }
    }
    scope.vars.push({ name, value });
  }

  private lookupVar(scope: Scope, name: string): unknown {
    for (let i = scope.vars.length - 1; i >= 0; i--)
      if (scope.vars[i]!.name === name) return scope.vars[i]!.value;
    throw new TemplateError(`undefined variable: ${name}`);
  }

  private evalPipeline(pipe: Pipeline, dot: unknown, scope: Scope): unknown {
    let value: unknown = NO_VALUE;
    let first = true;
    for (const cmd of pipe.cmds) {
      value = this.evalCommand(cmd, dot, scope, first ? undefined : { value });
      first = false;
    }
    if (pipe.decl.length === 1) this.setVar(scope, pipe.decl[0]!, plain(value), pipe.assign);
    return value;
  }

  private evalCommand(
    cmd: Arg[],
    dot: unknown,
    scope: Scope,
    piped: { value: unknown } | undefined,
  ): unknown {
    const head = cmd[0]!;
    if (head.kind === 'ident') {
      const args = cmd.slice(1).map((a) => this.evalArg(a, dot, scope));
      if (piped) args.push(piped.value);
      return callFunc(head.name, args);
    }
    if (cmd.length > 1 || piped) {
      const what = head.kind === 'field' ? `.${head.chain.join('.')}` : head.kind;
      throw new TemplateError(`can't give argument to non-function ${what}`);
    }
    return this.evalArg(head, dot, scope);
  }

  private evalArg(arg: Arg, dot: unknown, scope: Scope): unknown {
    switch (arg.kind) {
      case 'dot':
        return dot;
      case 'literal':
        return arg.value;
      case 'field':
        return this.walkChain(dot, arg.chain, '');
      case 'var':
        return this.walkChain(this.lookupVar(scope, arg.name), arg.chain, arg.name);
      case 'pipe':
        return this.walkChain(this.evalPipeline(arg.pipe, dot, scope), arg.chain, '(…)');
      case 'ident':
        return callFunc(arg.name, []);
    }
  }

  private walkChain(start: unknown, chain: string[], prefix: string): unknown {
    let v = start;
    let text = prefix;
    for (const name of chain) {
      text += `.${name}`;
      v = lookupField(v, name, text);
    }
    return v;
  }
}

function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

function printValue(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return '<no value>';
  return formatGoValue(v);
}

// ---------------------------------------------------------------------------------------------
// Functions

function asString(v: unknown, fn: string): string {
  if (typeof v === 'string') return v;
  if (v === NO_VALUE || v === undefined || v === null) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new TemplateError(`error calling ${fn}: wrong type for value; expected string; got ${goTypeName(v)}`);
}

function asInt(v: unknown, fn: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new TemplateError(`error calling ${fn}: wrong type for value; expected int; got ${goTypeName(v)}`);
}

function arity(fn: string, args: unknown[], n: number): void {
  if (args.length !== n)
    throw new TemplateError(`wrong number of args for ${fn}: want ${n} got ${args.length}`);
}

function goEqual(a: unknown, b: unknown): boolean {
  const pa = plain(a) ?? null;
  const pb = plain(b) ?? null;
  if (pa === null || pb === null) return pa === pb;
  if (typeof pa !== typeof pb) throw new TemplateError('error calling eq: incompatible types for comparison');
  if (typeof pa === 'object') throw new TemplateError('error calling eq: non-comparable type');
  return pa === pb;
}

function goLess(fn: string, a: unknown, b: unknown): boolean {
  const pa = plain(a);
  const pb = plain(b);
  if (
    (typeof pa === 'number' && typeof pb === 'number') ||
    (typeof pa === 'string' && typeof pb === 'string')
  )
    return pa < pb;
  throw new TemplateError(`error calling ${fn}: incompatible types for comparison`);
}

function jsonValue(v: unknown): string {
  const s = JSON.stringify(plain(v) ?? null, (_k, val: unknown) =>
    val instanceof Map ? Object.fromEntries(val) : val,
  );
  return s ?? 'null';
}

function goSprint(args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    const isStr = typeof a === 'string';
    const prevStr = i > 0 && typeof args[i - 1] === 'string';
    if (i > 0 && !isStr && !prevStr) out += ' ';
    out += formatGoValue(plain(a) ?? null);
  });
  return out;
}

const FUNCS: Record<string, (args: unknown[]) => unknown> = {
  and: (args) => {
    if (args.length === 0) throw new TemplateError('wrong number of args for and: want at least 1 got 0');
    for (const a of args) if (!truthy(a)) return a;
    return args[args.length - 1];
  },
  or: (args) => {
    if (args.length === 0) throw new TemplateError('wrong number of args for or: want at least 1 got 0');
    for (const a of args) if (truthy(a)) return a;
    return args[args.length - 1];
  },
  not: (args) => {
    arity('not', args, 1);
    return !truthy(args[0]);
  },
  eq: (args) => {
    if (args.length < 2) throw new TemplateError('wrong number of args for eq: want at least 2');
    return args.slice(1).some((b) => goEqual(args[0], b));
  },
  ne: (args) => {
    arity('ne', args, 2);
    return !goEqual(args[0], args[1]);
  },
  lt: (args) => {
    arity('lt', args, 2);
    return goLess('lt', args[0], args[1]);
  },
  le: (args) => {
    arity('le', args, 2);
    return goLess('le', args[0], args[1]) || goEqual(args[0], args[1]);
  },
  gt: (args) => {
    arity('gt', args, 2);
    return !(goLess('gt', args[0], args[1]) || goEqual(args[0], args[1]));
  },
  ge: (args) => {
    arity('ge', args, 2);
    return !goLess('ge', args[0], args[1]);
  },
  len: (args) => {
    arity('len', args, 1);
    const v = plain(args[0]);
    if (typeof v === 'string') return Buffer.byteLength(v);
    if (Array.isArray(v)) return v.length;
    if (v instanceof Map) return v.size;
    if (isMapLike(v)) return Object.keys(v).length;
    if (v === null || v === undefined) return 0;
    throw new TemplateError(`error calling len: len of type ${goTypeName(v)}`);
  },
  index: (args) => {
    if (args.length === 0) throw new TemplateError('wrong number of args for index: want at least 1 got 0');
    let v = plain(args[0]);
    for (const key of args.slice(1)) {
      if (Array.isArray(v) || typeof v === 'string') {
        const i = asInt(key, 'index');
        if (i < 0 || i >= v.length) throw new TemplateError(`error calling index: index out of range: ${i}`);
        v = typeof v === 'string' ? v.charCodeAt(i) : v[i];
      } else if (v instanceof Map) v = v.has(key) ? v.get(key) : undefined;
      else if (isMapLike(v)) v = Object.hasOwn(v, String(key)) ? v[String(key)] : undefined;
      else if (v === null || v === undefined) v = undefined;
      else throw new TemplateError(`error calling index: can't index item of type ${goTypeName(v)}`);
    }
    return v === undefined ? NO_VALUE : v;
  },
  slice: (args) => {
    if (args.length === 0) throw new TemplateError('wrong number of args for slice');
    const v = plain(args[0]);
    const [from, to] = args.slice(1).map((a) => asInt(a, 'slice'));
    if (typeof v === 'string' || Array.isArray(v)) return v.slice(from ?? 0, to ?? v.length);
    throw new TemplateError(`error calling slice: can't slice item of type ${goTypeName(v)}`);
  },
  print: (args) => goSprint(args),
  println: (args) => `${args.map((a) => formatGoValue(plain(a) ?? null)).join(' ')}\n`,
  printf: (args) => {
    if (args.length === 0) throw new TemplateError('wrong number of args for printf: want at least 1 got 0');
    return goSprintf(asString(args[0], 'printf'), args.slice(1).map(plain));
  },
  json: (args) => {
    arity('json', args, 1);
    return jsonValue(args[0]);
  },
  lower: (args) => {
    arity('lower', args, 1);
    return asString(args[0], 'lower').toLowerCase();
  },
  upper: (args) => {
    arity('upper', args, 1);
    return asString(args[0], 'upper').toUpperCase();
  },
  title: (args) => {
    arity('title', args, 1);
    return asString(args[0], 'title').replace(
      /(^|[^\p{L}\p{N}_'])(\p{L})/gu,
      (_m, p: string, c: string) => p + c.toUpperCase(),
    );
  },
  join: (args) => {
    arity('join', args, 2);
    const list = plain(args[0]);
    if (list === null || list === undefined) return '';
    if (!Array.isArray(list))
      throw new TemplateError(
        `error calling join: wrong type for value; expected []string; got ${goTypeName(list)}`,
      );
    return list.map((e) => asString(e, 'join')).join(asString(args[1], 'join'));
  },
  split: (args) => {
    arity('split', args, 2);
    const sep = asString(args[1], 'split');
    const s = asString(args[0], 'split');
    return sep === '' ? [...s] : s.split(sep);
  },
  truncate: (args) => {
    arity('truncate', args, 2);
    const s = asString(args[0], 'truncate');
    const n = asInt(args[1], 'truncate');
    return s.length < n ? s : s.slice(0, n);
  },
  pad: (args) => {
    arity('pad', args, 3);
    const s = asString(args[0], 'pad');
    if (s === '') return s;
    return ' '.repeat(asInt(args[1], 'pad')) + s + ' '.repeat(asInt(args[2], 'pad'));
  },
};

function callFunc(name: string, args: unknown[]): unknown {
  const fn = FUNCS[name];
  if (!fn) throw new TemplateError(`function "${name}" not defined`);
  return fn(args);
}

// ---------------------------------------------------------------------------------------------
// Public API

function templateError(template: string, err: unknown): SkiffError {
  const detail = err instanceof Error ? err.message : String(err);
  return new SkiffError('INVALID_ARGUMENT', `template ${JSON.stringify(template)}: ${detail}`, {
    cause: err,
  });
}

/** Parse a Go template once; `execute` may then be called for many values. */
export function parseTemplate(template: string): CompiledTemplate {
  const fields: string[][] = [];
  let list: Node[];
  try {
    const pieces = splitTemplate(template);
    const state = { pos: 0, loopDepth: 0 };
    const parsed = parseList(pieces, state, fields);
    if (parsed.term === 'end') throw new TemplateError('unexpected {{end}}');
    if (parsed.term === 'else') throw new TemplateError('unexpected {{else}}');
    list = parsed.list;
  } catch (err) {
    throw templateError(template, err);
  }
  return {
    source: template,
    fields,
    execute(data: unknown): string {
      try {
        return new Executor(data).run(list, data);
      } catch (err) {
        if (err instanceof LoopControl)
          throw templateError(template, new Error(`{{${err.kind}}} outside {{range}}`));
        throw templateError(template, err);
      }
    },
  };
}

/** Render `template` over `data`, as `podman … --format TEMPLATE` does (no newline is added). */
export function renderTemplate(template: string, data: unknown): string {
  return parseTemplate(template).execute(data);
}

/** True when the format asks for a table (`table {{.A}}\t{{.B}}`), as podman decides it. */
export function isTableFormat(format: string): boolean {
  return format === 'table' || format.startsWith('table ');
}

/** `CreatedAt` → `CREATED AT`, `ID` → `ID`, `repoTags` → `REPO TAGS`. */
export function headerForField(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toUpperCase();
}

/**
 * Render rows with a `--format`. A `table …` format gets a header row (field names upper-cased and
 * split at camel case, or `options.headers[field]`) and columns aligned like Go's tabwriter with
 * podman's settings (minwidth 12, padding 2). Any other format renders each row followed by a newline.
 */
export function renderTable(
  template: string,
  rows: unknown[],
  options: { headers?: Record<string, string> } = {},
): string {
  const table = isTableFormat(template);
  let rowFormat = table ? template.slice('table'.length).replace(/^ /, '') : template;
  if (table && rowFormat.trim() === '') {
    const first = rows[0];
    const keys = isMapLike(first) ? Object.keys(first) : [];
    rowFormat = keys.map((k) => `{{.${k}}}`).join('\t');
  }
  const compiled = parseTemplate(rowFormat);
  const lines: string[] = [];
  if (table) {
    const headerData: Record<string, unknown> = {};
    for (const chain of compiled.fields) {
      let target = headerData;
      chain.forEach((name, i) => {
        if (i === chain.length - 1) {
          const pathKey = chain.join('.');
          target[name] = options.headers?.[pathKey] ?? options.headers?.[name] ?? headerForField(name);
        } else {
          const next = target[name];
          if (!isMapLike(next)) target[name] = {};
          target = target[name] as Record<string, unknown>;
        }
      });
    }
    lines.push(compiled.execute(headerData));
  }
  for (const row of rows) lines.push(compiled.execute(row));
  const text = lines.map((l) => (l.endsWith('\n') ? l : `${l}\n`)).join('');
  return table ? tabwrite(text, { minWidth: 12, padding: 2 }) : text;
}

/** Go's text/tabwriter with padchar ' ' and no flags: tab-terminated cells aligned in column blocks. */
export function tabwrite(text: string, options: { minWidth: number; padding: number }): string {
  const endsWithNewline = text.endsWith('\n');
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n').map((l) => l.split('\t'));
  const width = (s: string) => [...s].length;
  const widths: number[] = [];
  let out = '';

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const line = lines[i]!;
      line.forEach((cell, j) => {
        if (j < line.length - 1) {
          const w = widths[j] ?? 0;
          out += cell + ' '.repeat(Math.max(0, w - width(cell)));
        } else out += cell;
      });
      if (i < lines.length - 1 || endsWithNewline) out += '\n';
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let i = line0; i < line1; i++) {
      if (column >= lines[i]!.length - 1) continue;
      writeLines(line0, i);
      line0 = i;
      let w = options.minWidth;
      for (; i < line1; i++) {
        const line = lines[i]!;
        if (column >= line.length - 1) break;
        w = Math.max(w, width(line[column]!) + options.padding);
      }
      widths.push(w);
      format(line0, i);
      widths.pop();
      line0 = i;
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out;
}
