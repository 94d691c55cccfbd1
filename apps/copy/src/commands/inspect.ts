import { Args, Flags } from '@oclif/core';
import { fetchManifest, inspectImage } from '@skiff/oci/image/inspect';
import { nameOnly, parseReference } from '@skiff/oci/reference/reference';
import { renderTemplate } from '@skiff/oci/template/go-template';
import { parseImageName } from '@skiff/oci/transports/index';
import type { ImageReference } from '@skiff/oci/transports/types';
import { FerryCommand, UsageError } from '../base-command.js';
import { buildInspectOutput, goJsonIndent, inspectTemplateData } from '../render/inspect.js';
import { configTemplateData, ociConfigView } from '../render/inspect-config.js';
import { imageFlags, overridePlatform, retryFlags, transportOptions } from '../transport-flags.js';

export default class Inspect extends FerryCommand {
  static override summary = 'Inspect image IMAGE-NAME';
  static override description =
    'Return low-level information about IMAGE-NAME: the top-level manifest digest, the repository tags, and the config of the instance for this platform (or the --override-* one).';
  static override examples = [
    '<%= config.bin %> inspect docker://127.0.0.1:5000/busybox:latest',
    '<%= config.bin %> inspect --raw oci:/tmp/layout:latest',
    "<%= config.bin %> inspect --format '{{.Digest}}' docker://127.0.0.1:5000/busybox",
  ];
  static override args = {
    image: Args.string({ required: true, description: 'image (TRANSPORT:DETAILS)' }),
  };
  static override flags = {
    raw: Flags.boolean({ description: 'output raw manifest or configuration' }),
    config: Flags.boolean({ description: 'output configuration' }),
    format: Flags.string({ char: 'f', description: 'Format the output to a Go template' }),
    'no-tags': Flags.boolean({
      char: 'n',
      description: 'do not list the available tags from the repository in the output',
    }),
    ...imageFlags(''),
    ...retryFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Inspect);
    const ref = parseImageName(args.image);
    const options = transportOptions(flags, '');
    const platform = overridePlatform(flags);
    const jsonFormat =
      flags.format !== undefined && /^\s*(json|\{\{\s*json\s+\.\s*\}\})\s*$/.test(flags.format);
    if (flags.raw && flags.format !== undefined) {
      throw new UsageError('raw output does not support --format');
    }
    if (flags.raw && !flags.config) {
      const top = await fetchManifest(ref, options);
      process.stdout.write(top.raw);
      return;
    }
    const inspected = await inspectImage(ref, {
      ...options,
      ...(platform ? { platform } : {}),
      tags: !flags['no-tags'] && !flags.config && ref.transport === 'docker',
    });
    if (flags.config) {
      if (flags.raw) process.stdout.write(inspected.rawConfig);
      else {
        const decoded = inspected.config
          ? ociConfigView(inspected.config)
          : JSON.parse(inspected.rawConfig.toString('utf8'));
        // As skopeo: --format applies to the config (the OCI image struct, Go field names).
        if (flags.format !== undefined && !jsonFormat && inspected.config) {
          process.stdout.write(`${renderTemplate(flags.format, configTemplateData(decoded))}\n`);
          return;
        }
        this.log(goJsonIndent(decoded));
      }
      return;
    }
    if (!inspected.config) {
      this.log(goJsonIndent(JSON.parse(inspected.manifest.raw.toString('utf8'))));
      return;
    }
    const output = buildInspectOutput({
      name: repositoryName(ref),
      digest: inspected.topManifest.digest,
      repoTags: inspected.repoTags,
      config: inspected.config,
      layers: inspected.manifest.layers,
    });
    // As skopeo (podman's report.IsJSON): `json` or `{{json .}}` is the default JSON output.
    if (flags.format !== undefined && !jsonFormat) {
      process.stdout.write(`${renderTemplate(flags.format, inspectTemplateData(output))}\n`);
      return;
    }
    this.log(goJsonIndent(output));
  }
}

/** skopeo's Name: the repository of a docker:// reference, empty for other transports. */
function repositoryName(ref: ImageReference): string {
  if (ref.transport !== 'docker') return '';
  return nameOnly(parseReference(ref.withinTransport.replace(/^\/\//, ''))).toString();
}
