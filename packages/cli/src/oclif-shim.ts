/**
 * The part of @oclif/core a command needs to run, without the rest of oclif (config discovery,
 * plugins, help, hooks), which costs 300+ ms at every start. An app's fast bundle (its
 * dist/bundle, made by scripts/bundle-cli.mjs) aliases '@oclif/core' to this module, so the
 * command classes are the same ones oclif runs: the same flag definitions, parsed by oclif's own
 * parser. Help, unknown commands and anything else take the full oclif path (./main.ts).
 */
import * as Args from '@oclif/core/args';
import * as Errors from '@oclif/core/errors';
import * as Flags from '@oclif/core/flags';
import * as Parser from '@oclif/core/parser';

export { Args, Errors, Flags };

/** What a command reads from its config: the fields our commands use. */
export interface ShimConfig {
  bin: string;
  version: string;
}

type FlagDefs = Record<string, unknown>;
interface CommandStatics {
  flags?: FlagDefs;
  baseFlags?: FlagDefs;
  args?: Record<string, unknown>;
  strict?: boolean;
}

export abstract class Command {
  static id: string;
  static flags: FlagDefs = {};
  static baseFlags: FlagDefs = {};
  static args: Record<string, unknown> = {};
  static aliases: string[] = [];
  static strict = true;
  parsed = false;
  id: string;

  constructor(
    public argv: string[],
    public config: ShimConfig,
  ) {
    this.id = this.ctor.id;
  }

  get ctor(): typeof Command {
    return this.constructor as typeof Command;
  }

  abstract run(): Promise<unknown>;

  async init(): Promise<void> {}

  async catch(err: Error): Promise<unknown> {
    throw err;
  }

  async finally(_err: Error | undefined): Promise<unknown> {
    return undefined;
  }

  /** oclif's Command.parse: base flags merged with the command's, oclif's parser, strict by default. */
  // biome-ignore lint/suspicious/noExplicitAny: oclif's parse result is typed by its caller's flag definitions
  async parse(options?: CommandStatics, argv: string[] = this.argv): Promise<any> {
    const o = options ?? (this.ctor as CommandStatics);
    const opts = { context: this, ...o, flags: { ...(o.baseFlags ?? {}), ...(o.flags ?? {}) } };
    this.argv = [...argv];
    const results = await Parser.parse(argv, opts as unknown as Parameters<typeof Parser.parse>[1]);
    this.parsed = true;
    return results;
  }

  log(message = '', ...args: unknown[]): void {
    process.stdout.write(`${[message, ...args].join(' ')}\n`);
  }

  logToStderr(message = '', ...args: unknown[]): void {
    process.stderr.write(`${[message, ...args].join(' ')}\n`);
  }

  warn(input: string | Error): string | Error {
    process.stderr.write(`Warning: ${input instanceof Error ? input.message : input}\n`);
    return input;
  }

  exit(code = 0): never {
    throw new Errors.ExitError(code);
  }

  error(input: string | Error, options: { exit?: number } = {}): never {
    throw typeof input === 'string' ? new Errors.CLIError(input, options) : input;
  }

  /** oclif's Command._run: init, run, catch, finally. */
  async _run(): Promise<unknown> {
    let err: Error | undefined;
    let result: unknown;
    try {
      await this.init();
      result = await this.run();
    } catch (error) {
      err = error as Error;
      await this.catch(err);
    } finally {
      await this.finally(err);
    }
    return result;
  }
}
