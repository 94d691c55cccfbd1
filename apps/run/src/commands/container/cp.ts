import { Args, Flags } from '@oclif/core';
import { copyContainerFiles, parseCopyLocation } from '@skiff/oci/runtime/copy-files';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerCp extends ToolCommand {
  static override aliases = ['cp'];
  static override summary = 'Copy files/folders between a container and the local filesystem';
  static override description =
    'Copies SRC to DEST; one of them is CONTAINER:PATH. `-` as SRC reads a tar archive from stdin into a container directory, `-` as DEST writes a tar archive to stdout. SRC/. copies the contents of a directory. Works on running and stopped containers; container paths resolve inside the container (symlinks cannot lead out of it).';
  static override examples = [
    '<%= config.bin %> cp web:/etc/hosts ./hosts',
    '<%= config.bin %> cp ./site/. web:/var/www',
    'tar -c dir | <%= config.bin %> cp - web:/tmp',
  ];
  static override args = {
    src: Args.string({ required: true, description: '[CONTAINER:]SRC_PATH' }),
    dest: Args.string({ required: true, description: '[CONTAINER:]DEST_PATH' }),
  };
  static override flags = {
    archive: Flags.boolean({
      char: 'a',
      description: 'Chown copied files to the primary uid/gid of the destination container',
      default: true,
      allowNo: true,
    }),
    overwrite: Flags.boolean({
      description: 'Allow to overwrite directories with non-directories and vice versa',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainerCp);
    const stats = await withContainerSession(storeOptions(flags), (s) =>
      copyContainerFiles(s.store, s.db, parseCopyLocation(args.src), parseCopyLocation(args.dest), {
        archive: flags.archive,
        overwrite: flags.overwrite,
        stdin: process.stdin,
        stdout: process.stdout,
      }),
    );
    for (const w of stats?.warnings ?? []) process.stderr.write(`WARN[0000] ${w}\n`);
  }
}
