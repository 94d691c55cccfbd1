import { Args, Flags } from '@oclif/core';
import { pullImage } from '@skiff/oci/image/pull';
import { ToolCommand } from '../../base-command.js';
import { platformOf, registryFlags, registryOptions } from '../../image-flags.js';
import { createProgressRenderer } from '../../render/progress.js';
import { storeOptions } from '../../store-options.js';

export default class ImagePull extends ToolCommand {
  static override aliases = ['pull'];
  static override summary = 'Pull an image from a registry';
  static override description =
    'Pulls an image from a registry into the local store. A short name is resolved through registries.conf; an image the store already holds is not downloaded again.';
  static override examples = [
    '<%= config.bin %> pull docker.io/library/busybox',
    '<%= config.bin %> pull --tls-verify=false 127.0.0.1:5000/app:1',
  ];
  static override args = {
    image: Args.string({ required: true, description: 'image to pull' }),
  };
  static override strict = false;
  static override flags = {
    'all-tags': Flags.boolean({
      char: 'a',
      description: 'All tagged images in the repository will be pulled',
    }),
    platform: Flags.string({
      description: 'Specify the platform for selecting the image (OS/ARCH[/VARIANT])',
    }),
    arch: Flags.string({
      description: 'Use `ARCH` instead of the architecture of the machine for choosing images',
    }),
    os: Flags.string({ description: 'Use `OS` instead of the running OS for choosing images' }),
    variant: Flags.string({
      description: 'Use VARIANT instead of the running architecture variant for choosing images',
    }),
    quiet: Flags.boolean({ char: 'q', description: 'Suppress output information when pulling images' }),
    ...registryFlags,
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ImagePull);
    const names = argv as string[];
    const renderer = createProgressRenderer({
      stream: process.stderr,
      quiet: flags.quiet,
      tty: Boolean(process.stderr.isTTY),
    });
    const platform = platformOf(flags);
    for (const name of names) {
      const pulled = await pullImage(name, {
        store: storeOptions(flags),
        transportOptions: registryOptions(flags),
        ...(platform ? { platform } : {}),
        allTags: flags['all-tags'],
        onProgress: (e) => renderer.onEvent(e),
      });
      renderer.done();
      for (const id of new Set(pulled.map((p) => p.image.id))) process.stdout.write(`${id}\n`);
    }
  }
}
