import { describe, expect, it } from 'vitest';
import { digestOf } from '../../src/spec/digest.js';
import { parseImageConfig, parseManifest } from '../../src/spec/manifest.js';
import { MediaType } from '../../src/spec/media-types.js';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const oci = {
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: { mediaType: MediaType.ociConfig, digest: d(1), size: 10 },
  layers: [{ mediaType: MediaType.ociLayerGzip, digest: d(2), size: 20 }],
};

describe('parseManifest', () => {
  it('parses an OCI manifest and digests the original bytes', () => {
    const raw = Buffer.from(JSON.stringify(oci, null, 3));
    const m = parseManifest(raw, undefined, 'test');
    expect(m.kind).toBe('manifest');
    expect(m.digest).toBe(digestOf(raw));
    expect(m.raw).toBe(raw);
  });

  it('infers the media type from the Content-Type when the document has none', () => {
    const { mediaType: _, ...noType } = oci;
    const m = parseManifest(
      Buffer.from(JSON.stringify(noType)),
      `${MediaType.ociManifest}; charset=utf-8`,
      'x',
    );
    expect(m.mediaType).toBe(MediaType.ociManifest);
  });

  it('parses a Docker manifest list', () => {
    const list = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifestList,
      manifests: [
        {
          mediaType: MediaType.dockerManifest,
          digest: d(3),
          size: 5,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    };
    const m = parseManifest(Buffer.from(JSON.stringify(list)), undefined, 'x');
    expect(m.kind).toBe('index');
    if (m.kind === 'index') expect(m.manifests[0]!.platform!.architecture).toBe('amd64');
  });

  it.each([
    ['not json', 'not valid JSON'],
    ['[]', 'not a JSON object'],
    [
      JSON.stringify({ ...oci, layers: [{ mediaType: 'x', digest: 'sha256:zz', size: 1 }] }),
      'layers.0.digest',
    ],
    [JSON.stringify({ ...oci, config: { ...oci.config, size: -1 } }), 'config.size'],
    [JSON.stringify({ schemaVersion: 1, name: 'x' }), 'schema 1'],
    [JSON.stringify({ ...oci, mediaType: 'application/x-unknown' }), 'unsupported media type'],
  ])('rejects %s with a message naming the input', (raw, message) => {
    expect(() => parseManifest(Buffer.from(raw), undefined, 'docker://h/r:t')).toThrow(message);
    expect(() => parseManifest(Buffer.from(raw), undefined, 'docker://h/r:t')).toThrow(/docker:\/\/h\/r:t/);
  });
});

describe('parseImageConfig', () => {
  it('accepts a minimal config and rejects one without rootfs', () => {
    const ok = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [d(4)] } };
    expect(parseImageConfig(Buffer.from(JSON.stringify(ok)), 'x').rootfs.diff_ids).toHaveLength(1);
    expect(() =>
      parseImageConfig(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' })), 'cfg'),
    ).toThrow(/invalid image config of cfg: rootfs/);
  });
});
