import { Args, Flags } from '@oclif/core';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '@skiff/oci/runtime/attach';
import { storedConfigOf } from '@skiff/oci/runtime/create-flags';
import { startAttached, startDetached } from '@skiff/oci/runtime/run';
import { markStoppedByUser, withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';
import {
  attachedRunSignals,
  attachTerminal,
  callerTerminalSize,
  proxySignals,
  removedByExitCommand,
} from './attach.js';
import { sessionOptions } from './create.js';
import { conmonOptionsFor } from './run.js';

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
    'sig-proxy': Flags.boolean({
      description: 'Proxy received signals to the process (with --attach)',
      default: true,
      allowNo: true,
    }),
    'detach-keys': Flags.string({
      description: 'Override the key sequence for detaching a container',
      default: DEFAULT_DETACH_KEYS,
    }),
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
          const detachedOptions = conmonOptionsFor(s.store, rec);
          if (flags.attach && names.length === 1 && cfg.tty && !process.stdin.isTTY) {
            // `RUNTIME run -t` needs the caller's terminal on stdin; without one conmon makes the pty.
            const r = await attachTerminal(s, rec, {
              tty: true,
              stdin: Boolean(flags.interactive),
              sigProxy: flags['sig-proxy'],
              detachKeys: parseDetachKeys(flags['detach-keys']),
              start: async (connect) => {
                await startDetached(s.store, s.db, runtime, rec.id, {
                  ...detachedOptions,
                  beforeStart: connect,
                });
              },
            });
            if (!r.detached) exitCode = r.exitCode;
            if (cfg.autoRemove && !r.detached) await removedByExitCommand(s, rec.id);
            return;
          }
          if (flags.attach && names.length === 1) {
            const unproxy = await proxySignals(s, rec.id, attachedRunSignals(flags['sig-proxy']));
            exitCode = await startAttached(s.store, s.db, runtime, rec.id, {
              stdio: [flags.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
              ...(cfg.autoRemove ? { remove: true } : {}),
              ...(cfg.tty ? callerTerminalSize() : {}),
              ...(!cfg.tty && (cfg.logDriver ?? 'k8s-file') === 'k8s-file'
                ? { tee: { stdout: process.stdout, stderr: process.stderr } }
                : {}),
            }).finally(unproxy);
            return;
          }
          await startDetached(s.store, s.db, runtime, rec.id, detachedOptions);
          process.stdout.write(`${name}\n`);
        }
      },
      sessionOptions(flags),
    );
    if (exitCode !== undefined && exitCode !== 0) this.exit(exitCode);
  }
}
