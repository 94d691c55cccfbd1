import { formatBinary, shortDigest } from '@skiff/cli/units';
import type { PullEvent } from '@skiff/oci/image/pull';

/**
 * The copy engine's progress as podman prints it for pull, push, save and load (on stderr):
 * "Trying to pull …", "Getting image source signatures", "Copying blob … done" (or "skipped:
 * already exists"), "Copying config … done", "Writing manifest to image destination",
 * "Storing signatures". On a TTY a live line per blob shows bytes and rate until it finishes.
 * Quiet: nothing.
 */

export interface ProgressRenderer {
  onEvent(e: PullEvent): void;
  done(): void;
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

export function createProgressRenderer(options: {
  stream: NodeJS.WritableStream & { columns?: number };
  quiet: boolean;
  tty: boolean;
}): ProgressRenderer {
  const { stream } = options;
  if (options.quiet) return { onEvent() {}, done() {} };
  const word = (a: 'copied' | 'skipped' | 'mounted') => (a === 'copied' ? 'done' : 'skipped: already exists');
  const label = (k: 'layer' | 'config') => (k === 'config' ? 'config' : 'blob');
  /** Live lines (TTY only), keyed by digest. */
  const live = new Map<string, { kind: 'layer' | 'config'; bytes: number; size: number; started: number }>();
  let drawn = 0;
  let lastDraw = 0;

  const clear = () => {
    if (!options.tty || drawn === 0) return;
    stream.write(`\x1b[${drawn}A\x1b[0J`);
    drawn = 0;
  };
  const draw = () => {
    if (!options.tty) return;
    clear();
    let out = '';
    for (const [digest, b] of live) {
      const rate = b.bytes / Math.max((Date.now() - b.started) / 1000, 0.001);
      const total = b.size > 0 ? ` / ${formatBinary(b.size)}` : '';
      out += `Copying ${label(b.kind)} ${shortDigest(digest, b.kind)} [${formatBinary(b.bytes)}${total}] ${formatBinary(rate)}/s\n`;
    }
    stream.write(out);
    drawn = live.size;
    lastDraw = Date.now();
  };
  const line = (text: string) => {
    clear();
    stream.write(`${text}\n`);
    draw();
  };

  return {
    onEvent(e) {
      switch (e.type) {
        case 'trying':
          line(`Trying to pull ${e.reference}...`);
          return;
        case 'start':
          line('Getting image source signatures');
          return;
        case 'blob-start':
          if (options.tty) {
            live.set(e.digest, { kind: e.kind, bytes: 0, size: e.sizeBytes, started: Date.now() });
            draw();
          }
          return;
        case 'blob-progress': {
          const b = live.get(e.digest);
          if (!b) return;
          b.bytes = e.bytes;
          if (Date.now() - lastDraw >= 100) draw();
          return;
        }
        case 'blob-done':
          live.delete(e.digest);
          line(
            `Copying ${label(e.kind)} ${options.tty ? shortDigest(e.digest, e.kind) : e.digest} ${word(e.action)}`,
          );
          return;
        case 'manifest':
          if (e.instance) return;
          line(
            INDEX_TYPES.has(e.mediaType)
              ? 'Writing manifest list to image destination'
              : 'Writing manifest to image destination',
          );
          return;
        case 'done':
          line('Storing signatures');
          return;
      }
    },
    done() {
      clear();
      live.clear();
    },
  };
}
