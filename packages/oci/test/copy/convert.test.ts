import { describe, expect, it } from 'vitest';
import { buildIndex, buildManifest, planManifest } from '../../src/copy/convert.js';
import { createLimiter } from '../../src/copy/limit.js';
import { type ImageIndex, type ImageManifest, parseManifest } from '../../src/spec/manifest.js';
import { MediaType } from '../../src/spec/media-types.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const ociDoc = {
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: { mediaType: MediaType.ociConfig, digest: d('1'), size: 10 },
  layers: [
    { mediaType: MediaType.ociLayerGzip, digest: d('2'), size: 20 },
    { mediaType: MediaType.ociLayerZstd, digest: d('3'), size: 30, annotations: { a: 'b' } },
  ],
  annotations: { 'org.opencontainers.image.created': 'now' },
};
const manifest = parseManifest(Buffer.from(JSON.stringify(ociDoc)), undefined, 'src') as ImageManifest;
const base = { acceptedMediaTypes: [] as string[], layerCompression: 'preserve' as const, what: 'src' };

describe('planManifest', () => {
  it('changes nothing by default, so the source bytes are written', () => {
    const plan = planManifest(manifest, base);
    expect(plan.changesManifest).toBe(false);
    const out = buildManifest(manifest, plan, manifest.config, manifest.layers);
    expect(out.raw).toBe(manifest.raw);
  });

  it('converts to v2s2, recompressing zstd layers to gzip (v2s2 cannot carry zstd)', () => {
    const plan = planManifest(manifest, { ...base, format: 'v2s2' });
    expect(plan.changesManifest).toBe(true);
    expect(plan.layers.map((l) => [l.from, l.to, l.mediaType])).toEqual([
      ['gzip', 'gzip', MediaType.dockerLayerGzip],
      ['zstd', 'gzip', MediaType.dockerLayerGzip],
    ]);
    const out = buildManifest(manifest, plan, manifest.config, [
      { ...manifest.layers[0]!, mediaType: MediaType.dockerLayerGzip },
      { mediaType: MediaType.dockerLayerGzip, digest: d('4'), size: 40 },
    ]);
    const doc = JSON.parse(out.raw.toString());
    expect(doc.mediaType).toBe(MediaType.dockerManifest);
    expect(doc.config.mediaType).toBe(MediaType.dockerConfig);
    expect(doc.annotations).toBeUndefined();
    expect(doc.layers[1]).toEqual({ mediaType: MediaType.dockerLayerGzip, digest: d('4'), size: 40 });
  });

  it('refuses zstd with v2s2 when asked for explicitly', () => {
    expect(() => planManifest(manifest, { ...base, format: 'v2s2', compression: 'zstd' })).toThrow(
      /cannot carry zstd/,
    );
  });

  it('decompresses every layer for destinations that want it (docker-archive)', () => {
    const plan = planManifest(manifest, {
      ...base,
      acceptedMediaTypes: [MediaType.dockerManifest],
      layerCompression: 'decompress',
    });
    expect(plan.format).toBe('v2s2');
    expect(plan.layers.every((l) => l.to === 'none' && l.mediaType === MediaType.dockerLayer)).toBe(true);
  });

  it('refuses a format the destination cannot store', () => {
    expect(() =>
      planManifest(manifest, { ...base, format: 'oci', acceptedMediaTypes: [MediaType.dockerManifest] }),
    ).toThrow(/cannot store oci/);
  });

  it('keeps artifacts with unknown layer types as they are, but refuses to convert them', () => {
    const art = parseManifest(
      Buffer.from(
        JSON.stringify({
          ...ociDoc,
          config: { mediaType: 'application/vnd.example.config+json', digest: d('5'), size: 2 },
          layers: [{ mediaType: 'application/vnd.example.data', digest: d('6'), size: 3 }],
        }),
      ),
      undefined,
      'art',
    ) as ImageManifest;
    expect(planManifest(art, base).changesManifest).toBe(false);
    expect(() => planManifest(art, { ...base, format: 'v2s2' })).toThrow(/cannot convert an artifact/);
  });
});

describe('buildIndex', () => {
  const indexDoc = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [
      {
        mediaType: MediaType.ociManifest,
        digest: d('a'),
        size: 100,
        platform: { os: 'linux', architecture: 'amd64' },
      },
      {
        mediaType: MediaType.ociManifest,
        digest: d('b'),
        size: 200,
        platform: { os: 'linux', architecture: 'arm64' },
      },
    ],
  };
  const index = parseManifest(Buffer.from(JSON.stringify(indexDoc)), undefined, 'idx') as ImageIndex;

  it('returns the source bytes when no instance changed', () => {
    const same = new Map([[d('a'), { mediaType: MediaType.ociManifest, digest: d('a'), size: 100 }]]);
    expect(buildIndex(index, 'oci', same).raw).toBe(index.raw);
  });

  it('rewrites instance descriptors and keeps platforms when converting', () => {
    const changed = new Map([
      [d('a'), { mediaType: MediaType.dockerManifest, digest: d('c'), size: 111 }],
      [d('b'), { mediaType: MediaType.dockerManifest, digest: d('e'), size: 222 }],
    ]);
    const out = buildIndex(index, 'v2s2', changed);
    const doc = JSON.parse(out.raw.toString());
    expect(doc.mediaType).toBe(MediaType.dockerManifestList);
    expect(doc.manifests[1]).toEqual({
      mediaType: MediaType.dockerManifest,
      digest: d('e'),
      size: 222,
      platform: { os: 'linux', architecture: 'arm64' },
    });
    expect(out.digest).not.toBe(index.digest);
  });
});

describe('createLimiter', () => {
  it('never runs more than the limit at once', async () => {
    const run = createLimiter(2);
    let active = 0;
    let peak = 0;
    const task = () =>
      run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
      });
    await Promise.all(Array.from({ length: 8 }, task));
    expect(peak).toBe(2);
  });
});
