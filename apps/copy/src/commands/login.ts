import { Args, Flags } from '@oclif/core';
import { getCredentials, setCredentials } from '@skiff/oci/config/auth';
import { isSkiffError, SkiffError } from '@skiff/oci/errors';
import { RegistryClient } from '@skiff/oci/registry/client';
import { FerryCommand, UsageError } from '../base-command.js';
import { promptLine, readStdin } from '../render/prompt.js';
import { registryKey } from '../render/registry-key.js';

export default class Login extends FerryCommand {
  static override summary = 'Login to a container registry';
  static override description =
    'Login to a container registry on a specified server. The credentials are checked against the registry and stored in the auth file.';
  static override examples = ['<%= config.bin %> login --username u --password-stdin 127.0.0.1:5000'];

  static override args = {
    registry: Args.string({ description: 'registry host (optionally with a namespace)', required: true }),
  };

  static override flags = {
    authfile: Flags.string({ description: 'path of the authentication file' }),
    'cert-dir': Flags.string({
      description: 'use certificates at the specified path to access the registry',
    }),
    'get-login': Flags.boolean({ description: 'return the current login user for the registry' }),
    password: Flags.string({ char: 'p', description: 'password for registry' }),
    'password-stdin': Flags.boolean({ description: 'take the password from stdin' }),
    'tls-verify': Flags.boolean({
      description: 'require HTTPS and verify certificates when accessing the registry',
      allowNo: true,
      default: true,
    }),
    username: Flags.string({ char: 'u', description: 'username for registry' }),
    verbose: Flags.boolean({ char: 'v', description: 'write more detailed information to stdout' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Login);
    const { key, host, repository } = registryKey(args.registry);
    const authOptions = { authFile: flags.authfile };

    if (flags['get-login']) {
      const existing = await getCredentials(host, repository, authOptions);
      if (!existing?.username) throw new SkiffError('NOT_FOUND', `not logged into ${key}`);
      this.log(existing.username);
      return;
    }
    if (flags.password !== undefined && flags['password-stdin']) {
      throw new UsageError('--password and --password-stdin are mutually exclusive');
    }
    if (flags['password-stdin'] && flags.username === undefined) {
      throw new UsageError('must provide --username with --password-stdin');
    }

    const ping = (credentials: { username: string; password: string }) =>
      new RegistryClient({
        endpoint: host,
        tlsVerify: flags['tls-verify'],
        certDir: flags['cert-dir'],
        credentials,
      }).ping();

    if (flags.username === undefined && flags.password === undefined && !flags['password-stdin']) {
      const existing = await getCredentials(host, repository, authOptions);
      if (existing?.username && existing.password) {
        this.log(`Authenticating with existing credentials for ${key}`);
        try {
          await ping({ username: existing.username, password: existing.password });
          this.log(`Existing credentials are valid. Already logged in to ${host}`);
          return;
        } catch (err) {
          if (!isSkiffError(err) || err.code !== 'UNAUTHORIZED') throw err;
          this.log('Existing credentials are invalid, please enter valid username and password');
        }
      }
    }

    const username = flags.username ?? (await promptLine('Username: ', { echo: true }));
    if (username === '') throw new SkiffError('INVALID_ARGUMENT', 'username is required');
    const password = flags['password-stdin']
      ? await readStdin()
      : (flags.password ?? (await promptLine('Password: ', { echo: false })));
    if (password === '') throw new SkiffError('INVALID_ARGUMENT', 'password is required');

    try {
      await ping({ username, password });
    } catch (err) {
      if (isSkiffError(err) && err.code === 'UNAUTHORIZED') {
        throw new SkiffError('UNAUTHORIZED', `logging into "${key}": invalid username/password`, {
          cause: err,
        });
      }
      throw err;
    }
    const authFile = await setCredentials(key, { username, password }, authOptions);
    if (flags.verbose) this.log(`Used: ${authFile}`);
    this.log('Login Succeeded!');
  }
}
