import { Args, Flags } from '@oclif/core';
import { killContainer } from '@skiff/oci/runtime/run';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand, UsageError } from '../../base-command.js';
import { eachContainer } from '../../render/containers.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerKill extends ToolCommand {
  static override aliases = ['kill'];
  static override summary = 'Kill one or more running containers with a specific signal';
  static override description = 'Sends a signal (SIGKILL by default) to running containers.';
  static override examples = ['<%= config.bin %> kill web', '<%= config.bin %> kill -s HUP web'];
  static override strict = false;
  static override args = { container: Args.string({ description: 'container(s)' }) };
  static override flags = {
    signal: Flags.string({ char: 's', description: 'Signal to send to the container', default: 'KILL' }),
    all: Flags.boolean({ char: 'a', description: 'Signal all running containers' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerKill);
    const names = argv as string[];
    if (!flags.all && names.length === 0)
      throw new UsageError('you must provide at least one container name or id');
    await withContainerSession(storeOptions(flags), async (s) => {
      const runtime = await s.runtime();
      const targets = flags.all
        ? s.db
            .list()
            .filter((c) => c.status === 'running')
            .map((c) => c.id)
        : names;
      await eachContainer(targets, async (name) => {
        const rec = s.require(name);
        await killContainer(s.store, s.db, runtime, rec.id, flags.signal);
        return name;
      });
    });
  }
}
