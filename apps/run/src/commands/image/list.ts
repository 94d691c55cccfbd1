import { Args, Flags } from '@oclif/core';
import { parseImageFilters, summarize } from '@skiff/oci/image/image-summary';
import { STORAGE_DRIVERS, type StorageDriver, type StoreLocationOptions } from '@skiff/oci/storage/config';
import { listImageRecords } from '@skiff/oci/storage/image-records';
import { ToolCommand, UsageError } from '../../base-command.js';
import { IMAGE_HEADERS, imageRows, imagesJson } from '../../render/images.js';
import { renderReport } from '../../render/report.js';

/**
 * The global store flags as options, as ../../store-options.js does; not imported from there
 * because that module loads the whole store (zod, layer code) and `images` must start fast.
 */
function locationOptions(flags: { root?: string; runroot?: string; 'storage-driver'?: string }) {
  const options: StoreLocationOptions = {};
  if (flags.root !== undefined) options.root = flags.root;
  if (flags.runroot !== undefined) options.runroot = flags.runroot;
  const driver = flags['storage-driver'];
  if (driver !== undefined && driver !== '') {
    if (!STORAGE_DRIVERS.includes(driver as StorageDriver)) {
      throw new UsageError(
        `unsupported storage driver "${driver}": use one of ${STORAGE_DRIVERS.join(', ')}`,
      );
    }
    options.driver = driver as StorageDriver;
  }
  return options;
}

export default class ImageList extends ToolCommand {
  static override aliases = ['images', 'image:ls'];
  static override summary = 'List images in local storage';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description = 'Lists the images in the local store, newest first, one row per name.';
  static override examples = [
    '<%= config.bin %> images',
    "<%= config.bin %> images --format '{{.Repository}}:{{.Tag}}'",
    '<%= config.bin %> images --filter dangling=true -q',
  ];
  static override args = {
    image: Args.string({ description: 'only images with this name (reference filter)' }),
  };
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'Show all images (default hides intermediate images)' }),
    digests: Flags.boolean({ description: 'Show digests' }),
    filter: Flags.string({
      char: 'f',
      multiple: true,
      description: 'Filter output based on conditions provided',
    }),
    format: Flags.string({ description: 'Change the output format to JSON or a Go template' }),
    noheading: Flags.boolean({ char: 'n', description: 'Do not print column headings' }),
    'no-trunc': Flags.boolean({ description: 'Do not truncate output' }),
    quiet: Flags.boolean({ char: 'q', description: 'Display only image IDs' }),
    sort: Flags.string({
      description: 'Sort by created, id, repository, size, tag',
      options: ['created', 'id', 'repository', 'size', 'tag'],
      default: 'created',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImageList);
    const filterValues = [...(flags.filter ?? [])];
    if (args.image !== undefined) filterValues.push(`reference=${args.image}`);
    const select = parseImageFilters(filterValues);
    const summaries = select((await listImageRecords(locationOptions(flags))).map(summarize));
    let rows = imageRows(summaries, { noTrunc: flags['no-trunc'] });
    const by = flags.sort;
    if (by !== 'created') {
      const key = (r: (typeof rows)[number]) =>
        by === 'id' ? r.Id : by === 'repository' ? r.Repository : by === 'tag' ? r.Tag : '';
      rows = [...rows].sort((a, b) =>
        by === 'size'
          ? (summaries.find((s) => s.id === b.Id)?.sizeBytes ?? 0) -
            (summaries.find((s) => s.id === a.Id)?.sizeBytes ?? 0)
          : key(a).localeCompare(key(b)),
      );
    }
    if (flags.quiet && flags.format === undefined) {
      const ids = [...new Set(rows.map((r) => r.ID))];
      process.stdout.write(ids.map((id) => `${id}\n`).join(''));
      return;
    }
    const columns = flags.digests
      ? '{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.Created}}\t{{.Size}}'
      : '{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}';
    process.stdout.write(
      renderReport(rows, {
        format: flags.format,
        defaultFormat: `table ${columns}`,
        headers: IMAGE_HEADERS,
        noHeading: flags.noheading,
        json: () => imagesJson(summaries),
      }),
    );
  }
}
