import { Args, Errors, Flags } from '@oclif/core';
import { isSkiffError, SkiffError } from '@skiff/oci/errors';
import { lookupLocalImage } from '@skiff/oci/image/local-images';
import { formatError, ToolCommand, UsageError } from '../../base-command.js';
import { withStore } from '../../store-options.js';

/** podman rmi's exit codes: 1 when an image was not found (and nothing else failed), 2 when one is in use. */
const EXIT_NOT_FOUND = 1;
const EXIT_IN_USE = 2;

export default class ImageRm extends ToolCommand {
  static override aliases = ['rmi'];
  static override summary = 'Remove one or more images from local storage';
  static override description =
    'Removes images by name or ID. Removing one name of an image with several names only untags it. Exit status: 1 when an image is not known, 2 when an image is in use, 125 for other errors.';
  static override examples = ['<%= config.bin %> rmi busybox', '<%= config.bin %> rmi --all --force'];
  static override strict = false;
  static override args = { image: Args.string({ description: 'image(s) to remove' }) };
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'Remove all images' }),
    force: Flags.boolean({
      char: 'f',
      description: 'Force removal of the image and any containers using it',
    }),
    ignore: Flags.boolean({ char: 'i', description: 'Ignore errors if a specified image does not exist' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ImageRm);
    const names = argv as string[];
    if (flags.all && names.length > 0)
      throw new UsageError('when using the --all switch, you may not pass any images names or IDs');
    if (!flags.all && names.length === 0) throw new UsageError('image name or ID must be specified');
    let exit = 0;
    let out = '';
    await withStore(flags, (store) => {
      const targets = flags.all ? store.listImages().map((i) => i.id) : names;
      for (const target of targets) {
        try {
          const image = lookupLocalImage(store, target);
          if (!image) {
            if (flags.ignore) continue;
            process.stderr.write(`Error: ${target}: image not known\n`);
            if (exit === 0) exit = EXIT_NOT_FOUND;
            continue;
          }
          // A name the user gave removes only that name when the image has others (podman).
          const byName = resolvedName(image.names, target);
          if (!byName && image.names.length > 1 && !flags.force) {
            throw new SkiffError(
              'INVALID_ARGUMENT',
              `unable to delete image "${image.id}" by ID with more than one tag ([${image.names.join(' ')}]): please force removal`,
            );
          }
          const r = store.removeImage(byName ?? image.id, { force: flags.force });
          for (const u of r.untagged) out += `Untagged: ${u}\n`;
          if (r.deleted) out += `Deleted: ${image.id}\n`;
        } catch (err) {
          process.stderr.write(formatError(err, false));
          exit = isSkiffError(err) && err.code === 'IN_USE' ? EXIT_IN_USE : 125;
        }
      }
    });
    process.stdout.write(out);
    if (exit !== 0) throw new Errors.ExitError(exit);
  }
}

/** The stored name a user's short or partial name stands for. */
function resolvedName(names: string[], input: string): string | undefined {
  if (names.includes(input)) return input;
  if (/^(sha256:)?[a-f0-9]{3,64}$/.test(input)) return undefined;
  const withTag = /:[^/]*$/.test(input) ? input : `${input}:latest`;
  return names.find((n) => n === withTag || n.endsWith(`/${withTag}`));
}
