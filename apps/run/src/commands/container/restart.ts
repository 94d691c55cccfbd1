import { Args, Flags } from '@oclif/core';
import { storedConfigOf } from '@skiff/oci/runtime/create-flags';
import { startDetached } from '@skiff/oci/runtime/run';
import { markStoppedByUser, stopContainer, withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand, UsageError } from '../../base-command.js';
import { eachContainer } from '../../render/containers.js';
import { storeOptions } from '../../store-options.js';
import { exitCommandFor } from './run.js';

export default class ContainerRestart extends ToolCommand {
  static override aliases = ['restart'];
  static override summary = 'Restart one or more containers';
  static override description =
    'Stops (stop signal, then SIGKILL after the timeout) and starts containers again.';
  static override examples = ['<%= config.bin %> restart web'];
  static override strict = false;
  static override args = { container: Args.string({ description: 'container(s)' }) };
  static override flags = {
    time: Flags.string({ char: 't', description: 'Seconds to wait for stop before killing the container' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerRestart);
    if (flags.time !== undefined && !/^\d+$/.test(flags.time))
      throw new UsageError(`invalid argument "${flags.time}" for "-t, --time" flag: not a number of seconds`);
    await withContainerSession(storeOptions(flags), async (s) => {
      const runtime = await s.runtime();
      await eachContainer(argv as string[], async (name) => {
        const rec = await stopContainer(
          s,
          name,
          flags.time !== undefined ? { timeoutSec: Number(flags.time) } : {},
        );
        const cfg = storedConfigOf(rec.config);
        markStoppedByUser(rec.bundle, false);
        await startDetached(s.store, s.db, runtime, rec.id, {
          exitCommand: exitCommandFor(s.store, rec.id, Boolean(cfg.autoRemove)),
          logDriver: cfg.logDriver ?? 'k8s-file',
        });
        return name;
      });
    });
  }
}
