import { readFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { storedConfigOf } from '@skiff/oci/runtime/create-flags';
import { refreshContainer } from '@skiff/oci/runtime/run';
import { type LogLine, logFileOf, parseK8sLog, withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand, UsageError } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

function parseTime(flag: string, value: string): number {
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (d) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[d[2] as 'ms' | 's' | 'm' | 'h'];
    return Date.now() - Number(d[1]) * unit;
  }
  const t = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (Number.isNaN(t))
    throw new UsageError(`invalid ${flag} "${value}": expected a timestamp or a duration such as 10m`);
  return t;
}

export default class ContainerLogs extends ToolCommand {
  static override aliases = ['logs'];
  static override summary = 'Fetch the logs of one or more containers';
  /** Reads the store only: runs outside the rootless namespace (see ToolCommand). */
  static override rootlessNamespace = false;
  static override description =
    'Prints what a detached container wrote (k8s-file log driver); -f follows until it exits.';
  static override examples = ['<%= config.bin %> logs -f web', '<%= config.bin %> logs --tail 10 -t web'];
  static override args = { container: Args.string({ required: true, description: 'container' }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Follow log output' }),
    tail: Flags.string({ description: 'Output the specified number of LINES at the end of the logs' }),
    timestamps: Flags.boolean({ char: 't', description: 'Output the timestamps in the log' }),
    since: Flags.string({ description: 'Show logs since TIMESTAMP' }),
    until: Flags.string({ description: 'Show logs until TIMESTAMP' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainerLogs);
    let tail = -1;
    if (flags.tail !== undefined) {
      if (!/^-?\d+$/.test(flags.tail))
        throw new UsageError(`invalid --tail "${flags.tail}": expected a number`);
      tail = Number(flags.tail);
    }
    const since = flags.since !== undefined ? parseTime('--since', flags.since) : undefined;
    const until = flags.until !== undefined ? parseTime('--until', flags.until) : undefined;
    const write = (l: LogLine) => {
      const t = l.time.getTime();
      if ((since !== undefined && t < since) || (until !== undefined && t > until)) return;
      const text = `${flags.timestamps ? `${l.time.toISOString()} ` : ''}${l.text}${l.newline ? '\n' : ''}`;
      (l.stream === 'stderr' ? process.stderr : process.stdout).write(text);
    };
    await withContainerSession(storeOptions(flags), async (s) => {
      const rec = s.require(args.container);
      const file = logFileOf(s, rec);
      if (storedConfigOf(rec.config).logDriver === 'passthrough')
        throw new SkiffError(
          'INVALID_ARGUMENT',
          `this container is using the 'passthrough' log driver, cannot read logs`,
        );
      if (!file) {
        if (rec.status === 'created' || rec.status === 'running') return;
        throw new SkiffError(
          'NOT_FOUND',
          `container ${rec.name} has no log (log driver none, or never started detached)`,
        );
      }
      let offset = 0;
      let pending = '';
      const readMore = (): LogLine[] => {
        const buf = readFileSync(file);
        const chunk = pending + buf.subarray(offset).toString('utf8');
        offset = buf.length;
        const nl = chunk.lastIndexOf('\n');
        pending = nl < 0 ? chunk : chunk.slice(nl + 1);
        return parseK8sLog(nl < 0 ? '' : chunk.slice(0, nl + 1));
      };
      let lines = readMore();
      if (tail >= 0) lines = lines.slice(Math.max(0, lines.length - tail));
      for (const l of lines) write(l);
      if (!flags.follow) return;
      for (;;) {
        const cur = refreshContainer(s.store, s.db, rec.id);
        for (const l of readMore()) write(l);
        if (!cur || cur.status !== 'running') break;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
  }
}
