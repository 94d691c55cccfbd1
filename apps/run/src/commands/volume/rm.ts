import { Args, Flags } from '@oclif/core';
import { removeContainer } from '@skiff/oci/runtime/run';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { findVolume, listVolumes, removeVolume, volumesInUse } from '@skiff/oci/runtime/volumes';
import { ToolCommand, UsageError } from '../../base-command.js';
import { eachContainer } from '../../render/containers.js';
import { storeOptions } from '../../store-options.js';

export default class VolumeRm extends ToolCommand {
  static override aliases = ['volume:remove'];
  static override summary = 'Remove one or more volumes';
  static override description =
    'Removes volumes; one a container uses only with --force (which removes those containers).';
  static override examples = ['<%= config.bin %> volume rm data'];
  static override strict = false;
  static override args = { name: Args.string({ description: 'volume(s)' }) };
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'Remove all volumes' }),
    force: Flags.boolean({
      char: 'f',
      description: 'Remove a volume by force, even if it is being used by a container',
    }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(VolumeRm);
    const names = argv as string[];
    if (!flags.all && names.length === 0) throw new UsageError('choose either one or more volumes or all');
    await withContainerSession(storeOptions(flags), async (s) => {
      const targets = flags.all ? listVolumes(s.store.location).map((v) => v.name) : names;
      await eachContainer(targets, async (given) => {
        const name = findVolume(s.store.location, given)?.name ?? given;
        if (flags.force) {
          const runtime = await s.runtime();
          for (const id of volumesInUse(s.db).get(name) ?? [])
            await removeContainer(s.store, s.db, runtime, id, { force: true });
        }
        removeVolume(s.store.location, s.db, name);
        return name;
      });
    });
  }
}
