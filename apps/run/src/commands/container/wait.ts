import { Args } from '@oclif/core';
import { waitContainer } from '@skiff/oci/runtime/run';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand } from '../../base-command.js';
import { eachContainer } from '../../render/containers.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerWait extends ToolCommand {
  static override aliases = ['wait'];
  static override summary = 'Block on one or more containers';
  static override description = 'Waits until the containers stop and prints their exit codes.';
  static override examples = ['<%= config.bin %> wait job'];
  static override strict = false;
  static override args = { container: Args.string({ required: true, description: 'container(s)' }) };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerWait);
    await withContainerSession(storeOptions(flags), async (s) => {
      await eachContainer(argv as string[], async (name) => {
        const rec = s.require(name);
        return String(await waitContainer(s.store, s.db, rec.id));
      });
    });
  }
}
