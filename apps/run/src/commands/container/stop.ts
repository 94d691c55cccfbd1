import { Args, Flags } from '@oclif/core';
import { stopContainer, withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand, UsageError } from '../../base-command.js';
import { eachContainer } from '../../render/containers.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerStop extends ToolCommand {
  static override aliases = ['stop'];
  static override summary = 'Stop one or more containers';
  static override description = "Sends the container's stop signal, then SIGKILL after the timeout.";
  static override examples = ['<%= config.bin %> stop web', '<%= config.bin %> stop -t 0 web'];
  static override strict = false;
  static override args = { container: Args.string({ description: 'container(s)' }) };
  static override flags = {
    time: Flags.string({ char: 't', description: 'Seconds to wait for stop before killing the container' }),
    all: Flags.boolean({ char: 'a', description: 'Stop all running containers' }),
    ignore: Flags.boolean({ char: 'i', description: 'Ignore errors when a specified container is missing' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerStop);
    if (flags.time !== undefined && !/^\d+$/.test(flags.time))
      throw new UsageError(`invalid argument "${flags.time}" for "-t, --time" flag: not a number of seconds`);
    const names = argv as string[];
    if (!flags.all && names.length === 0)
      throw new UsageError('you must provide at least one container name or id');
    await withContainerSession(storeOptions(flags), async (s) => {
      const targets = flags.all
        ? s.db
            .list()
            .filter((c) => c.status === 'running')
            .map((c) => c.id)
        : names;
      await eachContainer(targets, async (name) => {
        if (flags.ignore && !s.db.get(name)) return undefined;
        await stopContainer(s, name, flags.time !== undefined ? { timeoutSec: Number(flags.time) } : {});
        return flags.all ? (s.db.get(name)?.id ?? name) : name;
      });
    });
  }
}
