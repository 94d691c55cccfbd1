import { Flags } from '@oclif/core';
import { parseImageFilters, summarize } from '@skiff/oci/image/local-images';
import { ToolCommand } from '../../base-command.js';
import { withStore } from '../../store-options.js';

export default class ImagePrune extends ToolCommand {
  static override summary = 'Remove unused images';
  static override description =
    'Removes dangling images (without names); with --all every image no container uses. Asks first unless --force.';
  static override examples = [
    '<%= config.bin %> image prune -f',
    '<%= config.bin %> image prune --all --force',
  ];
  static override flags = {
    all: Flags.boolean({
      char: 'a',
      description: 'Remove all images not in use by containers, not just dangling ones',
    }),
    force: Flags.boolean({ char: 'f', description: 'Do not prompt for confirmation' }),
    filter: Flags.string({ multiple: true, description: 'Provide filter values (e.g. label=<key>=<value>)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ImagePrune);
    if (!flags.force) {
      process.stdout.write(
        flags.all
          ? 'WARNING! This command removes all images without at least one container associated with them.\nAre you sure you want to continue? [y/N] '
          : 'WARNING! This command removes all dangling images.\nAre you sure you want to continue? [y/N] ',
      );
      const answer = await readLine();
      if (!/^y(es)?$/i.test(answer.trim())) return;
    }
    const select = parseImageFilters(flags.filter ?? []);
    const removed = await withStore(flags, (store) => {
      const out: string[] = [];
      const candidates = select(store.listImages().map(summarize)).filter((s) => flags.all || s.dangling);
      for (const s of candidates) {
        try {
          const r = store.removeImage(s.id);
          if (r.deleted) out.push(s.id);
        } catch (err) {
          if ((err as { code?: string }).code !== 'IN_USE') throw err;
        }
      }
      return out;
    });
    process.stdout.write(removed.map((id) => `${id}\n`).join(''));
  }
}

async function readLine(): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const onData = (chunk: Buffer) => {
      data += chunk.toString('utf8');
      if (data.includes('\n')) finish();
    };
    const finish = () => {
      process.stdin.off('data', onData);
      process.stdin.off('end', finish);
      process.stdin.pause();
      resolve(data.split('\n')[0] ?? '');
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', finish);
  });
}
