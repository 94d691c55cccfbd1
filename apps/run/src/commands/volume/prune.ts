import { Flags } from '@oclif/core';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { pruneVolumes, volumeFilter, volumesInUse } from '@skiff/oci/runtime/volumes';
import { ToolCommand } from '../../base-command.js';
import { confirm } from '../../render/confirm.js';
import { storeOptions } from '../../store-options.js';

export default class VolumePrune extends ToolCommand {
  static override summary = 'Remove all unused volumes';
  static override description =
    'Removes every volume no container uses, named and anonymous. Asks first unless --force.';
  static override examples = ['<%= config.bin %> volume prune -f'];
  static override flags = {
    force: Flags.boolean({ char: 'f', description: 'Do not prompt for confirmation' }),
    filter: Flags.string({
      multiple: true,
      multipleNonGreedy: true,
      description: 'Provide filter values (e.g. label=<key>=<value>, until=<timestamp>)',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(VolumePrune);
    if (
      !flags.force &&
      !(await confirm(
        'WARNING! This will remove all volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ',
      ))
    )
      return;
    const removed = await withContainerSession(storeOptions(flags), (s) => {
      const select = volumeFilter(flags.filter ?? [], volumesInUse(s.db));
      return pruneVolumes(s.store.location, s.db, (v) => !select(v));
    });
    process.stdout.write(removed.map((n) => `${n}\n`).join(''));
  }
}
