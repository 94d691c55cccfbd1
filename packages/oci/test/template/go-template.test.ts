import { describe, expect, it } from 'vitest';
import { goSprintf } from '../../src/template/go-format.js';
import {
  goStruct,
  headerForField,
  parseTemplate,
  renderTable,
  renderTemplate,
  tabwrite,
} from '../../src/template/go-template.js';

const info = {
  host: {
    arch: 'amd64',
    os: 'linux',
    security: { rootless: false },
    distribution: { distribution: 'debian', version: '12' },
  },
  store: { graphOptions: {}, graphRoot: '/var/lib/containers/storage' },
  Labels: { b: '2', a: '1' },
  Layers: ['sha256:aa', 'sha256:bb'],
  Empty: [],
  Count: 3,
  Ratio: 0.5,
  Nil: null,
};

function expectTemplateError(template: string, data: unknown, pattern: RegExp): void {
  try {
    renderTemplate(template, data);
  } catch (err) {
    expect((err as { code?: string }).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toContain(JSON.stringify(template));
    expect((err as Error).message).toMatch(pattern);
    return;
  }
  throw new Error(`template ${template} rendered without error`);
}

describe('renderTemplate: fields and printing', () => {
  it('resolves fields, nested fields and capitalised names of lower-camel JSON keys', () => {
    expect(renderTemplate('{{.Host.Arch}}', info)).toBe('amd64');
    expect(renderTemplate('{{.host.arch}}/{{.Host.OS}}', info)).toBe('amd64/linux');
    expect(renderTemplate('{{ .Count }}', info)).toBe('3');
  });

  it('prints maps, slices, nil and missing values as Go does', () => {
    expect(renderTemplate('{{.Labels}}', info)).toBe('map[a:1 b:2]');
    expect(renderTemplate('{{.Layers}}', info)).toBe('[sha256:aa sha256:bb]');
    expect(renderTemplate('{{.Empty}}', info)).toBe('[]');
    expect(renderTemplate('{{.Store.GraphOptions}}', info)).toBe('map[]');
    expect(renderTemplate('{{.Missing}}', info)).toBe('<no value>');
    expect(renderTemplate('{{.Host.Distribution}}', info)).toBe('map[distribution:debian version:12]');
    expect(renderTemplate('{{.}}', [1, [2, 3], { x: null }])).toBe('[1 [2 3] map[x:<nil>]]');
    expect(renderTemplate('{{.}}', 'plain')).toBe('plain');
    expect(renderTemplate('{{.Ratio}} {{.}}', { Ratio: 0.5 })).toBe('0.5 map[Ratio:0.5]');
    expect(renderTemplate('{{.F}}', { F: 1234567.5 })).toBe('1.2345675e+06');
    expect(renderTemplate('{{.F}}', { F: 0.00001 })).toBe('1e-05');
    expect(renderTemplate('{{.T}}', { T: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) })).toBe(
      '2024-01-02 03:04:05 +0000 UTC',
    );
  });

  it('fails on a field of a non-map, naming the template', () => {
    expectTemplateError('{{.Count.X}}', info, /can't evaluate field X/);
    expectTemplateError('{{.Missing.X}}', info, /nil pointer evaluating <.Missing.X>/);
  });

  it('turns literal \\t and \\n in the text into tab and newline, as podman does', () => {
    expect(renderTemplate('{{.Host.Arch}}\\t{{.Host.OS}}\\n', info)).toBe('amd64\tlinux\n');
  });

  it('keeps text and handles trim markers', () => {
    expect(renderTemplate('a {{- .Count -}} b', info)).toBe('a3b');
    expect(renderTemplate('{{ .Host.Arch -}}  X  {{- .Host.OS }}', info)).toBe('amd64Xlinux');
    expect(renderTemplate('x\n  {{- /* comment */ -}}\n  y', info)).toBe('xy');
    expect(renderTemplate('{{-3}}', info)).toBe('-3');
  });
});

describe('renderTemplate: functions', () => {
  it('json', () => {
    expect(renderTemplate('{{json .}}', { a: [1, 'x'], b: null })).toBe('{"a":[1,"x"],"b":null}');
    expect(renderTemplate('{{json .Host.Arch}}', info)).toBe('"amd64"');
    expect(renderTemplate('{{json .Labels}}', info)).toBe('{"b":"2","a":"1"}');
    expect(renderTemplate('{{json .Missing}}', info)).toBe('null');
    expect(renderTemplate('{{.Labels | json}}', info)).toBe('{"b":"2","a":"1"}');
  });

  it('index, len, slice', () => {
    expect(renderTemplate('{{index .Labels "a"}}', info)).toBe('1');
    expect(renderTemplate('{{index .Labels "zz"}}', info)).toBe('<no value>');
    expect(renderTemplate('{{index .Layers 1}}', info)).toBe('sha256:bb');
    expect(renderTemplate('{{index . "x" 0}}', { x: [['a']] })).toBe('[a]');
    expect(renderTemplate('{{len .Layers}} {{len .Labels}} {{len .Host.Arch}}', info)).toBe('2 2 5');
    expect(renderTemplate('{{slice "abcdef" 1 3}} {{slice .Layers 1}}', info)).toBe('bc [sha256:bb]');
    expectTemplateError('{{index .Layers 5}}', info, /index out of range: 5/);
    expectTemplateError('{{len .Count}}', info, /len of type int/);
  });

  it('podman report functions: upper, lower, title, join, split, truncate, pad', () => {
    expect(renderTemplate('{{upper .Host.Arch}} {{.Host.OS | upper}}', info)).toBe('AMD64 LINUX');
    expect(renderTemplate('{{lower "ABC"}} {{title "hello wide world"}}', info)).toBe('abc Hello Wide World');
    expect(renderTemplate('{{join .Layers ","}}', info)).toBe('sha256:aa,sha256:bb');
    expect(renderTemplate('{{split "a,b,c" ","}}', info)).toBe('[a b c]');
    expect(
      renderTemplate('{{truncate .Store.GraphRoot 5}}|{{truncate "abc" 3}}|{{truncate "abc" 4}}', info),
    ).toBe('/var/|abc|abc');
    expect(renderTemplate('[{{pad "x" 1 2}}][{{pad "" 1 2}}]', info)).toBe('[ x  ][]');
  });

  it('print, println, printf', () => {
    expect(renderTemplate('{{print 1 2 "a" "b" 3}}', info)).toBe('1 2ab3');
    expect(renderTemplate('{{println "x" 1}}|', info)).toBe('x 1\n|');
    expect(renderTemplate('{{printf "%s" .Host.Arch}}', info)).toBe('amd64');
    expect(
      renderTemplate('{{printf "%q %5s|%-5d|%v" .Host.Arch "ab" 3 .Host.Security.Rootless}}', info),
    ).toBe('"amd64"    ab|3    |false');
    expect(renderTemplate('{{printf "%6.2f|%x|%q" 3.14159 255 "a\\"b"}}', info)).toBe('  3.14|ff|"a\\"b"');
    expect(renderTemplate('{{printf "%v %d" .Store.GraphOptions 5}}', info)).toBe('map[] 5');
    expect(renderTemplate('{{.Count | printf "n=%03d"}}', info)).toBe('n=003');
  });

  it('comparisons and logic', () => {
    expect(renderTemplate('{{eq .Host.Arch "amd64" "x"}} {{and 1 0}} {{or 0 "" "z"}} {{not 1}}', info)).toBe(
      'true 0 z false',
    );
    expect(renderTemplate('{{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}', info)).toBe(
      'true true true true false',
    );
    expectTemplateError('{{eq 1 "1"}}', info, /incompatible types/);
  });

  it('sprintf edge cases follow Go', () => {
    expect(goSprintf('%d', [])).toBe('%!d(MISSING)');
    expect(goSprintf('%d', ['x'])).toBe('%!d(string=x)');
    expect(goSprintf('a', [1])).toBe('a%!(EXTRA int=1)');
    expect(
      goSprintf('%5.1f|%-4s|%+d|%x|%X|%#x|%e|%t|%%|%c', [2.25, 'ab', 3, 'hi', 255, 255, 1234.5, true, 65]),
    ).toBe('  2.2|ab  |+3|6869|FF|0xff|1.234500e+03|true|%|A');
    expect(goSprintf('%g %g %.3g', [0.5, 1e-7, 1234.5678])).toBe('0.5 1e-07 1.23e+03');
    expect(goSprintf('%.0f %.0f %.1f %.1f', [0.5, 1.5, 2.35, 2.25])).toBe('0 2 2.4 2.2');
    expect(goSprintf('%v %s', [[1, 2], { k: 'v' }])).toBe('[1 2] map[k:v]');
  });
});

describe('renderTemplate: control structures', () => {
  it('range over slices, maps, with variables, else, break and continue', () => {
    expect(renderTemplate('{{range .Layers}}{{.}};{{end}}', info)).toBe('sha256:aa;sha256:bb;');
    expect(renderTemplate('{{range $i, $e := .Layers}}{{$i}}={{$e}} {{end}}', info)).toBe(
      '0=sha256:aa 1=sha256:bb ',
    );
    expect(renderTemplate('{{range $k, $v := .Labels}}{{$k}}:{{$v}},{{end}}', info)).toBe('a:1,b:2,');
    expect(renderTemplate('{{range $e := .Layers}}{{$e}}{{end}}', info)).toBe('sha256:aasha256:bb');
    expect(renderTemplate('{{range .Empty}}x{{else}}none{{end}}', info)).toBe('none');
    expect(renderTemplate('{{range .Nil}}x{{else}}none{{end}}', info)).toBe('none');
    expect(
      renderTemplate(
        '{{range .}}{{if eq . 3}}{{break}}{{end}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}',
        [1, 2, 3, 4],
      ),
    ).toBe('2');
    expect(renderTemplate('{{range .Layers}}{{$.Count}}{{end}}', info)).toBe('33');
    expectTemplateError('{{range .Count.X}}{{end}}', info, /can't evaluate field X/);
    expectTemplateError('{{range .Host.Arch}}{{end}}', info, /range can't iterate over amd64/);
  });

  it('if / else if / else / with', () => {
    expect(renderTemplate('{{if .Host.Security.Rootless}}R{{else if .Host.Arch}}A{{end}}', info)).toBe('A');
    expect(
      renderTemplate(
        '{{if .Empty}}y{{else}}n{{end}}{{if .Labels}}y{{end}}{{if .Nil}}y{{else}}n{{end}}',
        info,
      ),
    ).toBe('nyn');
    expect(renderTemplate('{{if 0}}a{{else if ""}}b{{else}}c{{end}}', info)).toBe('c');
    expect(renderTemplate('{{with .Host}}{{.Arch}}{{else}}none{{end}}', info)).toBe('amd64');
    expect(renderTemplate('{{with .Missing}}{{.}}{{else}}none{{end}}', info)).toBe('none');
  });

  it('variables are scoped to their block and can be reassigned', () => {
    expect(renderTemplate('{{$x := .Count}}{{$x}}{{$x = 7}}{{$x}}', info)).toBe('37');
    expect(renderTemplate('{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}', info)).toBe('21');
    expect(renderTemplate('{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', info)).toBe('2');
    expectTemplateError('{{if true}}{{$y := 1}}{{end}}{{$y}}', info, /undefined variable: \$y/);
  });

  it('parenthesised pipelines and field access on them', () => {
    expect(renderTemplate('{{(index .Items 0).Name}}', { Items: [{ Name: 'n0' }] })).toBe('n0');
    expect(renderTemplate('{{printf "%s-%s" (upper .Host.Arch) (lower "X")}}', info)).toBe('AMD64-x');
  });

  it('reports parse errors as INVALID_ARGUMENT naming the template', () => {
    expectTemplateError('{{.Host.Arch', info, /unclosed action/);
    expectTemplateError('{{if .X}}a', info, /missing \{\{end\}\}/);
    expectTemplateError('{{end}}', info, /unexpected \{\{end\}\}/);
    expectTemplateError('{{nosuch .X}}', info, /function "nosuch" not defined/);
    expectTemplateError('{{.X 1}}', info, /can't give argument to non-function/);
    expectTemplateError('{{break}}', info, /outside \{\{range\}\}/);
    expectTemplateError('{{"abc}}', info, /unclosed action|unterminated/);
  });

  it('compiles once and executes many times', () => {
    const t = parseTemplate('{{.A}}-{{.B.C}}');
    expect(t.fields).toEqual([['A'], ['B', 'C']]);
    expect(t.execute({ A: 1, B: { C: 2 } })).toBe('1-2');
    expect(t.execute({ A: 'x', B: { C: 'y' } })).toBe('x-y');
  });
});

describe('renderTable', () => {
  const rows = [
    { ID: 'abc', Repository: 'docker.io/library/busybox', CreatedAt: 'now' },
    { ID: 'defghi', Repository: 'x', CreatedAt: 'then' },
  ];

  it('prints a header and aligns columns like tabwriter(12, 2)', () => {
    const out = renderTable('table {{.ID}}\\t{{.Repository}}\\t{{.CreatedAt}}', rows);
    expect(out).toBe(
      [
        'ID          REPOSITORY                 CREATED AT',
        'abc         docker.io/library/busybox  now',
        'defghi      x                          then',
        '',
      ].join('\n'),
    );
  });

  it('uses header overrides', () => {
    const out = renderTable('table {{.ID}}\t{{.Repository}}', rows, { headers: { ID: 'IMAGE ID' } });
    expect(out.split('\n')[0]).toBe('IMAGE ID    REPOSITORY');
  });

  it('without table, renders one line per row and no header', () => {
    expect(renderTable('{{.ID}}:{{.CreatedAt}}', rows)).toBe('abc:now\ndefghi:then\n');
  });

  it('bare "table" shows every field of the rows', () => {
    expect(renderTable('table', [{ A: 1, B: 'two' }])).toBe('A           B\n1           two\n');
  });

  it('headerForField splits camel case', () => {
    expect(headerForField('CreatedAt')).toBe('CREATED AT');
    expect(headerForField('ID')).toBe('ID');
    expect(headerForField('ImageID')).toBe('IMAGE ID');
  });

  it('tabwrite handles column blocks as Go does', () => {
    // Lines without a tab end the block of column 0; the following block is sized on its own.
    const text = 'a\tb\nlonger-cell-here\tc\nno tabs\nx\ty\n';
    expect(tabwrite(text, { minWidth: 0, padding: 1 })).toBe(
      'a                b\nlonger-cell-here c\nno tabs\nx y\n',
    );
  });
});

describe('structs', () => {
  it('an unknown field of a struct is an error; a missing map key is <no value>', () => {
    const data = goStruct({ Name: 'x', Labels: { a: 'b' } });
    expect(renderTemplate('{{.Name}} {{.Labels.a}} {{.Labels.zz}}', data)).toBe('x b <no value>');
    expect(() => renderTemplate('{{.Nope}}', data)).toThrow(/can't evaluate field Nope/);
    // Struct fields are exact, as in Go: no case-insensitive fallback.
    expect(() => renderTemplate('{{.name}}', data)).toThrow(/can't evaluate field name/);
    expect(JSON.parse(renderTemplate('{{json .}}', data))).toEqual({ Name: 'x', Labels: { a: 'b' } });
  });
});
