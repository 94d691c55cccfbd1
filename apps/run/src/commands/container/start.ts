import { Args, Flags } from '@oclif/core';
import { storedConfigOf } from '@skiff/oci/runtime/create-flags';
import { startAttached, startDetached } from '@skiff/oci/runtime/run';
import { markStoppedByUser, withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';
import { sessionOptions } from './create.js';
import { exitCommandFor } from './run.js';

export default class ContainerStart extends ToolCommand {
  static override aliases = ['start'];
  static override summary = 'Start one or more containers';
  static override description =
    "Starts created or exited containers in the background; with -a attached (the exit code is the container's).";
  static override examples = ['<%= config.bin %> start web', '<%= config.bin %> start -a job'];
  static override strict = false;
  static override args = { container: Args.string({ required: true, description: 'container(s)' }) };
  static override flags = {
    attach: Flags.boolean({ char: 'a', description: "Attach container's STDOUT and STDERR" }),
    interactive: Flags.boolean({ char: 'i', description: 'Make STDIN available to the contained process' }),
    runtime: Flags.string({ description: 'Path to the OCI-compatible binary used to run containers' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerStart);
    const names = argv as string[];
    let exitCode: number | undefined;
    await withContainerSession(
      storeOptions(flags),
      async (s) => {
        const runtime = await s.runtime();
        for (const name of names) {
          const rec = s.require(name);
          const cfg = storedConfigOf(rec.config);
          if (rec.status === 'running') {
            process.stdout.write(`${name}\n`);
            continue;
          }
          markStoppedByUser(rec.bundle, false);
          if (flags.attach && names.length === 1) {
            exitCode = await startAttached(s.store, s.db, runtime, rec.id, {
              stdio: [flags.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
              ...(cfg.autoRemove ? { remove: true } : {}),
              ...(!cfg.tty && cfg.logDriver !== 'none'
                ? { tee: { stdout: process.stdout, stderr: process.stderr } }
                : {}),
            });
            return;
          }
          await startDetached(s.store, s.db, runtime, rec.id, {
            exitCommand: exitCommandFor(s.store, rec.id, Boolean(cfg.autoRemove)),
            logDriver: cfg.logDriver ?? 'k8s-file',
          });
          process.stdout.write(`${name}\n`);
        }
      },
      sessionOptions(flags),
    );
    if (exitCode !== undefined && exitCode !== 0) this.exit(exitCode);
  }
}
