import { Flags } from '@oclif/core';
import type { PlatformSpec } from '@skiff/oci/spec/platform';
import type { Credentials, TransportOptions } from '@skiff/oci/transports/types';
import { UsageError } from './base-command.js';

/**
 * The per-image flags skopeo repeats with `src-` / `dest-` prefixes (copy) or without a prefix
 * (inspect, delete, list-tags): credentials, TLS, certificates, auth file.
 */
export function imageFlags<P extends '' | 'src-' | 'dest-'>(prefix: P) {
  const which = prefix === 'src-' ? 'the source' : prefix === 'dest-' ? 'the destination' : 'the registry';
  return {
    [`${prefix}creds`]: Flags.string({
      description: `use USERNAME[:PASSWORD] for accessing ${which} registry`,
    }),
    [`${prefix}username`]: Flags.string({ description: `the username to access ${which} registry` }),
    [`${prefix}password`]: Flags.string({ description: `the password to access ${which} registry` }),
    [`${prefix}no-creds`]: Flags.boolean({ description: `access ${which} registry anonymously` }),
    [`${prefix}tls-verify`]: Flags.boolean({
      description: `require HTTPS and verify certificates when talking to ${which} container registry or daemon`,
      allowNo: true,
    }),
    [`${prefix}cert-dir`]: Flags.string({
      description: `use certificates at PATH (*.crt, *.cert, *.key) to connect to ${which} registry or daemon`,
    }),
    [`${prefix}authfile`]: Flags.string({ description: `path of the authentication file for ${which}` }),
    [`${prefix}registry-token`]: Flags.string({
      description: `provide a Bearer token for accessing ${which} registry`,
    }),
  } as Record<string, ReturnType<typeof Flags.string> | ReturnType<typeof Flags.boolean>>;
}

export const retryFlags = {
  'retry-times': Flags.integer({ description: 'the number of times to possibly retry', min: 0 }),
};

/** `USER[:PASS]` as skopeo's --creds (an empty user is an error, a missing password is empty). */
export function parseCreds(value: string, flag: string): Credentials {
  const i = value.indexOf(':');
  const username = i < 0 ? value : value.slice(0, i);
  const password = i < 0 ? '' : value.slice(i + 1);
  if (username === '') throw new UsageError(`invalid --${flag} "${value}": the username is empty`);
  return { username, password };
}

type FlagValues = Record<string, unknown>;

/** TransportOptions for one side of a command from its parsed flags. */
export function transportOptions(flags: FlagValues, prefix: '' | 'src-' | 'dest-'): TransportOptions {
  const get = <T>(name: string): T | undefined => flags[`${prefix}${name}`] as T | undefined;
  const options: TransportOptions = {};
  const authFile = get<string>('authfile') ?? (flags.authfile as string | undefined);
  if (authFile !== undefined) options.authFile = authFile;
  const creds = get<string>('creds');
  const username = get<string>('username');
  const password = get<string>('password');
  if (creds !== undefined && (username !== undefined || password !== undefined)) {
    throw new UsageError(
      `--${prefix}creds and --${prefix}username/--${prefix}password are mutually exclusive`,
    );
  }
  if (creds !== undefined) options.credentials = parseCreds(creds, `${prefix}creds`);
  else if (username !== undefined) options.credentials = { username, password: password ?? '' };
  else if (password !== undefined) throw new UsageError(`--${prefix}password needs --${prefix}username`);
  if (get<boolean>('no-creds')) {
    if (options.credentials)
      throw new UsageError(`--${prefix}no-creds and --${prefix}creds are mutually exclusive`);
    options.anonymous = true;
  }
  if (get<string>('registry-token') !== undefined) {
    // Accepted by the parser for skopeo compatibility, but the library has no bearer-token
    // option yet: refuse it rather than silently talking to the registry without it.
    throw new UsageError(
      `--${prefix}registry-token is not supported yet: use --${prefix}creds or an auth file (ferry login)`,
    );
  }
  const tls = get<boolean>('tls-verify');
  if (tls !== undefined) options.tlsVerify = tls;
  const certDir = get<string>('cert-dir');
  if (certDir !== undefined) options.certDir = certDir;
  const retry = flags['retry-times'] as number | undefined;
  if (retry !== undefined) options.retryTimes = retry;
  const conf = flags['registries-conf'] as string | undefined;
  if (conf !== undefined) options.registriesConfPath = conf;
  const platform = overridePlatform(flags);
  if (platform) options.platform = platform;
  return options;
}

/** --override-os / --override-arch / --override-variant, or undefined when none was given. */
export function overridePlatform(flags: FlagValues): PlatformSpec | undefined {
  const os = flags['override-os'] as string | undefined;
  const architecture = flags['override-arch'] as string | undefined;
  const variant = flags['override-variant'] as string | undefined;
  if (os === undefined && architecture === undefined && variant === undefined) return undefined;
  const p: PlatformSpec = {};
  if (os !== undefined) p.os = os;
  if (architecture !== undefined) p.architecture = architecture;
  if (variant !== undefined) p.variant = variant;
  return p;
}
