import { Args, Flags } from '@oclif/core';
import { imageHistory, requireLocalImage } from '@skiff/oci/image/local-images';
import { goStruct } from '@skiff/oci/template/go-template';
import { ToolCommand } from '../../base-command.js';
import { renderReport } from '../../render/report.js';
import { goTime, humanSize, shortId, timeAgo } from '../../render/units.js';
import { withStore } from '../../store-options.js';

const CREATED_BY_WIDTH = 45;

export default class ImageHistory extends ToolCommand {
  static override aliases = ['history'];
  static override summary = 'Show history of a specified image';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description = "Shows an image's history, newest layer first, as podman history.";
  static override examples = [
    '<%= config.bin %> history busybox',
    "<%= config.bin %> history --format '{{.CreatedBy}}' busybox",
  ];
  static override args = { image: Args.string({ required: true, description: 'image' }) };
  static override flags = {
    human: Flags.boolean({
      char: 'H',
      description: 'Display sizes and dates in human readable format',
      default: true,
      allowNo: true,
    }),
    'no-trunc': Flags.boolean({ description: 'Do not truncate the output' }),
    quiet: Flags.boolean({ char: 'q', description: 'Display the numeric IDs only' }),
    format: Flags.string({ description: 'Change the output to JSON or a Go template' }),
    noheading: Flags.boolean({ char: 'n', description: 'Do not print column headings' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImageHistory);
    const entries = await withStore(
      flags,
      (store) => {
        const image = requireLocalImage(store, args.image);
        return imageHistory(image, (i) => store.getLayer(image.layers[i]!)?.sizeBytes ?? 0);
      },
      { readOnly: true },
    );
    const noTrunc = flags['no-trunc'];
    const rows = entries.map((e) => {
      let createdBy = e.createdBy;
      if (!noTrunc && flags.format === undefined && createdBy.length > CREATED_BY_WIDTH) {
        createdBy = `${createdBy.slice(0, CREATED_BY_WIDTH - 3)}...`;
      }
      return goStruct(
        {
          ID: e.id === '<missing>' ? e.id : shortId(e.id, noTrunc),
          Created: flags.human ? timeAgo(e.created) : (e.created?.toISOString() ?? ''),
          CreatedAt: goTime(e.created),
          CreatedSince: timeAgo(e.created),
          CreatedBy: createdBy,
          Size: flags.human ? humanSize(e.sizeBytes) : String(e.sizeBytes),
          Comment: e.comment,
          Tags: e.tags,
        },
        'images.historyReporter',
      );
    });
    if (flags.quiet) {
      process.stdout.write(rows.map((r) => `${r.ID}\n`).join(''));
      return;
    }
    process.stdout.write(
      renderReport(rows, {
        format: flags.format,
        defaultFormat: 'table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
        headers: { CreatedBy: 'CREATED BY', CreatedAt: 'CREATED AT', CreatedSince: 'CREATED' },
        noHeading: flags.noheading,
        json: () =>
          entries.map((e) => ({
            id: e.id,
            created: e.created?.toISOString(),
            CreatedBy: e.createdBy,
            Size: e.sizeBytes,
            Comment: e.comment,
            Tags: e.tags.length > 0 ? e.tags : null,
          })),
      }),
    );
  }
}
