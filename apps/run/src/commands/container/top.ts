import { Args } from '@oclif/core';
import { withContainerSession } from '@skiff/oci/runtime/session';
import { containerTop } from '@skiff/oci/runtime/top';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

export default class ContainerTop extends ToolCommand {
  static override aliases = ['top'];
  static override summary = 'Display the running processes of a container';
  static override description =
    'Shows the processes of a running container (default columns USER PID PPID %CPU ELAPSED TTY TIME COMMAND). Descriptors: args, comm, etime, group, hgroup, hpid, huser, nice, pcpu, pgid, pid, ppid, rgroup, ruser, rss, state, stime, time, tty, user, vsz, or AIX %C %G %P %U %a %c %g %n %p %r %t %u %x %y %z.';
  static override examples = [
    '<%= config.bin %> top web',
    '<%= config.bin %> top web pid comm',
    '<%= config.bin %> top web %p %c',
  ];
  static override strict = false;
  static override args = {
    container: Args.string({ required: true, description: 'container' }),
    descriptors: Args.string({ description: 'format descriptors' }),
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(ContainerTop);
    const descriptors = (argv as string[]).slice(1);
    const out = await withContainerSession(storeOptions(flags), async (s) =>
      containerTop(s.store, s.db, await s.runtime(), args.container, descriptors),
    );
    process.stdout.write(out);
  }
}
