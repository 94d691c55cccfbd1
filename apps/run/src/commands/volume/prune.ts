import { Flags } from '@oclif/core';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { listVolumes, removeVolume, volumesInUse } from '@skiff/oci/runtime/volumes';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

export default class VolumePrune extends ToolCommand {
  static override summary = 'Remove all unused volumes';
  static override description = 'Removes every volume no container uses.';
  static override examples = ['<%= config.bin %> volume prune -f'];
  static override flags = {
    force: Flags.boolean({ char: 'f', description: 'Do not prompt for confirmation' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(VolumePrune);
    await withContainerSession(storeOptions(flags), (s) => {
      const used = volumesInUse(s.db);
      for (const v of listVolumes(s.store.location)) {
        if (used.has(v.name)) continue;
        removeVolume(s.store.location, s.db, v.name);
        process.stdout.write(`${v.name}\n`);
      }
    });
  }
}
