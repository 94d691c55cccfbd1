import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { type ContainerInspectData, containerInspectData } from '@skiff/oci/runtime/container-info';
import { containerPaths } from '@skiff/oci/runtime/run';
import { type ContainerSession, withContainerSession } from '@skiff/oci/runtime/session';
import type { RuntimeSpec } from '@skiff/oci/runtime/spec';
import { renderTemplate } from '@skiff/oci/template/go-template';
import { ToolCommand } from '../../base-command.js';
import { inspectStruct } from '../../render/containers.js';
import { inspectJson } from '../../render/json.js';
import { storeOptions } from '../../store-options.js';

/** The inspect data of a container, or undefined when there is none by that name or ID. */
export function inspectContainer(s: ContainerSession, name: string): ContainerInspectData | undefined {
  const found = s.db.get(name);
  if (!found) return undefined;
  const rec = s.require(found.id);
  const paths = containerPaths(s.store.location, rec.id);
  let spec: RuntimeSpec | undefined;
  try {
    spec = JSON.parse(readFileSync(paths.configFile, 'utf8')) as RuntimeSpec;
  } catch {}
  return containerInspectData({
    rec,
    ...(spec ? { spec } : {}),
    driver: s.store.location.driver,
    runtimeName: basename(rec.runtime),
    logPath: paths.logFile,
    rootfs: s.store.location.driver === 'vfs' ? paths.vfsRootfs : paths.rootfsMount,
  });
}

export function printInspect(data: ContainerInspectData[], format: string | undefined): void {
  if (format === undefined || format === 'json' || format === '{{json .}}') {
    process.stdout.write(inspectJson(data));
    return;
  }
  let out = '';
  for (const d of data) {
    const text = renderTemplate(format, inspectStruct(d));
    out += text.endsWith('\n') ? text : `${text}\n`;
  }
  process.stdout.write(out);
}

export default class ContainerInspect extends ToolCommand {
  static override summary = 'Display the configuration of a container';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description =
    "Displays the low-level information on containers, with podman's field names.";
  static override examples = ["<%= config.bin %> container inspect --format '{{.State.Status}}' web"];
  static override strict = false;
  static override args = { container: Args.string({ required: true, description: 'container(s)' }) };
  static override flags = {
    format: Flags.string({ char: 'f', description: 'Format the output to a Go template or json' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerInspect);
    const { data, missing } = await withContainerSession(storeOptions(flags), (s) => {
      const found: ContainerInspectData[] = [];
      const lost: string[] = [];
      for (const n of argv as string[]) {
        const d = inspectContainer(s, n);
        if (d) found.push(d);
        else lost.push(n);
      }
      return { data: found, missing: lost };
    });
    printInspect(data, flags.format);
    if (missing.length > 0)
      throw new SkiffError('NOT_FOUND', missing.map((m) => `no such container ${m}`).join('\n'));
  }
}
