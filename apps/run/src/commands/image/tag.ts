import { Args } from '@oclif/core';
import { normalizeLocalName, requireLocalImage } from '@skiff/oci/image/local-images';
import { ToolCommand } from '../../base-command.js';
import { withStore } from '../../store-options.js';

export default class ImageTag extends ToolCommand {
  static override aliases = ['tag'];
  static override summary = 'Add an additional name to a local image';
  static override description = 'Adds one or more names to a local image; a short name gets localhost/.';
  static override examples = ['<%= config.bin %> tag busybox 127.0.0.1:5000/busybox:1 mybox'];
  static override strict = false;
  static override args = {
    image: Args.string({ required: true, description: 'local image' }),
    target: Args.string({ required: true, description: 'new name(s)' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ImageTag);
    const [image, ...targets] = argv as string[];
    const names = targets.map(normalizeLocalName);
    await withStore(flags, (store) => {
      const found = requireLocalImage(store, image!);
      for (const n of names) store.tag(found.id, n);
    });
  }
}
