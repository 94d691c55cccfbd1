import { applyConfigChanges } from '@skiff/oci/image/import-tarball';
import { type ImageSummary, parseImageFilters, splitName } from '@skiff/oci/image/local-images';
import { describe, expect, it } from 'vitest';
import { imageRows } from '../src/render/images.js';
import { renderReport } from '../src/render/report.js';
import { humanDuration, humanSize, shortId } from '../src/render/units.js';

function summary(
  id: string,
  names: string[],
  labels: Record<string, string> = {},
  created = '2020-01-01T00:00:00Z',
): ImageSummary {
  return {
    id,
    repoTags: names.map(splitName),
    names,
    repoDigests: [],
    digest: `sha256:${'d'.repeat(64)}`,
    created: new Date(created),
    sizeBytes: 5_870_000,
    labels,
    dangling: names.length === 0,
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
    image: undefined as never,
  };
}

describe('units as go-units prints them', () => {
  it('sizes and durations', () => {
    expect(humanSize(0)).toBe('0 B');
    expect(humanSize(999)).toBe('999 B');
    expect(humanSize(5_870_000)).toBe('5.87 MB');
    expect(humanSize(1_000_000)).toBe('1 MB');
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(90_000)).toBe('About a minute');
    expect(humanDuration(3 * 86_400_000)).toBe('3 days');
    expect(humanDuration(15 * 86_400_000)).toBe('2 weeks');
    expect(shortId('a'.repeat(64))).toBe('aaaaaaaaaaaa');
    expect(shortId('a'.repeat(64), true)).toBe(`sha256:${'a'.repeat(64)}`);
  });
});

describe('images rows, table and templates', () => {
  const a = summary('a'.repeat(64), ['docker.io/library/busybox:latest', 'localhost/mybox:1'], {
    tier: 'base',
  });
  const b = summary('b'.repeat(64), []);
  it('one row per name, <none> for a dangling image, podman headers', () => {
    const rows = imageRows([a, b], { now: Date.parse('2020-01-15T00:00:00Z') });
    const out = renderReport(rows, {
      format: undefined,
      defaultFormat: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}',
      headers: { ID: 'IMAGE ID' },
      json: () => [],
    });
    expect(out).toBe(
      'REPOSITORY                 TAG         IMAGE ID      CREATED      SIZE\n' +
        'docker.io/library/busybox  latest      aaaaaaaaaaaa  2 weeks ago  5.87 MB\n' +
        'localhost/mybox            1           aaaaaaaaaaaa  2 weeks ago  5.87 MB\n' +
        '<none>                     <none>      bbbbbbbbbbbb  2 weeks ago  5.87 MB\n',
    );
    const plain = renderReport(rows, {
      format: '{{.Repository}}:{{.Tag}}',
      defaultFormat: '',
      headers: {},
      json: () => [],
    });
    expect(plain).toBe('docker.io/library/busybox:latest\nlocalhost/mybox:1\n<none>:<none>\n');
    expect(() =>
      renderReport(rows, { format: '{{.Nope}}', defaultFormat: '', headers: {}, json: () => [] }),
    ).toThrow(/Nope/);
  });

  it('filters', () => {
    const all = [a, b];
    const ids = (f: string[]) => parseImageFilters(f)(all).map((s) => s.id[0]);
    expect(ids(['dangling=true'])).toEqual(['b']);
    expect(ids(['dangling=false'])).toEqual(['a']);
    expect(ids(['reference=busybox'])).toEqual(['a']);
    expect(ids(['reference=docker.io/library/busy*'])).toEqual(['a']);
    expect(ids(['reference=mybox:1'])).toEqual(['a']);
    expect(ids(['reference=nothing'])).toEqual([]);
    expect(ids(['label=tier'])).toEqual(['a']);
    expect(ids(['label=tier=top'])).toEqual([]);
    expect(() => ids(['bogus=1'])).toThrow(/invalid image filter/);
  });
});

describe('--change', () => {
  it('applies Dockerfile-style instructions in both spellings', () => {
    const c = applyConfigChanges({ Env: ['A=1'] }, [
      'CMD=["/bin/sh"]',
      'ENTRYPOINT /bin/run --x',
      'ENV A=2 B="two words"',
      'WORKDIR=/w',
      'EXPOSE 80 53/udp',
      'LABEL k=v',
      'USER nobody',
    ]);
    expect(c.Cmd).toEqual(['/bin/sh']);
    expect(c.Entrypoint).toEqual(['/bin/sh', '-c', '/bin/run --x']);
    expect(c.Env).toEqual(['A=2', 'B=two words']);
    expect(c.WorkingDir).toBe('/w');
    expect(c.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {} });
    expect(c.Labels).toEqual({ k: 'v' });
    expect(c.User).toBe('nobody');
    expect(() => applyConfigChanges({}, ['RUN x'])).toThrow(/invalid change/);
  });
});
