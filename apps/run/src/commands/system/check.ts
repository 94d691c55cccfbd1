import { Errors, Flags } from '@oclif/core';
import { ToolCommand } from '../../base-command.js';
import { withStore } from '../../store-options.js';

export default class SystemCheck extends ToolCommand {
  static override summary = 'Check storage consistency';
  static override description =
    'Verifies the store: the database, every blob against its digest and size, every layer directory, every image against its manifest and config. Prints each problem and exits 125 when there is any; leftovers of interrupted commands (removed by the next command that writes) are listed but are not problems.';
  static override examples = ['<%= config.bin %> system check'];
  static override flags = {
    quick: Flags.boolean({
      char: 'q',
      description: 'Skip time-consuming checks (accepted; every check runs)',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SystemCheck);
    const report = await withStore({ ...flags }, (store) => store.check(), { readOnly: true });
    for (const p of report.leftovers) process.stdout.write(`leftover: ${p}\n`);
    for (const p of report.problems) process.stdout.write(`${p}\n`);
    if (!report.ok) {
      process.stderr.write(`Error: ${report.problems.length} problem(s) found in the store\n`);
      throw new Errors.ExitError(125);
    }
  }
}
