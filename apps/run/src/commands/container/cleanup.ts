import { Args, Flags } from '@oclif/core';
import { storedConfigOf } from '@skiff/oci/runtime/create-flags';
import { cleanupContainer, startDetached } from '@skiff/oci/runtime/run';
import { stoppedByUser, withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';
import { exitCommandFor } from './run.js';

/**
 * conmon's exit command (podman's `container cleanup`): record the exit, unmount, apply the
 * restart policy, and with --rm remove the container — even when the skiff that started it is gone.
 */
export default class ContainerCleanup extends ToolCommand {
  static override hidden = true;
  static override summary = 'Clean up network and mountpoints of one or more containers';
  static override args = { container: Args.string({ required: true, description: 'container' }) };
  static override flags = {
    rm: Flags.boolean({ description: 'After cleanup, remove the container entirely' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainerCleanup);
    await withContainerSession(storeOptions(flags), async (s) => {
      const rec = s.db.get(args.container);
      if (!rec) return;
      const runtime = await s.runtime();
      const cur = s.require(rec.id);
      const cfg = storedConfigOf(cur.config);
      const restart = cfg.restart ?? { policy: 'no', maxRetries: 0 };
      const failed = cur.status === 'exited' && (cur.exitCode ?? 0) !== 0;
      const again =
        !flags.rm &&
        cur.status === 'exited' &&
        !stoppedByUser(cur.bundle) &&
        (restart.policy === 'always' ||
          restart.policy === 'unless-stopped' ||
          (restart.policy === 'on-failure' &&
            failed &&
            (restart.maxRetries === 0 || cur.restarts < restart.maxRetries)));
      await cleanupContainer(s.store, s.db, runtime, rec.id, flags.rm ? { remove: true } : {});
      if (again) {
        s.db.update(rec.id, { restarts: cur.restarts + 1 });
        await startDetached(s.store, s.db, runtime, rec.id, {
          exitCommand: exitCommandFor(s.store, rec.id, false),
          logDriver: cfg.logDriver ?? 'k8s-file',
        });
      }
    });
  }
}
