import { Args } from '@oclif/core';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerRename extends ToolCommand {
  static override aliases = ['rename'];
  static override summary = 'Rename an existing container';
  static override description = 'Gives a container a new, unused name.';
  static override examples = ['<%= config.bin %> rename old new'];
  static override args = {
    container: Args.string({ required: true, description: 'container' }),
    name: Args.string({ required: true, description: 'new name' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainerRename);
    await withContainerSession(storeOptions(flags), (s) => {
      s.db.rename(s.require(args.container).id, args.name);
    });
  }
}
