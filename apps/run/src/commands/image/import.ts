import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { Args, Flags } from '@oclif/core';
import { importTarball } from '@skiff/oci/image/import-tarball';
import { normalizeLocalName } from '@skiff/oci/image/local-images';
import { ToolCommand, UsageError } from '../../base-command.js';
import { withStore } from '../../store-options.js';

export default class ImageImport extends ToolCommand {
  static override aliases = ['import'];
  static override summary = 'Import a tarball to create a filesystem image';
  static override description =
    'Creates a one-layer image from a root filesystem tarball (plain, gzip or zstd; "-" reads stdin), its config set by --change instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR).';
  static override examples = [
    '<%= config.bin %> import --change \'CMD=["/bin/sh"]\' --change ENV=A=b rootfs.tar myimage:1',
    '<%= config.bin %> import - myimage < rootfs.tar.gz',
  ];
  static override args = {
    path: Args.string({ required: true, description: 'tarball path, or - for stdin' }),
    reference: Args.string({ description: 'name of the new image' }),
  };
  static override flags = {
    change: Flags.string({
      char: 'c',
      multiple: true,
      description: 'Apply the following possible instructions to the created image',
    }),
    message: Flags.string({ char: 'm', description: 'Set commit message for imported image' }),
    quiet: Flags.boolean({ char: 'q', description: 'Suppress output' }),
    arch: Flags.string({ description: 'Set the architecture of the imported image' }),
    os: Flags.string({ description: 'Set the OS of the imported image' }),
    variant: Flags.string({ description: 'Set the variant of the imported image' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImageImport);
    if (/^https?:\/\//.test(args.path))
      throw new UsageError('importing from a URL is not supported: download the tarball first');
    const name = args.reference === undefined ? undefined : normalizeLocalName(args.reference);
    const input: Readable = args.path === '-' ? process.stdin : createReadStream(args.path);
    const image = await withStore(flags, (store) =>
      importTarball(store, input, {
        ...(name ? { name } : {}),
        changes: flags.change ?? [],
        ...(flags.message !== undefined ? { message: flags.message } : {}),
        ...(flags.os !== undefined ? { os: flags.os } : {}),
        ...(flags.arch !== undefined ? { architecture: flags.arch } : {}),
        ...(flags.variant !== undefined ? { variant: flags.variant } : {}),
      }),
    );
    process.stdout.write(`sha256:${image.id}\n`);
  }
}
