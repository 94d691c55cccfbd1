import { Args, Flags } from '@oclif/core';
import { getCredentials, removeAllCredentials, removeCredentials } from '@skiff/oci/config/auth';
import { SkiffError } from '@skiff/oci/errors';
import { FerryCommand, UsageError } from '../base-command.js';
import { registryKey } from '../render/registry-key.js';

export default class Logout extends FerryCommand {
  static override summary = 'Logout of a container registry';
  static override description =
    'Remove the cached username and password for the registry from the auth file.';
  static override examples = ['<%= config.bin %> logout 127.0.0.1:5000', '<%= config.bin %> logout --all'];

  static override args = {
    registry: Args.string({ description: 'registry host (optionally with a namespace)' }),
  };

  static override flags = {
    all: Flags.boolean({
      char: 'a',
      description: 'remove the cached credentials for all registries in the auth file',
    }),
    authfile: Flags.string({ description: 'path of the authentication file' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logout);
    const authOptions = { authFile: flags.authfile };
    if (flags.all) {
      if (args.registry !== undefined) throw new UsageError('--all takes no registry argument');
      await removeAllCredentials(authOptions);
      this.log('Removed login credentials for all registries');
      return;
    }
    if (args.registry === undefined) throw new UsageError('please provide a registry to logout from');
    const { key, host, repository } = registryKey(args.registry);
    if (await removeCredentials(key, authOptions)) {
      this.log(`Removed login credentials for ${key}`);
      return;
    }
    // Not in our auth file: credentials found elsewhere came from `docker login`.
    const elsewhere = flags.authfile === undefined ? await getCredentials(host, repository) : undefined;
    if (elsewhere?.username) {
      this.log(
        `Not logged into ${key} with current tool. Existing credentials were established via docker login. Please use docker logout instead.`,
      );
      return;
    }
    throw new SkiffError('NOT_FOUND', `not logged into ${key}`);
  }
}
