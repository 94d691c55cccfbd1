import { describe, expect, it } from 'vitest';
import { buildInspectOutput, goJsonIndent, goTimeString } from '../src/render/inspect.js';
import { createProgressRenderer } from '../src/render/progress.js';

function sink(columns = 100) {
  let text = '';
  const write = (s: string): boolean => {
    text += s;
    return true;
  };
  const stream = { columns, write } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

const L = `sha256:${'a'.repeat(64)}`;
const C = `sha256:${'c'.repeat(64)}`;

function feed(r: ReturnType<typeof createProgressRenderer>): void {
  r.onEvent({ type: 'start', source: 'oci:a', destination: 'oci:b' });
  r.onEvent({ type: 'blob-start', digest: L, sizeBytes: 2048, kind: 'layer' });
  r.onEvent({ type: 'blob-progress', digest: L, bytes: 1024, sizeBytes: 2048 });
  r.onEvent({ type: 'blob-done', digest: L, action: 'copied', sizeBytes: 2048, kind: 'layer' });
  r.onEvent({
    type: 'blob-done',
    digest: `sha256:${'b'.repeat(64)}`,
    action: 'skipped',
    sizeBytes: 5,
    kind: 'layer',
  });
  r.onEvent({ type: 'blob-start', digest: C, sizeBytes: 100, kind: 'config' });
  r.onEvent({ type: 'blob-done', digest: C, action: 'copied', sizeBytes: 100, kind: 'config' });
  r.onEvent({
    type: 'manifest',
    digest: L,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    instance: false,
  });
  r.onEvent({ type: 'done', digest: L });
  r.done();
}

describe('copy progress rendering', () => {
  it('prints skopeo lines when not a TTY', () => {
    const s = sink();
    feed(createProgressRenderer({ stream: s.stream, quiet: false, tty: false }));
    expect(s.text()).toBe(
      [
        'Getting image source signatures',
        `Copying blob ${L} done`,
        `Copying blob sha256:${'b'.repeat(64)} skipped: already exists`,
        `Copying config ${C} done`,
        'Writing manifest to image destination',
        'Storing signatures',
        '',
      ].join('\n'),
    );
  });

  it('prints nothing with -q', () => {
    const s = sink();
    feed(createProgressRenderer({ stream: s.stream, quiet: true, tty: true }));
    expect(s.text()).toBe('');
  });

  it('draws bars on a TTY and ends with skopeo final lines', () => {
    const s = sink();
    let t = 0;
    const now = (): number => {
      t += 500;
      return t;
    };
    const r = createProgressRenderer({ stream: s.stream, quiet: false, tty: true, now });
    feed(r);
    const out = s.text();
    expect(out).toMatch(/Copying blob aaaaaaaaaaaa \[=+>? *\] 1\.0KiB \/ 2\.0KiB \| [\d.]+(b|KiB)\/s/);
    // Replay the cursor movements to get the final screen.
    const screen: string[] = [];
    let row = 0;
    const ESC = String.fromCharCode(27);
    const controls = new RegExp(`(${ESC}\\[\\d+A|\\r${ESC}\\[2K|\\n)`);
    const cursorUp = new RegExp(`^${ESC}\\[(\\d+)A$`);
    for (const part of out.split(controls)) {
      const up = cursorUp.exec(part);
      if (up) row -= Number(up[1]);
      else if (part === '\n') row++;
      else if (part === `\r${ESC}[2K`) screen[row] = '';
      else if (part) screen[row] = (screen[row] ?? '') + part;
    }
    expect(screen.filter((l) => l !== '')).toEqual([
      'Getting image source signatures',
      'Copying blob aaaaaaaaaaaa done',
      'Copying blob bbbbbbbbbbbb skipped: already exists',
      'Copying config cccccccccc done',
      'Writing manifest to image destination',
      'Storing signatures',
    ]);
  });
});

describe('inspect output', () => {
  const config = {
    created: '2024-01-02T03:04:05.120000Z',
    architecture: 'arm64',
    variant: 'v8',
    os: 'linux',
    config: { Env: ['PATH=/bin'] },
    rootfs: { type: 'layers' as const, diff_ids: [L] },
  };
  const layers = [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: L, size: 10 }];

  it('has skopeo’s keys, order, nulls and omitted empties', () => {
    const out = buildInspectOutput({ name: '', digest: C, repoTags: [], config, layers });
    expect(Object.keys(out)).toEqual([
      'Digest',
      'RepoTags',
      'Created',
      'DockerVersion',
      'Labels',
      'Architecture',
      'Variant',
      'Os',
      'Layers',
      'LayersData',
      'Env',
    ]);
    expect(out.Labels).toBeNull();
    expect(out.RepoTags).toEqual([]);
    expect(out.Created).toBe('2024-01-02T03:04:05.12Z');
    expect(out.LayersData).toEqual([
      { MIMEType: layers[0]!.mediaType, Digest: L, Size: 10, Annotations: null },
    ]);
    const named = buildInspectOutput(
      {
        name: '127.0.0.1:5000/a',
        digest: C,
        repoTags: ['v1'],
        config: { ...config, variant: undefined },
        layers,
      },
      { layersData: false },
    );
    expect(Object.keys(named)).toEqual([
      'Name',
      'Digest',
      'RepoTags',
      'Created',
      'DockerVersion',
      'Labels',
      'Architecture',
      'Os',
      'Layers',
      'Env',
    ]);
  });

  it('formats JSON and times as Go does', () => {
    expect(goJsonIndent({ a: '<&>' })).toBe('{\n    "a": "\\u003c\\u0026\\u003e"\n}');
    expect(goTimeString('2024-01-02T03:04:05.000Z')).toBe('2024-01-02T03:04:05Z');
    expect(goTimeString('2024-01-02T03:04:05+02:00')).toBe('2024-01-02T03:04:05+02:00');
  });
});
