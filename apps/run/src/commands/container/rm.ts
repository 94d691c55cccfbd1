import { Args, Flags } from '@oclif/core';
import { removeContainer } from '@skiff/oci/runtime/run';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand, UsageError } from '../../base-command.js';
import { eachContainer } from '../../render/containers.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerRm extends ToolCommand {
  static override aliases = ['rm', 'container:remove'];
  static override summary = 'Remove one or more containers';
  static override description =
    'Removes containers and their writable layers; a running one only with --force.';
  static override examples = ['<%= config.bin %> rm web', '<%= config.bin %> rm -f --all'];
  static override strict = false;
  static override args = { container: Args.string({ description: 'container(s)' }) };
  static override flags = {
    force: Flags.boolean({ char: 'f', description: 'Force removal of a running or unusable container' }),
    all: Flags.boolean({ char: 'a', description: 'Remove all containers' }),
    volumes: Flags.boolean({
      char: 'v',
      description: 'Remove anonymous volumes associated with the container',
    }),
    ignore: Flags.boolean({ char: 'i', description: 'Ignore errors when a specified container is missing' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerRm);
    const names = argv as string[];
    if (!flags.all && names.length === 0)
      throw new UsageError('you must provide at least one container name or id');
    await withContainerSession(storeOptions(flags), async (s) => {
      const runtime = await s.runtime();
      const targets = flags.all ? s.db.list().map((c) => c.id) : names;
      await eachContainer(targets, async (name) => {
        if (flags.ignore && !s.db.get(name)) return undefined;
        const rec = s.require(name);
        await removeContainer(s.store, s.db, runtime, rec.id, { force: flags.force, volumes: flags.volumes });
        return flags.all ? rec.id : name;
      });
    });
  }
}
