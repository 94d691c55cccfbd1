import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { findVolume, listVolumes, volumeInspectData } from '@skiff/oci/runtime/volumes';
import { goStruct, renderTemplate } from '@skiff/oci/template/go-template';
import { ToolCommand, UsageError } from '../../base-command.js';
import { inspectJson } from '../../render/json.js';
import { storeOptions } from '../../store-options.js';

export default class VolumeInspect extends ToolCommand {
  static override summary = 'Display detailed information on one or more volumes';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description = "Shows a volume's name, driver, mount point, labels and creation time.";
  static override examples = ["<%= config.bin %> volume inspect --format '{{.Mountpoint}}' data"];
  static override strict = false;
  static override args = { name: Args.string({ description: 'volume(s)' }) };
  static override flags = {
    format: Flags.string({ char: 'f', description: 'Format volume output using Go template' }),
    all: Flags.boolean({ char: 'a', description: 'Inspect all volumes' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(VolumeInspect);
    const names = argv as string[];
    if (!flags.all && names.length === 0)
      throw new UsageError('provide one or more volume names or use --all');
    const data = await withContainerSession(storeOptions(flags), (s) =>
      (flags.all
        ? listVolumes(s.store.location)
        : names.map((n) => findVolume(s.store.location, n) ?? n)
      ).map((v) => {
        if (typeof v === 'string')
          throw new SkiffError('NOT_FOUND', `no volume with name "${v}" found: no such volume`);
        return volumeInspectData(v);
      }),
    );
    if (flags.format === undefined || flags.format === 'json') process.stdout.write(inspectJson(data));
    else
      process.stdout.write(
        data
          .map((d) => `${renderTemplate(flags.format as string, goStruct(d, 'define.InspectVolumeData'))}\n`)
          .join(''),
      );
  }
}
