import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '@skiff/oci/runtime/attach';
import type { ContainerRecord } from '@skiff/oci/runtime/containers';
import { storedConfigOf } from '@skiff/oci/runtime/create-flags';
import { type DetachedOptions, removeContainer, startAttached, startDetached } from '@skiff/oci/runtime/run';
import { withContainerSession } from '@skiff/oci/runtime/session';
import type { Store } from '@skiff/oci/storage/store';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';
import {
  attachedRunSignals,
  attachTerminal,
  callerTerminalSize,
  proxySignals,
  removedByExitCommand,
} from './attach.js';
import {
  CREATE_FLAGS,
  commandExitCode,
  createFromFlags,
  requireImageArg,
  separateContainerArgs,
  sessionOptions,
} from './create.js';

/** conmon's exit command: `skiff --root R --runroot RR --storage-driver D container cleanup [--rm] ID`. */
export function exitCommandFor(store: Store, id: string, remove: boolean): string[] {
  const loc = store.location;
  return [
    process.execPath,
    process.argv[1] ?? 'skiff',
    '--root',
    loc.root,
    '--runroot',
    loc.runroot,
    '--storage-driver',
    loc.driver,
    'container',
    'cleanup',
    ...(remove ? ['--rm'] : []),
    id,
  ];
}

/** How conmon runs a container (-d, start, run -t without a terminal): from its stored flags. */
export function conmonOptionsFor(store: Store, rec: ContainerRecord): DetachedOptions {
  const cfg = storedConfigOf(rec.config);
  return {
    exitCommand: exitCommandFor(store, rec.id, Boolean(cfg.autoRemove)),
    logDriver: cfg.logDriver ?? 'k8s-file',
    ...(cfg.interactive ? { stdin: true } : {}),
    ...(cfg.tty ? callerTerminalSize() : {}),
  };
}

export default class ContainerRun extends ToolCommand {
  static override aliases = ['run'];
  static override summary = 'Run a command in a new container';
  static override description =
    "Creates a container from an image and runs it: attached (the exit code is the container's) or with -d in the background under conmon.";
  static override examples = [
    '<%= config.bin %> run --rm busybox echo hi',
    '<%= config.bin %> run -d --name web -v /srv:/srv:ro busybox httpd -f',
  ];
  static override strict = false;
  static override args = { image: Args.string({ required: true, description: 'image' }) };
  static override flags = {
    ...CREATE_FLAGS,
    detach: Flags.boolean({ char: 'd', description: 'Run container in background and print container ID' }),
    'sig-proxy': Flags.boolean({
      description: 'Proxy received signals to the process',
      default: true,
      allowNo: true,
    }),
    'detach-keys': Flags.string({
      description: 'Override the key sequence for detaching a container (when attached through conmon)',
      default: DEFAULT_DETACH_KEYS,
    }),
  };

  public override async init(): Promise<void> {
    this.argv = separateContainerArgs(this.argv, { ...this.ctor.flags, ...this.ctor.baseFlags } as never);
    await super.init();
  }

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerRun);
    const { image, command } = requireImageArg(argv as string[]);
    const detachKeys = parseDetachKeys(flags['detach-keys']);
    // `RUNTIME run -t` needs the caller's terminal on stdin; without one conmon makes the pty.
    const throughConmon = Boolean(flags.tty && !flags.detach && !process.stdin.isTTY);
    if (throughConmon && flags.interactive)
      process.stderr.write(
        'WARN[0000] The input device is not a TTY. The --tty and --interactive flags might not work properly\n',
      );
    let exitCode: number | undefined;
    await withContainerSession(
      storeOptions(flags),
      async (s) => {
        let created: Awaited<ReturnType<typeof createFromFlags>>;
        try {
          created = await createFromFlags(s, flags, image, command, ['skiff', ...this.argv]);
        } catch (err) {
          exitCode = commandExitCode(err);
          if (exitCode === undefined) throw err;
          process.stderr.write(`Error: ${(err as Error).message}\n`);
          return;
        }
        const { rec, warnings } = created;
        for (const w of warnings) process.stderr.write(`WARN[0000] ${w}\n`);
        const runtime = await s.runtime();
        const cfg = storedConfigOf(rec.config);
        const detachedOptions = conmonOptionsFor(s.store, rec);
        if (throughConmon) {
          const r = await attachTerminal(s, rec, {
            tty: true,
            stdin: Boolean(flags.interactive),
            sigProxy: flags['sig-proxy'],
            detachKeys,
            start: async (connect) => {
              try {
                await startDetached(s.store, s.db, runtime, rec.id, {
                  ...detachedOptions,
                  beforeStart: connect,
                });
              } catch (err) {
                if (flags.rm)
                  await removeContainer(s.store, s.db, runtime, rec.id, { force: true }).catch(() => {});
                throw err;
              }
            },
          });
          if (!r.detached) exitCode = r.exitCode;
          // --rm: conmon's exit command removes it; return once it is gone, as podman does.
          if (flags.rm && !r.detached) await removedByExitCommand(s, rec.id);
          return;
        }
        if (flags.detach) {
          try {
            await startDetached(s.store, s.db, runtime, rec.id, detachedOptions);
          } catch (err) {
            if (flags.rm)
              await removeContainer(s.store, s.db, runtime, rec.id, { force: true }).catch(() => {});
            throw err;
          }
          process.stdout.write(`${rec.id}\n`);
          return;
        }
        // Signals to skiff go to the container (runc forwards them to its process).
        const unproxy = await proxySignals(s, rec.id, attachedRunSignals(flags['sig-proxy']));
        try {
          exitCode = await startAttached(s.store, s.db, runtime, rec.id, {
            stdio: [flags.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
            ...(flags.rm ? { remove: true } : {}),
            ...(flags.tty ? callerTerminalSize() : {}),
            // --sig-proxy=false: the terminal's ^C reaches skiff only, as with podman.
            ...(!flags['sig-proxy'] && !flags.tty ? { processGroup: true } : {}),
            ...(!flags.tty && !flags.rm && (cfg.logDriver ?? 'k8s-file') === 'k8s-file'
              ? { tee: { stdout: process.stdout, stderr: process.stderr } }
              : {}),
          });
        } catch (err) {
          if (flags.rm)
            await removeContainer(s.store, s.db, runtime, rec.id, { force: true }).catch(() => {});
          if (err instanceof SkiffError) throw err;
          throw new SkiffError('RUNTIME', (err as Error).message, { cause: err });
        } finally {
          unproxy();
        }
      },
      sessionOptions(flags),
    );
    if (exitCode !== undefined && exitCode !== 0) this.exit(exitCode);
  }
}
