import { describe, expect, it } from 'vitest';
import { parsePlatform, platformMatches, selectPlatform } from '../../src/spec/platform.js';

const desc = (architecture: string, variant?: string, os = 'linux') => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${architecture.padEnd(64, '0').replace(/[^0-9a-f]/g, 'a')}`,
  size: 1,
  platform: variant ? { os, architecture, variant } : { os, architecture },
});

describe('platforms', () => {
  it('parses os/arch[/variant] and normalises architectures', () => {
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/arm/v6')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
    expect(() => parsePlatform('linux')).toThrow(/os\/arch/);
    expect(() => parsePlatform('linux//v7')).toThrow(/os\/arch/);
  });

  it('treats arm64 and arm64/v8 as the same platform', () => {
    expect(
      platformMatches(
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ),
    ).toBe(true);
    expect(
      platformMatches(
        { os: 'linux', architecture: 'arm', variant: 'v6' },
        { architecture: 'arm', variant: 'v7' },
      ),
    ).toBe(false);
  });

  it('selects the right instance, preferring the default variant', () => {
    const list = [desc('amd64'), desc('arm', 'v6'), desc('arm', 'v7'), desc('arm64', 'v8')];
    expect(selectPlatform(list, { os: 'linux', architecture: 'amd64' })).toBe(list[0]);
    expect(selectPlatform(list, { os: 'linux', architecture: 'arm' })).toBe(list[2]);
    expect(selectPlatform(list, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(list[1]);
    expect(selectPlatform(list, { os: 'linux', architecture: 'arm64' })).toBe(list[3]);
    expect(selectPlatform(list, { os: 'windows', architecture: 'amd64' })).toBeUndefined();
  });
});
