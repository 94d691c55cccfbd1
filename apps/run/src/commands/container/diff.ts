import { Args, Flags } from '@oclif/core';
import { changesJson, changesText, diffBetween, diffContainerOrImage } from '@skiff/oci/runtime/diff';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand, UsageError } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerDiff extends ToolCommand {
  static override aliases = ['diff'];
  static override summary = "Inspect changes on a container or image's filesystem";
  static override description =
    'Lists what a container changed against its image (or what an image changed against its parent layer), or what the first of two containers or images has against the second: A added, C changed, D deleted, sorted by path.';
  static override examples = [
    '<%= config.bin %> diff web',
    '<%= config.bin %> diff --format json web',
    '<%= config.bin %> diff web busybox',
  ];
  static override args = {
    name: Args.string({ required: true, description: 'container or image' }),
    other: Args.string({ description: 'container or image to compare with (default: its parent)' }),
  };
  static override flags = {
    format: Flags.string({ description: 'Change the output format (json)' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainerDiff);
    if (flags.format !== undefined && flags.format !== 'json' && flags.format !== '{{json .}}')
      throw new UsageError(`invalid --format "${flags.format}": the only valid format for diff is json`);
    const changes = await withContainerSession(storeOptions(flags), (s) =>
      args.other === undefined
        ? diffContainerOrImage(s.store, s.db, args.name)
        : diffBetween(s.store, s.db, args.name, args.other),
    );
    if (flags.format !== undefined)
      process.stdout.write(`${JSON.stringify(changesJson(changes), null, 5)}\n`);
    else process.stdout.write(changesText(changes));
  }
}
