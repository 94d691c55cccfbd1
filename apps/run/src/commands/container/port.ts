import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { containerPorts, parsePortFilter, portLines } from '@skiff/oci/runtime/ports';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand, UsageError } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerPort extends ToolCommand {
  static override aliases = ['port'];
  static override summary = 'List port mappings or a specific mapping for the container';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description =
    'Lists the published ports of a container (PRIVATE/PROTO -> HOSTIP:PORT), or the host address of one private port. --all lists those of every running container, each line prefixed with its ID.';
  static override examples = [
    '<%= config.bin %> port web',
    '<%= config.bin %> port web 80/tcp',
    '<%= config.bin %> port -a',
  ];
  static override args = {
    container: Args.string({ description: 'container' }),
    port: Args.string({ description: 'PRIVATE_PORT[/PROTO]' }),
  };
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'Display port information for all containers' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainerPort);
    if (flags.all && args.container !== undefined) throw new UsageError('no arguments are needed with --all');
    if (!flags.all && args.container === undefined)
      throw new UsageError('you must supply a running container name or id');
    const filter = args.port !== undefined ? parsePortFilter(args.port) : undefined;
    const lines = await withContainerSession(storeOptions(flags), (s) => {
      if (flags.all) {
        return s.db
          .list()
          .filter((c) => c.status === 'running' || c.status === 'paused')
          .flatMap((c) => portLines(containerPorts(c), { prefix: `${c.id.slice(0, 12)}\t` }));
      }
      const rec = s.db.get(args.container as string);
      if (!rec)
        throw new SkiffError(
          'NOT_FOUND',
          `no container with name or ID "${args.container}" found: no such container`,
        );
      return portLines(containerPorts(rec), {
        ...(filter ? { filter, filterText: args.port as string } : {}),
      });
    });
    for (const l of lines) process.stdout.write(`${l}\n`);
  }
}
