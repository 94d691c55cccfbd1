import { Args } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { parseImageName } from '@skiff/oci/transports/index';
import { FerryCommand } from '../base-command.js';
import { imageFlags, retryFlags, transportOptions } from '../transport-flags.js';

export default class Delete extends FerryCommand {
  static override summary = 'Delete image IMAGE-NAME';
  static override description =
    'Deletes the manifest the reference names (a tag is resolved to its digest first, so every tag of that manifest goes with it, as skopeo delete does).';
  static override examples = ['<%= config.bin %> delete docker://127.0.0.1:5000/busybox:1'];
  static override args = { image: Args.string({ required: true, description: 'image (TRANSPORT:DETAILS)' }) };
  static override flags = { ...imageFlags(''), ...retryFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Delete);
    const ref = parseImageName(args.image);
    if (!ref.deleteImage) {
      throw new SkiffError(
        'UNSUPPORTED',
        `deleting images is not supported by the ${ref.transport} transport`,
      );
    }
    await ref.deleteImage(transportOptions(flags, ''));
  }
}
