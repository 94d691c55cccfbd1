import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { inspectData, lookupLocalImage } from '@skiff/oci/image/local-images';
import { goStruct, renderTemplate } from '@skiff/oci/template/go-template';
import { ToolCommand } from '../../base-command.js';
import { inspectJson } from '../../render/json.js';
import { withStore } from '../../store-options.js';

export default class ImageInspect extends ToolCommand {
  static override aliases = ['inspect'];
  static override summary = 'Display the configuration of an image';
  static override description = "Displays the low-level information on images, as podman's image inspect.";
  static override examples = [
    '<%= config.bin %> image inspect busybox',
    "<%= config.bin %> image inspect --format '{{.Id}} {{.Architecture}}' busybox",
  ];
  static override strict = false;
  static override args = { image: Args.string({ required: true, description: 'image(s) to inspect' }) };
  static override flags = {
    format: Flags.string({ char: 'f', description: 'Format the output to a Go template or json' }),
    type: Flags.string({ char: 't', description: 'Specify inspect-object type', options: ['image', 'all'] }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ImageInspect);
    const names = argv as string[];
    const { data, missing } = await withStore(
      flags,
      (store) => {
        const found: ReturnType<typeof inspectData>[] = [];
        const lost: string[] = [];
        for (const n of names) {
          const image = lookupLocalImage(store, n);
          if (image) found.push(inspectData(image, store));
          else lost.push(n);
        }
        return { data: found, missing: lost };
      },
      { readOnly: true },
    );
    if (flags.format === undefined || flags.format === 'json' || flags.format === '{{json .}}') {
      process.stdout.write(inspectJson(data));
    } else {
      let out = '';
      for (const d of data) {
        const text = renderTemplate(flags.format, goStruct({ ...d }, 'inspect.ImageData'));
        out += text.endsWith('\n') ? text : `${text}\n`;
      }
      process.stdout.write(out);
    }
    if (missing.length > 0) {
      throw new SkiffError('NOT_FOUND', missing.map((m) => `${m}: image not known`).join('\n'));
    }
  }
}
