import { Flags } from '@oclif/core';
import { type PlatformSpec, parsePlatform } from '@skiff/oci/spec/platform';
import type { TransportOptions } from '@skiff/oci/transports/types';
import { UsageError } from './base-command.js';

/** The registry flags pull and push share with podman: --authfile, --creds, --tls-verify, --cert-dir. */
export const registryFlags = {
  authfile: Flags.string({ description: 'path of the authentication file' }),
  creds: Flags.string({
    description: 'Credentials (USERNAME:PASSWORD) to use for authenticating to a registry',
  }),
  'tls-verify': Flags.boolean({
    description: 'require HTTPS and verify certificates when contacting registries',
    allowNo: true,
  }),
  'cert-dir': Flags.string({ description: '`Pathname` of a directory containing TLS certificates and keys' }),
};

export interface RegistryFlagValues {
  authfile?: string | undefined;
  creds?: string | undefined;
  'tls-verify'?: boolean | undefined;
  'cert-dir'?: string | undefined;
}

export function registryOptions(flags: RegistryFlagValues): TransportOptions {
  const options: TransportOptions = {};
  if (flags.authfile !== undefined) options.authFile = flags.authfile;
  if (flags.creds !== undefined) {
    const i = flags.creds.indexOf(':');
    const username = i < 0 ? flags.creds : flags.creds.slice(0, i);
    if (username === '') throw new UsageError(`invalid --creds "${flags.creds}": the username is empty`);
    options.credentials = { username, password: i < 0 ? '' : flags.creds.slice(i + 1) };
  }
  if (flags['tls-verify'] !== undefined) options.tlsVerify = flags['tls-verify'];
  if (flags['cert-dir'] !== undefined) options.certDir = flags['cert-dir'];
  return options;
}

/** --platform OS/ARCH[/VARIANT] or --os/--arch/--variant (mutually exclusive, as podman). */
export function platformOf(flags: {
  platform?: string | undefined;
  os?: string | undefined;
  arch?: string | undefined;
  variant?: string | undefined;
}): PlatformSpec | undefined {
  if (flags.platform !== undefined) {
    if (flags.os !== undefined || flags.arch !== undefined) {
      throw new UsageError('--platform option can not be specified with --arch or --os');
    }
    const p = parsePlatform(flags.platform);
    if (flags.variant !== undefined) p.variant = flags.variant;
    return p;
  }
  if (flags.os === undefined && flags.arch === undefined && flags.variant === undefined) return undefined;
  const p: PlatformSpec = {};
  if (flags.os !== undefined) p.os = flags.os;
  if (flags.arch !== undefined) p.architecture = flags.arch;
  if (flags.variant !== undefined) p.variant = flags.variant;
  return p;
}
