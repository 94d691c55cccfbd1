import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Flags } from '@oclif/core';
import { collectHostInfo } from '@skiff/oci/runtime/host-info';
import { resolveStoreLocation, SYSTEM_STORAGE_CONF, storageConfPath } from '@skiff/oci/storage/config';
import { renderTemplate } from '@skiff/oci/template/go-template';
import { stringify } from 'yaml';
import { ToolCommand } from '../base-command.js';
import { storeOptions, withStore } from '../store-options.js';

export default class Info extends ToolCommand {
  static override summary = 'Display system information';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
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
    // The store as skiff resolves it (flags, storage.conf, root/rootless defaults), as podman info shows it.
    const location = resolveStoreLocation(storeOptions(flags));
    let images = 0;
    let usage: { graphRootAllocated: number; graphRootUsed: number } | undefined;
    if (existsSync(join(location.root, 'skiff.db'))) {
      images = await withStore(flags, (store) => store.listImages().length, { readOnly: true });
    }
    try {
      const fs = await statfs(location.root);
      usage = { graphRootAllocated: fs.blocks * fs.bsize, graphRootUsed: (fs.blocks - fs.bfree) * fs.bsize };
    } catch {}
    const store = {
      configFile: location.configFile ?? storageConfPath() ?? SYSTEM_STORAGE_CONF,
      containerStore: { number: 0, paused: 0, running: 0, stopped: 0 },
      graphDriverName: location.driver,
      graphOptions: {},
      graphRoot: location.root,
      ...(usage ?? {}),
      graphStatus: {},
      imageCopyTmpDir: join(location.root, 'tmp'),
      imageStore: { number: images },
      runRoot: location.runroot,
      volumePath: join(location.root, 'volumes'),
      transientStore: false,
    };
    Object.assign(info, { store });
    info.host.security.rootless = location.rootless;
    if (flags.format === undefined) {
      process.stdout.write(stringify(info, { aliasDuplicateObjects: false }));
    } else if (flags.format === 'json' || flags.format === '{{json .}}') {
      this.log(JSON.stringify(info, null, 2));
    } else {
      const out = renderTemplate(flags.format, info);
      process.stdout.write(out.endsWith('\n') ? out : `${out}\n`);
    }
  }
}
