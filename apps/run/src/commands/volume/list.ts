import { Flags } from '@oclif/core';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { listVolumes, volumeFilter, volumeInspectData, volumesInUse } from '@skiff/oci/runtime/volumes';
import { goStruct } from '@skiff/oci/template/go-template';
import { ToolCommand } from '../../base-command.js';
import { renderReport } from '../../render/report.js';
import { storeOptions } from '../../store-options.js';

export default class VolumeList extends ToolCommand {
  static override aliases = ['volume:ls'];
  static override summary = 'List volumes';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description =
    'Lists the volumes of the store, named and anonymous (these have 64-hex names).';
  static override examples = ['<%= config.bin %> volume ls -q'];
  static override flags = {
    quiet: Flags.boolean({ char: 'q', description: 'Print volume output in quiet mode' }),
    format: Flags.string({ description: 'Format volume output using Go template' }),
    noheading: Flags.boolean({ char: 'n', description: 'Do not print headers' }),
    filter: Flags.string({
      char: 'f',
      multiple: true,
      multipleNonGreedy: true,
      description: 'Filter volume output (name, label, driver, scope, dangling, until)',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(VolumeList);
    const vols = await withContainerSession(storeOptions(flags), (s) => {
      const all = listVolumes(s.store.location);
      if (!flags.filter?.length) return all;
      return all.filter(volumeFilter(flags.filter, volumesInUse(s.db)));
    });
    if (flags.quiet && flags.format === undefined) {
      process.stdout.write(vols.map((v) => `${v.name}\n`).join(''));
      return;
    }
    const rows = vols.map((v) =>
      goStruct(
        { Name: v.name, Driver: 'local', Mountpoint: v.mountpoint, Labels: v.labels },
        'entities.VolumeListReport',
      ),
    );
    process.stdout.write(
      renderReport(rows, {
        format: flags.format,
        defaultFormat: 'table {{.Driver}}\t{{.Name}}',
        headers: { Driver: 'DRIVER', Name: 'VOLUME NAME' },
        noHeading: flags.noheading,
        json: () => vols.map(volumeInspectData),
      }),
    );
  }
}
