import { writeFile } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { copyImage } from '@skiff/oci/copy/copy';
import { requireLocalImage } from '@skiff/oci/image/local-images';
import type { Compression } from '@skiff/oci/spec/media-types';
import { parseContainersStorageReference } from '@skiff/oci/transports/containers-storage';
import { parseImageName, transportNames } from '@skiff/oci/transports/index';
import { ToolCommand, UsageError } from '../../base-command.js';
import { registryFlags, registryOptions } from '../../image-flags.js';
import { createProgressRenderer } from '../../render/progress.js';
import { storeOptions, withStore } from '../../store-options.js';

export default class ImagePush extends ToolCommand {
  static override aliases = ['push'];
  static override summary = 'Push an image to a specified destination';
  static override description =
    'Pushes an image from the local store to a registry (the default transport) or to any transport: oci:, oci-archive:, docker-archive:, dir:.';
  static override examples = [
    '<%= config.bin %> push 127.0.0.1:5000/app:1',
    '<%= config.bin %> push app:1 oci:/tmp/layout:app',
  ];
  static override args = {
    image: Args.string({ required: true, description: 'local image to push' }),
    destination: Args.string({ description: 'destination (TRANSPORT:DETAILS, docker:// by default)' }),
  };
  static override flags = {
    quiet: Flags.boolean({ char: 'q', description: 'Suppress output information when pushing images' }),
    format: Flags.string({ char: 'f', description: 'Manifest type (oci, v2s2) to use in the destination' }),
    'compression-format': Flags.string({ description: 'compression format to use (gzip, zstd)' }),
    digestfile: Flags.string({ description: 'Write the digest of the pushed image to the specified file' }),
    'remove-signatures': Flags.boolean({ description: 'Discard any pre-existing signatures in the image' }),
    ...registryFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagePush);
    const format = flags.format?.toLowerCase();
    if (format !== undefined && format !== 'oci' && format !== 'v2s2') {
      throw new UsageError(`unknown format "${flags.format}": expected oci or v2s2`);
    }
    const compression = flags['compression-format'];
    if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd') {
      throw new UsageError(`unknown compression format "${compression}": expected gzip or zstd`);
    }
    const image = await withStore(flags, (store) => requireLocalImage(store, args.image));
    const destText = args.destination ?? args.image;
    const transport = destText.slice(0, destText.indexOf(':'));
    const destination = transportNames().includes(transport)
      ? parseImageName(destText)
      : parseImageName(`docker://${destText}`);
    const source = parseContainersStorageReference(image.id, storeOptions(flags));
    const renderer = createProgressRenderer({
      stream: process.stderr,
      quiet: flags.quiet,
      tty: Boolean(process.stderr.isTTY),
    });
    const result = await copyImage(source, destination, {
      destinationOptions: registryOptions(flags),
      ...(format ? { format: format as 'oci' | 'v2s2' } : {}),
      ...(compression ? { compression: compression as Compression } : {}),
      onProgress: (e) => renderer.onEvent(e),
    });
    renderer.done();
    if (flags.digestfile !== undefined) await writeFile(flags.digestfile, result.digest);
  }
}
