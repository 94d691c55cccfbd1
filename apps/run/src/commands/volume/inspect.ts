import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { getVolume } from '@skiff/oci/runtime/volumes';
import { goStruct, renderTemplate } from '@skiff/oci/template/go-template';
import { ToolCommand } from '../../base-command.js';
import { inspectJson } from '../../render/json.js';
import { storeOptions } from '../../store-options.js';

export default class VolumeInspect extends ToolCommand {
  static override summary = 'Display detailed information on one or more volumes';
  static override description = "Shows a volume's name, driver, mount point, labels and creation time.";
  static override examples = ["<%= config.bin %> volume inspect --format '{{.Mountpoint}}' data"];
  static override strict = false;
  static override args = { name: Args.string({ required: true, description: 'volume(s)' }) };
  static override flags = {
    format: Flags.string({ char: 'f', description: 'Format volume output using Go template' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(VolumeInspect);
    const names = argv as string[];
    const data = await withContainerSession(storeOptions(flags), (s) =>
      names.map((n) => {
        const v = getVolume(s.store.location, n);
        if (!v) throw new SkiffError('NOT_FOUND', `no volume with name "${n}" found: no such volume`);
        return {
          Name: v.name,
          Driver: 'local',
          Mountpoint: v.mountpoint,
          CreatedAt: v.created.toISOString(),
          Labels: v.labels,
          Scope: 'local',
          Options: {},
        };
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
