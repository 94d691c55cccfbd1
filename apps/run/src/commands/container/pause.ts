import { Args, Flags } from '@oclif/core';
import { pauseContainer, unpauseContainer } from '@skiff/oci/runtime/pause';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand, UsageError } from '../../base-command.js';
import { eachContainer } from '../../render/containers.js';
import { type StoreFlags, storeOptions } from '../../store-options.js';

/** pause and unpause: the named containers, or with --all every running (paused) one. */
export async function pauseOrUnpause(
  verb: 'pause' | 'unpause',
  names: string[],
  flags: StoreFlags & { all: boolean },
): Promise<void> {
  if (flags.all && names.length > 0) throw new UsageError('--all and containers cannot be used together');
  if (!flags.all && names.length === 0)
    throw new UsageError('you must provide at least one container name or id');
  const from = verb === 'pause' ? 'running' : 'paused';
  const change = verb === 'pause' ? pauseContainer : unpauseContainer;
  await withContainerSession(storeOptions(flags), async (s) => {
    const runtime = await s.runtime();
    const targets = flags.all
      ? s.db
          .list()
          .filter((c) => c.status === from)
          .map((c) => c.id)
      : names;
    await eachContainer(targets, async (name) => {
      await change(s.store, s.db, runtime, name);
      return name;
    });
  });
}

export default class ContainerPause extends ToolCommand {
  static override aliases = ['pause'];
  static override summary = 'Pause all the processes in one or more containers';
  static override description =
    'Freezes every process of running containers through the OCI runtime (the cgroup freezer); their status is paused until unpause.';
  static override examples = ['<%= config.bin %> pause web', '<%= config.bin %> pause --all'];
  static override strict = false;
  static override args = { container: Args.string({ description: 'container(s)' }) };
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'Pause all running containers' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerPause);
    await pauseOrUnpause('pause', argv as string[], flags);
  }
}
