import { formatBinary, shortDigest } from '@skiff/cli/units';
import type { CopyProgressEvent } from '@skiff/oci/copy/events';

export type { CopyProgressEvent } from '@skiff/oci/copy/events';

/**
 * Renders the copy engine's progress events as skopeo does. Not a TTY: plain lines
 * ("Copying blob sha256:… done"). A TTY: a live bar per blob (bytes / total, rate), replaced by
 * "done" or "skipped: already exists" when the blob finishes. Quiet: nothing at all.
 */

export interface ProgressRenderer {
  onEvent(e: CopyProgressEvent): void;
  done(): void;
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

interface Bar {
  digest: string;
  kind: 'layer' | 'config';
  bytes: number;
  sizeBytes: number;
  startedAt: number;
  final?: string;
}

function label(kind: 'layer' | 'config'): string {
  return kind === 'config' ? 'config' : 'blob';
}

function finalWord(action: 'copied' | 'skipped' | 'mounted'): string {
  return action === 'copied' ? 'done' : 'skipped: already exists';
}

export function createProgressRenderer(options: {
  stream: NodeJS.WriteStream;
  quiet: boolean;
  tty: boolean;
  /** Clock for rates and redraw throttling; tests pass their own. */
  now?: () => number;
}): ProgressRenderer {
  const { stream } = options;
  const now = options.now ?? Date.now;
  if (options.quiet) return { onEvent() {}, done() {} };

  if (!options.tty) {
    return {
      onEvent(e) {
        switch (e.type) {
          case 'start':
            stream.write('Getting image source signatures\n');
            return;
          case 'blob-done':
            stream.write(`Copying ${label(e.kind)} ${e.digest} ${finalWord(e.action)}\n`);
            return;
          case 'manifest':
            stream.write(
              INDEX_TYPES.has(e.mediaType)
                ? 'Writing manifest list to image destination\n'
                : 'Writing manifest to image destination\n',
            );
            return;
          case 'done':
            stream.write('Storing signatures\n');
            return;
          default:
            return;
        }
      },
      done() {},
    };
  }

  // TTY: a live area of bars at the bottom, redrawn in place with cursor movement.
  let live: Bar[] = [];
  let drawnLines = 0;
  let lastDraw = 0;

  const barText = (bar: Bar): string => {
    const head = `Copying ${label(bar.kind)} ${shortDigest(bar.digest, bar.kind)}`;
    if (bar.final) return `${head} ${bar.final}`;
    const columns = stream.columns && stream.columns > 0 ? stream.columns : 80;
    const total = bar.sizeBytes;
    const elapsedSec = Math.max((now() - bar.startedAt) / 1000, 0.001);
    const rate = `${formatBinary(bar.bytes / elapsedSec)}/s`;
    const counts =
      total > 0 ? `${formatBinary(bar.bytes)} / ${formatBinary(total)}` : formatBinary(bar.bytes);
    const tail = ` ${counts} | ${rate}`;
    const width = Math.max(10, Math.min(40, columns - head.length - tail.length - 4));
    const fraction = total > 0 ? Math.min(bar.bytes / total, 1) : 0;
    const filled = Math.floor(fraction * width);
    const body =
      filled >= width
        ? '='.repeat(width)
        : `${'='.repeat(filled)}${filled > 0 ? '>' : ''}`.padEnd(width, ' ');
    return `${head} [${body}]${tail}`;
  };

  const draw = () => {
    let out = drawnLines > 0 ? `\x1b[${drawnLines}A` : '';
    for (const bar of live) out += `\r\x1b[2K${barText(bar)}\n`;
    stream.write(out);
    drawnLines = live.length;
    lastDraw = now();
    // Finished bars at the top of the live area are final: leave them above it.
    while (live.length > 0 && live[0]!.final !== undefined) {
      live = live.slice(1);
      drawnLines--;
    }
  };

  const line = (text: string) => {
    if (live.length > 0) draw();
    stream.write(`${text}\n`);
    drawnLines = 0;
    live = live.filter((b) => b.final === undefined);
  };

  const find = (digest: string) => live.find((b) => b.digest === digest && b.final === undefined);

  return {
    onEvent(e) {
      switch (e.type) {
        case 'start':
          line('Getting image source signatures');
          return;
        case 'blob-start':
          live.push({ digest: e.digest, kind: e.kind, bytes: 0, sizeBytes: e.sizeBytes, startedAt: now() });
          draw();
          return;
        case 'blob-progress': {
          const bar = find(e.digest);
          if (!bar) return;
          bar.bytes = e.bytes;
          if (e.sizeBytes > 0) bar.sizeBytes = e.sizeBytes;
          if (now() - lastDraw >= 100) draw();
          return;
        }
        case 'blob-done': {
          let bar = find(e.digest);
          if (!bar) {
            bar = {
              digest: e.digest,
              kind: e.kind,
              bytes: e.sizeBytes,
              sizeBytes: e.sizeBytes,
              startedAt: now(),
            };
            live.push(bar);
          }
          bar.final = finalWord(e.action);
          draw();
          return;
        }
        case 'manifest':
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
      if (live.length > 0) draw();
    },
  };
}
