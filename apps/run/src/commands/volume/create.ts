import { Args, Flags } from '@oclif/core';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { createVolume } from '@skiff/oci/runtime/volumes';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

export default class VolumeCreate extends ToolCommand {
  static override summary = 'Create a new volume';
  static override description = 'Creates a named volume (local driver) in the store.';
  static override examples = ['<%= config.bin %> volume create data'];
  static override args = { name: Args.string({ description: 'volume name (random when omitted)' }) };
  static override flags = {
    label: Flags.string({
      char: 'l',
      multiple: true,
      multipleNonGreedy: true,
      description: 'Set metadata for a volume',
    }),
    ignore: Flags.boolean({ description: "Don't fail if volume already exists" }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(VolumeCreate);
    const name =
      args.name ??
      [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const labels: Record<string, string> = {};
    for (const l of flags.label ?? []) {
      const i = l.indexOf('=');
      labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
    }
    await withContainerSession(storeOptions(flags), (s) => {
      createVolume(s.store.location, name, { labels, ifMissing: flags.ignore });
    });
    process.stdout.write(`${name}\n`);
  }
}
