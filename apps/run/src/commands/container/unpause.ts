import { Args, Flags } from '@oclif/core';
import { ToolCommand } from '../../base-command.js';
import { pauseOrUnpause } from './pause.js';

export default class ContainerUnpause extends ToolCommand {
  static override aliases = ['unpause'];
  static override summary = 'Unpause the processes in one or more containers';
  static override description = 'Thaws every process of paused containers; their status is running again.';
  static override examples = ['<%= config.bin %> unpause web', '<%= config.bin %> unpause --all'];
  static override strict = false;
  static override args = { container: Args.string({ description: 'container(s)' }) };
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'Unpause all paused containers' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ContainerUnpause);
    await pauseOrUnpause('unpause', argv as string[], flags);
  }
}
