import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Args, Flags } from '@oclif/core';
import { copyImage } from '@skiff/oci/copy/copy';
import { requireLocalImage, storedNameFor } from '@skiff/oci/image/local-images';
import { parseContainersStorageReference } from '@skiff/oci/transports/containers-storage';
import { parseImageName } from '@skiff/oci/transports/index';
import { ToolCommand, UsageError } from '../../base-command.js';
import { createProgressRenderer } from '../../render/progress.js';
import { storeOptions, withStore } from '../../store-options.js';

const FORMATS = ['docker-archive', 'oci-archive', 'oci-dir', 'docker-dir'] as const;

export default class ImageSave extends ToolCommand {
  static override aliases = ['save'];
  static override summary = 'Save image(s) to an archive';
  static override description =
    'Saves an image from the local store to a docker-archive (default), an oci-archive, an OCI layout directory (oci-dir) or a dir: directory (docker-dir). Without -o the archive goes to stdout.';
  static override examples = [
    '<%= config.bin %> save -o busybox.tar busybox',
    '<%= config.bin %> save --format oci-archive -o busybox.tar busybox',
  ];
  static override args = { image: Args.string({ required: true, description: 'image to save' }) };
  static override flags = {
    format: Flags.string({
      description:
        'Save image to oci-archive, oci-dir (directory with oci manifest type), docker-archive, docker-dir (directory with v2s2 manifest type)',
      default: 'docker-archive',
    }),
    output: Flags.string({
      char: 'o',
      description: 'Write to a specified file (default: stdout, which must be redirected)',
    }),
    quiet: Flags.boolean({ char: 'q', description: 'Suppress the output' }),
    compress: Flags.boolean({
      description: 'Compress tarball image layers when saving to a directory using the docker-dir format',
    }),
    uncompressed: Flags.boolean({ description: 'Accept uncompressed layers when copying OCI images' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImageSave);
    const format = flags.format as (typeof FORMATS)[number];
    if (!FORMATS.includes(format)) {
      throw new UsageError(`unsupported format "${flags.format}": expected one of ${FORMATS.join(', ')}`);
    }
    let output = flags.output;
    let scratch: string | undefined;
    if (output === undefined) {
      if (process.stdout.isTTY) throw new UsageError('refusing to save to terminal. Use -o flag or redirect');
      if (format === 'oci-dir' || format === 'docker-dir')
        throw new UsageError(`--format ${format} needs -o DIRECTORY`);
      scratch = await mkdtemp(join(tmpdir(), 'skiff-save-'));
      output = join(scratch, 'image.tar');
    }
    const { id, name } = await withStore(flags, (store) => {
      const image = requireLocalImage(store, args.image);
      return { id: image.id, name: storedNameFor(image, args.image) };
    });
    const suffix = name ? `:${name}` : '';
    const destination = parseImageName(
      format === 'docker-archive'
        ? `docker-archive:${output}${suffix}`
        : format === 'oci-archive'
          ? `oci-archive:${output}${suffix}`
          : format === 'oci-dir'
            ? `oci:${output}${suffix}`
            : `dir:${output}`,
    );
    const renderer = createProgressRenderer({
      stream: process.stderr,
      quiet: flags.quiet || scratch !== undefined,
      tty: Boolean(process.stderr.isTTY),
    });
    try {
      await copyImage(parseContainersStorageReference(id, storeOptions(flags)), destination, {
        ...(format === 'oci-dir' || format === 'oci-archive' ? { format: 'oci' as const } : {}),
        ...(format === 'docker-dir'
          ? { format: 'v2s2' as const, ...(flags.compress ? {} : { compression: 'none' as const }) }
          : {}),
        onProgress: (e) => renderer.onEvent(e),
      });
      renderer.done();
      if (scratch) await pipeline(createReadStream(output), process.stdout);
    } finally {
      if (scratch) await rm(scratch, { recursive: true, force: true });
    }
  }
}
