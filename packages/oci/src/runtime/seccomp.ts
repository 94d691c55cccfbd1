/**
 * The containers seccomp.json format (containers/common: `archMap`, `syscalls[].names`,
 * `includes`/`excludes` on caps, arches and minKernel) converted to the OCI runtime spec's
 * `linux.seccomp` for one host architecture and one capability set. Pure.
 */

import { z } from 'zod';
import { SkiffError } from '../errors.js';

const argSchema = z.looseObject({
  index: z.number().int().nonnegative(),
  value: z.number().nonnegative(),
  valueTwo: z.number().nonnegative().optional(),
  op: z.string(),
});

const filterSchema = z
  .looseObject({
    caps: z.array(z.string()).nullish(),
    arches: z.array(z.string()).nullish(),
    minKernel: z.string().nullish(),
  })
  .nullish();

const syscallSchema = z.looseObject({
  name: z.string().optional(),
  names: z.array(z.string()).nullish(),
  action: z.string(),
  args: z.array(argSchema).nullish(),
  errnoRet: z.number().int().optional(),
  includes: filterSchema,
  excludes: filterSchema,
});

export const seccompProfileSchema = z.looseObject({
  defaultAction: z.string(),
  defaultErrnoRet: z.number().int().optional(),
  architectures: z.array(z.string()).nullish(),
  archMap: z
    .array(z.looseObject({ architecture: z.string(), subArchitectures: z.array(z.string()).nullish() }))
    .nullish(),
  syscalls: z.array(syscallSchema).nullish(),
  flags: z.array(z.string()).nullish(),
});
export type SeccompProfile = z.infer<typeof seccompProfileSchema>;

export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface LinuxSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: LinuxSyscall[];
}

/** Go's GOARCH names (used by the profile's `includes.arches`) → libseccomp's native arch. */
const SCMP_ARCH: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64',
  '386': 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  s390x: 'SCMP_ARCH_S390X',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  mips64: 'SCMP_ARCH_MIPS64',
  mips64le: 'SCMP_ARCH_MIPSEL64',
};

/** Node's process.arch → Go's GOARCH name. */
export function goArch(nodeArch: string): string {
  const m: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    s390x: 's390x',
    ppc64: 'ppc64le',
    riscv64: 'riscv64',
  };
  return m[nodeArch] ?? nodeArch;
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const parse = (v: string) =>
    v
      .split(/[.-]/)
      .slice(0, 2)
      .map((x) => Number.parseInt(x, 10) || 0);
  const [a0 = 0, a1 = 0] = parse(kernel);
  const [b0 = 0, b1 = 0] = parse(min);
  return a0 > b0 || (a0 === b0 && a1 >= b1);
}

/** Parse a seccomp profile's JSON text; errors name the file. */
export function parseSeccompProfile(raw: string, file: string): SeccompProfile {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (err) {
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `seccomp profile ${file} is not JSON: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const r = seccompProfileSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `seccomp profile ${file}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return r.data;
}

/**
 * The OCI `linux.seccomp` for `arch` (GOARCH name) and the container's bounding capabilities.
 * A rule applies when all its `includes` hold (every cap present, the arch listed, the kernel
 * at least minKernel) and none of its `excludes` do (any cap present, the arch listed, the
 * kernel at least minKernel). Without `kernelVersion`, minKernel conditions count as met.
 */
export function convertSeccompProfile(
  profile: SeccompProfile,
  options: { arch: string; capabilities: readonly string[]; kernelVersion?: string },
): LinuxSeccomp {
  const { arch, capabilities } = options;
  const caps = new Set(capabilities);
  const kernelOk = (min: string | null | undefined) =>
    !min || options.kernelVersion === undefined || kernelAtLeast(options.kernelVersion, min);
  const out: LinuxSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  const native = SCMP_ARCH[arch];
  if (profile.archMap?.length) {
    const entry = profile.archMap.find((a) => a.architecture === native);
    if (entry) out.architectures = [entry.architecture, ...(entry.subArchitectures ?? [])];
  } else if (profile.architectures?.length) {
    out.architectures = [...profile.architectures];
  }
  if (profile.flags?.length) out.flags = [...profile.flags];
  const syscalls: LinuxSyscall[] = [];
  for (const s of profile.syscalls ?? []) {
    const inc = s.includes;
    const exc = s.excludes;
    if (inc?.caps?.length && !inc.caps.every((c) => caps.has(c))) continue;
    if (inc?.arches?.length && !inc.arches.includes(arch)) continue;
    if (inc?.minKernel && !kernelOk(inc.minKernel)) continue;
    if (exc?.caps?.length && exc.caps.some((c) => caps.has(c))) continue;
    if (exc?.arches?.length && exc.arches.includes(arch)) continue;
    if (
      exc?.minKernel &&
      options.kernelVersion !== undefined &&
      kernelAtLeast(options.kernelVersion, exc.minKernel)
    )
      continue;
    const names = s.names?.length ? [...s.names] : s.name ? [s.name] : [];
    if (names.length === 0) continue;
    const rule: LinuxSyscall = { names, action: s.action };
    if (s.errnoRet !== undefined) rule.errnoRet = s.errnoRet;
    if (s.args?.length)
      rule.args = s.args.map((a) => ({
        index: a.index,
        value: a.value,
        valueTwo: a.valueTwo ?? 0,
        op: a.op,
      }));
    syscalls.push(rule);
  }
  if (syscalls.length) out.syscalls = syscalls;
  return out;
}
