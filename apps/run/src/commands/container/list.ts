import { Flags } from '@oclif/core';
import { type ContainerSummary, parseContainerFilters } from '@skiff/oci/runtime/container-info';
import { listContainers } from '@skiff/oci/runtime/containers';
import { storedConfigOf } from '@skiff/oci/runtime/create-flags';
import { resolveStoreLocation } from '@skiff/oci/storage/config';
import { ToolCommand, UsageError } from '../../base-command.js';
import { CONTAINER_HEADERS, containerRows, containersJson } from '../../render/containers.js';
import { renderReport } from '../../render/report.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerList extends ToolCommand {
  static override aliases = ['ps', 'container:ls', 'container:ps'];
  static override summary = 'List containers';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description = 'Lists running containers (all with -a), oldest first, as podman ps.';
  static override examples = [
    '<%= config.bin %> ps -a',
    "<%= config.bin %> ps -a --filter status=exited --format '{{.Names}} {{.Status}}'",
  ];
  static override flags = {
    all: Flags.boolean({
      char: 'a',
      description: 'Show all the containers, default is only running containers',
    }),
    quiet: Flags.boolean({ char: 'q', description: 'Print the numeric IDs of the containers only' }),
    'no-trunc': Flags.boolean({ description: 'Display the extended information' }),
    filter: Flags.string({
      char: 'f',
      multiple: true,
      description: 'Filter output based on conditions given',
    }),
    format: Flags.string({ description: 'Pretty-print containers to JSON or using a Go template' }),
    last: Flags.string({ char: 'n', description: 'Print the n last created containers (all states)' }),
    latest: Flags.boolean({ char: 'l', description: 'Act on the latest container podman is aware of' }),
    noheading: Flags.boolean({ description: 'Do not print headers' }),
    size: Flags.boolean({ char: 's', description: 'Display the total file sizes' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ContainerList);
    const select = parseContainerFilters(flags.filter ?? []);
    let last: number | undefined;
    if (flags.last !== undefined) {
      if (!/^-?\d+$/.test(flags.last))
        throw new UsageError(`invalid argument "${flags.last}" for "-n, --last" flag`);
      last = Number(flags.last);
    }
    if (flags.latest) last = 1;
    const all = flags.all || (last !== undefined && last >= 0) || (flags.filter ?? []).length > 0;
    // The container records only (refreshed from conmon's exit files): not the image store.
    let list = listContainers(resolveStoreLocation(storeOptions(flags))).map((rec): ContainerSummary => {
      const config = storedConfigOf(rec.config);
      return {
        rec,
        config,
        image: rec.imageName ?? config.image ?? rec.imageId.slice(0, 12),
        command: [...(config.entrypoint ?? []), ...(config.command ?? [])],
      };
    });
    list = list.filter((c) => (all || c.rec.status === 'running') && select(c));
    if (last !== undefined && last >= 0) list = list.slice(-last);
    if (flags.quiet && flags.format === undefined) {
      process.stdout.write(
        list.map((c) => `${flags['no-trunc'] ? c.rec.id : c.rec.id.slice(0, 12)}\n`).join(''),
      );
      return;
    }
    process.stdout.write(
      renderReport(containerRows(list, { noTrunc: flags['no-trunc'] }), {
        format: flags.format,
        defaultFormat:
          'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}',
        headers: CONTAINER_HEADERS,
        noHeading: flags.noheading,
        json: () => containersJson(list),
      }),
    );
  }
}
