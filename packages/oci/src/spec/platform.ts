import { SkiffError } from '../errors.js';
import type { Descriptor, Platform } from './schemas.js';

/** The platform a user asks for: any field left out matches anything. */
export interface PlatformSpec {
  os?: string;
  architecture?: string;
  variant?: string;
}

const GOARCH: Record<string, string> = {
  x64: 'amd64',
  x86_64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  aarch64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips64el: 'mips64le',
};

/** Normalise an architecture name to Go's spelling (amd64, arm64, ...). */
export function normalizeArch(arch: string): string {
  return GOARCH[arch] ?? arch;
}

/** The default variant of an architecture, as containerd's platforms package treats it. */
function defaultVariant(arch: string): string | undefined {
  if (arch === 'arm64') return 'v8';
  if (arch === 'arm') return 'v7';
  return undefined;
}

/** The host platform, as the containers tools name it. */
export function hostPlatform(): Required<Pick<PlatformSpec, 'os' | 'architecture'>> & PlatformSpec {
  const architecture = normalizeArch(process.arch);
  const p: PlatformSpec & { os: string; architecture: string } = { os: process.platform, architecture };
  if (architecture === 'arm') p.variant = 'v7';
  return p;
}

/** Parse `os/arch[/variant]` (the --platform flag). */
export function parsePlatform(value: string): PlatformSpec {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new SkiffError('INVALID_ARGUMENT', `invalid platform "${value}": expected os/arch[/variant]`);
  }
  const spec: PlatformSpec = {
    os: parts[0]!.toLowerCase(),
    architecture: normalizeArch(parts[1]!.toLowerCase()),
  };
  if (parts[2]) spec.variant = parts[2].toLowerCase();
  return spec;
}

export function formatPlatform(p: Partial<Platform> | PlatformSpec): string {
  return [p.os ?? '?', p.architecture ?? '?', p.variant].filter(Boolean).join('/');
}

/** Whether a concrete platform satisfies a wanted one. Variants compare with their defaults. */
export function platformMatches(have: Partial<Platform> | undefined, want: PlatformSpec): boolean {
  if (!have) return false;
  if (want.os && have.os !== want.os) return false;
  const haveArch = have.architecture ? normalizeArch(have.architecture) : undefined;
  if (want.architecture && haveArch !== want.architecture) return false;
  if (want.variant) {
    const arch = haveArch ?? want.architecture ?? '';
    const haveVariant = have.variant || defaultVariant(arch);
    const wantVariant = want.variant || defaultVariant(arch);
    if (haveVariant !== wantVariant) return false;
  }
  return true;
}

/**
 * Choose the index entry for a platform. When no variant is asked for, an entry without a
 * variant or with the architecture's default wins over others (arm/v7 before arm/v6).
 * Returns undefined when nothing matches.
 */
export function selectPlatform(manifests: readonly Descriptor[], want: PlatformSpec): Descriptor | undefined {
  const candidates = manifests.filter((d) => d.platform && platformMatches(d.platform, want));
  if (candidates.length <= 1 || want.variant) return candidates[0];
  const arch = want.architecture ?? '';
  const preferred = candidates.find(
    (d) =>
      !d.platform?.variant ||
      d.platform.variant === defaultVariant(normalizeArch(d.platform.architecture || arch)),
  );
  return preferred ?? candidates[0];
}
