import { Args } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { normalizeLocalName, requireLocalImage } from '@skiff/oci/image/local-images';
import { parseReference, withDefaultTag } from '@skiff/oci/reference/reference';
import { ToolCommand } from '../../base-command.js';
import { withStore } from '../../store-options.js';

export default class ImageUntag extends ToolCommand {
  static override aliases = ['untag'];
  static override summary = 'Remove a name from a local image';
  static override description =
    'Removes the given names from a local image, or all its names when none is given.';
  static override examples = [
    '<%= config.bin %> untag busybox',
    '<%= config.bin %> untag abc123 localhost/mybox:latest',
  ];
  static override strict = false;
  static override args = {
    image: Args.string({ required: true, description: 'local image' }),
    name: Args.string({ description: 'name(s) to remove' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ImageUntag);
    const [image, ...names] = argv as string[];
    await withStore(flags, (store) => {
      const found = requireLocalImage(store, image!);
      if (names.length === 0) {
        for (const n of found.names) store.untag(n);
        return;
      }
      for (const n of names) {
        const candidates = [n, normalizeLocalName(n)];
        try {
          candidates.push(withDefaultTag(parseReference(n)).toString());
        } catch {}
        const match = candidates.find((c) => found.names.includes(c));
        if (!match) throw new SkiffError('NOT_FOUND', `${n}: tag not known`);
        store.untag(match);
      }
    });
  }
}
