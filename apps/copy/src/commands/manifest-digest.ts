import { Args } from '@oclif/core';
import { digestOfFile } from '@skiff/oci/image/digest-file';
import { FerryCommand } from '../base-command.js';

export default class ManifestDigest extends FerryCommand {
  static override summary = 'Compute a manifest digest of a file';
  static override description =
    'Prints the digest of the manifest stored in MANIFEST (its bytes as they are, not validated, as skopeo does).';
  static override examples = ['<%= config.bin %> manifest-digest manifest.json'];
  static override args = {
    manifest: Args.string({ required: true, description: 'path of a manifest file' }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(ManifestDigest);
    // As skopeo: the digest of the bytes as they are, whatever they hold (it does not validate).
    this.log(await digestOfFile(args.manifest));
  }
}
