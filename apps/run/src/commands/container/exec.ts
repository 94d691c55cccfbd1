import { readFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { readFileInRoot } from '@skiff/oci/runtime/host';
import { parseEnvFile, parseEnvFlag, parseUserSpec } from '@skiff/oci/runtime/options';
import { containerPaths, execInContainer } from '@skiff/oci/runtime/run';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand, UsageError } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';
import { callerTerminalSize } from './attach.js';
import { commandExitCode, separateContainerArgs } from './create.js';

/** A name from the container's /etc/passwd or /etc/group → its number (numbers pass). */
function idOf(file: string | undefined, name: string, what: string): string {
  if (/^\d+$/.test(name)) return name;
  for (const line of (file ?? '').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined) return f[2];
  }
  throw new SkiffError(
    'INVALID_ARGUMENT',
    `unable to find ${what} ${name}: no matching entries in ${what === 'user' ? 'passwd' : 'group'} file`,
  );
}

/** The primary group of a UID in a passwd file (undefined when it has no entry). */
function primaryGroupOf(file: string | undefined, uid: string): string | undefined {
  for (const line of (file ?? '').split('\n')) {
    const f = line.split(':');
    if (f[2] === uid && f[3] !== undefined && /^\d+$/.test(f[3])) return f[3];
  }
  return undefined;
}

export default class ContainerExec extends ToolCommand {
  static override aliases = ['exec'];
  static override summary = 'Run a process in a running container';
  static override description = "Runs a command in a running container; the exit code is the command's.";
  static override examples = [
    '<%= config.bin %> exec web cat /etc/hostname',
    '<%= config.bin %> exec -i -u 0 -w /tmp web sh',
  ];
  static override strict = false;
  static override args = { container: Args.string({ required: true, description: 'container' }) };
  static override flags = {
    interactive: Flags.boolean({ char: 'i', description: 'Make STDIN available to the contained process' }),
    tty: Flags.boolean({ char: 't', description: 'Allocate a pseudo-TTY' }),
    env: Flags.string({
      char: 'e',
      multiple: true,
      multipleNonGreedy: true,
      description: 'Set environment variables',
    }),
    'env-file': Flags.string({
      multiple: true,
      multipleNonGreedy: true,
      description: 'Read in a file of environment variables',
    }),
    user: Flags.string({
      char: 'u',
      description: 'Sets the username or UID used and optionally the groupname or GID',
    }),
    workdir: Flags.string({ char: 'w', description: 'Working directory inside the container' }),
    detach: Flags.boolean({ char: 'd', description: 'Run the exec session in detached mode (backgrounded)' }),
  };

  public override async init(): Promise<void> {
    this.argv = separateContainerArgs(this.argv, { ...this.ctor.flags, ...this.ctor.baseFlags } as never);
    await super.init();
  }

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerExec);
    const [name, ...command] = argv as string[];
    if (name === undefined || command.length === 0)
      throw new UsageError('exec requires the name or ID of a container and a command');
    // The runtime relays the pty to its own stdio, which must be the caller's terminal.
    let tty = Boolean(flags.tty) && !flags.detach;
    if (tty && !process.stdin.isTTY) {
      process.stderr.write(
        'WARN[0000] The input device is not a TTY. The --tty flag is ignored: skiff exec -t needs a terminal on stdin\n',
      );
      tty = false;
    }
    const env: string[] = [];
    for (const f of flags['env-file'] ?? [])
      env.push(...parseEnvFile(readFileSync(f, 'utf8'), process.env, f));
    for (const e of flags.env ?? []) env.push(...parseEnvFlag(e, process.env));
    let exitCode = 0;
    await withContainerSession(
      storeOptions(flags),
      async (s) => {
        const rec = s.require(name);
        const runtime = await s.runtime();
        let user: string | undefined;
        if (flags.user !== undefined) {
          const u = parseUserSpec(flags.user);
          const root = containerPaths(s.store.location, rec.id).rootfsMount;
          const uid = idOf(readFileInRoot(root, '/etc/passwd'), u.user, 'user');
          const passwd = readFileInRoot(root, '/etc/passwd');
          // Without a group, the user's primary group from the container's passwd (as podman).
          const gid =
            u.group !== undefined
              ? idOf(readFileInRoot(root, '/etc/group'), u.group, 'group')
              : primaryGroupOf(passwd, uid);
          user = gid !== undefined ? `${uid}:${gid}` : uid;
        }
        try {
          exitCode = await execInContainer(s.store, s.db, runtime, rec.id, {
            command,
            env,
            ...(user !== undefined ? { user } : {}),
            ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
            ...(flags.detach ? { detach: true } : {}),
            ...(tty ? { tty: true } : {}),
            ...(tty ? callerTerminalSize() : {}),
            stdio: [flags.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
          });
        } catch (err) {
          const code = commandExitCode(err);
          if (code === undefined) throw err;
          process.stderr.write(`Error: ${(err as Error).message}\n`);
          exitCode = code;
        }
      },
      { readOnlyStore: true },
    );
    if (exitCode !== 0) this.exit(exitCode);
  }
}
