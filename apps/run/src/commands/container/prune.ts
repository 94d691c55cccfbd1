import { Flags } from '@oclif/core';
import { removeContainer } from '@skiff/oci/runtime/run';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerPrune extends ToolCommand {
  static override summary = 'Remove all non running containers';
  static override description = 'Removes every container that is not running (created or exited).';
  static override examples = ['<%= config.bin %> container prune -f'];
  static override flags = {
    force: Flags.boolean({ char: 'f', description: 'Do not prompt for confirmation' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ContainerPrune);
    await withContainerSession(storeOptions(flags), async (s) => {
      const runtime = await s.runtime();
      for (const c of s.db.list()) {
        const rec = s.require(c.id);
        if (rec.status === 'running' || rec.status === 'paused') continue;
        await removeContainer(s.store, s.db, runtime, rec.id);
        process.stdout.write(`${rec.id}\n`);
      }
    });
  }
}
