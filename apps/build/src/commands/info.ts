import { Flags } from '@oclif/core';
import { collectHostInfo } from '@skiff/oci/runtime/host-info';
import { renderTemplate } from '@skiff/oci/template/go-template';
import { ToolCommand } from '../base-command.js';

export default class Info extends ToolCommand {
  static override summary = 'Display information about the host and the build tool';
  static override description =
    'Display information about the host, the OCI runtimes found, the storage and the configuration files in use.';
  static override examples = ['<%= config.bin %> info', "<%= config.bin %> info --format '{{.Host.Arch}}'"];

  static override flags = {
    format: Flags.string({
      char: 'f',
      description: "change the output format to JSON or a Go template ('json')",
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Info);
    const info = await collectHostInfo({
      toolVersion: this.config.version,
      root: flags.root,
      runroot: flags.runroot,
      storageDriver: flags['storage-driver'],
    });
    if (flags.format === undefined) {
      this.log(JSON.stringify(info, null, 4));
    } else if (flags.format === 'json' || flags.format === '{{json .}}') {
      this.log(JSON.stringify(info, null, 2));
    } else {
      const out = renderTemplate(flags.format, info);
      process.stdout.write(out.endsWith('\n') ? out : `${out}\n`);
    }
  }
}
