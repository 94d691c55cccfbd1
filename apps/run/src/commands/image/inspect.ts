import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { inspectData, lookupLocalImage } from '@skiff/oci/image/local-images';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { goStruct, renderTemplate } from '@skiff/oci/template/go-template';
import { ToolCommand } from '../../base-command.js';
import { inspectStruct } from '../../render/containers.js';
import { inspectJson } from '../../render/json.js';
import { storeOptions, withStore } from '../../store-options.js';
import { inspectContainer } from '../container/inspect.js';

export default class ImageInspect extends ToolCommand {
  static override aliases = ['inspect'];
  static override summary = 'Display the configuration of an image';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description = "Displays the low-level information on images, as podman's image inspect.";
  static override examples = [
    '<%= config.bin %> image inspect busybox',
    "<%= config.bin %> image inspect --format '{{.Id}} {{.Architecture}}' busybox",
  ];
  static override strict = false;
  static override args = { image: Args.string({ required: true, description: 'image(s) to inspect' }) };
  static override flags = {
    format: Flags.string({ char: 'f', description: 'Format the output to a Go template or json' }),
    type: Flags.string({
      char: 't',
      description: 'Specify inspect-object type',
      options: ['image', 'container', 'all'],
    }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ImageInspect);
    const names = argv as string[];
    const images =
      flags.type === 'container'
        ? { data: [] as ReturnType<typeof inspectData>[], missing: names }
        : await withStore(
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
    // skiff inspect NAME: a container when no image has that name (as podman).
    let missing = images.missing;
    const containers =
      flags.type === 'image' || missing.length === 0
        ? []
        : await withContainerSession(storeOptions(flags), (s) =>
            missing.flatMap((n) => {
              const d = inspectContainer(s, n);
              return d ? [d] : [];
            }),
          );
    missing = missing.filter((n) => !containers.some((c) => c.Name === n || c.Id.startsWith(n)));
    const data: unknown[] = [...images.data, ...containers];
    if (flags.format === undefined || flags.format === 'json' || flags.format === '{{json .}}') {
      process.stdout.write(inspectJson(data));
    } else {
      let out = '';
      for (const d of images.data) {
        const text = renderTemplate(flags.format, goStruct({ ...d }, 'inspect.ImageData'));
        out += text.endsWith('\n') ? text : `${text}\n`;
      }
      for (const d of containers) {
        const text = renderTemplate(flags.format, inspectStruct(d));
        out += text.endsWith('\n') ? text : `${text}\n`;
      }
      process.stdout.write(out);
    }
    if (missing.length > 0) {
      throw new SkiffError(
        'NOT_FOUND',
        missing
          .map((m) => (flags.type === 'container' ? `no such container ${m}` : `${m}: image not known`))
          .join('\n'),
      );
    }
  }
}
