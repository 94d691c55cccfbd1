import { existsSync, writeFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { lookupLocalImage, storedNameFor } from '@skiff/oci/image/local-images';
import type { ContainerRecord } from '@skiff/oci/runtime/containers';
import { type CreateFlagValues, parseCreateFlags } from '@skiff/oci/runtime/create-flags';
import { rootlessNamespaceInfo } from '@skiff/oci/runtime/rootless';
import { type CreateContainerOptions, createContainer, removeContainer } from '@skiff/oci/runtime/run';
import { type ContainerSession, stopContainer, withContainerSession } from '@skiff/oci/runtime/session';
import { inUserNamespace } from '@skiff/oci/storage/store';
import { ToolCommand, UsageError } from '../../base-command.js';
import { type StoreFlags, storeOptions } from '../../store-options.js';

/** The flags `skiff create` and `skiff run` share (podman's spellings and short forms). */
export const CREATE_FLAGS = {
  name: Flags.string({ description: 'Assign a name to the container' }),
  replace: Flags.boolean({ description: 'If a container with the same name exists, replace it' }),
  env: Flags.string({
    char: 'e',
    multiple: true,
    multipleNonGreedy: true,
    description: 'Set environment variables in container',
  }),
  'env-file': Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description: 'Read in a file of environment variables',
  }),
  'env-host': Flags.boolean({ description: 'Use all current host environment variables in container' }),
  workdir: Flags.string({ char: 'w', description: 'Working directory inside the container' }),
  user: Flags.string({ char: 'u', description: 'Username or UID (format: <name|uid>[:<group|gid>])' }),
  'group-add': Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description: 'Add additional groups to the primary container process',
  }),
  entrypoint: Flags.string({ description: 'Overwrite the default ENTRYPOINT of the image' }),
  hostname: Flags.string({ char: 'h', description: 'Set container hostname' }),
  volume: Flags.string({
    char: 'v',
    multiple: true,
    multipleNonGreedy: true,
    description: 'Bind mount a volume into the container',
  }),
  mount: Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description: 'Attach a filesystem mount to the container',
  }),
  tmpfs: Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description: 'Mount a temporary filesystem (tmpfs) into a container',
  }),
  'image-volume': Flags.string({
    description: "What the image's VOLUME entries become: bind (anonymous volumes), tmpfs or ignore",
  }),
  'read-only': Flags.boolean({ description: 'Make container root filesystem read-only' }),
  'read-only-tmpfs': Flags.boolean({
    allowNo: true,
    description: 'When running --read-only, mount tmpfs on /run, /tmp and /var/tmp',
  }),
  'cap-add': Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description: 'Add capabilities to the container',
  }),
  'cap-drop': Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description: 'Drop capabilities from the container',
  }),
  privileged: Flags.boolean({ description: 'Give extended privileges to container' }),
  'security-opt': Flags.string({ multiple: true, multipleNonGreedy: true, description: 'Security Options' }),
  init: Flags.boolean({
    description: 'Run an init binary inside the container that forwards signals and reaps processes',
  }),
  'stop-signal': Flags.string({ description: 'Signal to stop a container. Default is SIGTERM' }),
  'stop-timeout': Flags.string({
    description: 'Timeout (in seconds) that containers stopped by user command have to exit',
  }),
  memory: Flags.string({ char: 'm', description: 'Memory limit (format: <number>[<unit>])' }),
  cpus: Flags.string({ description: 'Number of CPUs. The default is 0.000 which means no limit' }),
  'pids-limit': Flags.string({ description: 'Tune container pids limit (set -1 for unlimited)' }),
  ulimit: Flags.string({ multiple: true, multipleNonGreedy: true, description: 'Ulimit options' }),
  label: Flags.string({
    char: 'l',
    multiple: true,
    multipleNonGreedy: true,
    description: 'Set metadata on container',
  }),
  annotation: Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description: 'Add annotations to container (key=value)',
  }),
  pull: Flags.string({
    description: 'Pull image policy',
    options: ['always', 'missing', 'never', 'newer'],
    default: 'missing',
  }),
  platform: Flags.string({ description: 'Specify the platform for selecting the image' }),
  cidfile: Flags.string({ description: 'Write the container ID to the file' }),
  'log-driver': Flags.string({ description: 'Logging driver for the container' }),
  network: Flags.string({ description: 'Connect a container to a network (none, host)', aliases: ['net'] }),
  userns: Flags.string({
    description: 'User namespace to use: host, keep-id[:uid=UID,gid=GID] or nomap (rootless)',
  }),
  runtime: Flags.string({ description: 'Path to the OCI-compatible binary used to run containers' }),
  'runtime-flag': Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description: 'add global flags for the container runtime',
  }),
  tty: Flags.boolean({ char: 't', description: 'Allocate a pseudo-TTY for container' }),
  interactive: Flags.boolean({ char: 'i', description: 'Make STDIN available to the contained process' }),
  rm: Flags.boolean({
    description: 'Remove container and any anonymous unnamed volume associated with the container after exit',
  }),
  restart: Flags.string({ description: 'Restart policy to apply when a container exits' }),
  quiet: Flags.boolean({ char: 'q', description: 'Suppress output information when pulling images' }),
};

export type CreateFlags = CreateFlagValues &
  StoreFlags & {
    replace?: boolean;
    pull?: string;
    platform?: string | undefined;
    cidfile?: string | undefined;
    quiet?: boolean;
    runtime?: string | undefined;
    'runtime-flag'?: string[] | undefined;
  };

/**
 * Everything after the image belongs to the container: insert `--` after the first positional
 * argument so oclif parses no flag of the container's command line.
 */
export function separateContainerArgs(
  argv: string[],
  flagDefs: Record<string, { type: string; char?: string }>,
): string[] {
  // Flag values are joined to their flag (`--name=x`): oclif's parser otherwise confuses a
  // value with an equal positional argument (`run --name hi IMAGE echo hi`).
  const longWithValue = new Set<string>(['--net']);
  const charToName = new Map<string, string>();
  for (const [name, def] of Object.entries(flagDefs)) {
    if (def.type !== 'option') continue;
    longWithValue.add(`--${name}`);
    if (def.char) charToName.set(def.char, name);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return [...out, ...argv.slice(i)];
    if (a.startsWith('--')) {
      if (!a.includes('=') && longWithValue.has(a) && i + 1 < argv.length) out.push(`${a}=${argv[++i]}`);
      else out.push(a);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      let j = 1;
      while (j < a.length && !charToName.has(a[j] as string)) j++;
      if (j === a.length) {
        out.push(a);
        continue;
      }
      if (j > 1) out.push(a.slice(0, j));
      const name = charToName.get(a[j] as string) as string;
      let value = a.slice(j + 1);
      if (value.startsWith('=')) value = value.slice(1);
      else if (value === '' && i + 1 < argv.length) value = argv[++i] as string;
      out.push(`--${name}=${value}`);
      continue;
    }
    return [...out, a, '--', ...argv.slice(i + 1)];
  }
  return out;
}

/**
 * Resolve (and pull, by --pull) the image, apply --replace, and create the container from the
 * flags. Nothing is left behind when any step fails.
 */
export async function createFromFlags(
  s: ContainerSession,
  flags: CreateFlags,
  image: string,
  command: string[],
  createCommand: string[],
): Promise<{ rec: ContainerRecord; warnings: string[] }> {
  const parsed = parseCreateFlags(flags, command, {
    hostEnv: process.env,
    cwd: process.cwd(),
    cgroupLimitsUnavailable: inUserNamespace() || process.geteuid?.() !== 0,
    rootless: rootlessNamespaceInfo(),
  });
  if (flags.cidfile !== undefined && existsSync(flags.cidfile))
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `container id file exists. Ensure another container is not using it or delete ${flags.cidfile}`,
    );
  const policy = flags.pull ?? 'missing';
  let info = policy === 'always' ? undefined : lookupLocalImage(s.store, image);
  if (!info) {
    if (policy === 'never') throw new SkiffError('NOT_FOUND', `${image}: image not known`);
    // Loaded only when an image must be pulled: the registry client (undici) and the progress
    // renderer are most of what `run` would otherwise evaluate at start-up.
    const [{ pullImage }, { createProgressRenderer }, { platformOf }] = await Promise.all([
      import('@skiff/oci/image/pull'),
      import('../../render/progress.js'),
      import('../../image-flags.js'),
    ]);
    const renderer = createProgressRenderer({
      stream: process.stderr,
      quiet: Boolean(flags.quiet),
      tty: Boolean(process.stderr.isTTY),
    });
    const platform = platformOf({ platform: flags.platform });
    const pulled = await pullImage(image, {
      store: storeOptions(flags),
      ...(platform ? { platform } : {}),
      onProgress: (e) => renderer.onEvent(e),
    });
    renderer.done();
    const first = pulled[0];
    info = first ? (s.store.getImage(first.image.id) ?? first.image) : undefined;
    if (!info) throw new SkiffError('NOT_FOUND', `${image}: image not known`);
  }
  const runtime = await s.runtime();
  if (flags.replace && flags.name !== undefined) {
    const old = s.db.get(flags.name);
    if (old) {
      await stopContainer(s, old.id, { timeoutSec: 0 });
      if (s.db.get(old.id)) await removeContainer(s.store, s.db, runtime, old.id, { force: true });
    }
  }
  const options: CreateContainerOptions = {
    ...parsed.options,
    store: s.store,
    db: s.db,
    runtime,
    image: storedNameFor(info, image) ?? info.id,
    config: { ...parsed.stored, image, createCommand },
  };
  // Volumes (anonymous, named, the image's) are made, filled and undone on failure in there.
  const rec = await createContainer(options);
  if (flags.cidfile !== undefined) {
    try {
      writeFileSync(flags.cidfile, rec.id, { flag: 'wx' });
    } catch (err) {
      await removeContainer(s.store, s.db, runtime, rec.id, { force: true, volumes: true }).catch(() => {});
      throw new SkiffError(
        'INVALID_ARGUMENT',
        `cannot write --cidfile ${flags.cidfile}: ${(err as Error).message}`,
      );
    }
  }
  return { rec, warnings: parsed.warnings };
}

/** The session options the runtime flags select. */
export function sessionOptions(flags: {
  runtime?: string | undefined;
  'runtime-flag'?: string[] | undefined;
}) {
  return {
    ...(flags.runtime ? { runtime: flags.runtime } : {}),
    ...(flags['runtime-flag']?.length ? { runtimeFlags: flags['runtime-flag'] } : {}),
  };
}

/** 126/127 for a command that cannot be run (podman's codes); undefined otherwise. */
export function commandExitCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'COMMAND_NOT_FOUND') return 127;
  if (code === 'COMMAND_NOT_EXECUTABLE') return 126;
  return undefined;
}

export function requireImageArg(argv: string[]): { image: string; command: string[] } {
  const [image, ...command] = argv;
  if (image === undefined || image === '')
    throw new UsageError('requires at least 1 arg(s), only received 0');
  return { image, command };
}

export default class ContainerCreate extends ToolCommand {
  static override aliases = ['create'];
  static override summary = 'Create but do not start a container';
  static override description = 'Creates a container from an image; `skiff start` runs it.';
  static override examples = ['<%= config.bin %> create --name web busybox httpd -f'];
  static override strict = false;
  static override args = { image: Args.string({ required: true, description: 'image' }) };
  static override flags = CREATE_FLAGS;

  public override async init(): Promise<void> {
    this.argv = separateContainerArgs(this.argv, { ...this.ctor.flags, ...this.ctor.baseFlags } as never);
    await super.init();
  }

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerCreate);
    const { image, command } = requireImageArg(argv as string[]);
    let exitCode: number | undefined;
    await withContainerSession(
      storeOptions(flags),
      async (s) => {
        try {
          const { rec, warnings } = await createFromFlags(s, flags, image, command, ['skiff', ...this.argv]);
          for (const w of warnings) process.stderr.write(`WARN[0000] ${w}\n`);
          process.stdout.write(`${rec.id}\n`);
        } catch (err) {
          exitCode = commandExitCode(err);
          if (exitCode === undefined) throw err;
          process.stderr.write(`Error: ${(err as Error).message}\n`);
        }
      },
      sessionOptions(flags),
    );
    if (exitCode !== undefined) this.exit(exitCode);
  }
}
