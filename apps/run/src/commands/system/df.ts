import { Flags } from '@oclif/core';
import { goStruct } from '@skiff/oci/template/go-template';
import { ToolCommand } from '../../base-command.js';
import { renderReport } from '../../render/report.js';
import { humanSize } from '../../render/units.js';
import { withStore } from '../../store-options.js';

export default class SystemDf extends ToolCommand {
  static override summary = 'Show podman-style disk usage';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description =
    'Shows the disk space used by images (shared layers counted once), containers and volumes.';
  static override examples = ['<%= config.bin %> system df'];
  static override flags = {
    format: Flags.string({ description: 'Pretty-print images using a Go template' }),
    verbose: Flags.boolean({ char: 'v', description: 'Show detailed information on disk usage' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SystemDf);
    const usage = await withStore(
      flags,
      (store) => {
        const images = store.listImages();
        const layers = new Map<string, number>();
        for (const i of images)
          for (const c of i.layers) if (!layers.has(c)) layers.set(c, store.getLayer(c)?.sizeBytes ?? 0);
        const size = [...layers.values()].reduce((a, b) => a + b, 0);
        return { total: images.length, size };
      },
      { readOnly: true },
    );
    const size = (n: number) => humanSize(n, 4).replace(' ', '');
    const pct = (part: number, whole: number) =>
      whole === 0 ? '0%' : `${Math.round((part / whole) * 100)}%`;
    const rows = [
      {
        Type: 'Images',
        Total: usage.total,
        Active: 0,
        Size: size(usage.size),
        Reclaimable: `${size(usage.size)} (${pct(usage.size, usage.size)})`,
      },
      { Type: 'Containers', Total: 0, Active: 0, Size: size(0), Reclaimable: `${size(0)} (0%)` },
      { Type: 'Local Volumes', Total: 0, Active: 0, Size: size(0), Reclaimable: `${size(0)} (0%)` },
    ].map((r) => goStruct(r, 'system.dfSummary'));
    process.stdout.write(
      renderReport(rows, {
        format: flags.format,
        defaultFormat: 'table {{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}',
        headers: {},
        json: () => rows,
      }),
    );
  }
}
